"""``monitor web``: the analyst's pages on their own, without the daemon.

Owns serving ``monitor.ui`` with uvicorn on a listen address (127.0.0.1:8787 by default)
against the watchlist's database. Off loopback it refuses to start without a token. Edits
saved here reach a running daemon through its own watch on ``watchlist.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from typing import Any

from monitor import logs
from monitor.errors import ConfigError
from monitor.watchlist import config_path, load_watchlist, parse_listen
from storage.store import Store

DEFAULT_LISTEN = "127.0.0.1:8787"


def cmd_web(args: argparse.Namespace) -> int:
    # The web stack (uvicorn, Starlette, jinja2, monitor.ui) loads only for `web`: every
    # other command, `poll` above all, starts faster without it.
    import uvicorn
    from starlette.applications import Starlette

    from monitor import web
    from monitor.ui.app import ui_middleware, ui_routes
    from monitor.ui.context import TOKEN_ENV, UIContext, is_loopback, resolve_token

    wl = load_watchlist(config_path(args.config))
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from exc
    token = resolve_token(wl)
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"--listen {args.listen}: the web pages need a token when they listen on anything "
            f"but loopback; set settings.http.token or ${TOKEN_ENV}"
        )
    try:
        sock = web.bind(host, port)
    except OSError as exc:
        raise ConfigError(f"--listen: {exc}") from exc
    store = Store.open(wl.database_url)
    ctx: UIContext | None = None
    try:
        ctx = UIContext.start(store, wl, token=token)
        app = Starlette(routes=ui_routes(ctx), middleware=ui_middleware(ctx))
        server = uvicorn.Server(
            uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        )
        logs.event(
            logging.INFO,
            "web.start",
            url=web.probe_url(host, port, "/"),
            config=str(wl.path),
            token="set" if token else "none (loopback only)",
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(server.serve(sockets=[sock]))
    finally:
        if ctx is not None:
            ctx.close()  # the board's clustering worker
        sock.close()
        store.close()
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "web",
        parents=[common],
        help="serve the web pages (catalysts, stories, feeds, rule editor, digests) alone",
    )
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="[HOST:]PORT",
        help=f"where to listen (default {DEFAULT_LISTEN}; off loopback a token is required)",
    )
    p.set_defaults(fn=cmd_web)
