"""Hot reload of ``watchlist.yaml`` in the running daemon: file watching and SIGHUP.

Owns noticing an edit (``watchfiles`` watches the file's directory, so editors that save
by writing a new file and renaming it are seen too), loading the new file off the event
loop, and swapping the daemon's criteria whole. An invalid edit is logged with the same
``file:line:col`` errors (and carets) ``monitor check`` prints, and the previous criteria
stay in force; nothing stops. A changed watch item applies to entries fetched from then on.
Does not own what the daemon does with the criteria (``scheduler.py``, ``pipeline.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from monitor import logs
from monitor.errors import ConfigError
from monitor.watchlist import LoadedWatchlist, load_watchlist, render_problem

log = logging.getLogger("monitor.reload")


class Reloader:
    """Reloads ``path`` on change or on request; calls ``apply`` with each valid new version."""

    def __init__(
        self,
        current: LoadedWatchlist,
        apply: Callable[[LoadedWatchlist], None],
        *,
        debounce_ms: int = 300,
    ) -> None:
        self.path = current.path
        self.current = current
        self.apply = apply
        self.debounce_ms = debounce_ms
        self._lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[bool]] = set()

    def request(self, reason: str) -> None:
        """Schedule a reload (from a signal handler: it must not block)."""
        task = asyncio.get_running_loop().create_task(self.reload(reason))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def reload(self, reason: str) -> bool:
        """Load the file; apply it if valid and changed. True when new criteria took effect."""
        async with self._lock:
            try:
                new = await asyncio.to_thread(load_watchlist, self.path)
            except ConfigError as exc:
                try:
                    text = await asyncio.to_thread(self.path.read_text, "utf-8", "replace")
                except OSError:
                    text = ""
                for p in exc.problems:
                    log.warning("%s", render_problem(p, text))
                logs.event(
                    logging.ERROR,
                    "watchlist.rejected",
                    reason=reason,
                    errors=sum(p.severity == "error" for p in exc.problems),
                    kept=self.current.revision,
                )
                return False
            if new.revision == self.current.revision:
                logs.event(
                    logging.INFO, "watchlist.unchanged", reason=reason, revision=new.revision
                )
                return False
            try:
                await asyncio.to_thread(self.apply, new)
            except Exception as exc:  # e.g. the database is down: keep the old criteria
                logs.event(
                    logging.ERROR,
                    "watchlist.rejected",
                    reason=reason,
                    error=f"{exc.__class__.__name__}: {exc}",
                    kept=self.current.revision,
                )
                return False
            old, self.current = self.current, new
            logs.event(
                logging.INFO,
                "watchlist.reloaded",
                reason=reason,
                revision=new.revision,
                previous=old.revision,
                watch=len(new.config.watch),
                feeds=len(new.config.feeds),
            )
            return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever the file changes, until ``stop`` is set."""
        from watchfiles import awatch

        target = self.path.resolve()

        def is_target(_change: object, name: str) -> bool:
            return Path(name).resolve() == target

        try:
            async for _ in awatch(
                target.parent,
                stop_event=stop,
                watch_filter=is_target,
                debounce=self.debounce_ms,
                recursive=False,
            ):
                await self.reload("file changed")
        except Exception as exc:  # no inotify, directory gone, ...: SIGHUP still works
            logs.event(
                logging.WARNING,
                "watchlist.watch_failed",
                error=f"{exc.__class__.__name__}: {exc}",
                hint="send SIGHUP to reload",
            )
