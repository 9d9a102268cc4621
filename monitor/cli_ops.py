"""Commands for running the service: ``healthcheck``, ``db stats``, ``db prune``.

Owns their argument parsing and output. ``subgroup`` finds or creates a command group
(``db``, ``feeds``) so modules written apart can add actions to the same group.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from monitor import logs
from monitor.errors import ConfigError
from monitor.watchlist import config_path, load_watchlist, parse_duration, parse_listen
from storage.store import Store


def subgroup(sub: Any, name: str, help_text: str, common: argparse.ArgumentParser) -> Any:
    """The sub-command action of group ``name`` (e.g. ``monitor feeds …``), created if no
    other module made it yet; if one did, its actions are kept and ours are added."""
    existing = sub.choices.get(name)
    if existing is None:
        existing = sub.add_parser(name, parents=[common], help=help_text)
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return existing.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def cmd_db_stats(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    store = Store.open(wl.database_url)
    try:
        st = store.db_stats()
    finally:
        store.close()
    if args.format == "json":
        out = {
            "backend": st.backend,
            "rows": st.rows,
            "size_bytes": st.size_bytes,
            "oldest_entry": st.oldest_entry.isoformat() if st.oldest_entry else None,
            "newest_entry": st.newest_entry.isoformat() if st.newest_entry else None,
            "pruned_entries": st.pruned_entries,
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"database: {st.backend}, {_size(st.size_bytes)}")
    width = max(len(t) for t in st.rows)
    for table, n in st.rows.items():
        print(f"  {table:<{width}}  {n:>10,}")
    fmt = "%Y-%m-%d %H:%M UTC"
    print(f"oldest entry: {st.oldest_entry.strftime(fmt) if st.oldest_entry else '-'}")
    print(f"newest entry: {st.newest_entry.strftime(fmt) if st.newest_entry else '-'}")
    print(f"pruned entries (identity kept): {st.pruned_entries:,}")
    return 0


def cmd_db_prune(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    keep = parse_duration(args.older_than) if args.older_than else None
    keep = keep or wl.config.settings.retention.entries
    if keep is None:
        raise ConfigError(
            f"{wl.path}: no retention set: add settings.retention.entries (e.g. 180d) "
            "or pass --older-than"
        )
    now = datetime.now(UTC)
    store = Store.open(wl.database_url)
    try:
        n = store.prune_entries(now - keep, now)
    finally:
        store.close()
    logs.event(20, "retention", pruned=n, older_than=f"{keep.days}d")
    print(f"pruned {n} never-matched entries first seen over {keep.days} days ago")
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when the daemon's /healthz answers 200 (for container healthchecks)."""
    url = args.url
    if not url:
        listen = os.environ.get("MONITOR_HTTP")
        if not listen:
            listen = load_watchlist(config_path(args.config)).config.settings.http.listen
        if not listen:
            print(
                "monitor healthcheck: no address: pass --url, or set MONITOR_HTTP or "
                "settings.http.listen",
                file=sys.stderr,
            )
            return 2
        from monitor.web import probe_url  # Starlette/uvicorn: only when needed

        url = probe_url(*parse_listen(listen))
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:
            body = resp.read(2000).decode("utf-8", "replace")
            print(body)
            return 0 if resp.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} {exc.read(2000).decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    db = subgroup(sub, "db", "database maintenance", common)
    q = db.add_parser(
        "stats", parents=[common], help="rows per table, size, oldest and newest entry"
    )
    q.add_argument("--format", choices=["text", "json"], default="text")
    q.set_defaults(fn=cmd_db_stats)
    q = db.add_parser(
        "prune",
        parents=[common],
        help="prune never-matched entries past settings.retention.entries (kept: their identity)",
    )
    q.add_argument(
        "--older-than", metavar="DURATION", help="override settings.retention.entries, e.g. 180d"
    )
    q.set_defaults(fn=cmd_db_prune)

    p = sub.add_parser(
        "healthcheck",
        parents=[common],
        help="exit 0 when the running daemon's /healthz is OK (for container healthchecks)",
    )
    p.add_argument("--url", help="default: /healthz at $MONITOR_HTTP, else settings.http.listen")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(fn=cmd_healthcheck)
