"""The daemon: composition root of ``monitor run``.

Builds the Store, the shared HTTP client and APScheduler's asyncio scheduler, and runs one
short ``tick`` job (``max_instances=1``, ``coalesce=True``) that asks the store what is due:

- feeds whose ``next_check_at`` has come are leased and refreshed as tasks, at most
  ``max_concurrency`` at a time (the tick never waits for them);
- digests whose ``next_run_at`` has come are built into the outbox (once, however late: a
  run missed while the daemon was down goes out once on start);
- queued deliveries whose next attempt has come are POSTed, one at a time per digest so a
  receiver gets them in order;
- the full-text search index (``/search``, the rule editor's preview) is caught up with
  the new entries after each poll cycle, a bounded step at a time in a worker thread of
  its own (``monitor.backtest.update_index`` with a ``limit``), so no page has to build it on a visit.

Nothing about what is due lives in memory, so a restart picks up where the last run left
off. SIGINT/SIGTERM stop the ticks, let in-flight work finish (database writes always
finish; HTTP requests get a grace period) and release the feed leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import logs
from monitor.backtest import update_index
from monitor.fetch import USER_AGENT, FetchLimits, build_client
from monitor.pipeline import (
    Context,
    attempt_delivery,
    check_catalysts,
    feed_interval,
    refresh_feed,
    run_due_digests,
    settle_catalysts,
    sync_watchlist,
    utcnow,
)
from monitor.prepare import parse_executor
from monitor.reload import Reloader
from monitor.schedule import LEASE
from monitor.types import Delivery, FeedState
from monitor.ui.context import TOKEN_ENV, UIContext, is_loopback, resolve_token
from monitor.watchlist import LoadedWatchlist
from monitor.web import HttpService
from storage.ops import HealthFigures
from storage.store import Store

INDEX_STEP = 500  # entries the search index takes per catch-up step, at most
INDEX_EVERY = 60.0  # s: while refreshes never stop, catch up at least this often
INDEX_RETRY = 60.0  # s: after a failed step


def _queue(delivery: Delivery) -> str:
    """One delivery in flight per digest and kind: a digest's alerts and its scheduled
    digests are two queues, each in order."""
    return f"{delivery.digest_id}:{delivery.kind}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Daemon:
    """One ``monitor run`` process."""

    def __init__(
        self,
        watchlist: LoadedWatchlist,
        store: Store,
        *,
        tick_seconds: float = 1.0,
        max_concurrency: int = 20,
        grace_seconds: float = 10.0,
        limits: FetchLimits | None = None,
        parse_workers: int = 1,
        lease: timedelta = LEASE,
        http_socket: socket.socket | None = None,
    ) -> None:
        self.watchlist = watchlist
        self.store = store
        self.tick_seconds = tick_seconds
        self.max_concurrency = max_concurrency
        self.grace_seconds = grace_seconds
        self.limits = limits or FetchLimits()
        self.parse_workers = parse_workers
        self.lease = lease
        self.http_socket = http_socket
        self.last_tick: float | None = None  # monotonic time of the last tick's start
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._feeds: dict[str, asyncio.Task[Any]] = {}
        self._leased_at: dict[str, float] = {}  # feed id -> monotonic time of its lease
        self._deliveries: dict[str, asyncio.Task[Any]] = {}
        self._held: dict[str, float] = {}  # feed id -> monotonic time before which it waits
        self._stop = asyncio.Event()
        self._ctx: Context | None = None
        self.ticks = 0
        self._tick_task: asyncio.Task[Any] | None = None
        # The search index catch-up: wanted at start (entries of an earlier run) and after
        # a refresh stored new entries; one step at a time, in its own thread.
        self._index_wanted = True
        self._index_at = 0.0  # monotonic time of the last step's start (or retry hold)
        self._index_task: asyncio.Task[Any] | None = None
        self._index_lock = threading.Lock()
        self._index_pool: ThreadPoolExecutor | None = None
        self._index_total = 0
        self._ui: UIContext | None = None

    def request_stop(self) -> None:
        self._stop.set()

    def _web_pages(self, on_saved: Callable[[], None]) -> UIContext | None:
        """The pages' context, or None (logged) when they must stay off: no token off loopback."""
        assert self.http_socket is not None
        host = str(self.http_socket.getsockname()[0])
        token = resolve_token(self.watchlist)
        if token is None and not is_loopback(host):
            logs.event(
                logging.WARNING,
                "web.disabled",
                problem=f"the web pages are off: listening on {host}, not loopback, and no "
                f"token is set (settings.http.token or ${TOKEN_ENV}); health, readiness "
                "and metrics are served",
            )
            return None
        return UIContext.start(self.store, self.watchlist, token=token, on_saved=on_saved)

    async def run(self) -> None:
        client = build_client(self.limits, USER_AGENT)
        executor = parse_executor(self.parse_workers)
        self._ctx = Context(
            self.store, client, self.watchlist, self.limits, executor, lease_check=self._lease_check
        )
        await asyncio.to_thread(sync_watchlist, self.store, self.watchlist, utcnow())
        await asyncio.to_thread(self._release_dead_leases)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow(),
            id="tick",
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self.prune,
            "interval",
            hours=24,
            next_run_time=utcnow(),  # at start, then daily
            max_instances=1,
            coalesce=True,
            id="retention",
        )
        scheduler.start()
        reloader = Reloader(self.watchlist, self._apply_watchlist)
        loop.add_signal_handler(signal.SIGHUP, reloader.request, "SIGHUP")
        watcher = asyncio.create_task(reloader.watch(self._stop), name="watchlist-watch")
        http = None
        if self.http_socket is not None:
            ui = self._ui = self._web_pages(lambda: reloader.request("web edit"))
            http = HttpService(self, self.http_socket, ui)
            http.start()
        cfg = self.watchlist.config
        logs.event(
            logging.INFO,
            "daemon.start",
            config=str(self.watchlist.path),
            revision=self.watchlist.revision,
            feeds=len(cfg.feeds),
            watch=len(cfg.watch),
            digests=len(cfg.digests),
            pid=os.getpid(),
            http="{}:{}".format(*self.http_socket.getsockname()[:2]) if self.http_socket else None,
        )
        # Start-up objects (modules, watchlist, matcher, SQLAlchemy metadata) live as long as
        # the process: out of the collector's sight, a full collection, which holds the GIL
        # and so stalls the event loop wherever it runs (often in a database thread),
        # scans only what polling allocates (tests/test_loop_responsive.py).
        gc.freeze()
        try:
            await self._stop.wait()
        finally:
            gc.unfreeze()
            scheduler.shutdown(wait=False)
            watcher.cancel()
            if self._tick_task is not None and not self._tick_task.done():
                # Let a tick that is inside a database call finish, rather than have
                # asyncio.run cancel it (a CancelledError traceback on every such stop).
                await asyncio.wait([self._tick_task], timeout=self.grace_seconds)
            if http is not None:
                await http.stop()
            await self._drain()
            if self._index_task is not None:
                await asyncio.wait([self._index_task], timeout=self.grace_seconds)
            if self._index_pool is not None:
                self._index_pool.shutdown(wait=False)
            await asyncio.to_thread(self.store.release_leases, self.owner)
            await client.aclose()
            executor.shutdown(wait=True)
            logs.event(logging.INFO, "daemon.stop", ticks=self.ticks)
            # The handlers stay installed until asyncio.run closes the loop (which removes
            # them): a second SIGTERM/SIGINT (`timeout` and Ctrl-C signal the whole group,
            # so one arrives twice) only asks again for the stop under way. Removing them
            # here restored the default action while asyncio.run was still joining the
            # executor threads, and a late signal killed a clean exit (-15).

    def _apply_watchlist(self, new: LoadedWatchlist) -> None:
        """New criteria from ``Reloader`` (in a worker thread): sync feeds, then swap."""
        sync_watchlist(self.store, new, utcnow())
        self.watchlist = new
        if self._ctx is not None:
            self._ctx.watchlist = new

    def _release_dead_leases(self) -> None:
        """Take back the feed leases of this host's processes that died (SIGKILL, OOM, power).

        Without this a crashed daemon's feeds are not polled until their lease expires
        (``LEASE``, 5 minutes) after the restart. Leases of other hosts are left to expire.
        """
        host = socket.gethostname()
        for owner in self.store.lease_owners():
            name, _, pid = owner.rpartition(":")
            if name == host and pid.isdigit() and owner != self.owner and not _alive(int(pid)):
                self.store.release_leases(owner)
                logs.event(logging.WARNING, "lease.released", owner=owner, reason="process gone")

    async def _drain(self) -> None:
        tasks = [*self._feeds.values(), *self._deliveries.values()]
        if tasks:
            logs.event(
                logging.INFO,
                "daemon.draining",
                tasks=len(tasks),
                grace=f"{self.grace_seconds:g}s",
            )
            _, pending = await asyncio.wait(tasks, timeout=self.grace_seconds)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._ctx is not None:  # the last refreshes' states and alerts are recorded
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settle_catalysts(self._ctx), timeout=self.grace_seconds)

    async def tick(self) -> None:
        """Start what is due. Short: it never waits for a fetch or a POST."""
        if self._stop.is_set() or self._ctx is None:
            return
        self.ticks += 1
        self.last_tick = time.monotonic()
        self._tick_task = asyncio.current_task()
        try:
            await self._start_due_feeds()
            # New digests go into the outbox only; due_deliveries starts each digest's oldest
            # pending delivery, so a new one never overtakes an older one that is backing off.
            await run_due_digests(self._ctx)
            # Deadlines passed (overdue) and retries of failed catalyst updates, once a minute.
            await check_catalysts(self._ctx)
            due = await asyncio.to_thread(self.store.due_deliveries, utcnow())
            for delivery in due:
                await self._claim_and_start(delivery)
            self._start_index_step()
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            # Stopping, and this tick outlived the grace period (a database call that waits
            # on a lock): one line, not APScheduler's traceback. The thread still finishes.
            logs.event(logging.WARNING, "tick.cancelled", reason="stopping")
        except Exception as exc:  # a tick must never kill the scheduler
            logs.event(logging.ERROR, "tick.error", error=f"{exc.__class__.__name__}: {exc}")

    async def prune(self) -> None:
        """Daily retention: prune never-matched entries older than settings.retention."""
        keep = self.watchlist.config.settings.retention.entries
        if keep is None:
            return
        now = utcnow()
        try:
            n = await asyncio.to_thread(self.store.prune_entries, now - keep, now)
        except Exception as exc:
            logs.event(logging.ERROR, "retention", outcome="error", error=str(exc))
            return
        logs.event(logging.INFO, "retention", pruned=n, older_than=f"{keep.days}d")

    # --- the search index ---------------------------------------------------------------------

    def _start_index_step(self) -> None:
        """Start one catch-up step of the search index when one is wanted, none is running,
        and the poll cycle is over (no refresh in flight), or ``INDEX_EVERY`` went by while
        refreshes kept running. The tick never waits for it."""
        if not self._index_wanted or self._stop.is_set():
            return
        if self._index_task is not None and not self._index_task.done():
            return
        now = time.monotonic()
        if now < self._index_at or (self._feeds and now - self._index_at < INDEX_EVERY):
            return
        self._index_wanted = False
        self._index_at = now
        self._index_task = asyncio.create_task(self._index_step(), name="search-index")

    async def _index_step(self) -> None:
        if self._index_pool is None:
            self._index_pool = ThreadPoolExecutor(1, thread_name_prefix="search-index")
        loop = asyncio.get_running_loop()
        try:
            n = await loop.run_in_executor(self._index_pool, self._index_in_thread)
        except Exception as exc:  # the next cycle's entries bring it back
            self._index_wanted = True
            self._index_at = time.monotonic() + INDEX_RETRY
            logs.event(
                logging.WARNING,
                "search.index",
                outcome="error",
                error=f"{exc.__class__.__name__}: {exc}",
            )
            return
        if n is None or n >= INDEX_STEP:
            self._index_wanted = True  # busy elsewhere, or more to do: the next tick goes on
        self._index_total += n or 0
        if n is not None and n < INDEX_STEP and self._index_total:
            logs.event(logging.INFO, "search.index", outcome="current", added=self._index_total)
            self._index_total = 0

    def _index_in_thread(self) -> int | None:
        """One step under the index lock the web pages' editor holds while it catches the
        index up (both would add the same entries); None when that one holds it now."""
        lock = self._index_lock
        if self._ui is not None:
            from monitor.ui.editor import engine  # only when the pages are served

            lock = engine(self.store).index_lock
        if not lock.acquire(blocking=False):
            return None
        try:
            return update_index(self.store, limit=INDEX_STEP)
        finally:
            lock.release()

    # --- what /healthz, /readyz and /metrics ask (monitor.web.Probe) --------------------------

    def last_tick_age(self) -> float | None:
        return None if self.last_tick is None else time.monotonic() - self.last_tick

    def stale_after(self) -> float:
        return max(30.0, 10 * self.tick_seconds)

    def watchlist_loaded(self) -> bool:
        return self._ctx is not None and self._ctx.watchlist is not None

    def ping_database(self) -> None:
        self.store.ping()

    def health_figures(self) -> HealthFigures:
        return self.store.health_figures()

    async def _start_due_feeds(self) -> None:
        free = self.max_concurrency - len(self._feeds)
        if free <= 0:
            return
        now = time.monotonic()
        due = await asyncio.to_thread(
            self.store.due_feeds,
            utcnow(),
            owner=self.owner,
            lease=self.lease,
            limit=free,
            exclude=[*self._feeds, *(f for f, t in self._held.items() if t > now)],
        )
        leased_at = time.monotonic()
        for feed in due:
            self._leased_at[feed.id] = leased_at
            self._feeds[feed.id] = asyncio.create_task(self._refresh(feed), name=f"feed:{feed.id}")

    async def _lease_check(self, feed: FeedState) -> bool:
        """Renew a feed's lease if half of it went by while the feed waited for its host."""
        leased_at = self._leased_at.get(feed.id)
        if leased_at is None or time.monotonic() - leased_at < self.lease.total_seconds() / 2:
            return True
        ok = await asyncio.to_thread(
            self.store.renew_lease, feed.id, self.owner, utcnow(), self.lease
        )
        if ok:
            self._leased_at[feed.id] = time.monotonic()
        return ok

    async def _refresh(self, feed: FeedState) -> None:
        assert self._ctx is not None
        try:
            report = await refresh_feed(self._ctx, feed)
            if report.new_entries:
                self._index_wanted = True
            if report.error and report.error.startswith("not recorded:"):
                # The database refused the result (full, locked, read-only): the feed stays
                # due and leased to us, so try it again after its interval (at most 1 min).
                wait = min(feed_interval(self._ctx.watchlist, feed.id), timedelta(minutes=1))
                self._held[feed.id] = time.monotonic() + wait.total_seconds()
            else:
                self._held.pop(feed.id, None)
        except Exception as exc:  # refresh_feed turns failures into state; this is a bug guard
            logs.event(
                logging.ERROR,
                "poll",
                feed=feed.id,
                outcome="crash",
                error=f"{exc.__class__.__name__}: {exc}",
            )
        finally:
            self._feeds.pop(feed.id, None)
            self._leased_at.pop(feed.id, None)

    async def _claim_and_start(self, delivery: Delivery) -> None:
        """POST a due delivery unless another replica claimed this attempt first."""
        if delivery.status != "pending" or _queue(delivery) in self._deliveries:
            return
        if await asyncio.to_thread(
            self.store.claim_delivery, delivery, utcnow(), self.lease, self.owner
        ):
            self._start_delivery(delivery)

    def _start_delivery(self, delivery: Delivery) -> None:
        if delivery.status != "pending" or _queue(delivery) in self._deliveries:
            return
        self._deliveries[_queue(delivery)] = asyncio.create_task(
            self._deliver(delivery), name=f"delivery:{delivery.id}"
        )

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._ctx is not None
        try:
            await attempt_delivery(self._ctx, delivery)
        except Exception as exc:
            logs.event(
                logging.ERROR,
                "delivery",
                digest=delivery.digest_id,
                delivery=delivery.id,
                outcome="crash",
                error=f"{exc.__class__.__name__}: {exc}",
            )
        finally:
            self._deliveries.pop(_queue(delivery), None)
