"""The feeds page: health per feed (``GET /feeds``) and adding a feed by URL (``POST /feeds``).

Health comes from the stored feed state (``Store.feed_health``): last success, consecutive
errors and the last one, next poll, the 410 Gone mark, and entries carried per week over
the last four weeks. Failing feeds come first unless another order is asked
(``?sort=id|errors|success|next``).

Adding is ``monitor feeds add``'s code path (``monitor.feeds_add.add_feed_url``: the URL
itself if it is a feed, else the feeds its page names in ``<link rel="alternate">``; the
watchlist keeps its comments and a backup is written). It runs in a worker thread with its
own event loop, so a slow site never holds up the daemon's polling on the main loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.errors import ConfigError, FetchError, MonitorError
from monitor.feeds_add import FoundFeed, add_feed_url
from monitor.ui.context import UIContext
from monitor.ui.pages import fragment, page

if TYPE_CHECKING:
    from storage.ui_board import FeedHealth

WEEKS = 4
SORTS = ("health", "id", "errors", "success", "next")
# Health words, worst first (the default order).
HEALTH_ORDER = {"gone": 0, "failing": 1, "new": 2, "ok": 3, "disabled": 4}


def health(f: FeedHealth | None, in_watchlist: bool) -> str:
    if f is None:
        return "new"
    if f.gone_at is not None:
        return "gone"
    if not f.enabled or not in_watchlist:
        return "disabled"
    if f.error_count > 0:
        return "failing"
    if f.last_checked_at is None:
        return "new"
    return "ok"


HEALTH_TEXT = {
    "gone": "⛔ gone (410)",
    "failing": "✕ failing",
    "new": "… not polled yet",
    "ok": "✓ ok",
    "disabled": "– disabled",
}


class AddError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    url: str
    f: FeedHealth | None
    health: str

    @property
    def text(self) -> str:
        return HEALTH_TEXT[self.health]

    @property
    def errors(self) -> int:
        return self.f.error_count if self.f else 0


def _rows(
    feeds: list[FeedHealth], watchlist: dict[str, str], sort: str, now: datetime
) -> list[Row]:
    rows = [Row(f.id, f.url, f, health(f, f.id in watchlist)) for f in feeds]
    stored = {f.id for f in feeds}
    rows += [Row(fid, url, None, "new") for fid, url in watchlist.items() if fid not in stored]
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def at(value: datetime | None) -> datetime:
        return value if value is not None else far

    if sort == "id":
        rows.sort(key=lambda r: r.id)
    elif sort == "errors":
        rows.sort(key=lambda r: (-r.errors, r.id))
    elif sort == "success":
        rows.sort(key=lambda r: (at(r.f.last_success_at if r.f else None), r.id))
    elif sort == "next":
        rows.sort(key=lambda r: (at(r.f.next_check_at if r.f else None), r.id))
    else:
        rows.sort(key=lambda r: (HEALTH_ORDER[r.health], -r.errors, r.id))
    return rows


def routes(ctx: UIContext) -> list[BaseRoute]:
    async def render(
        request: Request,
        *,
        status: int = 200,
        error: str | None = None,
        url: str = "",
        feed_id: str = "",
    ) -> Response:
        sort = request.query_params.get("sort", "health")
        if sort not in SORTS:
            sort = "health"
        now = ctx.clock()
        feeds = await ctx.db(ctx.store.feed_health, now, WEEKS)
        listed = {f.id: f.url for f in ctx.watchlist().config.feeds}
        return page(
            request,
            ctx,
            "feeds.html",
            rows=_rows(feeds, listed, sort, now),
            sort=sort,
            sorts=SORTS,
            now=now,
            weeks=WEEKS,
            error=error,
            url=url,
            feed_id=feed_id,
            status_code=status,
        )

    async def feeds_page(request: Request) -> Response:
        return await render(request)

    def add(url: str, feed_id: str | None) -> list[FoundFeed]:
        """Blocking: discovery and the watchlist write, on this worker thread's own loop."""
        return asyncio.run(add_feed_url(ctx.watchlist_path, url, feed_id=feed_id))

    async def add_feed(request: Request) -> Response:
        form = await request.form()
        url = str(form.get("url", "")).strip()
        feed_id = str(form.get("id", "")).strip() or None
        htmx = "hx-request" in request.headers
        try:
            found = await _add(url, feed_id)
        except AddError as exc:
            if htmx:
                return fragment(
                    request, "_feed_add.html", error=str(exc), url=url, status_code=exc.status
                )
            return await render(
                request, status=exc.status, error=str(exc), url=url, feed_id=feed_id or ""
            )
        if ctx.on_saved is not None:
            ctx.on_saved()
        message = "; ".join(
            f"Added {f.id} ({f.url})" + (f": {f.title}" if f.title else "") for f in found
        )
        if htmx:
            return fragment(request, "_feed_add.html", found=found, url=url, message=message)
        return RedirectResponse("/feeds?" + urlencode({"flash": message}), status_code=303)

    async def _add(url: str, feed_id: str | None) -> list[FoundFeed]:
        if not url:
            raise AddError("Give the URL of a feed or of a site's home page.", 400)
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise AddError(f"{url}: not an http(s) URL.", 400)
        if feed_id is not None and feed_id in {f.id for f in ctx.watchlist().config.feeds}:
            raise AddError(f"{url}: a feed with id {feed_id!r} already exists.", 409)
        known = {f.url: f.id for f in ctx.watchlist().config.feeds}
        if url in known:
            raise AddError(f"{url}: already in the watchlist as {known[url]}.", 409)
        try:
            found = await ctx.db(add, url, feed_id)
        except FetchError as exc:
            raise AddError(f"{url}: unreachable: {exc}", 502) from exc
        except ConfigError as exc:
            raise AddError(f"{url}: the watchlist could not be changed: {exc}", 409) from exc
        except MonitorError as exc:
            raise AddError(str(exc), 422) from exc
        if not any(f.added for f in found):
            ids = ", ".join(f"{f.id} ({f.url})" for f in found)
            raise AddError(f"{url}: already in the watchlist as {ids}.", 409)
        return [f for f in found if f.added]

    return [Route("/feeds", feeds_page), Route("/feeds", add_feed, methods=["POST"])]
