"""The token gate in front of the web pages.

With a token configured, every page and action needs it, as ``Authorization: Bearer
TOKEN`` or as the login cookie that ``/login`` sets after the analyst typed the token. The
cookie holds an HMAC of the token, not the token, and is ``HttpOnly`` and
``SameSite=Strict`` (so another site cannot make the browser post an edit). Health,
readiness, metrics and static files stay open: container health checks and Prometheus
do not log in. Without a token (loopback only, see ``context``), everything is open.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.ui.context import UIContext

COOKIE = "monitor_session"
OPEN_EXACT = frozenset({"/healthz", "/readyz", "/metrics", "/login", "/logout"})
OPEN_PREFIXES = ("/static/",)


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"catalyst-monitor web session", hashlib.sha256).hexdigest()


def authorized(ctx: UIContext, request: Request) -> bool:
    if ctx.token is None:
        return True
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and ctx.token_ok(value.strip())
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and hmac.compare_digest(cookie, session_value(ctx.token))


def safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //host) is a place to go back to."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class TokenGate:
    """ASGI middleware: 401 for API-ish requests, a redirect to /login for a browser page."""

    def __init__(self, app: ASGIApp, ctx: UIContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.ctx.token is None:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "/")
        if path in OPEN_EXACT or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if authorized(self.ctx, request):
            await self.app(scope, receive, send)
            return
        response: Response
        wants_page = (
            request.method == "GET"
            and "authorization" not in request.headers
            and "text/html" in request.headers.get("accept", "")
            and "hx-request" not in request.headers
        )
        if wants_page:
            target = path + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        else:
            response = PlainTextResponse(
                "401 Unauthorized: this page needs the web token (Authorization: Bearer TOKEN "
                "or log in at /login)",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="catalyst-monitor"'},
            )
        await response(scope, receive, send)
