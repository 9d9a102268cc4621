"""What every page needs: the store, the watchlist (re-read when the file changes), the token.

``UIContext.watchlist()`` re-reads ``watchlist.yaml`` when its modification time or size
changed, so the pages follow edits made in an editor, by ``monitor feeds add`` or by the
rule editor, in ``monitor web`` as well as in the daemon. A broken edit keeps the last good
version and is reported (``load_error``) so every page can say so instead of failing.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.errors import ConfigError
from monitor.watchlist import LoadedWatchlist, load_watchlist, render_problem

if TYPE_CHECKING:
    from storage.store import Store

T = TypeVar("T")

TOKEN_ENV = "MONITOR_WEB_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def resolve_token(wl: LoadedWatchlist) -> str | None:
    """The web token: $MONITOR_WEB_TOKEN, else settings.http.token, else none."""
    value = os.environ.get(TOKEN_ENV) or wl.config.settings.http.token
    return value.strip() if value and value.strip() else None


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


@dataclass
class UIContext:
    store: Store
    watchlist_path: Path
    token: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Called after the rule editor saved the file (the daemon reloads at once; ``monitor
    # web`` leaves it to the daemon's own file watcher). Must not block.
    on_saved: Callable[[], None] | None = None
    _current: LoadedWatchlist | None = field(default=None, init=False, repr=False)
    _stamp: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    load_error: str | None = field(default=None, init=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)
    # Blocking work of the pages in flight (``db``) and when the last one ended: background
    # warm-ups wait for the pages to be idle (``idle_for``).
    _busy: int = field(default=0, init=False, repr=False)
    _last_busy: float = field(default=0.0, init=False, repr=False)

    @classmethod
    def start(cls, store: Store, wl: LoadedWatchlist, **kw: Any) -> UIContext:
        ctx = cls(store=store, watchlist_path=wl.path, **kw)
        ctx._current = wl
        ctx._stamp = _stamp(wl.path)
        return ctx

    def watchlist(self) -> LoadedWatchlist:
        """The current valid watchlist (the last good one when the file is broken)."""
        with self._lock:
            stamp = _stamp(self.watchlist_path)
            if self._current is None or stamp != self._stamp:
                try:
                    self._current = load_watchlist(self.watchlist_path)
                    self.load_error = None
                except ConfigError as exc:
                    if self._current is None:
                        raise
                    text = _read(self.watchlist_path)
                    self.load_error = "\n".join(render_problem(p, text) for p in exc.problems)
                self._stamp = stamp
            return self._current

    def on_close(self, fn: Callable[[], None]) -> None:
        """Have ``close`` call ``fn`` (a page's worker process, say)."""
        self._closers.append(fn)

    def close(self) -> None:
        """Release what the pages started (blocking, a few seconds at most): the server's
        owner calls it after the server stopped (``monitor web``, ``HttpService.stop``)."""
        closers, self._closers = self._closers, []
        for fn in reversed(closers):
            fn()

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the event loop (the daemon polls on the same loop)."""
        self._busy += 1  # (on the event loop only)
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        finally:
            self._busy -= 1
            self._last_busy = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the pages last had blocking work in flight (0 while they have)."""
        if self._busy:
            return 0.0
        return time.monotonic() - self._last_busy


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""
