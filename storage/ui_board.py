"""Store queries of the web pages' catalysts board, stories page and feeds page (a mixin of
``Store``).

Owns the bounded, indexed aggregates those pages need on a database of 100,000 entries:
per watch item its match count and matches per week (``ix_matches_watch_created``), the
labels of the entries shown on one page of stories, story mutes, and per feed its health
and entries per week (``ix_entries_first_seen`` then ``ix_sightings_entry_id``). Counting
happens in SQL; nothing here loads every match of an item.

A story mute is a label with verdict ``mute`` (the ``labels.verdict`` column is a plain
string: no migration). It is written on the story's entries that carry no ``relevant``
label, so an analyst's relevant verdict is never overwritten; for ``monitor backtest`` a
muted entry counts as labelled and not relevant, like ``noise``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, delete, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from storage.models import EntryRow, FeedRow, LabelRow, MatchRow, SightingRow

_CHUNK = 500
WEEK = timedelta(days=7)
MUTE = "mute"


@dataclass(frozen=True, slots=True)
class ItemActivity:
    """A watch item's matches as the board shows them: total, newest, per week."""

    watch_id: str
    matches: int
    newest_match_id: int
    last_match_at: datetime | None
    # Matches recorded per week, oldest week first; the last bucket ends at ``now``.
    weekly: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One feed's health for the feeds page."""

    id: str
    url: str
    title: str | None
    enabled: bool
    last_success_at: datetime | None
    last_checked_at: datetime | None
    last_status: int | None
    error_count: int
    last_error: str | None
    next_check_at: datetime | None
    gone_at: datetime | None
    # Entries this feed carried (sightings) per week, oldest week first.
    weekly: tuple[int, ...]


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


