"""The digests page: each configured digest with its next run as it will be sent, past
deliveries (digests and alerts) with their outcome, and resending one.

The preview is ``pipeline.preview_digest`` + ``render.preview``, the code behind
``monitor digest --preview --format F``: the page shows exactly what that prints.

Resend does what ``monitor deliveries retry ID`` does and then some: a failed, held or
still-pending delivery is requeued (same id, same body: receivers that already got it
drop the repeat by its ``webhook-id``); a delivered one is queued again as a copy with a
new delivery id (the same id would be dropped as a duplicate by exactly those
receivers), its body unchanged but for ``delivery_id``. Either way the page then claims
the attempt (so a daemon on the same database does not post it at the same moment) and
makes it at once, as the CLI does, and shows the outcome; a retryable failure stays
queued for the daemon's usual backoff.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor import logs
from monitor.digest import new_delivery_id
from monitor.errors import StorageError
from monitor.fetch import FetchLimits, build_client
from monitor.pipeline import Context, attempt_delivery, preview_digest
from monitor.render import PREVIEW_FORMATS, preview
from monitor.types import Delivery, Digest
from monitor.ui.context import UIContext
from monitor.ui.pages import fragment, page
from monitor.watchlist import DigestConfig, LoadedWatchlist

if TYPE_CHECKING:
    from storage.ui_digests import DeliveryPage

PAGE_SIZE = 25
CLAIM_HOLD = timedelta(minutes=5)
USER_AGENT = "CatalystMonitor/0.1 (web resend)"
# Plain symbols every system font has (colour emoji are missing on many Linux desktops).
STATUS_ICON = {"delivered": "✓", "pending": "…", "failed": "✗", "disabled": "⊘"}


@dataclass(frozen=True, slots=True)
class DigestView:
    """One configured digest as the page shows it."""

    id: str
    schedule: str
    timezone: str
    format: str
    webhook_set: bool
    watch: list[tuple[str, str]]  # (id, name)
    next_run: Any  # datetime | None
    last_run: Any
    in_database: bool


@dataclass(frozen=True, slots=True)
class Preview:
    text: str | None  # None: nothing pending
    error: str | None = None


def _digest_views(wl: LoadedWatchlist, states: dict[str, Any]) -> list[DigestView]:
    names = {w.id: w.name or w.id for w in wl.config.watch}
    out = []
    for d in wl.config.digests:
        state = states.get(d.id)
        out.append(
            DigestView(
                id=d.id,
                schedule=d.schedule,
                timezone=wl.config.settings.timezone,
                format=d.webhook.format,
                webhook_set=bool(d.webhook.url.strip()),
                watch=[(i, names.get(i, i)) for i in wl.watch_ids_for(d)],
                next_run=state.next_run_at if state else None,
                last_run=state.last_run_at if state else None,
                in_database=state is not None,
            )
        )
    return out


class PreviewCache:
    """The last built digest per digest id, reused while nothing it is built from changed
    (``Store.digest_fingerprint``, the watchlist revision) for up to ``TTL`` seconds.

    Building is the slow part (pending matches, then clustering them into stories: ~0.5 s
    at 135 pending matches, bench/web_pages.py); rendering a format is milliseconds. So
    the page and the format tabs build once and render each format from the same body.
    The TTL bounds how old the window's end ("until") and deadline checks may get.
    """

    TTL = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[str, tuple[tuple[object, ...], float, Digest | None]] = {}

    def build(self, ctx: UIContext, wl: LoadedWatchlist, d: DigestConfig) -> Digest | None:
        key = (wl.revision, *ctx.store.digest_fingerprint(d.id))
        with self._lock:
            hit = self._built.get(d.id)
        if hit is not None and hit[0] == key and time.monotonic() - hit[1] < self.TTL:
            return hit[2]
        built = preview_digest(ctx.store, wl, d, ctx.clock())
        with self._lock:
            self._built[d.id] = (key, time.monotonic(), built)
        return built


def _preview(
    ctx: UIContext, cache: PreviewCache, wl: LoadedWatchlist, d: DigestConfig, fmt: str
) -> Preview:
    """Blocking (run through ``ctx.db``): the next digest, rendered in ``fmt``."""
    try:
        built = cache.build(ctx, wl, d)
    except StorageError as exc:
        return Preview(None, f"{exc} (the daemon records a new digest when it loads the file)")
    if built is None:
        return Preview(None)
    return Preview(preview(built.body, fmt))


def with_delivery_id(body: str, delivery_id: str) -> str:
    """``body`` with its ``delivery_id`` replaced (a body without one is kept as it is)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or "delivery_id" not in data:
        return body
    data["delivery_id"] = delivery_id
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _int(value: str | None, default: int) -> int:
    try:
        return max(int(value or default), 0)
    except ValueError:
        return -1


