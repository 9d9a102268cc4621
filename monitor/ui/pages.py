"""Templates and the one helper every page renders through.

``page(request, ctx, template, **values)`` fills the shared layout (navigation, the
watchlist-error banner, a flash message from ``?flash=``) and returns HTML. Jinja2
autoescapes every value: feed titles and summaries are hostile input. ``fragment`` renders
a partial template for htmx swaps (no layout).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from monitor.ui.context import UIContext

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

NAV = (
    ("/", "Catalysts"),
    ("/search", "Search"),
    ("/feeds", "Feeds"),
    ("/digests", "Digests"),
)


def when(value: datetime | None, *, default: str = "—") -> str:
    """A UTC timestamp as the pages show it: 2026-11-28 09:10 UTC."""
    if value is None:
        return default
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """A short relative time: 5 min ago, 3 h ago, 2 d ago (in the future: in 3 h)."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    s = abs(seconds)
    if s < 90:
        text = f"{int(s)} s"
    elif s < 90 * 60:
        text = f"{round(s / 60)} min"
    elif s < 36 * 3600:
        text = f"{round(s / 3600)} h"
    else:
        text = f"{round(s / 86400)} d"
    return f"in {text}" if future else f"{text} ago"


templates.env.filters["when"] = when
templates.env.filters["ago"] = ago


def page(request: Request, ctx: UIContext, template: str, **values: Any) -> HTMLResponse:
    ctx.watchlist()  # notice a broken edit, so the banner shows it
    status = int(values.pop("status_code", 200))
    return templates.TemplateResponse(
        request,
        template,
        {
            "nav": NAV,
            "path": request.url.path,
            "watchlist_error": ctx.load_error,
            "flash": request.query_params.get("flash"),
            "auth_on": ctx.token is not None,
            **values,
        },
        status_code=status,
    )


def fragment(request: Request, template: str, **values: Any) -> HTMLResponse:
    status = int(values.pop("status_code", 200))
    return templates.TemplateResponse(request, template, values, status_code=status)
