"""Event-loop responsiveness during a cold poll cycle: the lag of a 10 ms asyncio ticker.

Runs ``monitor poll``'s cycle (``monitor.cli._poll_all``: fetch, parse + match in the
executor, store) in this process over the feeds of a running server, with a task beside
it that sleeps 10 ms at a time and records how late each wake-up is. A daemon's scheduler,
lease renewals, health endpoint and deliveries share that loop: the lag is how long they
would wait. Each mode starts from an empty database, in the same invocation:

    # feeds served by the shared harness (../shared/bench/serve.sh start, port 18080)
    python bench/loop_lag.py --urls /tmp/feedbench-monitor/site/urls-1000.txt
    python bench/loop_lag.py --urls URLS --modes "process thread" --reps 3

``process`` is the shipped default (``--workers 1``: parse and match in a spawned
process); ``thread`` parses in one thread of this process (``--workers 0``), sharing the
GIL with the loop. Prints a Markdown table of medians over the reps.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICK = 0.010


async def _cycle_with_ticker(wl: object, store: object, workers: int) -> tuple[float, list[float]]:
    from monitor.cli import _poll_all

    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            t0 = loop.time()
            await asyncio.sleep(TICK)
            lags.append(loop.time() - t0 - TICK)

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    try:
        reports = await _poll_all(wl, store, workers=workers, concurrency=20, per_host=4)  # type: ignore[arg-type]
    finally:
        done.set()
        await task
    wall = time.perf_counter() - start
    if sum(r.new_entries for r in reports) == 0 or any(r.error for r in reports):
        errors = [r.error for r in reports if r.error][:3]
        sys.exit(f"the cycle did not store entries (errors: {errors}): is the server running?")
    return wall, lags


def one_run(urls: Path, workers: int) -> tuple[float, list[float]]:
    from monitor.pipeline import sync_watchlist, utcnow
    from monitor.watchlist import load_watchlist
    from storage.store import Store

    with tempfile.TemporaryDirectory(prefix="loop-lag-") as tmp:
        subprocess.run(
            [sys.executable, str(HERE / "make_watchlist.py"), tmp, str(urls)], check=True
        )
        wl = load_watchlist(Path(tmp) / "watchlist.yaml")
        store = Store.open(wl.database_url)
        try:
            sync_watchlist(store, wl, utcnow())
            return asyncio.run(_cycle_with_ticker(wl, store, workers))
        finally:
            store.close()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urls", required=True, type=Path, help="one feed URL a line")
    ap.add_argument("--modes", default="process", help='"process", "thread" or both')
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    workers = {"process": 1, "thread": 0}
    n = sum(1 for line in args.urls.read_text().splitlines() if line.strip())
    rows = [
        "| mode | feeds | reps | cycle wall s | ticks | median lag ms | p99 lag ms | max lag ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in args.modes.split():
        runs = [one_run(args.urls, workers[mode]) for _ in range(args.reps)]
        p99 = [sorted(lags)[int(len(lags) * 0.99)] for _, lags in runs]
        rows.append(
            f"| {mode} | {n} | {args.reps} | {statistics.median([w for w, _ in runs]):.2f} "
            f"| {statistics.median([len(lags) for _, lags in runs]):.0f} "
            f"| {_ms([statistics.median(lags) for _, lags in runs])} | {_ms(p99)} "
            f"| {_ms([max(lags) for _, lags in runs])} |"
        )
        print(rows[-1], file=sys.stderr)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
