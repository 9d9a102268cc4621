"""Recording refreshes: new entries, sightings, matches and their text snapshots, in bulk.

A mixin of ``Store`` (``storage/store.py``), behind ``Store.ingest`` and
``Store.ingest_many``. It owns the dedup rules of the write path:

- an entry is new to a feed when the feed has not carried its GUID before (a GUID repeated
  within one document counts once: the first);
- it is the same entry as one already stored (from this or another feed) when their
  canonical links are equal: then only a sighting is added;
- matches are unique per (entry, watch item); an entry that retention pruned is sighted
  but never matched again; every new match gets a snapshot of the text it was decided on.

A batch of refreshes is written with a handful of statements for the whole batch, not a
handful per feed: a cold poll of 1,000 feeds stores ~35,000 entries, and SQLAlchemy's
per-statement and per-row Python work was the largest single cost of the cycle
(docs/notes/issue-5-cold.md). Inserts go through SQLAlchemy Core (no ORM bulk layer);
the ids of new entries and matches come back from one ``INSERT ... RETURNING`` per table,
keyed by a unique column tuple rather than by parameter order (on SQLite, asking for
parameter order makes SQLAlchemy insert row by row). The result is the same as writing
the refreshes one after another in batch order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from monitor.types import FeedUpdate, IncomingEntry, IngestResult
from storage.models import EntryRow, MatchRow, MatchSnapshotRow, SightingRow

T = TypeVar("T")
_CHUNK = 400  # bound the bind parameters of one statement (two IN lists stay < 999)
_GROUP = 250  # entries written per group of refreshes (see _store_entries)
_ROWS = 250  # rows per executemany (a group's refreshes can bring more than _GROUP)

_ENTRIES: Table = EntryRow.__table__  # type: ignore[assignment]
_SIGHTINGS: Table = SightingRow.__table__  # type: ignore[assignment]
_MATCHES: Table = MatchRow.__table__  # type: ignore[assignment]
_SNAPSHOTS: Table = MatchSnapshotRow.__table__  # type: ignore[assignment]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _chunks(items: Sequence[T], n: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class _Plan:
    """One refresh's share of a batch: its fresh items and where their rows end up."""

    __slots__ = ("feed_id", "first_match", "fresh", "n_matches", "new_entries", "now", "revision")

    def __init__(self, update: FeedUpdate) -> None:
        self.feed_id = update.feed_id
        self.now: datetime = update.checked_at
        self.revision = update.revision
        # (guid hash, item, entry ref): a ref >= 0 is a stored entry's id, < 0 is
        # -(index + 1) into the batch's new entries.
        self.fresh: list[tuple[str, IncomingEntry, int]] = []
        self.new_entries = 0
        self.first_match = 0
        self.n_matches = 0


