"""Helpers for the web pages' tests: a real watchlist file, a real SQLite store, the app.

``ui_app(tmp_path, token=...)`` returns the Starlette app the daemon serves (health routes
plus the pages behind the token gate) over a fresh database, with the store and context so
a test can seed data; ``client(app)`` is Starlette's TestClient (in-process ASGI).
``serve(app)`` runs the same app in a real uvicorn server on 127.0.0.1 for tests that
need a socket (browsers, the daemon).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.ui.app import ui_middleware, ui_routes
from monitor.ui.context import UIContext
from monitor.watchlist import load_watchlist
from storage.store import Store
from tests.support import write_watchlist


@dataclass
class UIApp:
    app: Starlette
    store: Store
    ctx: UIContext
    watchlist_path: Path


def ui_app(tmp_path: Path, *, token: str | None = None, **watchlist_kw: object) -> UIApp:
    path = write_watchlist(tmp_path / "watchlist.yaml", [], **watchlist_kw)  # type: ignore[arg-type]
    wl = load_watchlist(path)
    store = Store.open(wl.database_url)
    ctx = UIContext.start(store, wl, token=token)
    app = Starlette(routes=ui_routes(ctx), middleware=ui_middleware(ctx))
    return UIApp(app, store, ctx, path)


def client(app: Starlette, **kw: object) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", **kw)  # type: ignore[arg-type]


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """The app on a real socket at 127.0.0.1:<free port>; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
