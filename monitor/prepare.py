"""Parse + match of one body, the CPU-bound half of a refresh, runnable in a worker process.

Owns: :func:`prepare_entries` (pure: bytes -> entries with their matches) and
:func:`prepare_in_worker`, its process-pool entry point. Imports only the pure stages, so a
worker process starts without httpx or SQLAlchemy.

Why processes: parsing and matching are pure Python and hold the GIL; in threads they
would share one core with the event loop and the database writes. A worker receives the
body (tens of KB, a memcpy to pickle) and returns the entries; the matcher is sent as
pickled bytes keyed by the watchlist revision and unpickled once per worker and
revision, because pickling it for every call costs about as much as a parse.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from monitor.aggregators import tie_to_publisher
from monitor.match import Matcher
from monitor.types import EntryData, IncomingEntry
from monitor.urls import canonical_link

__all__ = [
    "LazyProcessPool",
    "ignore_stop_signals",
    "match_entries",
    "match_in_worker",
    "parse_executor",
    "prepare_entries",
    "prepare_in_worker",
]

_T = TypeVar("_T")
_MATCHERS: dict[str, Matcher] = {}  # in a worker process: revision -> matcher


class LazyProcessPool(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` built on its first ``submit``.

    Building one already costs a process: its call queue's semaphores start
    multiprocessing's resource tracker (a Python interpreter of its own). A cycle in which
    every feed answers 304 submits nothing, so it never pays for that, nor for the
    workers themselves (spawned on demand by the pool, each importing lxml/feedparser)."""

    def __init__(self, **kwargs: Any) -> None:  # the pool is not built here: see _start
        self._lazy_kwargs = kwargs
        self._lazy_lock = threading.Lock()
        self.started = False

    def _start(self) -> None:
        with self._lazy_lock:
            if not self.started:
                super().__init__(**self._lazy_kwargs)
                self.started = True

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        self._start()
        return super().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self.started:
            super().shutdown(wait=wait, cancel_futures=cancel_futures)


def parse_executor(workers: int) -> Executor:
    """Where parsing and matching run: ``workers`` processes (spawned, so they start without
    our threads, sockets or database connections), or one thread when ``workers`` is 0.

    The pool is built on the first submitted body (:class:`LazyProcessPool`) and spawns its
    processes on demand, so a cycle in which every feed answers 304 starts no process."""
    if workers <= 0:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
    return LazyProcessPool(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=ignore_stop_signals,
        initargs=(os.getpid(),),
    )


def ignore_stop_signals(parent: int | None = None) -> None:
    """Worker initializer: leave SIGINT/SIGTERM to the parent (pid ``parent``, given by the
    parent itself; default: the worker's parent now).

    Ctrl-C in a terminal, systemd's default KillMode=control-group and `timeout` signal the
    whole process group. A worker that died of it would break the pool under the parent
    while the parent is still draining; the parent shuts the pool down itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Ignoring SIGTERM means a worker would outlive a parent that was SIGKILLed (OOM
    # killer, `kill -9`) and sit on its memory forever: exit when re-parented. The
    # parent's pid comes from the parent: a worker whose parent was killed while it was
    # still starting is already re-parented here, and watching its getppid() then would
    # watch init forever (seen in the crash campaign: workers left behind for good).
    threading.Thread(
        target=_exit_when_orphaned,
        args=(os.getppid() if parent is None else parent,),
        name="orphan-watch",
        daemon=True,
    ).start()


def _exit_when_orphaned(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def prepare_entries(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    matcher: Matcher,
    alert_max_age: timedelta,
    now: datetime,
    fallback_source: str,
    max_entries: int = 1000,
) -> tuple[str | None, tuple[IncomingEntry, ...]]:
    """Parse a body and match every entry (at most ``max_entries``, in document order)."""
    # Imported here: the parent of worker processes never parses, and feedparser + lxml
    # are ~20 MB it need not carry (the 200 MB budget counts every process of ours).
    from monitor.parse import parse_feed

    parsed = parse_feed(body, headers, url, max_entries=max_entries)
    entries = match_entries(
        parsed.entries,
        matcher,
        alert_max_age,
        now,
        fallback_source,
        source=parsed.title or fallback_source,
    )
    return parsed.title, entries


def match_entries(
    entries: Iterable[EntryData],
    matcher: Matcher,
    alert_max_age: timedelta,
    now: datetime,
    fallback_source: str,
    *,
    source: str | None = None,
) -> tuple[IncomingEntry, ...]:
    """Tie each entry to its publisher (``source`` when the feed names none) and match it.
    Also used again on entries whose text grew (``fetch_full_text``)."""
    oldest_alert = now - alert_max_age
    max_ages = {i.watch_id: i.alert_max_age for i in matcher.items if i.alert_max_age}
    out = []
    for e in entries:
        e = tie_to_publisher(e)
        if not e.source and source:
            e = replace(e, source=source)
        matches = matcher.match(e, fallback_source)
        if max_ages:
            # A watch item's own alert_max_age decides for its matches.
            matches = tuple(
                replace(m, alert=(e.published or now) >= now - max_ages[m.watch_id])
                if m.watch_id in max_ages
                else m
                for m in matches
            )
        out.append(
            IncomingEntry(
                data=e,
                canonical_link=canonical_link(e.link),
                matches=matches,
                alert=(e.published or now) >= oldest_alert,
            )
        )
    return tuple(out)


def _matcher(revision: str, matcher_blob: bytes) -> Matcher:
    matcher = _MATCHERS.get(revision)
    if matcher is None:
        matcher = pickle.loads(matcher_blob)  # produced by our parent process, never input
        _MATCHERS.clear()
        _MATCHERS[revision] = matcher
    return matcher


def prepare_in_worker(
    revision: str,
    matcher_blob: bytes,
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    alert_max_age: timedelta,
    now: datetime,
    fallback_source: str,
    max_entries: int = 1000,
) -> tuple[str | None, tuple[IncomingEntry, ...]]:
    """:func:`prepare_entries` with the matcher as pickled bytes of our own process."""
    matcher = _matcher(revision, matcher_blob)
    return prepare_entries(
        body, headers, url, matcher, alert_max_age, now, fallback_source, max_entries
    )


def match_in_worker(
    revision: str,
    matcher_blob: bytes,
    entries: tuple[EntryData, ...],
    alert_max_age: timedelta,
    now: datetime,
    fallback_source: str,
) -> tuple[IncomingEntry, ...]:
    """:func:`match_entries` with the matcher as pickled bytes of our own process."""
    matcher = _matcher(revision, matcher_blob)
    return match_entries(entries, matcher, alert_max_age, now, fallback_source)
