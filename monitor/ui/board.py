"""The catalysts board: one card per watch item (placeholder until the board lands)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.ui.context import UIContext
from monitor.ui.pages import page


def routes(ctx: UIContext) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        wl = ctx.watchlist()
        return page(request, ctx, "board.html", items=wl.config.watch)

    return [Route("/", index)]
