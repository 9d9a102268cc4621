"""The pipeline: the one module that knows the order of the stages.

One refresh of one feed, and one digest, in order::

    scheduler tick -> store.due_feeds(now)                      (leased, so no one else polls it)
      -> fetch   (conditional GET, size cap, timeouts)         -> FetchResult   [event loop]
      -> unchanged? (304, or the same body hash as last time)  -> only the feed's state is written
      -> parse   (feedparser / JSON Feed over bytes + headers)  -> ParsedFeed    [worker]
      -> match   (pure: entries x watch items)                 -> IncomingEntry [worker]
      -> full text (fetch_full_text feeds only: new short entries' articles fetched,
                    extracted [worker] and matched again; monitor.fulltext)
      -> store.ingest: new entries, sightings, matches, validators, next_check_at,
                       errors -- one transaction                               [DB thread]
    digest tick -> store.due_digests(now)
      -> store.run_digest: claim the run (compare-and-set on next_run_at), pending matches
                           -> digest.build_digest (pure) -> outbox row         [DB thread]
      -> deliver.post_delivery (signed; same webhook-id on every attempt)
      -> store.record_attempt (delivered, or next attempt with backoff, or failed)

The event loop only waits on the network. Parsing and matching (CPU) run in an executor,
database calls (blocking) in threads via ``asyncio.to_thread``; refreshes are written
in batches by one writer (``StateBatcher``). Every matching decision is
made before the transaction that stores the entries, so a crash can never leave an entry
stored without its matches. Errors are state: a failing feed is recorded on the feed and
backs off; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import logging
import pickle
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from monitor import logs, metrics
from monitor.catalysts import CatalystPort, CatalystReport, check_deadlines, update_catalysts
from monitor.deliver import notify_apprise, post_delivery, redact_url, retry_delay
from monitor.digest import WatchInfo, build_digest, new_delivery_id
from monitor.errors import FetchError, ParseError, StorageError
from monitor.fetch import FetchLimits, fetch_feed
from monitor.fulltext import add_full_text
from monitor.prepare import prepare_entries, prepare_in_worker
from monitor.render import render
from monitor.schedule import LEASE, freshness_lifetime, next_check, next_digest_run, update_gap
from monitor.types import (
    AttemptOutcome,
    CatalystState,
    Delivery,
    Digest,
    DigestState,
    FeedSpec,
    FeedState,
    FeedUpdate,
    IngestResult,
    Match,
    Transition,
)
from monitor.watchlist import DigestConfig, LoadedWatchlist

MAX_RETRY_AGE = timedelta(hours=72)  # the default of settings.max_retry_age


class StorePort(CatalystPort, Protocol):
    """What the pipeline needs from storage (``storage.Store`` implements it)."""

    def sync_config(
        self,
        feeds: Sequence[FeedSpec],
        digests: dict[str, tuple[str, datetime]],
        revision: str,
        text: str,
        now: datetime,
    ) -> None: ...
    def ingest(self, update: FeedUpdate) -> IngestResult: ...
    def ingest_many(self, updates: Sequence[FeedUpdate]) -> list[IngestResult]: ...
    def record_states(self, updates: Sequence[FeedUpdate]) -> list[IngestResult]: ...
    def seen_entries(
        self, feed_id: str, candidates: Sequence[tuple[str, str | None]]
    ) -> set[str]: ...
    def run_digest(
        self,
        digest_id: str,
        watch_ids: Sequence[str],
        now: datetime,
        build: Callable[[list[Match], datetime], Digest | None],
        *,
        claim: tuple[datetime, datetime] | None = None,
        status: str = "pending",
    ) -> Delivery | None: ...
    def record_attempt(
        self,
        delivery_id: str,
        outcome: AttemptOutcome,
        now: datetime,
        next_attempt_at: datetime | None,
    ) -> Delivery: ...
    def queued_deliveries(self, digest_id: str | None = None) -> list[Delivery]: ...
    def record_parts_sent(self, delivery_id: str, parts_sent: int) -> None: ...
    def due_digests(self, now: datetime, ids: Sequence[str]) -> list[DigestState]: ...
    def transitions(
        self,
        watch_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Transition]: ...
    def digest_window_start(self, digest_id: str) -> datetime | None: ...
    def quiet_matches(self, match_ids: Sequence[int]) -> set[int]: ...
    def muted_matches(self, watch_ids: Sequence[str]) -> list[Match]: ...
    def claim_delivery(
        self, delivery: Delivery, now: datetime, hold: timedelta, owner: str | None = None
    ) -> bool: ...
    def pending_matches(
        self, digest_id: str, watch_ids: Sequence[str]
    ) -> tuple[list[Match], datetime]: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What the stages share in one process. ``watchlist`` is swapped whole on reload."""

    store: StorePort
    client: httpx.AsyncClient
    watchlist: LoadedWatchlist
    limits: FetchLimits
    executor: Executor | None = None
    clock: Callable[[], datetime] = utcnow
    per_host: int = 4  # concurrent requests to one host (news.google.com, 127.0.0.1, ...)
    # Requests in flight over all hosts (None: only the per-host bound); see request_slot.
    max_requests: int | None = None
    jitter: Callable[[], float] = random.random  # in [0, 1); tests pass a constant
    # Called when a feed's request is about to start (after waiting for its host slot);
    # False means the lease was lost and the feed must not be polled by us.
    lease_check: Callable[[FeedState], Awaitable[bool]] | None = None
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict, repr=False)
    _requests: asyncio.Semaphore | None = field(default=None, repr=False)
    # Catalyst updates run one at a time, so an older verdict never overwrites a newer one;
    # a failed update marks every item for the next deadline check.
    _catalyst_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _catalyst_ids: set[int] = field(default_factory=set, repr=False)
    _catalyst_task: asyncio.Task[None] | None = field(default=None, repr=False)
    # When the oldest / newest queued match arrived (monotonic s), and whether a caller of
    # settle_catalysts waits, so the next update must start now (see _drain_catalysts).
    _catalyst_since: float = field(default=0.0, repr=False)
    _catalyst_last: float = field(default=0.0, repr=False)
    _catalyst_flush: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _catalysts_stale: bool = field(default=False, repr=False)
    _deadlines_checked: datetime | None = field(default=None, repr=False)
    _states: StateBatcher | None = field(default=None, repr=False)
    _matcher_blob: tuple[str, bytes] | None = field(default=None, repr=False)

    def host_slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore bounding concurrent requests to ``url``'s host."""
        host = (urlsplit(url).hostname or "").lower()
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return sem

    @contextlib.asynccontextmanager
    async def request_slot(self, url: str) -> AsyncIterator[None]:
        """Held for one HTTP request: ``url``'s host slot, then one of ``max_requests``.

        Only the request holds them, not the parse or the write that follow: a refresh
        waiting for its batched write (``StateBatcher``) must not keep the next feed's
        request from starting (with the bound around whole refreshes, a warm cycle of 304s
        stalled on every batch: 1,000 feeds 2.0 -> 1.5 s). The host slot comes first, so
        feeds queued for one busy host do not hold global slots while they wait."""
        async with self.host_slot(url):
            if self.max_requests is None:
                yield
                return
            if self._requests is None:
                self._requests = asyncio.Semaphore(self.max_requests)
            async with self._requests:
                yield

    def states(self) -> StateBatcher:
        if self._states is None:
            self._states = StateBatcher(self.store)
        return self._states

    def matcher_blob(self) -> tuple[str, bytes]:
        """The matcher pickled once per watchlist revision, for worker processes."""
        wl = self.watchlist
        if self._matcher_blob is None or self._matcher_blob[0] != wl.revision:
            self._matcher_blob = (wl.revision, pickle.dumps(wl.matcher))
        return self._matcher_blob


