"""``monitor feeds ...``: managing feeds by hand.

Owns: ``monitor feeds add URL`` (a feed URL, or a site's page whose
``<link rel="alternate">`` names its feeds: each candidate is fetched and must parse as a
feed before it is appended to the watchlist, comments kept) and ``monitor feeds enable
ID`` (poll again a feed that answered 410 Gone, or reset the backoff of a failing one).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from monitor.discover import feed_links, suggest_id
from monitor.errors import ConfigError, ConfigProblem, FetchError, MonitorError, ParseError
from monitor.fetch import USER_AGENT, FetchLimits, build_client, fetch_feed
from monitor.types import FetchResult
from monitor.watchlist import config_path, load_watchlist
from monitor.watchlist_edit import add_feeds
from storage.store import Store


def cmd_feeds_enable(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    if wl.feed(args.id) is None:
        problem = ConfigProblem(str(wl.path), 1, 1, f"no feed with id {args.id!r} in the watchlist")
        raise ConfigError([problem])
    store = Store.open(wl.database_url)
    try:
        store.reenable_feed(args.id, datetime.now(UTC))
    finally:
        store.close()
    print(f"{args.id}: enabled, due now (410 mark and error count cleared)")
    return 0


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


async def discover(url: str, take_all: bool) -> list[tuple[str, str]]:
    """(feed URL, title) for ``url``: itself if it is a feed, else the feeds its page
    advertises that answer with a feed. Raises MonitorError when there is none."""
    limits = FetchLimits(total_timeout=30)
    async with build_client(limits, USER_AGENT) as client:
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


def cmd_feeds_add(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    wl = load_watchlist(path)
    found = asyncio.run(discover(args.url, args.all))
    taken = {f.id for f in wl.config.feeds}
    feeds = []
    for i, (url, title) in enumerate(found):
        base = args.id if args.id and i == 0 else suggest_id(url)
        fid, n = base, 2
        while fid in taken:
            fid, n = f"{base}-{n}", n + 1
        taken.add(fid)
        feeds.append({"id": fid, "url": url})
        print(f"found {url}" + (f" ({title})" if title else ""))
    _, added = add_feeds(path, feeds)
    for f in feeds:
        state = "added as" if f["id"] in added else "already in the watchlist; not added:"
        print(f"{state} {f['id']}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("feeds", parents=[common], help="manage feeds")
    fsub = p.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    q = fsub.add_parser(
        "add", parents=[common], help="add a feed, or find the feeds a site's page names"
    )
    q.add_argument("url", help="a feed URL or a site's home page")
    q.add_argument("--id", help="the new feed's id (default: from its URL)")
    q.add_argument("--all", action="store_true", help="add every working feed the page names")
    q.set_defaults(fn=cmd_feeds_add)
    q = fsub.add_parser(
        "enable", parents=[common], help="poll a feed again after 410 Gone or many errors"
    )
    q.add_argument("id", help="the feed's id in the watchlist")
    q.set_defaults(fn=cmd_feeds_enable)
