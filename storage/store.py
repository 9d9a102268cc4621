"""The Store: every database use case of the service, one method each.

It returns the records of ``monitor.types``, never ORM objects, and wraps database
failures in ``StorageError``. Each method is one transaction, so a crash at any moment
leaves either all of a feed refresh (entries, sightings, matches, validators) or none of it,
and a digest is written to the outbox in the same transaction that claims its run.

Schedules live here, not in scheduler memory: ``due_feeds`` leases what is due (so a
restart or a second replica loses and repeats nothing), ``run_digest`` advances a digest's
``next_run_at`` by compare-and-set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import StorageError
from monitor.types import (
    AttemptOutcome,
    Delivery,
    Digest,
    DigestState,
    FeedSpec,
    FeedState,
    FeedUpdate,
    IngestResult,
    Match,
)
from storage.articles import ArticleMixin
from storage.backtest import BacktestMixin
from storage.catalysts import CatalystStore
from storage.deliveries import DeliveryStore
from storage.digests import DigestStore
from storage.engine import ensure_schema, make_engine, redact
from storage.feeds import FeedAdminMixin
from storage.ingest import IngestMixin
from storage.leases import LeaseMixin
from storage.models import (
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
from storage.ops import OpsMixin
from storage.states import StateMixin
from storage.ui_board import BoardQueries
from storage.ui_digests import DigestQueries
from storage.ui_search import SearchQueries

T = TypeVar("T")
_CHUNK = 500  # bound the number of bind parameters per IN (...)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _chunks(items: Sequence[T], n: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _is_conflict(exc: IntegrityError | OperationalError) -> bool:
    """A concurrent writer's fault, worth retrying: PostgreSQL unique violation (23505),
    serialization failure (40001), deadlock (40P01); SQLite's UNIQUE constraint."""
    if isinstance(exc, IntegrityError):
        code = getattr(exc.orig, "sqlstate", None)
        return code == "23505" or "UNIQUE constraint failed" in str(exc.orig)
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01")


