"""The catalysts board (``GET /``), a catalyst's stories (``GET /catalysts/{watch_id}``) and
the analyst's labels on them (``POST /labels``).

The board is one card per watch item in watchlist order: its stored catalyst state
(``monitor.state`` via ``Store.catalyst_states``), since when, the deadline, its stories
and outlets, and its matches per week (counted in SQL, ``Store.item_activity``).

Stories are the item's matches clustered as ``monitor evidence`` clusters them
(``monitor.state.stories_of``), newest first, paged. Clustering is the expensive part
(~0.5 s of CPU for 2,700 matches), so it runs in a worker process, not in the server's
threads where it held the GIL and every request queued behind it; the stories are kept
per watch item and reused until the item's match count or newest match id changes, and a
busy item's are recomputed while the previous ones are shown (``monitor.ui.clustering``).
The board and the stories page share one clustering of an item's newest ``STORY_MATCHES``
matches (so their counts agree, and the board's jobs warm the page); the board shows only
its two counts, so it never unpickles the stories.

Labels are the records ``monitor label`` writes (``Store.add_label``): relevant or noise
on a match, a missed entry flagged as relevant for an item (no match id). Muting a story
labels its entries ``mute`` (``storage/ui_board.py``); muted stories are hidden unless
``?muted=1``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from math import ceil
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.match import mark_segments
from monitor.render import safe_url
from monitor.state import EventStory, deadline
from monitor.types import CatalystState, Match
from monitor.ui.clustering import Clustering, StoryClusterer
from monitor.ui.context import UIContext
from monitor.ui.pages import fragment, page
from monitor.watchlist import WatchItem

if TYPE_CHECKING:
    from storage.ui_board import ItemActivity

log = logging.getLogger(__name__)

SYNC_MATCHES = 150  # up to this many matches an item's stories are always clustered fresh
STORY_MATCHES = 5000  # the newest matches of an item that are clustered into stories
PER_PAGE = 50
WEEKS = 12
VERDICTS = ("relevant", "noise", "missed", "mute", "unmute")

# State -> (icon, words): the state is always written, the colour only repeats it.
STATES = {
    "no_signal": ("○", "no signal"),
    "expected": ("◔", "expected"),
    "reported": ("◑", "reported"),
    "confirmed": ("●", "confirmed"),
    "denied": ("✕", "denied"),
    "delayed": ("⏸", "delayed"),
    "overdue": ("⚠", "overdue"),
}


def state_view(state: str) -> dict[str, str]:
    icon, label = STATES.get(state, ("?", state.replace("_", " ")))
    return {"state": state, "icon": icon, "label": label}


@dataclass(frozen=True, slots=True)
class Clustered:
    result: Clustering
    truncated: bool  # the item has more matches than were clustered

    @property
    def stories(self) -> list[EventStory]:
        return self.result.load()


def _segments(text: str, terms: Sequence[str]) -> list[tuple[str, bool]]:
    return mark_segments(text, terms) if text else []


def _terms(matches: Sequence[Match]) -> list[str]:
    out: list[str] = []
    for m in matches:
        out += [t for t in m.matched_terms if t not in out]
    return out


def story_view(es: EventStory, labels: dict[int, str], watch_id: str) -> dict[str, Any]:
    terms = _terms(es.matches)
    lead = next((m for m in es.matches if m.link == es.story.lead.link), es.matches[0])
    members = []
    for m, outlet in sorted(
        zip(es.matches, es.outlets, strict=True), key=lambda mo: (mo[0].first_seen, mo[0].id)
    ):
        members.append(
            {
                "match": m,
                "outlet": outlet,
                "title": _segments(m.title, m.matched_terms),
                "link": safe_url(m.link),
                "label": labels.get(m.entry_id),
            }
        )
    muted = any(labels.get(m.entry_id) == "mute" for m in es.matches)
    return {
        "n": int(es.key[1:]),  # the entry id of the story's earliest member
        "watch_id": watch_id,
        "title": _segments(es.story.title, terms),
        "snippet": _segments(lead.snippet, terms),
        "link": safe_url(es.story.lead.link),
        "outlets": es.story.outlets,
        "first_seen": es.story.first_seen,
        "last_seen": max(m.first_seen for m in es.matches),
        "stances": es.stances,
        "confirming": es.confirming,
        "primary": es.primary,
        "terms": terms,
        "members": members,
        "match_ids": [m.id for m in es.matches],
        "muted": muted,
    }


def _flash_url(path: str, message: str, **params: str) -> str:
    q = {k: v for k, v in params.items() if v}
    q["flash"] = message
    return f"{path}?{urlencode(q)}"


class BadInput(Exception):
    """A label request the page cannot honour; the message is shown to the analyst."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _int(form: FormData, name: str, required: bool = True) -> int | None:
    raw = str(form.get(name, "") or "").strip()
    if not raw:
        if required:
            raise BadInput(f"{name} is required")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise BadInput(f"{name} must be a positive number")
    return value


