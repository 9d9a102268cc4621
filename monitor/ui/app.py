"""Collects the pages' routes and the token gate into what ``monitor.web`` serves.

Each page module exposes ``routes(ctx)``; adding a page is adding a module to ``PAGES``.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.ui import board, digests, editor, feeds, search
from monitor.ui.auth import COOKIE, TokenGate, safe_next, session_value
from monitor.ui.context import UIContext
from monitor.ui.pages import HERE, page

PAGES = (
    editor,
    search,
    board,
    feeds,
    digests,
)  # editor first: /catalysts/new before /catalysts/{id}


def ui_routes(ctx: UIContext) -> list[BaseRoute]:
    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(
                request, ctx, "login.html", next=safe_next(request.query_params.get("next"))
            )
        form = await request.form()
        token = str(form.get("token", ""))
        target = safe_next(str(form.get("next", "/")))
        if ctx.token is None or not ctx.token_ok(token):
            return page(
                request, ctx, "login.html", next=target, error="Wrong token.", status_code=401
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, session_value(ctx.token), httponly=True, samesite="strict", path="/"
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    routes: list[BaseRoute] = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    for module in PAGES:
        routes.extend(module.routes(ctx))
    return routes


def ui_middleware(ctx: UIContext) -> list[Middleware]:
    return [Middleware(TokenGate, ctx=ctx)]