class Store(
    FeedAdminMixin,
    StateMixin,
    OpsMixin,
    DeliveryStore,
    DigestStore,
    CatalystStore,
    BacktestMixin,
    LeaseMixin,
    ArticleMixin,
    IngestMixin,
    DigestQueries,
    BoardQueries,
    SearchQueries,
):
    """All persistence. Thread-safe: each call opens its own session."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        engine = make_engine(url)
        if migrate:
            ensure_schema(engine, url)
        return cls(engine, url)

    def close(self) -> None:
        self.engine.dispose()

    def _run(self, what: str, fn: Callable[[Session], T], *, retries: int = 0) -> T:
        """Run ``fn`` in one transaction. With ``retries``, a transaction that lost a race
        with another replica (unique violation, deadlock, serialization failure) is run
        again from the start: it then sees the winner's rows and adds only what is new."""
        for attempt in range(retries + 1):
            try:
                with self._session.begin() as session:
                    return fn(session)
            except (IntegrityError, OperationalError) as exc:
                if attempt < retries and _is_conflict(exc):
                    continue
                detail = exc.orig if isinstance(exc, OperationalError) else exc
                raise StorageError(f"database {redact(self.url)}: {what} failed: {detail}") from exc
            except SQLAlchemyError as exc:
                raise StorageError(f"database {redact(self.url)}: {what} failed: {exc}") from exc
        raise AssertionError("unreachable")

    # --- configuration -------------------------------------------------------------------

    def sync_config(
        self,
        feeds: Sequence[FeedSpec],
        digests: dict[str, tuple[str, datetime]],
        revision: str,
        text: str,
        now: datetime,
    ) -> None:
        """Bring feed and digest rows in line with the watchlist.

        New feeds are due at once. A feed whose URL changed in the watchlist starts afresh
        (validators and errors cleared); feeds no longer listed are disabled, never deleted,
        so their entries keep their provenance. ``digests`` maps id -> (cron, first run);
        a digest whose schedule changed is rescheduled.
        """

        def fn(s: Session) -> None:
            rows = {r.id: r for r in s.scalars(select(FeedRow))}
            for spec in feeds:
                row = rows.pop(spec.id, None)
                if row is None:
                    s.add(
                        FeedRow(
                            id=spec.id,
                            config_url=spec.url,
                            url=spec.url,
                            enabled=spec.enabled,
                            next_check_at=now,
                            error_count=0,
                            created_at=now,
                        )
                    )
                    continue
                if row.config_url != spec.url:
                    row.config_url = row.url = spec.url
                    row.etag = row.last_modified = row.content_hash = None
                    row.error_count, row.last_error, row.next_check_at = 0, None, now
                    row.gone_at = row.update_gap = None
                if row.enabled != spec.enabled:
                    row.enabled = spec.enabled
                    if spec.enabled:
                        row.next_check_at = now
            for row in rows.values():
                row.enabled = False
            drows = {r.id: r for r in s.scalars(select(DigestRow))}
            for did, (schedule, first_run) in digests.items():
                drow = drows.get(did)
                if drow is None:
                    s.add(
                        DigestRow(id=did, schedule=schedule, next_run_at=first_run, created_at=now)
                    )
                elif drow.schedule != schedule:
                    drow.schedule, drow.next_run_at = schedule, first_run
            if s.get(RevisionRow, revision) is None:
                s.add(RevisionRow(revision=revision, loaded_at=now, text=text))

        self._run("syncing the watchlist", fn, retries=3)

    # --- feeds -----------------------------------------------------------------------------

    def due_feeds(
        self,
        now: datetime,
        *,
        owner: str,
        lease: timedelta,
        limit: int = 100,
        exclude: Iterable[str] = (),
    ) -> list[FeedState]:
        """Lease up to ``limit`` enabled feeds whose next check is due, oldest first.

        A leased feed is skipped by every other caller until ``ingest`` records its result
        or the lease expires (the process holding it died). ``owner``'s own leases do not
        hold it back: pass what it has in flight as ``exclude``.
        """
        excluded = list(exclude)

        def fn(s: Session) -> list[FeedState]:
            q = (
                select(FeedRow)
                .where(
                    FeedRow.enabled.is_(True),
                    FeedRow.gone_at.is_(None),
                    FeedRow.next_check_at <= now,
                    or_(
                        FeedRow.lease_until.is_(None),
                        FeedRow.lease_until < now,
                        # Its own lease, left by a refresh whose result could not be written
                        # (disk full, database locked): the caller excludes what it has in flight.
                        FeedRow.lease_owner == owner,
                    ),
                )
                .order_by(FeedRow.next_check_at)
                .limit(limit)
            )
            if excluded:
                q = q.where(FeedRow.id.not_in(excluded))
            if s.bind is not None and s.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.scalars(q))
            for r in rows:
                r.lease_owner, r.lease_until = owner, now + lease
            return [self._feed_state(r, None) for r in rows]

        return self._run("leasing due feeds", fn)

    def renew_lease(self, feed_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Extend ``owner``'s lease on a feed; False when it has expired or passed to another.

        A feed can wait in its host's queue after being leased (many feeds of one host, a
        per-host limit); renewing before the request keeps a second replica from polling
        it in the same interval, and a lost lease means: do not poll.
        """

        def fn(s: Session) -> bool:
            res = s.execute(
                update(FeedRow)
                .where(
                    FeedRow.id == feed_id,
                    FeedRow.lease_owner == owner,
                    FeedRow.lease_until >= now,
                )
                .values(lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

        return self._run(f"renewing the lease of feed {feed_id}", fn)

    def feed_states(self) -> list[FeedState]:
        def fn(s: Session) -> list[FeedState]:
            counts = dict(
                s.execute(
                    select(SightingRow.feed_id, func.count()).group_by(SightingRow.feed_id)
                ).all()
            )
            return [
                self._feed_state(r, counts.get(r.id, 0))
                for r in s.scalars(select(FeedRow).order_by(FeedRow.id))
            ]

        return self._run("reading feeds", fn)

    def feed_state(self, feed_id: str) -> FeedState | None:
        def fn(s: Session) -> FeedState | None:
            row = s.get(FeedRow, feed_id)
            if row is None:
                return None
            n = s.scalar(
                select(func.count()).select_from(SightingRow).where(SightingRow.feed_id == feed_id)
            )
            return self._feed_state(row, n or 0)

        return self._run("reading a feed", fn)

    @staticmethod
    def _feed_state(r: FeedRow, entry_count: int | None) -> FeedState:
        return FeedState(
            id=r.id,
            url=r.url,
            enabled=r.enabled,
            title=r.title,
            etag=r.etag,
            last_modified=r.last_modified,
            content_hash=r.content_hash,
            next_check_at=r.next_check_at,
            last_checked_at=r.last_checked_at,
            last_success_at=r.last_success_at,
            last_status=r.last_status,
            error_count=r.error_count,
            last_error=r.last_error,
            entry_count=entry_count or 0,
            gone_at=r.gone_at,
            update_gap=r.update_gap,
        )

    def ingest(self, update: FeedUpdate) -> IngestResult:
        """Record one refresh: new entries, sightings and matches, and the feed's state.

        An entry is new to a feed when the feed has not carried its GUID before. It is the
        same entry as one stored from another feed when their canonical links are equal;
        then only a sighting is added. Matches are unique per (entry, watch item).
        (The write path itself: ``storage/ingest.py``.)
        """

        return self._run(
            f"recording feed {update.feed_id}",
            lambda s: self._ingest_batch(s, [update])[0],
            retries=3,
        )

    def _ingest_batch(self, s: Session, updates: Sequence[FeedUpdate]) -> list[IngestResult]:
        """``ingest`` of each update in order, in the caller's transaction."""
        # The batch's feed rows with one SELECT per chunk (kept referenced: the session's
        # identity map is weak); their state changes reach the database as executemany
        # UPDATEs at commit instead of a flush per feed.
        ids = list(dict.fromkeys(u.feed_id for u in updates))
        feeds = {
            row.id: row
            for chunk in _chunks(ids)
            for row in s.scalars(select(FeedRow).where(FeedRow.id.in_(chunk)))
        }
        for u in updates:
            if u.feed_id not in feeds:
                raise StorageError(f"feed {u.feed_id!r} is not in the database")
        if any(u.entries for u in updates):
            results = self._store_entries(s, updates)
        else:
            results = [IngestResult(u.feed_id) for u in updates]
        for u in updates:
            self._record_state(feeds[u.feed_id], u)
        return results

    @staticmethod
    def _record_state(feed: FeedRow, update: FeedUpdate) -> None:
        feed.last_checked_at = update.checked_at
        feed.next_check_at = update.next_check_at
        feed.last_status = update.status
        feed.lease_owner = feed.lease_until = None
        if update.url and update.url != feed.url:
            feed.url = update.url  # a permanent redirect, also when it ended in an error
        if update.update_gap is not None:
            feed.update_gap = update.update_gap
        if update.gone:
            feed.gone_at = update.checked_at
        if update.error is not None:
            feed.error_count += 1
            feed.last_error = update.error
        else:
            feed.error_count, feed.last_error = 0, None
            feed.last_success_at = update.checked_at
            if update.status != 304:
                feed.etag, feed.last_modified = update.etag, update.last_modified
                feed.content_hash = update.content_hash or feed.content_hash
            feed.title = update.title or feed.title

    # --- matches ----------------------------------------------------------------------------

    @staticmethod
    def _match_query() -> Any:
        return select(MatchRow, EntryRow).join(EntryRow, EntryRow.id == MatchRow.entry_id)

    @staticmethod
    def _to_match(m: MatchRow, e: EntryRow) -> Match:
        return Match(
            id=m.id,
            entry_id=e.id,
            watch_id=m.watch_id,
            title=e.title,
            link=e.link,
            guid=e.guid,
            feed_id=e.feed_id,
            source=e.source,
            published=e.published,
            first_seen=e.first_seen,
            matched_terms=tuple(m.matched_terms),
            snippet=m.snippet,
            revision=m.revision,
            alert=m.alert,
            created_at=m.created_at,
            stance=m.stance,
            score=m.score,
            explanation=m.explanation,
        )

    def matches(
        self,
        *,
        watch_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Match]:
        """Recorded matches, newest first."""

        def fn(s: Session) -> list[Match]:
            q = self._match_query().order_by(MatchRow.created_at.desc(), MatchRow.id.desc())
            if watch_id:
                q = q.where(MatchRow.watch_id == watch_id)
            if since:
                q = q.where(MatchRow.created_at >= since)
            if limit:
                q = q.limit(limit)
            return [self._to_match(m, e) for m, e in s.execute(q)]

        return self._run("reading matches", fn)

    # --- digests and the outbox ---------------------------------------------------------

    def digest_states(self) -> list[DigestState]:
        def fn(s: Session) -> list[DigestState]:
            return [
                DigestState(r.id, r.next_run_at, r.last_run_at, r.created_at)
                for r in s.scalars(select(DigestRow).order_by(DigestRow.id))
            ]

        return self._run("reading digests", fn)

    def due_digests(self, now: datetime, ids: Iterable[str]) -> list[DigestState]:
        wanted = list(ids)

        def fn(s: Session) -> list[DigestState]:
            q = select(DigestRow).where(DigestRow.next_run_at <= now, DigestRow.id.in_(wanted))
            return [
                DigestState(r.id, r.next_run_at, r.last_run_at, r.created_at) for r in s.scalars(q)
            ]

        return self._run("reading due digests", fn)

    def run_digest(
        self,
        digest_id: str,
        watch_ids: Sequence[str],
        now: datetime,
        build: Callable[[list[Match], datetime], Digest | None],
        *,
        claim: tuple[datetime, datetime] | None = None,
        status: str = "pending",
    ) -> Delivery | None:
        """Build a digest from its pending matches and put it in the outbox, in one transaction.

        ``claim`` = (expected next_run_at, new next_run_at): the run happens only if the
        stored next_run_at is still the expected one (compare-and-set), so of several
        replicas exactly one builds each scheduled run; None for a run on demand.
        Pending = alert-worthy matches of the digest's watch items, recorded since the digest
        was first configured, and not yet in any delivery of this digest. ``build`` returns
        None for an empty digest (nothing is written but the schedule).

        The digest's row is locked first (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN
        IMMEDIATE`` already serializes writers), so two runs of one digest at once (a
        daemon's scheduled run and ``monitor digest``) take turns: the second reads the
        first one's deliveries and never queues the same matches again.
        """

        def fn(s: Session) -> Delivery | None:
            row = s.get(DigestRow, digest_id, with_for_update=True)
            if row is None:
                raise StorageError(f"digest {digest_id!r} is not in the database")
            if claim is not None:
                expected, new_next = claim
                res = s.execute(
                    update(DigestRow)
                    .where(DigestRow.id == digest_id, DigestRow.next_run_at == expected)
                    .values(next_run_at=new_next, last_run_at=now)
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    return None  # another replica ran it
            pending, since = self._pending(s, row, watch_ids)
            digest = build(pending, since)
            if digest is None:
                return None
            drow = DeliveryRow(
                id=digest.delivery_id,
                digest_id=digest_id,
                created_at=now,
                status=status,
                attempts=0,
                next_attempt_at=now if status == "pending" else None,
                match_count=len(digest.match_ids),
                window_since=digest.since,
                window_until=digest.until,
                body=digest.body,
            )
            s.add(drow)
            s.flush()
            s.add_all(
                DeliveryMatchRow(delivery_id=digest.delivery_id, match_id=mid)
                for mid in digest.match_ids
            )
            return self._delivery(drow)

        return self._run(f"building digest {digest_id}", fn)

    def _pending(
        self, s: Session, row: DigestRow, watch_ids: Sequence[str]
    ) -> tuple[list[Match], datetime]:
        # Not correlated: the digest's delivered match ids are read once (SQLite builds a
        # set; PostgreSQL a hashed subplan). The correlated NOT EXISTS it replaces walked
        # every delivery of the digest for every match (0.18 s at 1,000 matches and 340
        # deliveries, growing with both; bench/web_pages.py).
        in_this_digest = (
            select(DeliveryMatchRow.match_id)
            .join(DeliveryRow, DeliveryRow.id == DeliveryMatchRow.delivery_id)
            .where(DeliveryRow.digest_id == row.id)
        )
        q = (
            self._match_query()
            .where(
                MatchRow.watch_id.in_(list(watch_ids)),
                MatchRow.alert.is_(True),
                MatchRow.created_at >= row.created_at,
                MatchRow.id.not_in(in_this_digest),
            )
            .order_by(MatchRow.created_at, MatchRow.id)
        )
        pending = [self._to_match(m, e) for m, e in s.execute(q)]
        last_until = s.scalar(
            select(func.max(DeliveryRow.window_until)).where(
                DeliveryRow.digest_id == row.id, DeliveryRow.kind == "digest"
            )
        )
        return pending, last_until or row.created_at

    def pending_matches(
        self, digest_id: str, watch_ids: Sequence[str]
    ) -> tuple[list[Match], datetime]:
        """What the next run of a digest would carry, and its window start (for previews)."""

        def fn(s: Session) -> tuple[list[Match], datetime]:
            row = s.get(DigestRow, digest_id)
            if row is None:
                raise StorageError(f"digest {digest_id!r} is not in the database")
            return self._pending(s, row, watch_ids)

        return self._run(f"reading pending matches of {digest_id}", fn)

    @staticmethod
    def _delivery(r: DeliveryRow, *, with_body: bool = True) -> Delivery:
        """A delivery row as the type; ``with_body=False`` for a row whose body was
        deferred (lists of deliveries): the body stays unloaded and empty."""
        return Delivery(
            id=r.id,
            digest_id=r.digest_id,
            created_at=r.created_at,
            status=r.status,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
            match_count=r.match_count,
            window_since=r.window_since,
            window_until=r.window_until,
            body=r.body if with_body else "",
            parts_sent=r.parts_sent or 0,
            kind=r.kind or "digest",
        )

    def queued_deliveries(self, digest_id: str | None = None) -> list[Delivery]:
        """Pending deliveries, oldest first."""

        def fn(s: Session) -> list[Delivery]:
            q = (
                select(DeliveryRow)
                .where(DeliveryRow.status == "pending")
                .order_by(DeliveryRow.created_at, DeliveryRow.id)
            )
            if digest_id:
                q = q.where(DeliveryRow.digest_id == digest_id)
            return [self._delivery(r) for r in s.scalars(q)]

        return self._run("reading the outbox", fn)

    def due_deliveries(self, now: datetime) -> list[Delivery]:
        """Per digest and kind, its oldest pending delivery if its next attempt is due.

        Newer deliveries of a digest wait behind an older one that is backing off, so a
        receiver always gets a digest's deliveries in order. Immediate alerts queue apart
        from scheduled digests: an alert held by quiet hours never holds up a digest.
        """
        by_digest: dict[tuple[str, str], Delivery] = {}
        for d in self.queued_deliveries():
            by_digest.setdefault((d.digest_id, d.kind), d)
        return [
            d for d in by_digest.values() if d.next_attempt_at is None or d.next_attempt_at <= now
        ]

    def record_attempt(
        self,
        delivery_id: str,
        outcome: AttemptOutcome,
        now: datetime,
        next_attempt_at: datetime | None,
    ) -> Delivery:
        """Record one POST; ``next_attempt_at`` None after a failure means: give up."""

        def fn(s: Session) -> Delivery:
            row = s.get(DeliveryRow, delivery_id)
            if row is None:
                raise StorageError(f"delivery {delivery_id!r} is not in the database")
            s.add(
                AttemptRow(
                    delivery_id=delivery_id,
                    attempted_at=now,
                    status_code=outcome.status,
                    error=outcome.error,
                    elapsed_ms=int(outcome.elapsed * 1000),
                )
            )
            row.attempts += 1
            row.claimed_by = None
            if outcome.ok:
                row.status, row.delivered_at, row.next_attempt_at, row.last_error = (
                    "delivered",
                    now,
                    None,
                    None,
                )
            else:
                row.last_error = outcome.error
                row.next_attempt_at = next_attempt_at
                if next_attempt_at is None:
                    row.status = "failed"
            return self._delivery(row)

        return self._run(f"recording delivery {delivery_id}", fn)

    def last_delivery(self, digest_id: str) -> Delivery | None:
        def fn(s: Session) -> Delivery | None:
            q = (
                select(DeliveryRow)
                .where(DeliveryRow.digest_id == digest_id, DeliveryRow.kind == "digest")
                .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
                .limit(1)
            )
            row = s.scalar(q)
            return self._delivery(row) if row else None

        return self._run("reading deliveries", fn)

    def delivery_attempts(self, delivery_id: str) -> list[AttemptOutcome]:
        def fn(s: Session) -> list[AttemptOutcome]:
            q = (
                select(AttemptRow)
                .where(AttemptRow.delivery_id == delivery_id)
                .order_by(AttemptRow.id)
            )
            return [
                AttemptOutcome(
                    ok=r.error is None,
                    status=r.status_code,
                    error=r.error,
                    elapsed=r.elapsed_ms / 1000,
                )
                for r in s.scalars(q)
            ]

        return self._run("reading delivery attempts", fn)

    # --- maintenance -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table (for status and tests)."""

        def fn(s: Session) -> dict[str, int]:
            out = {}
            for model in (FeedRow, EntryRow, SightingRow, MatchRow, DeliveryRow, AttemptRow):
                out[model.__tablename__] = s.scalar(select(func.count()).select_from(model)) or 0
            return out

        return self._run("counting rows", fn)

    def release_leases(self, owner: str) -> None:
        """Give back every feed lease and delivery claim ``owner`` holds.

        On a clean shutdown, and at start for the leases of a process on this host that died
        (a delivery it claimed is then due again at once, with the same webhook-id).
        """

        def fn(s: Session) -> None:
            s.execute(
                update(FeedRow)
                .where(FeedRow.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.claimed_by == owner, DeliveryRow.status == "pending")
                .values(claimed_by=None, next_attempt_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )

        self._run("releasing leases", fn)


__all__ = ["Store"]