class StateBatcher:
    """Writes refreshes in batches: those that arrive within ``delay`` seconds share one
    transaction (at most ``limit`` refreshes and about ``max_entries`` entries).

    A cold cycle of 1,000 feeds is 1,000 refreshes with entries and a warm one 1,000 small
    state updates; one transaction and one thread hop each cost more than the writes
    (profiled in docs/notes/issue-5-perf.md), and concurrent transactions only queue on
    SQLite's write lock. One task writes, so there is never more than one writer of ours.
    If a batch fails, each of its refreshes is written again in a transaction of its own,
    so one bad feed cannot undo another's entries and each waiter learns its own outcome.
    """

    def __init__(
        self,
        store: StorePort,
        delay: float = 0.02,
        limit: int = 500,
        max_entries: int = 5000,
    ) -> None:
        self.store = store
        self.delay = delay
        self.limit = limit
        self.max_entries = max_entries
        self._pending: list[tuple[FeedUpdate, asyncio.Future[IngestResult]]] = []
        self._task: asyncio.Task[None] | None = None

    async def record(self, update: FeedUpdate) -> IngestResult:
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending.append((update, future))
        if self._task is None:
            self._task = asyncio.create_task(self._flush())
        return await future

    def _take(self) -> list[tuple[FeedUpdate, asyncio.Future[IngestResult]]]:
        n = entries = 0
        while n < min(len(self._pending), self.limit):
            entries += len(self._pending[n][0].entries)
            n += 1
            if entries >= self.max_entries:
                break
        batch, self._pending = self._pending[:n], self._pending[n:]
        return batch

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self.delay)
            while self._pending:
                batch = self._take()
                try:
                    results = await in_writer_thread(self._write, [u for u, _ in batch])
                except Exception as exc:  # a bug: every waiter learns it
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), res in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
        finally:
            self._task = None

    def _write(self, updates: list[FeedUpdate]) -> list[IngestResult | StorageError]:
        """In a worker thread. Plain refreshes (``FeedUpdate.plain``: a 304, an unchanged
        body) go to the store's bulk state write, the rest to ``_write_full``; a feed with
        refreshes of both kinds in one batch sends them all the full way, in order."""
        plain = [i for i, u in enumerate(updates) if u.plain]
        rest = [i for i, u in enumerate(updates) if not u.plain]
        if (
            plain
            and rest
            and {updates[i].feed_id for i in plain} & {updates[i].feed_id for i in rest}
        ):
            plain, rest = [], list(range(len(updates)))
        out: list[IngestResult | StorageError | None] = [None] * len(updates)
        if plain:
            try:
                written = self.store.record_states([updates[i] for i in plain])
                for i, res in zip(plain, written, strict=True):
                    out[i] = res
            except StorageError:
                rest = sorted(rest + plain)  # written again the full way: only the bad one fails
        for i, res2 in zip(rest, self._write_full([updates[i] for i in rest]), strict=True):
            out[i] = res2
        return [r for r in out if r is not None]

    def _write_full(self, updates: list[FeedUpdate]) -> list[IngestResult | StorageError]:
        """The batch in one transaction, else each on its own."""
        if len(updates) > 1:
            try:
                return list(self.store.ingest_many(updates))
            except StorageError:
                pass  # written again one by one below: only the bad one fails
        out: list[IngestResult | StorageError] = []
        for u in updates:
            try:
                out.append(self.store.ingest(u))
            except StorageError as exc:
                out.append(exc)
        return out


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one refresh did, for the CLI's one-line summary and for tests."""

    feed_id: str
    status: int | None = None
    new_entries: int = 0
    new_matches: int = 0
    error: str | None = None
    unchanged: bool = False
    elapsed: float = 0.0

    def summary(self) -> str:
        if self.error:
            return f"{self.feed_id}: error: {self.error}"
        if self.unchanged:
            return f"{self.feed_id}: unchanged"
        return f"{self.feed_id}: {self.new_entries} new entries, {self.new_matches} new matches"


