"""CLI commands about the watch criteria: ``schema``, ``backtest``, ``label``.

``monitor check`` (in ``cli.py``) validates a file; ``schema`` prints the JSON Schema an
editor uses to flag mistakes while typing (see README, "Editing the watchlist");
``backtest`` shows what a watch item or a draft query would have matched among the stored
entries; ``label`` records an analyst's verdict that ``backtest`` scores drafts against.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from monitor.backtest import Outcome, run_backtest, update_index
from monitor.errors import ConfigError, MonitorError
from monitor.match import CompiledItem, mark
from monitor.pipeline import utcnow
from monitor.query import QueryError, parse_query
from monitor.watchlist import LoadedWatchlist, config_path, load_watchlist, parse_duration
from storage.store import Store


def _console() -> Console:
    return Console(highlight=False, stderr=False) if sys.stdout.isatty() else Console(width=200)


def _load(args: argparse.Namespace) -> tuple[LoadedWatchlist, Store]:
    wl = load_watchlist(config_path(args.config))
    return wl, Store.open(wl.database_url)


def cmd_schema(args: argparse.Namespace) -> int:
    from monitor.watchlist import json_schema

    json.dump(json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _item(wl: LoadedWatchlist, args: argparse.Namespace) -> CompiledItem:
    if args.query:
        try:
            query = parse_query(args.query, wl.matcher.aliases)
        except QueryError as exc:
            raise ConfigError(
                f"--query: {exc.message}\n  {args.query}\n  {' ' * exc.offset}{'^' * exc.length}"
            ) from None
        return CompiledItem(args.watch or "draft", query)
    item = next((i for i in wl.matcher.items if i.watch_id == args.watch), None)
    if item is None:
        known = ", ".join(i.watch_id for i in wl.matcher.items)
        raise MonitorError(f"unknown watch item {args.watch!r} (known: {known})")
    return item


def cmd_backtest(args: argparse.Namespace) -> int:
    if not args.watch and not args.query:
        print("monitor backtest: give a WATCH_ID or --query", file=sys.stderr)
        return 2
    wl, store = _load(args)
    since: datetime | None = utcnow() - parse_duration(args.since) if args.since else None
    try:
        item = _item(wl, args)
        quiet = args.format == "json" or not sys.stderr.isatty()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=quiet,
        ) as bar:
            t = bar.add_task("indexing new entries", total=None)
            update_index(store, lambda n: bar.advance(t, n))
            bar.update(t, visible=False)
            m = bar.add_task("matching", total=None)
            out = run_backtest(
                store,
                item,
                wl.matcher,
                since,
                lambda done, total: bar.update(m, completed=done, total=total),
            )
    finally:
        store.close()
    if args.format == "json":
        json.dump(_json(out), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        _print(out, args.limit)
    return 0


def _json(out: Outcome) -> dict[str, object]:
    p, r = out.precision_recall()
    return {
        "watch_id": out.watch_id,
        "candidates": out.candidates,
        "prefiltered": out.prefiltered,
        "would_match": [
            {
                "entry_id": i,
                "title": e.title,
                "link": e.link,
                "stance": res.stance,
                "explanation": res.explanation,
                "recorded_match_id": out.recorded.get(i),
                "label": out.labels.get(i),
            }
            for i, (e, res) in sorted(out.hits.items())
        ],
        "newly_matched": out.new,
        "no_longer_matched": out.dropped,
        "precision": p,
        "recall": r,
    }


def _print(out: Outcome, limit: int) -> None:
    console = _console()
    table = Table(title=f"{out.watch_id}: {len(out.hits)} would match")
    for col in ("entry", "stance", "change", "label", "title (hits «marked»)"):
        table.add_column(col, overflow="fold")
    for i, (e, res) in sorted(out.hits.items(), reverse=True)[:limit]:
        change = "new" if i not in out.recorded else ""
        table.add_row(
            str(i), res.stance, change, out.labels.get(i, ""), mark(e.title, res.matched_terms)
        )
    console.print(table)
    p, r = out.precision_recall()
    note = "" if out.prefiltered else " (no indexable word: every entry was scanned)"
    print(f"scanned {out.candidates} candidate entries{note}")
    print(
        f"would match {len(out.hits)} ({len(out.events)} events); newly {len(out.new)}; "
        f"no longer {len(out.dropped)} (entries {', '.join(map(str, out.dropped[:20]))})"
    )
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"against {len(out.labels)} labels: precision {fmt(p)}, recall {fmt(r)}")


def cmd_label(args: argparse.Namespace) -> int:
    wl, store = _load(args)
    try:
        if args.entry is not None:
            if not args.watch:
                print("monitor label --entry ENTRY_ID needs --watch WATCH_ID", file=sys.stderr)
                return 2
            if args.watch not in {i.watch_id for i in wl.matcher.items}:
                raise MonitorError(f"unknown watch item {args.watch!r}")
            if not store.has_entry(args.entry):
                raise MonitorError(f"no entry {args.entry}")
            entry_id, watch_id, match_id = args.entry, args.watch, None
        else:
            ref = store.match_ref(args.match_id)
            if ref is None:
                raise MonitorError(f"no match {args.match_id}")
            entry_id, watch_id = ref
            match_id = args.match_id
        store.add_label(entry_id, watch_id, args.verdict, utcnow(), match_id)
    finally:
        store.close()
    print(f"entry {entry_id} is {args.verdict} for {watch_id}")
    return 0


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "schema", parents=[common], help="print the JSON Schema of watchlist.yaml (for editors)"
    )
    p.set_defaults(fn=cmd_schema)

    p = sub.add_parser(
        "backtest",
        parents=[common],
        help="what a watch item or a draft query would match among stored entries",
    )
    p.add_argument("watch", nargs="?", metavar="WATCH_ID")
    p.add_argument("--query", help="a draft query (aliases of the watchlist work)")
    p.add_argument("--since", metavar="DURATION", help="only entries first seen in this period")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--limit", type=int, default=50, help="rows to show (table)")
    p.set_defaults(fn=cmd_backtest)

    p = sub.add_parser("label", parents=[common], help="record an analyst's verdict on a match")
    p.add_argument("match_id", nargs="?", type=int, metavar="MATCH_ID")
    p.add_argument("verdict", choices=["relevant", "noise"])
    p.add_argument("--entry", type=int, help="label an entry that was missed (with --watch)")
    p.add_argument("--watch", metavar="WATCH_ID")
    p.set_defaults(fn=cmd_label)
