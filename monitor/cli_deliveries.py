"""``monitor deliveries``: the outbox for operators — list deliveries with their status,
attempts and last error, and resend a failed one (``monitor deliveries retry ID``).

A composition root like ``cli.py`` (it opens the Store and an HTTP client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from monitor.digest import iso
from monitor.errors import MonitorError
from monitor.fetch import USER_AGENT, FetchLimits, build_client
from monitor.pipeline import Context, claim_and_attempt, utcnow
from monitor.types import Delivery
from monitor.watchlist import LoadedWatchlist, config_path, load_watchlist
from storage.deliveries import STATUSES
from storage.store import Store


def _local(dt: datetime | None, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _console() -> Console:
    return Console(highlight=False) if sys.stdout.isatty() else Console(width=200, highlight=False)


def _row(d: Delivery) -> dict[str, object]:
    return {
        "id": d.id,
        "digest": d.digest_id,
        "kind": d.kind,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": iso(d.created_at),
        "next_attempt_at": iso(d.next_attempt_at),
        "delivered_at": iso(d.delivered_at),
        "last_error": d.last_error,
        "matches": d.match_count,
        "parts_sent": d.parts_sent,
    }


def cmd_list(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    store = Store.open(wl.database_url)
    try:
        found = store.deliveries(digest_id=args.digest, status=args.status, limit=args.limit)
    finally:
        store.close()
    if args.format == "json":
        json.dump([_row(d) for d in found], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    tz = ZoneInfo(wl.config.settings.timezone)
    table = Table(title=f"{len(found)} deliveries (newest first; times in {tz.key})")
    for col in (
        "id",
        "digest",
        "kind",
        "created",
        "status",
        "attempts",
        "next attempt",
        "last error",
    ):
        table.add_column(col, overflow="fold")
    for d in found:
        table.add_row(
            d.id,
            d.digest_id,
            d.kind,
            _local(d.created_at, tz),
            d.status,
            str(d.attempts),
            _local(d.next_attempt_at, tz) if d.status == "pending" else "-",
            (d.last_error or "")[:160],
        )
    _console().print(table)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    store = Store.open(wl.database_url)
    try:
        found = store.delivery(args.id)
        if found is None:
            raise MonitorError(f"no delivery {args.id!r} (see `monitor deliveries`)")
        cfg = wl.digest(found.digest_id)
        if cfg is None or not cfg.webhook.url.strip():
            raise MonitorError(
                f"delivery {found.id} belongs to digest {found.digest_id!r}, which has no "
                f"webhook url in {wl.path}: nothing to send it to"
            )
        queued = store.requeue_delivery(found.id, utcnow())
        result = asyncio.run(_attempt(wl, store, queued))
    finally:
        store.close()
    if result is None:
        print(f"{queued.id}: requeued; another process (a running daemon) is sending it now")
        return 0
    if result.status == "delivered":
        print(f"{result.id}: delivered (attempt {result.attempts})")
        return 0
    print(f"{result.id}: {result.status} ({result.last_error}) after attempt {result.attempts}")
    return 1


async def _attempt(wl: LoadedWatchlist, store: Store, delivery: Delivery) -> Delivery | None:
    """The attempt, claimed as the daemon claims its own (None: another process has it)."""
    limits = FetchLimits()
    owner = f"{socket.gethostname()}:{os.getpid()}"
    async with build_client(limits, USER_AGENT) as client:
        return await claim_and_attempt(Context(store, client, wl, limits), delivery, owner)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("deliveries", parents=[common], help="list deliveries; retry a failed one")
    p.add_argument("--digest", metavar="ID", help="only this digest's deliveries")
    p.add_argument("--status", choices=STATUSES, help="only deliveries with this status")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(fn=cmd_list)
    actions = p.add_subparsers(dest="deliveries_command", metavar="ACTION")
    q = actions.add_parser(
        "retry", parents=[common], help="resend a delivery now (same id and body)"
    )
    q.add_argument("id", metavar="ID")
    q.set_defaults(fn=cmd_retry)