# --- configuration ------------------------------------------------------------------------------


def sync_watchlist(store: StorePort, wl: LoadedWatchlist, now: datetime) -> None:
    """Make the database's feeds and digest schedules follow the watchlist."""
    cfg = wl.config
    feeds = [FeedSpec(f.id, f.url, f.enabled) for f in cfg.feeds]
    digests = {
        d.id: (d.schedule, next_digest_run(d.schedule, cfg.settings.timezone, now))
        for d in cfg.digests
    }
    store.sync_config(feeds, digests, wl.revision, wl.text, now)


# --- feeds ---------------------------------------------------------------------------------------


def feed_interval(wl: LoadedWatchlist, feed_id: str) -> timedelta:
    cfg = wl.feed(feed_id)
    return cfg.interval if cfg and cfg.interval else wl.config.settings.poll_interval


async def refresh_feed(ctx: Context, feed: FeedState) -> PollReport:
    """Fetch, parse, match and record one feed. Never raises: failures become feed state."""
    wl = ctx.watchlist
    started = time.monotonic()
    interval = feed_interval(wl, feed.id)
    now = ctx.clock()
    settings = wl.config.settings

    def when(
        *,
        error_count: int = 0,
        retry_after: float | None = None,
        max_age: float | None = None,
        gap: float | None = feed.update_gap,
    ) -> datetime:
        return next_check(
            now,
            interval,
            error_count=error_count,
            retry_after=retry_after,
            max_age=max_age,
            update_gap=gap if settings.adaptive_polling else None,
            max_interval=settings.max_poll_interval,
            jitter=ctx.jitter() * 0.1,
        )

    try:
        async with ctx.request_slot(feed.url):
            # The schedule counts from the request, not from the lease: a feed that waited
            # for its host slot must not come due again early.
            now = ctx.clock()
            if ctx.lease_check is not None and not await ctx.lease_check(feed):
                logs.event(
                    logging.WARNING,
                    "poll",
                    feed=feed.id,
                    outcome="skipped",
                    reason="lease lost while queued",
                )
                return PollReport(feed.id, error="skipped: lease lost while queued")
            result = await fetch_feed(
                ctx.client,
                feed.id,
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                limits=ctx.limits,
            )
    except FetchError as exc:
        gone = exc.status == 410
        if exc.permanent_url:
            logs.event(
                logging.WARNING, "feed.moved", feed=feed.id, old=feed.url, new=exc.permanent_url
            )
        if gone:
            logs.event(
                logging.WARNING,
                "feed.gone",
                feed=feed.id,
                url=feed.url,
                action="not polled until its URL changes or `monitor feeds enable`",
            )
        update = FeedUpdate(
            feed.id,
            now,
            when(error_count=feed.error_count + 1, retry_after=exc.retry_after),
            status=exc.status,
            error=str(exc),
            url=exc.permanent_url,
            gone=gone,
        )
        return await _record(ctx, update, started, PollReport(feed.id, exc.status, error=str(exc)))

    max_age = freshness_lifetime(result.headers, now)
    metrics.bytes_fetched(len(result.body or b""))
    if result.not_modified or result.body is None:
        update = FeedUpdate(
            feed.id,
            now,
            when(max_age=max_age),
            status=result.status,
            url=result.permanent_url,
        )
        return await _record(
            ctx, update, started, PollReport(feed.id, result.status, unchanged=True)
        )

    body_hash = hashlib.sha256(result.body).hexdigest()
    base = FeedUpdate(
        feed.id,
        now,
        when(max_age=max_age),
        status=result.status,
        etag=result.etag,
        last_modified=result.last_modified,
        content_hash=body_hash,
        url=result.permanent_url,
    )
    if result.permanent_url:
        logs.event(
            logging.WARNING, "feed.moved", feed=feed.id, old=feed.url, new=result.permanent_url
        )
    if body_hash == feed.content_hash:
        # The server has no validators (or ignored them) but sent the same bytes: no parse.
        return await _record(ctx, base, started, PollReport(feed.id, result.status, unchanged=True))

    loop = asyncio.get_running_loop()
    try:
        if isinstance(ctx.executor, ProcessPoolExecutor):
            revision, blob = ctx.matcher_blob()
            title, incoming = await loop.run_in_executor(
                ctx.executor,
                prepare_in_worker,
                revision,
                blob,
                result.body,
                result.headers,
                result.final_url,
                settings.alert_max_age,
                now,
                feed.id,
                settings.max_entries_per_poll,
            )
        else:
            title, incoming = await loop.run_in_executor(
                ctx.executor,
                prepare_entries,
                result.body,
                result.headers,
                result.final_url,
                wl.matcher,
                settings.alert_max_age,
                now,
                feed.id,
                settings.max_entries_per_poll,
            )
    except ParseError as exc:
        msg = f"feed {feed.id} ({feed.url}): {exc}"
        update = FeedUpdate(
            feed.id,
            now,
            when(error_count=feed.error_count + 1),
            status=result.status,
            error=msg,
        )
        return await _record(ctx, update, started, PollReport(feed.id, result.status, error=msg))
    feed_cfg = wl.feed(feed.id)
    if feed_cfg is not None and feed_cfg.fetch_full_text and incoming:
        incoming = await add_full_text(ctx, feed.id, incoming, now)
    gap = update_gap(e.data.published for e in incoming)
    update = replace(
        base,
        next_check_at=when(max_age=max_age, gap=gap),
        title=title,
        entries=incoming,
        revision=wl.revision,
        update_gap=gap,
    )
    return await _record(ctx, update, started, PollReport(feed.id, result.status))


