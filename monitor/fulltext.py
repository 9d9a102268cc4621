"""Full text for feeds that give too little: ``fetch_full_text: true`` on a feed.

Owns :func:`add_full_text`, a step of a refresh between parse+match and store: for each
*new* entry of the feed whose feed text is short (under ``SHORT_TEXT`` characters of
summary: an aggregator's headline-only item), fetch the linked article, extract its main
text (``monitor.extract``, in the executor: CPU work never runs on the event loop), and
match the entry again on title + article text (+ the feed's own snippet). The article text
becomes the stored summary, so stance, snippets and backtests all see it.

Politeness and limits are the feed's own: the same client (User-Agent, keep-alive,
Accept-Encoding), ``fetch_feed`` (connect/read/total timeouts, redirects, the body cap
counted after decompression), the host and global request slots of
``Context.request_slot``, and one request at a time per refresh. At most ``MAX_ARTICLES`` per feed per poll, and all of them within twice the
``total_timeout`` (one slow article cannot starve the rest; the refresh stays well inside
its 5-minute lease).

"New" is decided before fetching: a GUID this feed carried before, or an article whose
canonical link is stored already (another feed brought it), is never fetched again
(``Store.seen_entries``). Failures (timeout, 4xx/5xx, not HTML, nothing extracted) keep
the feed's text and are logged as ``fulltext outcome=fallback`` with the feed id and URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from monitor import extract, logs
from monitor.errors import FetchError, ParseError
from monitor.fetch import fetch_feed
from monitor.prepare import match_entries, match_in_worker
from monitor.types import EntryData, IncomingEntry

if TYPE_CHECKING:
    from monitor.pipeline import Context

__all__ = ["HTML_ACCEPT", "MAX_ARTICLES", "SHORT_TEXT", "add_full_text"]

SHORT_TEXT = 400  # characters of feed summary below which the article is fetched
MAX_ARTICLES = 20  # articles fetched per feed per poll
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"

_warned_unavailable = False


def _needs_article(item: IncomingEntry) -> bool:
    link = item.data.link or ""
    return link.startswith(("http://", "https://")) and len(item.data.summary) < SHORT_TEXT


def _with_article(data: EntryData, article: str) -> EntryData:
    """The entry with the article's text as its summary; the feed's own snippet is kept
    in front when the article does not already contain it."""
    snippet = data.summary.strip()
    if snippet and " ".join(snippet.split()) not in " ".join(article.split()):
        article = f"{snippet}\n\n{article}"
    return replace(data, summary=article[: extract.MAX_TEXT])


def _fallback(feed_id: str, url: str, reason: str) -> None:
    logs.event(
        logging.WARNING, "fulltext", feed=feed_id, url=url, outcome="fallback", reason=reason
    )


async def _article(ctx: Context, feed_id: str, url: str) -> str | None:
    """The article's main text, or None (logged) when the feed's text must do."""
    try:
        async with ctx.request_slot(url):
            result = await fetch_feed(
                ctx.client,
                feed_id,
                url,
                etag=None,
                last_modified=None,
                limits=ctx.limits,
                accept=HTML_ACCEPT,
            )
    except FetchError as exc:
        _fallback(feed_id, url, str(exc))
        return None
    if result.body is None:  # a 304 to an unconditional GET: nothing to read
        _fallback(feed_id, url, f"HTTP {result.status} without a body")
        return None
    if not extract.is_html(result.headers):
        media = result.headers.get("content-type", "").split(";")[0].strip()
        _fallback(feed_id, url, f"not an HTML page ({media or 'no Content-Type'})")
        return None
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(
            ctx.executor, extract.article_text, result.body, result.headers, result.final_url
        )
    except ParseError as exc:  # ExtractError: nothing usable in the page
        _fallback(feed_id, url, str(exc))
        return None


async def add_full_text(
    ctx: Context, feed_id: str, incoming: tuple[IncomingEntry, ...], now: datetime
) -> tuple[IncomingEntry, ...]:
    """``incoming`` with the short new entries' article text added and matched again."""
    global _warned_unavailable
    wanted = [i for i, item in enumerate(incoming) if _needs_article(item)]
    if not wanted:
        return incoming
    if not extract.available():
        if not _warned_unavailable:
            _warned_unavailable = True
            logs.event(
                logging.WARNING,
                "fulltext",
                feed=feed_id,
                outcome="unavailable",
                reason="fetch_full_text needs trafilatura: pip install 'catalyst-monitor[fulltext]'"
                "; feeds use their own text until then",
            )
        return incoming
    seen = await asyncio.to_thread(
        ctx.store.seen_entries,
        feed_id,
        [(incoming[i].data.guid, incoming[i].canonical_link) for i in wanted],
    )
    todo: list[int] = []
    guids: set[str] = set()
    for i in wanted:
        guid = incoming[i].data.guid
        if guid not in seen and guid not in guids:  # a GUID twice in one document: once
            guids.add(guid)
            todo.append(i)
    if len(todo) > MAX_ARTICLES:
        logs.event(
            logging.INFO,
            "fulltext",
            feed=feed_id,
            outcome="capped",
            articles=len(todo),
            fetched=MAX_ARTICLES,
        )
        todo = todo[:MAX_ARTICLES]
    enriched: dict[int, EntryData] = {}
    budget = 2 * ctx.limits.total_timeout
    deadline = time.monotonic() + budget
    for n, i in enumerate(todo):
        url = incoming[i].data.link or ""
        left = deadline - time.monotonic()
        if left <= 0:
            for j in todo[n:]:
                _fallback(
                    feed_id,
                    incoming[j].data.link or "",
                    f"full-text time budget ({budget:g}s) spent",
                )
            break
        try:
            async with asyncio.timeout(left):
                text = await _article(ctx, feed_id, url)
        except TimeoutError:
            _fallback(feed_id, url, f"full-text time budget ({budget:g}s) spent")
            continue
        if text:
            enriched[i] = _with_article(incoming[i].data, text)
    if not enriched:
        return incoming
    order = sorted(enriched)
    entries = tuple(enriched[i] for i in order)
    wl = ctx.watchlist
    max_age = wl.config.settings.alert_max_age
    loop = asyncio.get_running_loop()
    if isinstance(ctx.executor, ProcessPoolExecutor):
        revision, blob = ctx.matcher_blob()
        rematched = await loop.run_in_executor(
            ctx.executor, match_in_worker, revision, blob, entries, max_age, now, feed_id
        )
    else:
        rematched = await loop.run_in_executor(
            ctx.executor, match_entries, entries, wl.matcher, max_age, now, feed_id
        )
    out = list(incoming)
    for i, item in zip(order, rematched, strict=True):
        out[i] = item
    logs.event(
        logging.INFO,
        "fulltext",
        feed=feed_id,
        outcome="ok",
        articles=len(enriched),
        fallbacks=len(todo) - len(enriched),
    )
    return tuple(out)
