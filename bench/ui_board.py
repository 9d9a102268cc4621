"""The board, stories and feeds pages on 100,000 stored entries: query plans and times.

Seeds a SQLite database through the Store's own ``ingest_many`` (100,000 entries over 26
weeks from 50 feeds, 3% of them matching one of 4 watch items, a tenth of those carried
by a second feed), then prints:

- ``EXPLAIN QUERY PLAN`` of the board's and the feeds page's SQL (each must search an
  index, not scan a table);
- CPU and wall medians of each page through the real app (Starlette's TestClient, the
  same routes the daemon serves): the first (cold) request of a page, then warm ones.
  CPU is this process's: the clustering of busy items runs in the pages' worker process
  (``monitor.ui.clustering``), so a cold stories page may be its "counting…" answer.

Usage: ``.venv/bin/python bench/ui_board.py [--entries 100000] [--reps 15]``. The full
bench of every page against the 300 ms target is ``bench/web_pages.py``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry, MatchResult
from tests.ui_support import client, ui_app

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ITEMS = ("api-broadening", "glasses-rollout", "launch-date", "pricing")
EXTRA = """\
  - id: launch-date
    name: Launch
    match:
      any: ["Muse launch"]
    expected_by: 2026-10-31
  - id: pricing
    name: Pricing
    match:
      any: ["Muse pricing"]
