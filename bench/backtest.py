"""Backtest speed over a large stored corpus (SQLite file; PostgreSQL with --pg).

Builds (once, cached in --db) N entries: filler news with a few percent about Muse, Meta
infrastructure and glasses; indexes them (timed separately: the daemon's backtest indexes
only what is new since the last run), then times ``run_backtest`` for each default watch
item and a draft query, against a full scan (no prefilter) of the same data as baseline.
Prints medians. Usage: ``python bench/backtest.py [--entries 1000000] [--db PATH]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from monitor.backtest import run_backtest, update_index  # noqa: E402
from monitor.match import CompiledItem, Matcher  # noqa: E402
from monitor.query import parse_query  # noqa: E402
from monitor.watchlist import load_watchlist  # noqa: E402
from storage.store import Store  # noqa: E402

_FILLER_TEXT = (
    "the company said on tuesday that its new product would reach customers in more "
    "markets this year while analysts expect revenue growth to slow as costs rise and "
    "regulators in europe and the united states examine the deal"
)
FILLER = sorted(set(_FILLER_TEXT.split(" ")))
TOPICAL = [
    "Meta rolls out Muse Spark to WhatsApp users in {c}",
    "Muse Spark API now generally available to developers",
    "Meta's Hyperion data center comes online",
    "Ray-Ban Meta glasses get Muse Spark in {c}",
    "Muse announce world tour with Matt Bellamy",
]
COUNTRIES = ["India", "Brazil", "Spain", "France", "Germany"]


def build(store: Store, n: int, rng: random.Random) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for i in range(n):
        if rng.random() < 0.03:
            title = rng.choice(TOPICAL).format(c=rng.choice(COUNTRIES))
        else:
            title = " ".join(rng.choices(FILLER, k=10))
        summary = " ".join(rng.choices(FILLER, k=30))
        rows.append({"f": "wire", "g": f"g{i}", "t": title, "s": summary, "c": "[]", "fs": now})
    sql = text(
        "INSERT INTO entries (feed_id, guid, title, summary, categories, first_seen) "
        "VALUES (:f, :g, :t, :s, :c, :fs)"
    )
    with store.engine.begin() as c:
        for k in range(0, n, 50_000):
            c.execute(sql, rows[k : k + 50_000])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--db", default="/tmp/catalyst-backtest-bench.db")
    ap.add_argument("--pg", help="a PostgreSQL URL instead of the SQLite file")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    url = args.pg or f"sqlite:///{args.db}"
    store = Store.open(url)
    with store.engine.connect() as c:
        have = c.execute(text("SELECT count(*) FROM entries")).scalar() or 0
    if have < args.entries:
        t = time.perf_counter()
        build(store, args.entries - have, random.Random(have))
        print(f"stored {args.entries - have:,} entries in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    indexed = update_index(store)
    print(f"indexed {indexed:,} new entries in {time.perf_counter() - t:.1f}s")

    wl = load_watchlist(ROOT / "watchlist.yaml")
    cases = [(i.watch_id, i) for i in wl.matcher.items]
    cases.append(
        (
            "draft: NEAR/3(Muse, WhatsApp)",
            CompiledItem("draft", parse_query("NEAR/3(Muse, WhatsApp)")),
        )
    )
    print(f"\n{args.entries:,} entries ({url.split(':')[0]})")
    print(f"{'query':40} {'candidates':>10} {'hits':>7} {'median s':>9}")
    for name, item in cases:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = run_backtest(store, item, wl.matcher, None)
            times.append(time.perf_counter() - t)
        print(f"{name:40} {out.candidates:10,} {len(out.hits):7,} {statistics.median(times):9.2f}")
    # Baseline: a query with no indexable word scans every entry.
    item = CompiledItem("scan", parse_query("/muse spark/"))
    t = time.perf_counter()
    out = run_backtest(store, item, Matcher(()), None)
    print(
        f"{'baseline: regex-only (full scan)':40} {out.candidates:10,} {len(out.hits):7,} {time.perf_counter() - t:9.2f}"
    )
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
