"""Operating the service: outbox claims for replicas, health figures, stats and retention.

Owns what running the service needs from the database beyond the pipeline's use cases:
claiming a delivery attempt so that of several replicas exactly one POSTs it, the
database-derived figures behind ``/metrics`` (outbox depth, oldest undelivered digest,
consecutive errors per feed, matches per watch item), ``monitor db stats`` and the
retention prune. A mixin of ``storage.store.Store``: it uses ``self._run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session

from monitor.types import Delivery
from storage.engine import sqlite_path
from storage.models import (
    ENTRY_TOKENS,
    AttemptRow,
    DeliveryMatchRow,
    DeliveryRow,
    DigestRow,
    EntryRow,
    FeedRow,
    MatchRow,
    RevisionRow,
    SightingRow,
)

T = TypeVar("T")

TABLES = (
    FeedRow,
    EntryRow,
    SightingRow,
    MatchRow,
    DigestRow,
    DeliveryRow,
    DeliveryMatchRow,
    AttemptRow,
    RevisionRow,
)


@dataclass(frozen=True, slots=True)
class HealthFigures:
    """What ``/metrics`` reports from the database (shared by every replica)."""

    outbox_depth: int
    oldest_undelivered: datetime | None
    feed_errors: dict[str, int]
    matches_by_watch: dict[str, int]


@dataclass(frozen=True, slots=True)
class DbStats:
    backend: str
    rows: dict[str, int]
    size_bytes: int | None
    oldest_entry: datetime | None
    newest_entry: datetime | None
    pruned_entries: int


class OpsMixin:
    """Store methods for operating the service (replicas, metrics, stats, retention)."""

    engine: Any
    url: str
    _run: Callable[..., Any]

    # --- the outbox across replicas ----------------------------------------------------------

    def claim_delivery(
        self, delivery: Delivery, now: datetime, hold: timedelta, owner: str | None = None
    ) -> bool:
        """Take the next attempt of ``delivery`` for this process, or learn another has.

        Compare-and-set on ``next_attempt_at``: the claim moves it ``hold`` into the future,
        so other replicas see it as not due; ``record_attempt`` then sets the real next
        attempt. A replica that dies mid-POST leaves the claim to expire, and another one
        retries with the same webhook-id (receivers drop the repeat).

        A claim that is held (``claimed_by`` set, its hold not over) is never taken, even
        by a caller whose copy of the row is current: ``monitor digest`` and the web page's
        resend send deliveries that are not due yet, and must not take one a daemon is
        posting at that moment.
        """

        def fn(s: Session) -> bool:
            q = update(DeliveryRow).where(
                DeliveryRow.id == delivery.id,
                DeliveryRow.status == "pending",
                or_(DeliveryRow.claimed_by.is_(None), DeliveryRow.next_attempt_at <= now),
            )
            if delivery.next_attempt_at is None:
                q = q.where(DeliveryRow.next_attempt_at.is_(None))
            else:
                q = q.where(DeliveryRow.next_attempt_at == delivery.next_attempt_at)
            res = s.execute(
                q.values(next_attempt_at=now + hold, claimed_by=owner).execution_options(
                    synchronize_session=False
                )
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

        return bool(self._run(f"claiming delivery {delivery.id}", fn))

    # --- health --------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise StorageError unless the database answers."""
        self._run("ping", lambda s: s.execute(select(1)).scalar())

    def health_figures(self) -> HealthFigures:
        def fn(s: Session) -> HealthFigures:
            depth, oldest = s.execute(
                select(func.count(), func.min(DeliveryRow.created_at)).where(
                    DeliveryRow.status == "pending"
                )
            ).one()
            errors = {
                str(fid): int(n)
                for fid, n in s.execute(
                    select(FeedRow.id, FeedRow.error_count).where(FeedRow.enabled.is_(True))
                )
            }
            by_watch = {
                str(w): int(n)
                for w, n in s.execute(
                    select(MatchRow.watch_id, func.count()).group_by(MatchRow.watch_id)
                )
            }
            # min() bypasses UTCDateTime: naive UTC (or text, on SQLite) comes back.
            return HealthFigures(int(depth or 0), _aware(oldest), errors, by_watch)

        result: HealthFigures = self._run("reading health figures", fn)
        return result

    # --- stats and retention ---------------------------------------------------------------

    def db_stats(self) -> DbStats:
        def fn(s: Session) -> DbStats:
            rows = {
                m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
                for m in TABLES
            }
            oldest, newest = s.execute(
                select(func.min(EntryRow.first_seen), func.max(EntryRow.first_seen)).where(
                    EntryRow.pruned_at.is_(None)
                )
            ).one()
            pruned = s.scalar(
                select(func.count()).select_from(EntryRow).where(EntryRow.pruned_at.is_not(None))
            )
            backend = s.get_bind().dialect.name
            size: int | None = None
            if backend == "postgresql":
                size = int(
                    s.scalar(
                        text(
                            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                        )
                    )
                    or 0
                )
            else:
                path = sqlite_path(self.url)
                if path is not None:
                    size = sum(
                        p.stat().st_size
                        for p in (path, path.with_name(path.name + "-wal"))
                        if p.exists()
                    )
            return DbStats(backend, rows, size, _aware(oldest), _aware(newest), int(pruned or 0))

        result: DbStats = self._run("reading database stats", fn)
        return result

    def prune_entries(self, older_than: datetime, now: datetime, *, batch: int = 1000) -> int:
        """Prune entries first seen before ``older_than`` that never matched a watch item.

        A pruned entry keeps its identity: the row stays with its link hash, and its
        sightings keep each feed's GUID hash, so the entry is never taken for new again.
        Its text (title, summary, categories, links) is dropped: that is the bulk of the
        space. Matched entries (and so every delivered digest's content) are kept whole.
        Runs in batches so a large first prune never holds a long write lock.
        """

        def fn(s: Session) -> int:
            ids = list(
                s.scalars(
                    select(EntryRow.id)
                    .where(
                        EntryRow.first_seen < older_than,
                        EntryRow.pruned_at.is_(None),
                        ~exists(select(MatchRow.id).where(MatchRow.entry_id == EntryRow.id)),
                    )
                    .limit(batch)
                )
            )
            if not ids:
                return 0
            s.execute(
                update(EntryRow)
                .where(EntryRow.id.in_(ids))
                .values(
                    pruned_at=now,
                    title="",
                    summary="",
                    categories=[],
                    author=None,
                    link=None,
                    canonical_link=None,
                )
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(SightingRow)
                .where(SightingRow.entry_id.in_(ids))
                .values(link=None)
                .execution_options(synchronize_session=False)
            )
            # The tokens kept for the rule editor's preview are the entry's text too.
            s.execute(delete(ENTRY_TOKENS).where(ENTRY_TOKENS.c.entry_id.in_(ids)))
            return len(ids)

        total = 0
        while True:
            n = int(self._run("pruning entries", fn))
            total += n
            if n < batch:
                return total


def _as_datetime(v: Any) -> datetime:
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))


def _aware(v: Any) -> datetime | None:
    if v is None:
        return None
    d = _as_datetime(v)
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
