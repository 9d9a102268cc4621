"""``monitor feeds ...``: managing feeds by hand.

Owns: ``monitor feeds enable ID`` (poll again a feed that answered 410 Gone, or reset the
backoff of a failing one).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from monitor.errors import ConfigError, ConfigProblem
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


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("feeds", parents=[common], help="manage feeds")
    fsub = p.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    q = fsub.add_parser(
        "enable", parents=[common], help="poll a feed again after 410 Gone or many errors"
    )
    q.add_argument("id", help="the feed's id in the watchlist")
    q.set_defaults(fn=cmd_feeds_enable)