def routes(ctx: UIContext) -> list[BaseRoute]:
    store = ctx.store
    clusterer = StoryClusterer(store)
    ctx.on_close(clusterer.close)

    def clustered(
        watch_id: str,
        limit: int,
        activity: ItemActivity | None = None,
        *,
        wait: bool = True,
        urgent: bool = False,
    ) -> Clustered | None:
        """The newest ``limit`` matches of an item as stories (blocking: run in a thread).

        ``wait=False``: None instead of waiting for a busy item's first clustering (it is
        computed in the worker; the page asks again). ``urgent``: its job goes first."""
        if activity is None:
            activity = store.item_activity([watch_id], ctx.clock(), 1)[watch_id]
        primary = tuple(ctx.watchlist().config.settings.primary_sources)
        truncated = activity.matches > limit
        # An item with fewer matches than the limit has one clustering for every page.
        slot = (watch_id, limit if truncated else None)
        version = (activity.matches, activity.newest_match_id, primary)
        if not activity.matches:
            return Clustered(Clustering.of(version, []), False)
        found = clusterer.get(
            slot,
            version,
            (watch_id, limit, primary),
            wait=wait,
            local=activity.matches <= SYNC_MATCHES,
            urgent=urgent or wait,
        )
        return None if found is None else Clustered(found, truncated)

    def stories_for_page(watch_id: str) -> Clustered:
        cl = clustered(watch_id, STORY_MATCHES)
        assert cl is not None
        return cl

    def card(
        w: WatchItem, act: ItemActivity, st: CatalystState | None, now: datetime
    ) -> dict[str, Any]:
        tz = ctx.watchlist().config.settings.timezone
        cl = clustered(w.id, STORY_MATCHES, act, wait=False)
        due = deadline(w.expected_by, tz) if w.expected_by else None
        state = st.state if st else "no_signal"
        return {
            "item": w,
            "state": state_view(state),
            "since": st.since if st else None,
            "reason": st.reason if st else "not evaluated yet",
            "expected_by": w.expected_by,
            "passed": state == "overdue"
            or (due is not None and now >= due and state not in ("confirmed", "denied")),
            # None: a busy item's stories are being clustered; the card asks again.
            "stories": cl.result.stories if cl else None,
            "sources": cl.result.outlets if cl else 0,
            "truncated": cl.truncated if cl else False,
            "matches_shown": STORY_MATCHES,
            "matches": act.matches,
            "last_match_at": act.last_match_at,
            "weekly": act.weekly,
        }

    def board_data(items: Sequence[WatchItem], now: datetime) -> list[dict[str, Any]]:
        activity = store.item_activity([w.id for w in items], now, WEEKS)
        states = store.catalyst_states()
        return [card(w, activity[w.id], states.get(w.id), now) for w in items]

    def one_card(watch_id: str, now: datetime) -> dict[str, Any] | None:
        item = next((w for w in ctx.watchlist().config.watch if w.id == watch_id), None)
        if item is None:
            return None
        act = store.item_activity([watch_id], now, WEEKS)[watch_id]
        return card(item, act, store.catalyst_states().get(watch_id), now)

    async def index(request: Request) -> Response:
        wl = ctx.watchlist()
        now = ctx.clock()
        cards = await ctx.db(board_data, list(wl.config.watch), now)
        return page(request, ctx, "board.html", cards=cards, now=now, weeks=WEEKS)

    async def card_fragment(request: Request) -> Response:
        """One card (htmx: a busy item's card asks again until its stories are counted)."""
        now = ctx.clock()
        c = await ctx.db(one_card, request.path_params["watch_id"], now)
        if c is None:
            return fragment(
                request, "_label_error.html", message="Unknown catalyst.", status_code=404
            )
        return fragment(request, "_card.html", c=c, now=now, weeks=WEEKS)

    def stories_data(watch_id: str, page_no: int, show_muted: bool) -> dict[str, Any]:
        states = store.catalyst_states()
        transitions = list(reversed(store.transitions([watch_id])))
        act = store.item_activity([watch_id], ctx.clock(), 1)[watch_id]
        cl = clustered(watch_id, STORY_MATCHES, act, wait=False, urgent=True)
        if cl is None:  # a busy item's first clustering: the section asks again (htmx)
            return {
                "stories": None,
                "matches": act.matches,
                "state": states.get(watch_id),
                "transitions": transitions,
            }
        muted = store.muted_entries(watch_id)
        ordered = sorted(cl.stories, key=lambda s: (s.story.first_seen, s.key), reverse=True)
        hidden = 0
        if not show_muted:
            kept = [s for s in ordered if not any(m.entry_id in muted for m in s.matches)]
            hidden = len(ordered) - len(kept)
            ordered = kept
        pages = max(1, ceil(len(ordered) / PER_PAGE))
        page_no = min(max(1, page_no), pages)
        shown = ordered[(page_no - 1) * PER_PAGE : page_no * PER_PAGE]
        labels = store.labels_of(watch_id, [m.entry_id for s in shown for m in s.matches])
        return {
            "stories": [story_view(s, labels, watch_id) for s in shown],
            "total": len(ordered),
            "hidden": hidden,
            "page_no": page_no,
            "pages": pages,
            "truncated": cl.truncated,
            "state": states.get(watch_id),
            "transitions": transitions,
        }

    async def catalyst(request: Request) -> Response:
        watch_id = request.path_params["watch_id"]
        wl = ctx.watchlist()
        item = next((w for w in wl.config.watch if w.id == watch_id), None)
        if item is None:
            return page(
                request,
                ctx,
                "error.html",
                title="Unknown catalyst",
                message=f"No watch item {watch_id!r} in the watchlist.",
                status_code=404,
            )
        try:
            page_no = int(request.query_params.get("page", "1"))
        except ValueError:
            page_no = 1
        show_muted = request.query_params.get("muted") == "1"
        data = await ctx.db(stories_data, watch_id, page_no, show_muted)
        st = data["state"]
        tz = wl.config.settings.timezone
        return page(
            request,
            ctx,
            "board_stories.html",
            item=item,
            state=state_view(st.state if st else "no_signal"),
            since=st.since if st else None,
            reason=st.reason if st else "not evaluated yet",
            deadline=deadline(item.expected_by, tz) if item.expected_by else None,
            show_muted=show_muted,
            per_page=PER_PAGE,
            page_matches=STORY_MATCHES,
            **{k: v for k, v in data.items() if k != "state"},
        )

    def one_story(watch_id: str, n: int) -> dict[str, Any] | None:
        cl = stories_for_page(watch_id)
        es = next((s for s in cl.stories if s.key == f"e{n}"), None)
        if es is None:
            return None
        labels = store.labels_of(watch_id, [m.entry_id for m in es.matches])
        return story_view(es, labels, watch_id)

    def apply_label(form: FormData, now: datetime) -> tuple[str, str]:
        """Record what the form asks; returns (watch id, message). Blocking."""
        verdict = str(form.get("verdict", "")).strip()
        if verdict not in VERDICTS:
            raise BadInput(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        known = {i.watch_id for i in ctx.watchlist().matcher.items}
        if verdict in ("mute", "unmute"):
            watch_id = str(form.get("watch_id", "")).strip()
            if watch_id not in known:
                raise BadInput(f"unknown watch item {watch_id!r}")
            ids = []
            for raw in form.getlist("match_id"):
                try:
                    ids.append(int(str(raw)))
                except ValueError:
                    raise BadInput(f"match_id must be a number, not {raw!r}") from None
            if not ids:
                raise BadInput("match_id is required (the story's matches)")
            pairs = []
            for mid in ids:
                ref = store.match_ref(mid)
                if ref is None or ref[1] != watch_id:
                    raise BadInput(f"no match {mid} of {watch_id}", 404)
                pairs.append((ref[0], mid))
            if verdict == "mute":
                store.mute_entries(watch_id, pairs, now)
                return watch_id, f"Story muted ({len(pairs)} entries) for {watch_id}."
            store.unmute_entries(watch_id, [e for e, _ in pairs])
            return watch_id, f"Story shown again for {watch_id}."
        match_id = _int(form, "match_id", required=False)
        if match_id is not None and verdict != "missed":
            ref = store.match_ref(match_id)
            if ref is None:
                raise BadInput(f"no match {match_id}", 404)
            entry_id, watch_id = ref
        else:
            # As `monitor label --entry ENTRY_ID --watch WATCH_ID`.
            entry_id = _int(form, "entry_id") or 0
            watch_id = str(form.get("watch_id", "")).strip()
            if not watch_id:
                raise BadInput("watch_id is required with entry_id")
            if watch_id not in known:
                raise BadInput(f"unknown watch item {watch_id!r}")
            if not store.has_entry(entry_id):
                raise BadInput(f"no entry {entry_id}", 404)
            match_id = None
        stored = "relevant" if verdict == "missed" else verdict
        store.add_label(entry_id, watch_id, stored, now, match_id)
        if verdict == "missed":
            return watch_id, f"Entry {entry_id} flagged as missed (relevant) for {watch_id}."
        return watch_id, f"Entry {entry_id} is {stored} for {watch_id}."

    async def labels(request: Request) -> Response:
        form = await request.form()
        htmx = "hx-request" in request.headers
        try:
            watch_id, message = await ctx.db(apply_label, form, ctx.clock())
        except BadInput as exc:
            if htmx:
                return fragment(
                    request, "_label_error.html", message=str(exc), status_code=exc.status
                )
            return page(
                request,
                ctx,
                "error.html",
                title="Label not recorded",
                message=str(exc),
                status_code=exc.status,
            )
        story = _int(form, "story", required=False)
        if htmx and story is not None:
            view = await ctx.db(one_story, watch_id, story)
            if view is not None:
                return fragment(
                    request,
                    "_story.html",
                    s=view,
                    message=message,
                    show_muted=str(form.get("muted", "")) == "1",
                )
        if htmx:
            return fragment(request, "_label_done.html", message=message)
        target = _flash_url(f"/catalysts/{quote(watch_id, safe='')}", message)
        return RedirectResponse(target, status_code=303)

    return [
        Route("/", index),
        Route("/catalysts/{watch_id}", catalyst),
        Route("/catalysts/{watch_id}/card", card_fragment),
        Route("/labels", labels, methods=["POST"]),
    ]
