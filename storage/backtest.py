"""Store methods for backtests and analyst labels (a mixin of ``Store``).

The search index is a prefilter only: it holds each entry's folded tokens (computed by the
caller with ``monitor.match.tokenize``, so the index and the live matcher agree on what a
word is) in SQLite FTS5 or a PostgreSQL ``tsvector`` with a GIN index. A backtest asks it
for the entries containing at least one of the words a query needs, then runs the real
matcher on those; an entry the index misses could not have matched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from monitor.types import EntryData
from storage.models import ENTRY_TOKENS, EntryRow, LabelRow, MatchRow

T = TypeVar("T")
_CHUNK = 500


class BacktestMixin:
    """Search index, candidate entries, recorded matches and labels."""

    url: str
    _run: Callable[..., Any]

    @property
    def _pg(self) -> bool:
        return self.url.startswith("postgresql")

    # --- the search index ---------------------------------------------------------------

    def index_watermark(self) -> int:
        """The highest entry id already in the search index (0 when empty)."""
        sql = (
            "SELECT coalesce(max(entry_id), 0) FROM search_index"
            if self._pg
            else "SELECT coalesce(max(rowid), 0) FROM search_index"
        )
        return int(self._run("reading the search index", lambda s: s.execute(text(sql)).scalar()))

    def entries_after(self, after_id: int, limit: int) -> list[tuple[int, str, EntryData]]:
        """Entries with id > ``after_id`` in id order, as (id, feed id, entry)."""

        def fn(s: Session) -> list[tuple[int, str, EntryData]]:
            q = select(EntryRow).where(EntryRow.id > after_id).order_by(EntryRow.id).limit(limit)
            return [(r.id, r.feed_id, _entry(r)) for r in s.scalars(q)]

        return self._run("reading entries", fn)

    def add_to_index(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Index (entry id, space-separated folded tokens, the tokens per field as
        ``monitor.backtest.encode_fields`` writes them) triples: the search index row and
        the entry's ``entry_tokens`` row (the rule editor's preview reads it instead of
        tokenizing the entry again). An entry already indexed is left as it is (two
        processes may catch the index up at the same time)."""
        if not rows:
            return
        sql = (
            "INSERT INTO search_index (entry_id, tsv) VALUES (:id, to_tsvector('simple', :t)) "
            "ON CONFLICT (entry_id) DO NOTHING"
            if self._pg
            # FTS5 (contentless) would take the same rowid twice: ask first (a rowid lookup)
            else "INSERT INTO search_index (rowid, tokens) SELECT :id, :t "
            "WHERE NOT EXISTS (SELECT 1 FROM search_index WHERE rowid = :id)"
        )
        tokens_sql = (
            "INSERT INTO entry_tokens (entry_id, fields) VALUES (:id, :f) "
            "ON CONFLICT (entry_id) DO NOTHING"
        )
        params = [{"id": i, "t": t, "f": f} for i, t, f in rows]

        def fn(s: Session) -> None:
            s.execute(text(sql), params)
            s.execute(text(tokens_sql), params)

        self._run("updating the search index", fn)

    def candidate_ids(self, tokens: Iterable[str] | None, since: datetime | None) -> list[int]:
        """Ids of entries (first seen since ``since``) containing one of ``tokens``.

        ``None`` means the query needs no indexable word: every entry is a candidate.
        """
        toks = sorted(set(tokens)) if tokens is not None else None

        def fn(s: Session) -> list[int]:
            if toks is None:
                q = select(EntryRow.id)
                if since:
                    q = q.where(EntryRow.first_seen >= since)
                return list(s.scalars(q.order_by(EntryRow.id)))
            if not toks:
                return []
            if self._pg:
                expr = " | ".join(f"'{t}'" for t in toks)
                sql = (
                    "SELECT si.entry_id FROM search_index si JOIN entries e ON e.id = si.entry_id "
                    "WHERE si.tsv @@ to_tsquery('simple', :q)"
                )
            else:
                expr = " OR ".join(f'"{t}"' for t in toks)
                sql = (
                    "SELECT e.id FROM search_index JOIN entries e ON e.id = search_index.rowid "
                    "WHERE search_index MATCH :q"
                )
            params: dict[str, Any] = {"q": expr}
            if since:
                sql += " AND e.first_seen >= :since"
                params["since"] = since.astimezone(UTC).replace(tzinfo=None)
            return sorted(int(x) for x in s.execute(text(sql), params).scalars())

        return self._run("searching entries", fn)

    def entries_by_id(self, ids: Sequence[int]) -> list[tuple[int, str, EntryData]]:
        return [(i, f, e) for i, f, e, _ in self._entries(ids, tokens=False)]

    def preview_entries(self, ids: Sequence[int]) -> list[tuple[int, str, EntryData, str | None]]:
        """``entries_by_id`` with each entry's stored tokens (``entry_tokens.fields``;
        None for an entry indexed before they were kept, or pruned since)."""
        return self._entries(ids, tokens=True)

    def _entries(
        self, ids: Sequence[int], *, tokens: bool
    ) -> list[tuple[int, str, EntryData, str | None]]:
        # Plain columns, not ORM objects: this loads every candidate of a backtest.
        cols: list[Any] = [
            EntryRow.id,
            EntryRow.feed_id,
            EntryRow.guid,
            EntryRow.link,
            EntryRow.title,
            EntryRow.summary,
            EntryRow.categories,
            EntryRow.published,
            EntryRow.author,
            EntryRow.source,
        ]
        if tokens:
            cols.append(ENTRY_TOKENS.c.fields)

        def fn(s: Session) -> list[tuple[int, str, EntryData, str | None]]:
            out: list[tuple[int, str, EntryData, str | None]] = []
            for i in range(0, len(ids), _CHUNK):
                q = select(*cols).where(EntryRow.id.in_(ids[i : i + _CHUNK]))
                if tokens:
                    q = q.outerjoin(ENTRY_TOKENS, ENTRY_TOKENS.c.entry_id == EntryRow.id)
                out.extend(
                    (
                        r[0],
                        r[1],
                        EntryData(
                            r[2], r[3], r[4], r[5], tuple(r[6] or ()), r[7], None, r[8], r[9]
                        ),
                        r[10] if tokens else None,
                    )
                    for r in s.execute(q)
                )
            return sorted(out, key=lambda x: x[0])

        return self._run("reading entries", fn)

    # --- recorded matches and labels ----------------------------------------------------

    def recorded_matches(self, watch_id: str, since: datetime | None) -> dict[int, int]:
        """entry id -> match id of what was recorded for ``watch_id``."""

        def fn(s: Session) -> dict[int, int]:
            q = select(MatchRow.entry_id, MatchRow.id).where(MatchRow.watch_id == watch_id)
            if since:
                q = q.join(EntryRow, EntryRow.id == MatchRow.entry_id).where(
                    EntryRow.first_seen >= since
                )
            return {int(e): int(m) for e, m in s.execute(q)}

        return self._run("reading matches", fn)

    def match_ref(self, match_id: int) -> tuple[int, str] | None:
        """(entry id, watch id) of a recorded match."""

        def fn(s: Session) -> tuple[int, str] | None:
            r = s.get(MatchRow, match_id)
            return (r.entry_id, r.watch_id) if r else None

        return self._run("reading a match", fn)

    def has_entry(self, entry_id: int) -> bool:
        return bool(self._run("reading an entry", lambda s: s.get(EntryRow, entry_id) is not None))

    def add_label(
        self, entry_id: int, watch_id: str, verdict: str, now: datetime, match_id: int | None
    ) -> None:
        """Record (or replace) the analyst's verdict on (entry, watch item)."""

        def fn(s: Session) -> None:
            old = s.scalars(
                select(LabelRow).where(LabelRow.entry_id == entry_id, LabelRow.watch_id == watch_id)
            ).first()
            if old:
                old.verdict, old.created_at, old.match_id = verdict, now, match_id
            else:
                s.add(
                    LabelRow(
                        entry_id=entry_id,
                        watch_id=watch_id,
                        verdict=verdict,
                        match_id=match_id,
                        created_at=now,
                    )
                )

        self._run("recording a label", fn)

    def labels(self, watch_id: str) -> dict[int, str]:
        """entry id -> 'relevant' | 'noise' for ``watch_id``."""

        def fn(s: Session) -> dict[int, str]:
            q = select(LabelRow.entry_id, LabelRow.verdict).where(LabelRow.watch_id == watch_id)
            return {int(e): str(v) for e, v in s.execute(q)}

        return self._run("reading labels", fn)


def _entry(r: EntryRow) -> EntryData:
    return EntryData(
        guid=r.guid,
        link=r.link,
        title=r.title,
        summary=r.summary,
        categories=tuple(r.categories or ()),
        published=r.published,
        author=r.author,
        source=r.source,
    )