"""
WORDS = [
    "meta",
    "muse",
    "spark",
    "api",
    "model",
    "launch",
    "developers",
    "access",
    "pricing",
    "glasses",
    "rollout",
    "europe",
    "regulators",
    "revenue",
    "quarter",
    "partners",
    "cloud",
    "chips",
    "data",
    "centre",
    "capex",
    "outage",
    "appeal",
    "fine",
    "antitrust",
    "enterprise",
    "consumers",
    "subscription",
    "ads",
    "video",
    "audio",
    "translation",
    "benchmark",
]
OUTLETS = [f"outlet{i}.example" for i in range(40)]


def seed(ua, entries: int, per_update: int = 100) -> None:  # type: ignore[no-untyped-def]
    """``entries`` entries in refreshes of ``per_update`` entries each (one feed and one
    time per refresh), as the pipeline records them."""
    rnd = random.Random(7)
    feeds = [FeedSpec(f"feed{i:02d}", f"https://feed{i}.example/rss") for i in range(50)]
    ua.store.sync_config(feeds, {}, "r1", "text", NOW - timedelta(weeks=30))
    span = timedelta(weeks=26).total_seconds()
    batch: list[FeedUpdate] = []
    for start in range(0, entries, per_update):
        at = NOW - timedelta(seconds=span * (1 - start / entries))
        feed = feeds[(start // per_update) % len(feeds)].id
        other = feeds[(start // per_update + 1) % len(feeds)].id
        mine: list[IncomingEntry] = []
        copies: list[IncomingEntry] = []
        for n in range(start, min(entries, start + per_update)):
            words = rnd.sample(WORDS, 7)
            title = f"{' '.join(words).capitalize()} {n}"
            link = f"https://{rnd.choice(OUTLETS)}/story/{n}"
            matches: tuple[MatchResult, ...] = ()
            if rnd.random() < 0.03:
                w = rnd.choice(ITEMS)
                stance = rnd.choice(("event", "event", "plan", "denial"))
                matches = (MatchResult(w, ("Muse",), f"Muse {title}", stance=stance),)
            data = EntryData(guid=f"g{n}", link=link, title=title, summary=" ".join(words))
            mine.append(IncomingEntry(data, link, matches, True))
            if matches and rnd.random() < 0.1:  # a second feed carries it: a sighting
                copies.append(IncomingEntry(data, link, matches, True))
        for feed_id, items in ((feed, mine), (other, copies)):
            if items:
                batch.append(
                    FeedUpdate(
                        feed_id,
                        at,
                        at + timedelta(minutes=15),
                        status=200,
                        entries=tuple(items),
                        revision="r1",
                    )
                )
        if len(batch) >= 40:
            ua.store.ingest_many(batch)
            batch = []
    if batch:
        ua.store.ingest_many(batch)


def plans(ua) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """EXPLAIN QUERY PLAN of the statements the board and feeds pages run."""
    from sqlalchemy.dialects import sqlite

    store = ua.store
    captured: list[str] = []
    from sqlalchemy import event

    def grab(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append(statement if not params else _inline(statement, params))

    def _inline(statement: str, params) -> str:  # type: ignore[no-untyped-def]
        for p in params if isinstance(params, (list, tuple)) else []:
            value = f"'{p}'" if isinstance(p, str) else ("NULL" if p is None else str(p))
            statement = statement.replace("?", value, 1)
        return statement

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        store.item_activity(list(ITEMS), NOW)
        store.matches(watch_id=ITEMS[0], limit=500)
        store.feed_health(NOW)
        store.muted_entries(ITEMS[0])
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    del sqlite
    out = []
    with store.engine.connect() as conn:
        for sql in captured:
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
            out.append((" ".join(sql.split())[:110], "; ".join(r[-1] for r in rows)))
    return out


def timed(c, path: str, reps: int) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """(cold wall, cold cpu, warm wall median, warm cpu median) in ms."""
    samples = []
    for _ in range(reps + 1):
        w, p = time.perf_counter(), time.process_time()
        r = c.get(path)
        samples.append(((time.perf_counter() - w) * 1000, (time.process_time() - p) * 1000))
        assert r.status_code == 200, (path, r.status_code)
    cold, warm = samples[0], samples[1:]
    return (
        cold[0],
        cold[1],
        statistics.median(s[0] for s in warm),
        statistics.median(s[1] for s in warm),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument(
        "--database",
        default="monitor.db",
        help="settings.database: a SQLite file (default) or a PostgreSQL URL (an empty "
        "database or schema; query plans are printed for SQLite only)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ua = ui_app(Path(tmp), extra_watch=EXTRA, database=f'"{args.database}"')
        ua.ctx.clock = lambda: NOW
        t = time.perf_counter()
        seed(ua, args.entries)
        counts = ua.store.counts()
        print(
            f"seeded {counts['entries']} entries, {counts['sightings']} sightings, "
            f"{counts['matches']} matches in {time.perf_counter() - t:.0f} s\n"
        )
        if not args.database.startswith("postgresql"):
            print("| query | plan |\n|---|---|")
            for sql, plan in plans(ua):
                print(f"| `{sql}` | {plan} |")
        c = client(ua.app)
        print("\n| page | cold wall ms | cold cpu ms | warm wall median ms | warm cpu median ms |")
        print("|---|---:|---:|---:|---:|")
        for path in (
            "/",
            f"/catalysts/{ITEMS[0]}",
            f"/catalysts/{ITEMS[0]}?page=5",
            "/feeds",
        ):
            cw, cc, ww, wc = timed(c, path, args.reps)
            print(f"| `{path}` | {cw:.0f} | {cc:.0f} | {ww:.0f} | {wc:.0f} |")
        # A new match of a busy item: the next board shows the previous stories at once.
        for k in range(3):
            link = f"https://outlet1.example/new/{k}"
            data = EntryData(guid=f"new{k}", link=link, title=f"Muse new {k}")
            m = (MatchResult(ITEMS[0], ("Muse",), "Muse new"),)
            ua.store.ingest(
                FeedUpdate(
                    "feed00",
                    NOW,
                    NOW,
                    status=200,
                    entries=(IncomingEntry(data, link, m, True),),
                    revision="r1",
                )
            )
            w, p = time.perf_counter(), time.process_time()
            assert c.get("/").status_code == 200
            wall, cpu = (time.perf_counter() - w) * 1000, (time.process_time() - p) * 1000
            print(f"| `/` right after new match {k + 1} | {wall:.0f} | {cpu:.0f} | | |")
            time.sleep(2)  # the worker's re-clustering finishes
        ua.ctx.close()  # the clustering worker
        ua.store.close()


if __name__ == "__main__":
    main()
