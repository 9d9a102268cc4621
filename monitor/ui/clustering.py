"""The clustered stories of each watch item, computed in one worker process.

Clustering an item's matches into stories (``monitor.state.stories_of``, what ``monitor
evidence`` shows) is pure Python: ~0.5 s of CPU for 2,700 matches, 0.15 s more to read
them. Run in the server's threads it held the GIL, so every other request of ``monitor
web`` or the daemon queued behind it (the board's p95 was 2.4 s at 100,000 entries while
its median was 84 ms). Here it runs in a worker process (spawned: no threads, sockets or
connections inherited; ``ProcessPoolExecutor`` with one worker, built on the first job):
the worker opens the database itself (``Store.open(url, migrate=False)``, read only),
reads the item's newest matches, clusters them and sends back the two counts the board
shows plus the stories pickled. The server unpickles the stories only when a stories
page of that item asks for them (~70 ms for 2,700 matches, once per version), never for
the board.

``StoryClusterer`` keeps one result per slot (watch item, match limit) with the version
of the matches it was computed from (count, newest match id, primary sources): a page
gets the stored result while its version is current, else the previous one at once (and
the new one is computed), else — nothing computed yet — ``None`` for the board (which
says "counting…" and asks again) or a wait (a label's story fragment), whose job then goes
to the front of the queue (so does the stories page's, which does not wait: it says
"counting…" and asks again). Jobs run one at a time; a newer version of a queued slot replaces
the queued one. An item with few matches (``local``), or a database only this process can
see (in-memory SQLite), is clustered in the calling thread as before.

The worker stops after ``IDLE_SECONDS`` without a job (it holds ~80 MB) and is spawned
again by the next one. It runs at niceness 10: on a busy machine the server's own requests (rendering
pages) get the CPU before clustering does. ``close()`` stops the worker (the app's owner
calls it through ``UIContext.close``); a worker left behind by a killed server exits when
it is re-parented (``monitor.prepare.ignore_stop_signals``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.prepare import LazyProcessPool, ignore_stop_signals
from monitor.state import EventStory, stories_of

if TYPE_CHECKING:
    from storage.store import Store

log = logging.getLogger(__name__)

Slot = tuple[str, int | None]  # (watch item, match limit or None for all)
Version = tuple[Any, ...]
Job = tuple[str, int, tuple[str, ...]]  # (watch item, match limit, primary sources)

# An idle worker (~80 MB: SQLAlchemy, the matches, the stories) is stopped after this long
# without a job; the next job spawns a new one (~1 s of CPU, in that process).
IDLE_SECONDS = 120.0
STOP_WAIT = 0.5  # seconds ``close`` lets the worker finish a job (read only) before ending it


@dataclass(eq=False)
class Clustering:
    """One slot's stories, of one version of the item's matches."""

    version: Version
    stories: int  # how many stories
    outlets: int  # distinct outlets over all of them
    _blob: bytes | None = None  # pickled list[EventStory], from the worker
    _value: list[EventStory] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, version: Version, stories: list[EventStory]) -> Clustering:
        return cls(version, len(stories), _outlets(stories), _value=stories)

    def load(self) -> list[EventStory]:
        """The stories (unpickled on first use, then kept)."""
        with self._lock:
            if self._value is None:
                assert self._blob is not None
                self._value = pickle.loads(self._blob)
                self._blob = None
            return self._value


def _outlets(stories: Sequence[EventStory]) -> int:
    return len({o for s in stories for o in s.story.outlets})


# --- in the worker process ------------------------------------------------------------------

_STORES: dict[str, Store] = {}
NICENESS = 10  # the worker yields the CPU to the server's requests


def init_worker() -> None:
    """Leave SIGINT/SIGTERM to the server (and exit if orphaned), and run at a lower
    priority: on a busy machine the server's requests get the CPU before clustering."""
    ignore_stop_signals()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)


def cluster_in_worker(
    url: str, watch_id: str, limit: int, primary: tuple[str, ...]
) -> tuple[int, int, bytes]:
    """(stories, outlets, pickled stories) of an item's newest ``limit`` matches."""
    store = _STORES.get(url)
    if store is None:
        from storage.store import Store  # the worker's own connection, opened once

        store = _STORES[url] = Store.open(url, migrate=False)
    stories = stories_of(store.matches(watch_id=watch_id, limit=limit), primary)
    return len(stories), _outlets(stories), pickle.dumps(stories, pickle.HIGHEST_PROTOCOL)


# --- in the server ----------------------------------------------------------------------------


@dataclass(eq=False)
class _Pending:
    version: Version
    job: Job
    future: Future[Clustering] = field(default_factory=Future)


def worker_can_read(url: str) -> bool:
    """False for a database only this process sees (in-memory SQLite)."""
    return not (url.startswith("sqlite") and (url.rstrip("/").endswith(":") or ":memory:" in url))


