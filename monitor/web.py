"""The service's HTTP face: health, readiness and metrics, and the analyst's pages.

Owns one small Starlette app and serving it with uvicorn inside the daemon's own event
loop (no second process or thread to watch):

- ``/healthz``: the scheduler is alive: its tick ran recently. A wedged event loop or a
  dead scheduler turns it 503, which is what a container healthcheck restarts on.
- ``/readyz``: the database answers and a watchlist is loaded.
- ``/metrics``: Prometheus text: this process's counters (``monitor.metrics``) plus the
  figures every replica shares, read from the database at scrape time (outbox depth, the
  oldest undelivered digest's age, consecutive errors per feed, matches per watch item).

The pages (``monitor.ui``) join the same app when a ``UIContext`` is given, behind its
token gate; health, readiness and metrics stay open.

It reaches the daemon and the database only through the ``Probe`` protocol (and the pages
through their context), so it never imports ``storage``. Database calls run in a thread, as everywhere else in the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitor import metrics as _process_metrics  # noqa: F401 - registers what /metrics serves

if TYPE_CHECKING:
    from monitor.ui.context import UIContext


class Figures(Protocol):
    @property
    def outbox_depth(self) -> int: ...
    @property
    def oldest_undelivered(self) -> datetime | None: ...
    @property
    def feed_errors(self) -> dict[str, int]: ...
    @property
    def matches_by_watch(self) -> dict[str, int]: ...


class Probe(Protocol):
    """What the app asks the daemon."""

    def last_tick_age(self) -> float | None: ...  # seconds since the last tick; None: none yet
    def stale_after(self) -> float: ...  # a tick older than this means unhealthy
    def watchlist_loaded(self) -> bool: ...
    def ping_database(self) -> None: ...  # raises when the database does not answer
    def health_figures(self) -> Figures: ...


class _DatabaseCollector:
    """Gauges read from the database when Prometheus scrapes (so all replicas agree)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.figures: Figures | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        f = self.figures
        if f is None:
            return
        yield GaugeMetricFamily(
            "catalyst_monitor_outbox_depth",
            "Digest deliveries queued (pending) in the outbox.",
            value=f.outbox_depth,
        )
        age = (
            (datetime.now(UTC) - f.oldest_undelivered).total_seconds()
            if f.oldest_undelivered
            else 0.0
        )
        yield GaugeMetricFamily(
            "catalyst_monitor_oldest_undelivered_digest_age_seconds",
            "Age of the oldest queued delivery (0 when the outbox is empty).",
            value=max(age, 0.0),
        )
        errors = GaugeMetricFamily(
            "catalyst_monitor_feed_consecutive_errors",
            "Consecutive failed refreshes per enabled feed (0 = last refresh worked).",
            labels=["feed"],
        )
        for feed, n in sorted(f.feed_errors.items()):
            errors.add_metric([feed], n)
        yield errors
        matches = GaugeMetricFamily(
            "catalyst_monitor_matches",
            "Matches recorded in the database per watch item.",
            labels=["watch_item"],
        )
        for watch, n in sorted(f.matches_by_watch.items()):
            matches.add_metric([watch], n)
        yield matches


def build_app(probe: Probe, ui: UIContext | None = None) -> Starlette:
    db_registry = CollectorRegistry(auto_describe=False)
    collector = _DatabaseCollector(probe)
    db_registry.register(collector)

    async def healthz(request: Request) -> Response:
        age = probe.last_tick_age()
        limit = probe.stale_after()
        if age is None or age > limit:
            detail = (
                "no tick yet" if age is None else f"last tick {age:.1f}s ago (limit {limit:g}s)"
            )
            return JSONResponse({"status": "unhealthy", "reason": detail}, status_code=503)
        return JSONResponse({"status": "ok", "last_tick_age": round(age, 3)})

    async def readyz(request: Request) -> Response:
        problems = []
        if not probe.watchlist_loaded():
            problems.append("no watchlist loaded")
        try:
            await asyncio.to_thread(probe.ping_database)
        except Exception as exc:
            problems.append(f"database: {exc}")
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        try:
            collector.figures = await asyncio.to_thread(probe.health_figures)
        except Exception:
            collector.figures = None  # the process metrics still go out; readyz says why
        body = generate_latest(REGISTRY) + generate_latest(db_registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    if ui is None:
        return Starlette(routes=routes)
    from monitor.ui.app import ui_middleware, ui_routes

    return Starlette(routes=routes + ui_routes(ui), middleware=ui_middleware(ui))


class _Server(uvicorn.Server):
    """uvicorn inside our loop: the daemon owns SIGINT/SIGTERM, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a busy port is a clear startup error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class HttpService:
    """The app served on one socket until ``stop``."""

    def __init__(self, probe: Probe, sock: socket.socket, ui: UIContext | None = None) -> None:
        self.sock = sock
        self.ui = ui
        config = uvicorn.Config(
            build_app(probe, ui),
            log_config=None,  # keep our log format; uvicorn's errors still reach our handler
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = _Server(config)
        self._task: asyncio.Task[Any] | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]), name="http")

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, timeout=5)
        self.sock.close()
        if self.ui is not None:
            await asyncio.to_thread(self.ui.close)  # the pages' worker process


def probe_url(host: str, port: int, path: str = "/healthz") -> str:
    """The URL a local health check uses for a listen address (0.0.0.0 means loopback)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def last_tick_age(last_tick: float | None) -> float | None:
    return None if last_tick is None else time.monotonic() - last_tick