async def _record(
    ctx: Context, update: FeedUpdate, started: float, report: PollReport
) -> PollReport:
    try:
        res = await ctx.states().record(update)
    except StorageError as exc:
        # Nothing of this refresh was written; the lease expires and the feed is retried.
        report = replace(report, error=f"not recorded: {exc}")
        logs.event(
            logging.ERROR, "poll", feed=update.feed_id, outcome="storage-error", error=str(exc)
        )
        metrics.poll_recorded("storage-error", time.monotonic() - started, 0, 0)
        return replace(report, elapsed=time.monotonic() - started)
    report = replace(
        report,
        new_entries=res.new_entries,
        new_matches=len(res.new_match_ids),
        elapsed=time.monotonic() - started,
    )
    if res.new_match_ids:
        queue_catalyst_update(ctx, res.new_match_ids)
    outcome = "error" if report.error else ("unchanged" if report.unchanged else "ok")
    metrics.poll_recorded(outcome, report.elapsed, report.new_entries, report.new_matches)
    logs.event(
        logging.WARNING if report.error else logging.INFO,
        "poll",
        feed=update.feed_id,
        outcome=outcome,
        status=update.status,
        new=res.new_entries,
        matches=len(res.new_match_ids),
        elapsed=f"{report.elapsed:.2f}s",
        error=report.error,
        next=update.next_check_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return report


# --- catalyst state and immediate alerts ---------------------------------------------------------

DEADLINE_CHECK_EVERY = timedelta(minutes=1)
# A burst of refreshes (a cold cycle: new matches for minutes) is evaluated in few large
# updates, not one per refresh: an update waits until no new match arrived for
# CATALYST_QUIET s, or until its oldest match waited CATALYST_MAX_DELAY s, and never starts
# sooner after the last one than that one took (at most half a core). settle_catalysts
# starts it at once. Each update re-clusters every match of its items, and interleaving
# those transient allocations with the ingest's for the whole burst fragmented the heap:
# a cold 1,000-feed `monitor poll` peaked ~25 MiB higher than with one update at the end.
CATALYST_QUIET = 0.25
CATALYST_MAX_DELAY = 10.0


def queue_catalyst_update(ctx: Context, new_match_ids: Sequence[int]) -> None:
    """Re-evaluate the items of these new matches soon, in one background task per process:
    refreshes that finish before the update starts (or while it runs) are coalesced into
    one update, so a burst of refreshes costs a few evaluations per item, and no refresh
    waits for it. An alert waits at most ``CATALYST_MAX_DELAY`` (plus the update) for it."""
    if not new_match_ids:
        return
    now = time.monotonic()
    if not ctx._catalyst_ids:
        ctx._catalyst_since = now
    ctx._catalyst_last = now
    ctx._catalyst_ids.update(new_match_ids)
    if ctx._catalyst_task is None or ctx._catalyst_task.done():
        ctx._catalyst_task = asyncio.create_task(_drain_catalysts(ctx), name="catalysts")


async def _drain_catalysts(ctx: Context) -> None:
    not_before = 0.0  # the last update's end plus its duration
    while ctx._catalyst_ids:
        while not ctx._catalyst_flush.is_set():
            due = max(
                min(ctx._catalyst_last + CATALYST_QUIET, ctx._catalyst_since + CATALYST_MAX_DELAY),
                not_before,
            )
            wait = due - time.monotonic()
            if wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx._catalyst_flush.wait(), wait)
        ids = sorted(ctx._catalyst_ids)
        ctx._catalyst_ids.clear()
        started = time.monotonic()
        await update_catalysts_after(ctx, ids)
        ended = time.monotonic()
        not_before = ended + (ended - started)