class BoardQueries:
    """Queries of the board, stories and feeds pages (mixed into ``Store``)."""

    url: str
    _run: Callable[..., Any]

    def _week_bucket(self, column: Any, now: datetime) -> ColumnElement[int]:
        """Whole weeks between ``column`` and ``now`` (0 = the last seven days), in SQL."""
        at = literal(_naive(now))
        if self.url.startswith("postgresql"):
            # date_part is double precision; extract() is numeric since PostgreSQL 14,
            # and numeric division per row is what this query would spend its time on.
            seconds = func.date_part("epoch", at - column)
            return cast(func.floor(seconds / WEEK.total_seconds()), Integer)
        return cast((func.julianday(at) - func.julianday(column)) / 7.0, Integer)

    def item_activity(
        self, watch_ids: Sequence[str], now: datetime, weeks: int = 12
    ) -> dict[str, ItemActivity]:
        """Per watch item: its match count, newest match, and matches per week over the
        last ``weeks`` weeks. Two grouped queries on ``ix_matches_watch_created``."""
        wanted = list(watch_ids)
        start = now - weeks * WEEK

        def fn(s: Session) -> dict[str, ItemActivity]:
            totals = {
                str(w): (int(n), int(mx or 0), last)
                for w, n, mx, last in s.execute(
                    select(
                        MatchRow.watch_id,
                        func.count(),
                        func.max(MatchRow.id),
                        func.max(MatchRow.created_at),
                    )
                    .where(MatchRow.watch_id.in_(wanted))
                    .group_by(MatchRow.watch_id)
                )
            }
            bucket = self._week_bucket(MatchRow.created_at, now).label("bucket")
            per_week: dict[str, list[int]] = {w: [0] * weeks for w in wanted}
            q = (
                select(MatchRow.watch_id, bucket, func.count())
                .where(
                    MatchRow.watch_id.in_(wanted),
                    MatchRow.created_at > start,
                    MatchRow.created_at <= now,
                )
                .group_by(MatchRow.watch_id, bucket)
            )
            for w, b, n in s.execute(q):
                if b is not None and 0 <= int(b) < weeks:
                    per_week[str(w)][weeks - 1 - int(b)] += int(n)
            out = {}
            for w in wanted:
                n, mx, last = totals.get(w, (0, 0, None))
                if isinstance(last, str):  # SQLite returns max() of a datetime as text
                    last = datetime.fromisoformat(last)
                if last is not None and last.tzinfo is None:
                    last = last.replace(tzinfo=UTC)
                out[w] = ItemActivity(w, n, mx, last, tuple(per_week[w]))
            return out

        return self._run("reading the board's activity", fn)

    # --- labels of the stories page -------------------------------------------------------

    def labels_of(self, watch_id: str, entry_ids: Sequence[int]) -> dict[int, str]:
        """entry id -> verdict ('relevant', 'noise', 'mute') of these entries."""
        ids = list(entry_ids)

        def fn(s: Session) -> dict[int, str]:
            out: dict[int, str] = {}
            for i in range(0, len(ids), _CHUNK):
                q = select(LabelRow.entry_id, LabelRow.verdict).where(
                    LabelRow.watch_id == watch_id, LabelRow.entry_id.in_(ids[i : i + _CHUNK])
                )
                out.update((int(e), str(v)) for e, v in s.execute(q))
            return out

        return self._run("reading labels", fn)

    def muted_entries(self, watch_id: str) -> set[int]:
        """Entries of ``watch_id``'s muted stories."""

        def fn(s: Session) -> set[int]:
            q = select(LabelRow.entry_id).where(
                LabelRow.watch_id == watch_id, LabelRow.verdict == MUTE
            )
            return {int(e) for e in s.scalars(q)}

        return self._run("reading muted stories", fn)

    def mute_entries(
        self, watch_id: str, entries: Sequence[tuple[int, int | None]], now: datetime
    ) -> int:
        """Mute a story: label its (entry id, match id) pairs ``mute``, except entries an
        analyst labelled ``relevant``. Returns how many labels were written."""

        def fn(s: Session) -> int:
            ids = [e for e, _ in entries]
            old = {
                r.entry_id: r
                for r in s.scalars(
                    select(LabelRow).where(
                        LabelRow.watch_id == watch_id, LabelRow.entry_id.in_(ids)
                    )
                )
            }
            n = 0
            for entry_id, match_id in entries:
                row = old.get(entry_id)
                if row is not None and row.verdict == "relevant":
                    continue
                if row is None:
                    s.add(
                        LabelRow(
                            entry_id=entry_id,
                            watch_id=watch_id,
                            match_id=match_id,
                            verdict=MUTE,
                            created_at=now,
                        )
                    )
                else:
                    row.verdict, row.created_at = MUTE, now
                n += 1
            return n

        return self._run("muting a story", fn)

    def unmute_entries(self, watch_id: str, entry_ids: Sequence[int]) -> int:
        """Remove the ``mute`` labels of these entries (their stories show again)."""
        ids = list(entry_ids)

        def fn(s: Session) -> int:
            res = s.execute(
                delete(LabelRow).where(
                    LabelRow.watch_id == watch_id,
                    LabelRow.verdict == MUTE,
                    LabelRow.entry_id.in_(ids),
                )
            )
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

        return self._run("unmuting a story", fn)

    # --- feeds ----------------------------------------------------------------------------

    def feed_health(self, now: datetime, weeks: int = 4) -> list[FeedHealth]:
        """Every feed's health, with the entries it carried per week over ``weeks`` weeks.

        Entries per week count sightings of entries first seen in the period
        (``ix_entries_first_seen``, then ``ix_sightings_entry_id``), bucketed by when this
        feed carried them: bounded by the period, not by the size of the database.
        """
        start = now - weeks * WEEK

        def fn(s: Session) -> list[FeedHealth]:
            bucket = self._week_bucket(SightingRow.first_seen, now).label("bucket")
            # Sightings of the period's entries through ix_sightings_entry_id, written the
            # way each planner takes it. SQLite: ``entry_id IN (recent entries)`` (a join
            # made it walk every sighting by feed through the unique index). PostgreSQL
            # hash-joins that with a sequential scan of sightings (160 ms at 100k), so
            # there a range from the period's first entry: entry ids grow with first_seen
            # (the pipeline inserts entries as it first sees them).
            cond: ColumnElement[bool]
            if self.url.startswith("postgresql"):
                first = (
                    select(EntryRow.id)
                    .where(EntryRow.first_seen > start)
                    .order_by(EntryRow.first_seen, EntryRow.id)
                    .limit(1)
                    .scalar_subquery()
                )
                cond = SightingRow.entry_id >= first
            else:
                recent = select(EntryRow.id).where(EntryRow.first_seen > start)
                cond = SightingRow.entry_id.in_(recent)
            q = (
                select(SightingRow.feed_id, bucket, func.count())
                .where(cond, SightingRow.first_seen > start)
                .group_by(SightingRow.feed_id, bucket)
            )
            per_week: dict[str, list[int]] = {}
            for fid, b, n in s.execute(q):
                if b is not None and 0 <= int(b) < weeks:
                    per_week.setdefault(str(fid), [0] * weeks)[weeks - 1 - int(b)] += int(n)
            return [
                FeedHealth(
                    id=r.id,
                    url=r.url,
                    title=r.title,
                    enabled=r.enabled,
                    last_success_at=r.last_success_at,
                    last_checked_at=r.last_checked_at,
                    last_status=r.last_status,
                    error_count=r.error_count or 0,
                    last_error=r.last_error,
                    next_check_at=r.next_check_at,
                    gone_at=r.gone_at,
                    weekly=tuple(per_week.get(r.id, [0] * weeks)),
                )
                for r in s.scalars(select(FeedRow).order_by(FeedRow.id))
            ]

        return self._run("reading feed health", fn)
