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

from monitor.errors import ConfigError, ConfigProblem
from monitor.feeds_add import add_feed_url
from monitor.watchlist import config_path, load_watchlist
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


def cmd_feeds_add(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    found = asyncio.run(add_feed_url(path, args.url, feed_id=args.id, take_all=args.all))
    for f in found:
        print(f"found {f.url}" + (f" ({f.title})" if f.title else ""))
    for f in found:
        state = "added as" if f.added else "already in the watchlist; not added:"
        print(f"{state} {f.id}")
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