T = TypeVar("T")
_writer_thread: ThreadPoolExecutor | None = None


async def in_writer_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread`` on the process's one writer thread: the StateBatcher's batches
    and the catalyst updates (which write states and alerts too) run there, one after
    another. SQLite takes one writer at a time anyway; on the shared default executor they
    ran side by side on whichever threads were idle, each thread with its own malloc arena,
    and both working sets were held at once: a cold 1,000-feed ``monitor poll`` peaked
    ~20 MiB higher (docs/notes/issue-5-mem.md). An update holds up the writes while it
    runs (at 1,000 matches, ~0.1-2 s; a burst coalesces into a few updates)."""
    global _writer_thread
    if _writer_thread is None:
        _writer_thread = ThreadPoolExecutor(1, thread_name_prefix="writer")
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_writer_thread, call)


async def settle_catalysts(ctx: Context) -> None:
    """Wait until every queued catalyst update is done (``monitor poll``, shutdown, tests);
    a queued update starts at once."""
    ctx._catalyst_flush.set()
    try:
        while ctx._catalyst_task is not None and not ctx._catalyst_task.done():
            await asyncio.wait({ctx._catalyst_task})
    finally:
        ctx._catalyst_flush.clear()


async def update_catalysts_after(
    ctx: Context, new_match_ids: Sequence[int]
) -> CatalystReport | None:
    """Re-evaluate the items of new matches and queue their alerts (the outbox sends them
    on its next tick), as ``after_ingest`` does, but each item as a job of its own on the
    writer thread (in watchlist order, one ``now``), so a refresh's write waits for one
    item's evaluation at most, not all of them. Never raises: the refresh is recorded
    either way."""
    try:
        async with ctx._catalyst_lock:
            ids, wl = list(new_match_ids), ctx.watchlist
            now = ctx.clock()
            wanted = set(await in_writer_thread(ctx.store.watch_ids_of_matches, ids))
            report = CatalystReport()
            for w in wl.config.watch:
                if w.id in wanted:
                    report.add(
                        await in_writer_thread(
                            update_catalysts,
                            ctx.store,
                            wl,
                            [w.id],
                            now,
                            new_match_ids=ids,
                        )
                    )
            return report
    except Exception as exc:  # StorageError, or a bug: retried by the next deadline check
        ctx._catalysts_stale = True
        logs.event(
            logging.ERROR,
            "catalyst",
            outcome="error",
            error=f"{exc.__class__.__name__}: {exc}",
            action="every item is re-evaluated by the next check",
        )
        return None


async def check_catalysts(ctx: Context, *, force: bool = False) -> CatalystReport | None:
    """At most once a minute (the daemon calls it every tick): items whose ``expected_by``
    passed become ``overdue`` (with their alert); after a failed update, every item is
    re-evaluated. Never raises."""
    now = ctx.clock()
    last = ctx._deadlines_checked
    if not force and last is not None and now - last < DEADLINE_CHECK_EVERY:
        return None
    ctx._deadlines_checked = now
    stale, ctx._catalysts_stale = ctx._catalysts_stale, False
    also = [w.id for w in ctx.watchlist.config.watch] if stale else []
    try:
        async with ctx._catalyst_lock:
            return await in_writer_thread(check_deadlines, ctx.store, ctx.watchlist, now, also=also)
    except Exception as exc:
        ctx._catalysts_stale = ctx._catalysts_stale or stale
        logs.event(
            logging.ERROR, "catalyst", outcome="error", error=f"{exc.__class__.__name__}: {exc}"
        )
        return None


# --- digests and deliveries ----------------------------------------------------------------------


def watch_infos(wl: LoadedWatchlist, ids: Sequence[str]) -> list[WatchInfo]:
    """What a digest says about its watch items besides their matches, in watchlist order."""
    return [
        WatchInfo(w.id, w.name, w.why, w.priority, w.expected_by)
        for w in wl.config.watch
        if w.id in ids
    ]


@dataclass(frozen=True, slots=True)
class CatalystView:
    """What a digest run reads about its items before building: catalyst states and
    changes, and the matches of the stories the analyst muted."""

    states: Mapping[str, CatalystState]
    transitions: Sequence[Transition]
    quiet_match_ids: frozenset[int] = frozenset()
    muted: Sequence[Match] = ()


def digest_builder(
    wl: LoadedWatchlist,
    digest: DigestConfig,
    now: datetime,
    delivery_id: str,
    catalysts: CatalystView,
) -> Callable[[list[Match], datetime], Digest | None]:
    """The pure build step of a digest run (``Store.run_digest`` calls it with the pending
    matches and the window start); ``monitor digest --preview`` uses the same one."""
    infos = watch_infos(wl, wl.watch_ids_for(digest))

    def build(pending: list[Match], since: datetime) -> Digest | None:
        return build_digest(
            digest.id,
            infos,
            pending,
            since=since,
            until=now,
            delivery_id=delivery_id,
            states=catalysts.states,
            transitions=catalysts.transitions,
            top_k=digest.top_k,
            send_empty=digest.send_empty,
            quiet_match_ids=catalysts.quiet_match_ids,
            muted=catalysts.muted,
        )

    return build


def load_catalysts(
    store: StorePort, digest_id: str, ids: Sequence[str], now: datetime
) -> CatalystView:
    """The stored states of a digest's watch items, their transitions since the digest's
    window starts (``build_digest`` keeps exactly the window's: the start read here can
    only be earlier than the one ``Store.run_digest`` uses), and which of those
    transitions' evidence matches are not to be sent; and the muted stories' matches
    (``build_digest`` leaves those stories out)."""
    since = store.digest_window_start(digest_id)
    transitions = store.transitions(list(ids), since, now)
    evidence = [i for t in transitions for i in t.evidence_match_ids]
    return CatalystView(
        store.catalyst_states(),
        transitions,
        frozenset(store.quiet_matches(evidence)),
        tuple(store.muted_matches(list(ids))),
    )


def preview_digest(
    store: StorePort, wl: LoadedWatchlist, digest: DigestConfig, now: datetime
) -> Digest | None:
    """The next run of ``digest`` as it would be built now, without recording anything
    (``monitor digest --preview`` and the web page's preview): the same pending matches,
    catalyst view and build step as ``run_digest``; None when there is nothing to say."""
    ids = wl.watch_ids_for(digest)
    pending, since = store.pending_matches(digest.id, ids)
    catalysts = load_catalysts(store, digest.id, ids, now)
    return digest_builder(wl, digest, now, new_delivery_id(), catalysts)(pending, since)


async def run_digest(
    ctx: Context, digest: DigestConfig, *, claim: tuple[datetime, datetime] | None = None
) -> Delivery | None:
    """Build ``digest`` from its pending matches and state changes into the outbox (None
    when there is nothing to say, or the run was claimed elsewhere)."""
    wl = ctx.watchlist
    now = ctx.clock()
    ids = wl.watch_ids_for(digest)
    catalysts = await asyncio.to_thread(load_catalysts, ctx.store, digest.id, ids, now)
    build = digest_builder(wl, digest, now, new_delivery_id(), catalysts)

    enabled = bool(digest.webhook.url.strip())
    delivery = await asyncio.to_thread(
        ctx.store.run_digest,
        digest.id,
        ids,
        now,
        build,
        claim=claim,
        status="pending" if enabled else "disabled",
    )
    if delivery is None:
        logs.event(
            logging.INFO,
            "digest",
            digest=digest.id,
            outcome="empty" if claim is None else "nothing-new",
        )
    elif not enabled:
        logs.event(
            logging.WARNING,
            "digest",
            digest=digest.id,
            delivery=delivery.id,
            matches=delivery.match_count,
            outcome="recorded-not-sent",
            reason="webhook url is empty",
        )
    else:
        logs.event(
            logging.INFO,
            "digest",
            digest=digest.id,
            delivery=delivery.id,
            matches=delivery.match_count,
            outcome="queued",
        )
    return delivery


async def run_due_digests(ctx: Context) -> list[Delivery]:
    """Build every digest whose scheduled time has come (once, however late)."""
    wl = ctx.watchlist
    now = ctx.clock()
    by_id = {d.id: d for d in wl.config.digests}
    built = []
    for state in await asyncio.to_thread(ctx.store.due_digests, now, list(by_id)):
        cfg = by_id[state.id]
        assert state.next_run_at is not None
        new_next = next_digest_run(cfg.schedule, wl.config.settings.timezone, now)
        delivery = await run_digest(ctx, cfg, claim=(state.next_run_at, new_next))
        if delivery is not None:
            built.append(delivery)
    return built


async def attempt_delivery(ctx: Context, delivery: Delivery) -> Delivery:
    """POST one attempt of a queued delivery and record how it went."""
    cfg = ctx.watchlist.digest(delivery.digest_id)
    if cfg is None or not cfg.webhook.url.strip():
        logs.event(
            logging.WARNING,
            "delivery",
            digest=delivery.digest_id,
            delivery=delivery.id,
            outcome="held",
            reason="no webhook url configured",
        )
        return delivery
    outcome = await post_messages(ctx, delivery, cfg)
    now = ctx.clock()
    next_at: datetime | None = None
    max_age = ctx.watchlist.config.settings.max_retry_age
    if not outcome.ok and outcome.retryable and now - delivery.created_at < max_age:
        next_at = now + retry_delay(delivery.attempts + 1, outcome.retry_after)
    updated = await asyncio.to_thread(ctx.store.record_attempt, delivery.id, outcome, now, next_at)
    metrics.delivery_attempted(updated.status)
    logs.event(
        logging.INFO if outcome.ok else logging.WARNING,
        "delivery",
        digest=delivery.digest_id,
        delivery=delivery.id,
        target=redact_url(cfg.webhook.url),
        attempt=updated.attempts,
        outcome=updated.status,
        status=outcome.status,
        error=outcome.error,
        elapsed=f"{outcome.elapsed:.2f}s",
        next=next_at.strftime("%Y-%m-%dT%H:%M:%SZ") if next_at else None,
    )
    return updated


async def post_messages(ctx: Context, delivery: Delivery, cfg: DigestConfig) -> AttemptOutcome:
    """POST the delivery in its webhook's format: one message, or several in order.

    A format that needs several messages (a long Slack, Discord or Teams digest) resumes
    after the ones already accepted (``parts_sent``), so a retry never repeats a part.
    The first message carries the delivery id as ``webhook-id``; part n > 1 carries
    ``<id>-<n>``. ``json`` sends the stored body itself, byte for byte.
    """
    try:
        messages = render(delivery.body, cfg.webhook.format)
    except Exception as exc:  # a body this version cannot render: say so, never crash
        return AttemptOutcome(
            False,
            error=f"cannot render delivery {delivery.id} ({delivery.kind}) as "
            f"{cfg.webhook.format}: {exc.__class__.__name__}: {exc}",
            retryable=False,
        )
    elapsed = 0.0
    outcome = AttemptOutcome(True)
    for i in range(min(delivery.parts_sent, len(messages) - 1), len(messages)):
        msg = messages[i]
        if cfg.webhook.format == "apprise":
            outcome = await notify_apprise(cfg.webhook.url, msg.body)
        else:
            outcome = await post_delivery(
                ctx.client,
                cfg.webhook.url,
                cfg.webhook.secret or None,
                delivery.id if i == 0 else f"{delivery.id}-{i + 1}",
                msg.body,
                content_type=msg.content_type,
            )
        elapsed += outcome.elapsed
        if not outcome.ok:
            if i > 0:
                outcome = replace(outcome, error=f"part {i + 1}/{len(messages)}: {outcome.error}")
            break
        if i + 1 < len(messages):
            await asyncio.to_thread(ctx.store.record_parts_sent, delivery.id, i + 1)
    return replace(outcome, elapsed=elapsed)


async def claim_and_attempt(
    ctx: Context, delivery: Delivery, owner: str, hold: timedelta = LEASE
) -> Delivery | None:
    """Claim the next attempt of ``delivery`` (``Store.claim_delivery``, as the daemon's
    outbox does) and make it; None when another process holds the claim (a daemon is
    posting it now), so that process alone sends it. ``owner`` is ``host:pid``, the
    daemon's own form, so a daemon restarted on this host takes back the claim of a
    command that died mid-POST instead of waiting ``hold``."""
    if not await asyncio.to_thread(ctx.store.claim_delivery, delivery, ctx.clock(), hold, owner):
        return None
    return await attempt_delivery(ctx, delivery)


@dataclass(frozen=True, slots=True)
class Flushed:
    """What ``flush_digest`` did: the attempts it made, and the delivery it stopped at
    because another process was sending it (None when it did not)."""

    attempted: list[Delivery]
    busy: Delivery | None = None


async def flush_digest(ctx: Context, digest_id: str, owner: str) -> Flushed:
    """Attempt every queued delivery of a digest now, oldest first, stopping at the first
    failure or at one another process is sending (each attempt claimed as the daemon
    claims its own: a delivery is posted by one process only).

    Stopping keeps a receiver's deliveries in order: a newer digest never overtakes an
    older one that is still failing or still in flight elsewhere.
    """
    done: list[Delivery] = []
    now = ctx.clock()
    for d in await asyncio.to_thread(ctx.store.queued_deliveries, digest_id):
        if d.kind == "alert" and d.next_attempt_at is not None and d.next_attempt_at > now:
            continue  # held by quiet hours
        updated = await claim_and_attempt(ctx, d, owner)
        if updated is None:
            if d.kind == "alert":
                continue  # alerts are a queue of their own: a digest does not wait for one
            return Flushed(done, d)
        done.append(updated)
        if updated.status != "delivered":
            break
    return Flushed(done)