def routes(ctx: UIContext) -> list[BaseRoute]:
    cache = PreviewCache()

    def status_badge(d: Delivery) -> dict[str, str]:
        return {"status": d.status, "icon": STATUS_ICON.get(d.status, "")}

    async def deliveries_page(offset: int) -> DeliveryPage:
        return await ctx.db(ctx.store.delivery_page, offset=offset, limit=PAGE_SIZE)

    def deliveries_values(dp: DeliveryPage) -> dict[str, Any]:
        return {
            "deliveries": dp.deliveries,
            "badge": status_badge,
            "page_no": dp.offset // PAGE_SIZE + 1,
            "pages": max((dp.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "total": dp.total,
            "page_size": PAGE_SIZE,
        }

    async def index(request: Request) -> Response:
        page_no = _int(request.query_params.get("page"), 1)
        if page_no < 1:
            return PlainTextResponse("400 Bad Request: page must be a number >= 1", 400)
        wl = ctx.watchlist()
        states = {s.id: s for s in await ctx.db(ctx.store.digest_states)}
        views = _digest_views(wl, states)
        previews = {}
        for d in wl.config.digests:
            previews[d.id] = await ctx.db(_preview, ctx, cache, wl, d, "summary")
        dp = await deliveries_page((page_no - 1) * PAGE_SIZE)
        return page(
            request,
            ctx,
            "digests.html",
            digests=views,
            previews=previews,
            formats=PREVIEW_FORMATS,
            **deliveries_values(dp),
        )

    async def preview_route(request: Request) -> Response:
        digest_id = request.path_params["digest_id"]
        fmt = request.query_params.get("format", "summary")
        wl = ctx.watchlist()
        d = wl.digest(digest_id)
        if d is None:
            known = ", ".join(x.id for x in wl.config.digests) or "none"
            return PlainTextResponse(
                f"404 Not Found: no digest {digest_id!r} (digests: {known})", 404
            )
        if fmt not in PREVIEW_FORMATS:
            return PlainTextResponse(
                f"400 Bad Request: unknown format {fmt!r}: use one of "
                + ", ".join(PREVIEW_FORMATS),
                400,
            )
        result = await ctx.db(_preview, ctx, cache, wl, d, fmt)
        values = {"digest_id": d.id, "fmt": fmt, "preview": result, "formats": PREVIEW_FORMATS}
        if request.headers.get("hx-request"):
            return fragment(request, "_digest_preview.html", **values)
        return page(request, ctx, "digests_preview.html", **values)

    async def resend(request: Request) -> Response:
        delivery_id = request.path_params["delivery_id"]
        found = await ctx.db(ctx.store.delivery, delivery_id)
        if found is None:
            return PlainTextResponse(f"404 Not Found: no delivery {delivery_id!r}", 404)
        wl = ctx.watchlist()
        cfg = wl.digest(found.digest_id)
        if cfg is None or not cfg.webhook.url.strip():
            return PlainTextResponse(
                f"409 Conflict: delivery {found.id} belongs to digest {found.digest_id!r}, "
                f"which has no webhook url in {wl.path}: nothing to send it to",
                409,
            )
        now = ctx.clock()
        if found.status == "delivered":
            new_id = new_delivery_id()
            queued = await ctx.db(
                ctx.store.queue_copy, found.id, new_id, with_delivery_id(found.body, new_id), now
            )
            what = f"{found.id} was delivered; a copy was queued as {queued.id}"
        else:
            queued = await ctx.db(ctx.store.requeue_delivery, found.id, now)
            what = f"{found.id} was requeued"
        owner = f"web:{socket.gethostname()}:{os.getpid()}"
        claimed = await ctx.db(ctx.store.claim_delivery, queued, now, CLAIM_HOLD, owner)
        if not claimed:
            message = f"{what}; another process is sending it now."
        else:
            limits = FetchLimits()
            async with build_client(limits, USER_AGENT) as client:
                result = await attempt_delivery(
                    Context(ctx.store, client, wl, limits, clock=ctx.clock), queued
                )
            if result.status == "delivered":
                message = f"{what}; delivered (attempt {result.attempts})."
            else:
                message = (
                    f"{what}; attempt {result.attempts} failed ({result.last_error}): "
                    f"{result.status}."
                )
        logs.event(logging.INFO, "web.resend", delivery=found.id, outcome=message)
        if request.headers.get("hx-request"):
            dp = await deliveries_page(0)
            return fragment(request, "_deliveries.html", message=message, **deliveries_values(dp))
        return RedirectResponse(f"/digests?flash={quote(message)}#deliveries", status_code=303)

    return [
        Route("/digests", index),
        Route("/digests/{digest_id}/preview", preview_route),
        Route("/deliveries/{delivery_id}/resend", resend, methods=["POST"]),
    ]
