"""Adding feeds to the watchlist by URL, the one code path of ``monitor feeds add`` and of
the web page's ``POST /feeds``.

Owns fetching a URL to tell whether it is a feed, else reading the ``<link
rel="alternate">`` feeds its page advertises (``monitor.discover``) and keeping those that
answer with a feed, choosing ids for them (``discover.suggest_id``, made unique), and
appending them to ``watchlist.yaml`` (``watchlist_edit.add_feeds``: comments kept, a backup
of the previous file written).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from monitor.discover import feed_links, suggest_id
from monitor.errors import FetchError, MonitorError, ParseError
from monitor.fetch import USER_AGENT, FetchLimits, build_client, fetch_feed
from monitor.types import FetchResult
from monitor.watchlist import load_watchlist
from monitor.watchlist_edit import add_feeds


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """A working feed found for a URL, the id it got, and whether it was appended
    (False: a feed with that URL is already in the watchlist)."""

    id: str
    url: str
    title: str
    added: bool


async def _fetch(client: httpx.AsyncClient, url: str, limits: FetchLimits) -> FetchResult:
    return await fetch_feed(client, "new", url, etag=None, last_modified=None, limits=limits)


def _as_feed(result: FetchResult) -> str | None:
    """The feed's title ('' if none) when the body parses as a feed, else None."""
    if not result.body:
        return None
    # Imported here: every `monitor` command imports this module, and `monitor poll`'s
    # parent process never parses (feedparser + lxml are ~20 MB it need not carry).
    from monitor.parse import parse_feed

    try:
        parsed = parse_feed(result.body, result.headers, result.final_url, max_entries=5)
    except ParseError:
        return None
    return parsed.title or ""


def _user_agent() -> str:
    return USER_AGENT


async def discover(url: str, take_all: bool) -> list[tuple[str, str]]:
    """(feed URL, title) for ``url``: itself if it is a feed, else the feeds its page
    advertises that answer with a feed. Raises MonitorError when there is none (FetchError
    when ``url`` itself cannot be fetched)."""
    limits = FetchLimits(total_timeout=30)
    async with build_client(limits, _user_agent()) as client:
        page = await _fetch(client, url, limits)
        here = page.permanent_url or url
        title = _as_feed(page)
        if title is not None:
            return [(here, title)]
        html = (page.body or b"").decode("utf-8", errors="replace")
        candidates = feed_links(html, page.final_url)
        if not candidates:
            raise MonitorError(
                f"{url}: neither a feed nor a page that names one (no <link rel=alternate>)"
            )
        found: list[tuple[str, str]] = []
        problems: list[str] = []
        for link, link_title in candidates:
            try:
                result = await _fetch(client, link, limits)
            except FetchError as exc:
                problems.append(str(exc))
                continue
            feed_title = _as_feed(result)
            if feed_title is None:
                problems.append(f"{link}: not a feed")
                continue
            found.append((result.permanent_url or link, feed_title or link_title))
            if not take_all:
                break
        if not found:
            raise MonitorError(f"{url}: the feeds it names do not work: " + "; ".join(problems))
        return found


async def add_feed_url(
    path: str | os.PathLike[str],
    url: str,
    *,
    feed_id: str | None = None,
    take_all: bool = False,
) -> list[FoundFeed]:
    """Discover the feeds of ``url`` and append the new ones to the watchlist at ``path``.

    ``feed_id`` names the first feed found (default: from its URL); ids are made unique
    against the watchlist's. Raises ConfigError when the watchlist is invalid, MonitorError
    (FetchError) when nothing usable was found.
    """
    wl = load_watchlist(path)
    found = await discover(url, take_all)
    taken = {f.id for f in wl.config.feeds}
    known = {f.url: f.id for f in wl.config.feeds}
    feeds: list[dict[str, str]] = []
    titles: dict[str, str] = {}
    for i, (feed_url, title) in enumerate(found):
        base = feed_id if feed_id and i == 0 else suggest_id(feed_url)
        fid, n = base, 2
        while fid in taken:
            fid, n = f"{base}-{n}", n + 1
        taken.add(fid)
        feeds.append({"id": fid, "url": feed_url})
        titles[fid] = title
    _, added = add_feeds(path, feeds)
    return [
        FoundFeed(
            id=f["id"] if f["id"] in added else known.get(f["url"], f["id"]),
            url=f["url"],
            title=titles[f["id"]],
            added=f["id"] in added,
        )
        for f in feeds
    ]