class StoryClusterer:
    """Stories per slot, computed in one worker process (see the module's docstring)."""

    def __init__(self, store: Store, *, processes: bool = True) -> None:
        self.store = store
        self.processes = processes and worker_can_read(store.url)
        self._lock = threading.RLock()
        self._done: dict[Slot, Clustering] = {}
        self._queue: OrderedDict[Slot, _Pending] = OrderedDict()
        self._running: tuple[Slot, _Pending] | None = None
        self._pool: LazyProcessPool | None = None
        self._closed = False
        self._idle_gen = 0  # the idle timer that may stop the worker
        self.jobs = 0  # jobs sent to the worker (tests, benchmarks)

    def get(
        self,
        slot: Slot,
        version: Version,
        job: Job,
        *,
        wait: bool,
        local: bool,
        urgent: bool | None = None,
    ) -> Clustering | None:
        """The slot's stories of ``version``; else the previous ones at once (computing
        the new ones); else None when not ``wait`` (computing them); else wait for them.
        ``local``: cluster in this thread (small items). ``urgent`` (default: ``wait``):
        a first clustering goes to the front of the queue. Blocking: call from a thread."""
        with self._lock:
            hit = self._done.get(slot)
        if hit is not None and hit.version == version:
            return hit
        if local or not self.processes or self._closed:  # closed: a request in flight
            return self._here(slot, version, job)
        first = hit is None and (wait if urgent is None else urgent)
        pending = self._request(slot, version, job, urgent=first)
        if hit is not None or not wait:
            return hit
        try:
            return pending.result()
        except Exception:
            if self._closed:  # the job was cancelled by close()
                return self._here(slot, version, job)
            log.exception("clustering the stories of %s in the worker failed", slot[0])
            return self._here(slot, version, job)

    def _here(self, slot: Slot, version: Version, job: Job) -> Clustering:
        watch_id, limit, primary = job
        stories = stories_of(self.store.matches(watch_id=watch_id, limit=limit), primary)
        done = Clustering.of(version, stories)
        with self._lock:
            self._done[slot] = done
        return done

    def _request(self, slot: Slot, version: Version, job: Job, urgent: bool) -> Future[Clustering]:
        with self._lock:
            if self._running is not None:
                rslot, rp = self._running
                if rslot == slot and rp.version == version:
                    return rp.future
            queued = self._queue.get(slot)
            if queued is not None:
                if queued.version != version:  # newer matches: the queued job's are stale
                    queued.version, queued.job = version, job
            else:
                queued = self._queue[slot] = _Pending(version, job)
            if urgent:
                self._queue.move_to_end(slot, last=False)
            self._pump()
            return queued.future

    def _pump(self) -> None:
        """Send the next queued job to the worker when none is running (lock held)."""
        if self._running is not None or not self._queue or self._closed:
            return
        slot, p = self._queue.popitem(last=False)
        self._running = (slot, p)
        if self._pool is None:
            self._pool = LazyProcessPool(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
            )
        try:
            f = self._pool.submit(cluster_in_worker, self.store.url, *p.job)
        except Exception as exc:  # a broken pool: a new one for the next job
            self._running = None
            self._drop_pool()
            p.future.set_exception(exc)
            return
        self.jobs += 1
        self._idle_gen += 1  # busy: an idle timer started before this job does nothing
        f.add_done_callback(lambda f: self._finished(slot, p, f))

    def _finished(self, slot: Slot, p: _Pending, f: Future[tuple[int, int, bytes]]) -> None:
        done: Clustering | None = None
        error: BaseException | None = None
        try:
            stories, outlets, blob = f.result()
            done = Clustering(p.version, stories, outlets, _blob=blob)
        except BaseException as exc:  # the worker died, or the pool was shut down
            error = exc
        with self._lock:
            self._running = None
            if done is not None:
                self._done[slot] = done
            elif not self._closed:
                log.warning("clustering the stories of %s failed: %r", slot[0], error)
                self._drop_pool()
            self._pump()
            if self._running is None and self._pool is not None:
                self._idle_timer()
        if done is not None:
            p.future.set_result(done)
        else:
            p.future.set_exception(error or RuntimeError("clustering failed"))

    def _idle_timer(self) -> None:
        """Stop the worker if it gets no job for ``IDLE_SECONDS`` (lock held)."""
        self._idle_gen += 1
        gen = self._idle_gen
        t = threading.Timer(IDLE_SECONDS, self._stop_if_idle, args=(gen,))
        t.daemon = True
        t.start()

    def _stop_if_idle(self, gen: int) -> None:
        with self._lock:
            if gen != self._idle_gen or self._running is not None or self._closed:
                return
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)  # an idle worker exits at once

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def worker_pids(self) -> list[int]:
        """The worker process ids (tests)."""
        pool = self._pool
        procs = getattr(pool, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.pid is not None]

    def close(self) -> None:
        """Stop the worker: an idle one exits on the pool's shutdown; one still running a
        job gets ``STOP_WAIT`` seconds to finish it, then is killed (it ignores SIGTERM;
        the job only reads) and the pool shuts down as after a worker's crash."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            queued = list(self._queue.values())
            self._queue.clear()
            running = self._running
            pool, self._pool = self._pool, None
        for p in queued:
            p.future.set_exception(RuntimeError("the web pages are shutting down"))
        if pool is None or not pool.started:
            return
        if running is not None:
            with contextlib.suppress(Exception):
                running[1].future.result(timeout=STOP_WAIT)
            if not running[1].future.done():
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)
