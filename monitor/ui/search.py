"""Full-text search over every stored entry: ``GET /search?q=...``.

Every word must occur (a trailing ``*`` makes it a prefix), in the title, summary,
categories or publisher, as the matcher reads words (folded case and accents); newest
first, paged. Reads the backtest's search index (``storage/ui_search.py``), caught up
with what was stored since the last search before each one (in the background when far
behind). Each result can be flagged as an entry a catalyst missed (``POST /labels``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.match import tokenize
from monitor.ui import highlight
from monitor.ui.context import UIContext
from monitor.ui.editor import engine
from monitor.ui.pages import page

PAGE_SIZE = 20
MAX_PAGE = 500


def parse_words(q: str) -> list[tuple[str, bool]]:
    """The search's words as folded tokens; ``word*`` makes the last token a prefix."""
    out: list[tuple[str, bool]] = []
    for raw in q.split():
        prefix = raw.endswith("*")
        toks = tokenize(raw.rstrip("*"))
        out.extend((t, prefix and k == len(toks) - 1) for k, t in enumerate(toks))
    return list(dict.fromkeys(out))


@dataclass
class Result:
    entry_id: int
    title: highlight.Segments
    summary: highlight.Segments
    link: str | None
    feed_id: str
    source: str | None
    published: Any
    first_seen: Any


def _snippet(text: str, words: list[tuple[str, bool]], width: int = 280) -> str:
    if len(text) <= width:
        return text
    segs = highlight.words(text, words)
    at = 0
    for s, hit in segs:
        if hit:
            break
        at += len(s)
    else:
        at = 0
    start = max(0, min(at - width // 3, len(text) - width))
    cut = text[start : start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(text) else "")


def routes(ctx: UIContext) -> list[BaseRoute]:
    async def search(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()[:500]
        try:
            pg = max(1, min(MAX_PAGE, int(request.query_params.get("page", "1"))))
        except ValueError:
            return page(
                request, ctx, "search.html", q=q, error="page must be a number", status_code=400
            )
        words = parse_words(q)
        values: dict[str, Any] = {"q": q, "page_no": pg, "words": words}
        if q and not words:
            values["error"] = "Type a word with letters or digits to search for."
        if words:
            eng = engine(ctx.store)
            behind = await ctx.db(eng.behind)
            found = await ctx.db(ctx.store.search_entries, words, PAGE_SIZE, (pg - 1) * PAGE_SIZE)
            values.update(
                indexing=behind,
                total=found.total,
                more_than=found.total > 10_000,
                results=[
                    Result(
                        h.entry_id,
                        highlight.words(h.title, words),
                        highlight.words(_snippet(h.summary, words), words),
                        highlight.safe_link(h.link),
                        h.feed_id,
                        h.source,
                        h.published,
                        h.first_seen,
                    )
                    for h in found.hits
                ],
                has_next=pg * PAGE_SIZE < found.total and pg < MAX_PAGE,
                watch_items=[(w.id, w.name) for w in ctx.watchlist().config.watch],
            )
        return page(request, ctx, "search.html", **values)

    return [Route("/search", search)]