class IngestMixin:
    """The entry write path of :class:`storage.store.Store`."""

    def _store_entries(self, s: Session, updates: Sequence[FeedUpdate]) -> list[IngestResult]:
        """Write the entries, sightings, matches and snapshots of ``updates`` (in order).

        In groups of about ``_GROUP`` entries, one after another in the same transaction
        (each sees what the previous wrote, so the result is the same): a 5,000-entry
        batch in one piece held ~13 MB more at its peak (row dicts, SQLAlchemy's copies)."""
        results: list[IngestResult] = []
        group: list[FeedUpdate] = []
        size = 0
        for u in updates:
            group.append(u)
            size += len(u.entries)
            if size >= _GROUP:
                results.extend(self._store_group(s, group))
                group, size = [], 0
        if group:
            results.extend(self._store_group(s, group))
        return results

    def _store_group(self, s: Session, updates: Sequence[FeedUpdate]) -> list[IngestResult]:
        conn = s.connection()
        plans = [_Plan(u) for u in updates]
        incoming: list[list[tuple[str, IncomingEntry]]] = []
        for u in updates:
            seen: set[str] = set()
            items = []
            for item in u.entries:  # a GUID repeated in one document: keep the first
                gh = sha256(item.data.guid)
                if gh not in seen:
                    seen.add(gh)
                    items.append((gh, item))
            incoming.append(items)

        # Which (feed, GUID) pairs are stored: feed_id IN (...) AND guid_hash IN (...) per
        # chunk of pairs (the unique index's two columns), exact pairs filtered here.
        pairs = sorted(
            {(p.feed_id, gh) for p, items in zip(plans, incoming, strict=True) for gh, _ in items}
        )
        known: set[tuple[str, str]] = set()
        for chunk in _chunks(pairs):
            known.update(
                (f, h)
                for f, h in conn.execute(
                    select(_SIGHTINGS.c.feed_id, _SIGHTINGS.c.guid_hash).where(
                        _SIGHTINGS.c.feed_id.in_(sorted({f for f, _ in chunk})),
                        _SIGHTINGS.c.guid_hash.in_([h for _, h in chunk]),
                    )
                )
            )

        # Fresh items (a feed twice in one batch: its second refresh sees the first's).
        link_hashes: dict[str, str] = {}
        for plan, items in zip(plans, incoming, strict=True):
            for gh, item in items:
                key = (plan.feed_id, gh)
                if key in known:
                    continue
                known.add(key)
                plan.fresh.append((gh, item, 0))
                link = item.canonical_link
                if link and link not in link_hashes:
                    link_hashes[link] = sha256(link)
        if not any(p.fresh for p in plans):
            return [IngestResult(p.feed_id) for p in plans]

        by_link: dict[str, int] = {}
        pruned: set[int] = set()  # old entries retention emptied: sighted, never re-matched
        for hchunk in _chunks(list(link_hashes.values())):
            for h, i, pruned_at in conn.execute(
                select(_ENTRIES.c.link_hash, _ENTRIES.c.id, _ENTRIES.c.pruned_at).where(
                    _ENTRIES.c.link_hash.in_(hchunk)
                )
            ):
                if h is not None:
                    by_link[h] = i
                if pruned_at is not None:
                    pruned.add(i)

        # New entries: one per fresh item whose canonical link no stored or earlier item has.
        to_insert: list[dict[str, Any]] = []
        pending_link: dict[str, int] = {}  # link hash -> ref of the new entry carrying it
        reused: set[int] = set()
        for plan in plans:
            for k, (gh, item, _) in enumerate(plan.fresh):
                link = item.canonical_link
                lh = link_hashes[link] if link else None
                if lh is not None and lh in by_link:
                    ref = by_link[lh]
                    reused.add(ref)
                elif lh is not None and lh in pending_link:  # two items of this batch share it
                    ref = pending_link[lh]
                else:
                    ref = -(len(to_insert) + 1)
                    if lh is not None:
                        pending_link[lh] = ref
                    d = item.data
                    to_insert.append(
                        {
                            "canonical_link": link,
                            "link_hash": lh,
                            "feed_id": plan.feed_id,
                            "guid": d.guid,
                            "link": d.link,
                            "title": d.title,
                            "summary": d.summary,
                            "categories": list(d.categories),
                            "author": d.author,
                            "source": d.source,
                            "published": d.published,
                            "first_seen": plan.now,
                        }
                    )
                    plan.new_entries += 1
                plan.fresh[k] = (gh, item, ref)
        new_ids: list[int] = []
        for rows in _chunks(to_insert, _ROWS):
            ids = {
                (f, g): i
                for i, f, g in conn.execute(
                    insert(_ENTRIES).returning(_ENTRIES.c.id, _ENTRIES.c.feed_id, _ENTRIES.c.guid),
                    rows,
                )
            }
            new_ids.extend(ids[(r["feed_id"], r["guid"])] for r in rows)

        def entry_id(ref: int) -> int:
            return ref if ref >= 0 else new_ids[-ref - 1]

        sightings = [(plan, gh, item, ref) for plan in plans for gh, item, ref in plan.fresh]
        for part in _chunks(sightings, _ROWS):
            conn.execute(
                insert(_SIGHTINGS),
                [
                    {
                        "entry_id": entry_id(ref),
                        "feed_id": plan.feed_id,
                        "guid": item.data.guid,
                        "guid_hash": gh,
                        "link": item.data.link,
                        "first_seen": plan.now,
                    }
                    for plan, gh, item, ref in part
                ],
            )

        # Matches: unique per (entry, watch item), in batch order; stored entries may have some.
        have: set[tuple[int, str]] = set()
        for ichunk in _chunks(sorted(reused)):
            have.update(
                (eid, wid)
                for eid, wid in conn.execute(
                    select(_MATCHES.c.entry_id, _MATCHES.c.watch_id).where(
                        _MATCHES.c.entry_id.in_(ichunk)
                    )
                )
            )
        match_rows: list[dict[str, Any]] = []
        texts: list[tuple[str, str, datetime]] = []  # per match row: the text it was decided on
        for plan in plans:
            plan.first_match = len(match_rows)
            for _gh, item, ref in plan.fresh:
                eid = entry_id(ref)
                if eid in pruned or not item.matches:
                    continue
                for m in item.matches:
                    if (eid, m.watch_id) in have:
                        continue
                    have.add((eid, m.watch_id))
                    match_rows.append(
                        {
                            "entry_id": eid,
                            "watch_id": m.watch_id,
                            "revision": plan.revision,
                            "matched_terms": list(m.matched_terms),
                            "snippet": m.snippet,
                            "alert": item.alert if m.alert is None else m.alert,
                            "stance": m.stance,
                            "score": m.score,
                            "explanation": m.explanation,
                            "created_at": plan.now,
                        }
                    )
                    texts.append((item.data.title, item.data.summary, plan.now))
            plan.n_matches = len(match_rows) - plan.first_match
        match_ids: list[int] = []
        if match_rows:
            mids = {
                (e, w): i
                for i, e, w in conn.execute(
                    insert(_MATCHES).returning(
                        _MATCHES.c.id, _MATCHES.c.entry_id, _MATCHES.c.watch_id
                    ),
                    match_rows,
                )
            }
            match_ids = [mids[(r["entry_id"], r["watch_id"])] for r in match_rows]
            conn.execute(
                insert(_SNAPSHOTS),
                [
                    {
                        "match_id": mid,
                        "title": title,
                        "summary": summary,
                        "text_sha256": sha256(f"{title}\n{summary}"),
                        "fetched_at": now,
                    }
                    for mid, (title, summary, now) in zip(match_ids, texts, strict=True)
                ],
            )
        return [
            IngestResult(
                p.feed_id,
                p.new_entries,
                len(p.fresh),
                tuple(match_ids[p.first_match : p.first_match + p.n_matches]),
            )
            for p in plans
        ]
