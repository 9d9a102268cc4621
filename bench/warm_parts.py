"""Where a ``monitor poll`` cycle's CPU goes: each part timed with ``process_time``.

Runs, in a fresh interpreter per rep, what ``monitor poll`` runs (imports, watchlist load,
``Store.open``, ``sync_config``, ``cli._poll_all``, close) and prints a Markdown table of
the median CPU seconds (all threads of the process) of each part. Meant for the warm
cycle: point it at the state of a finished ``bench/poll_cycle.py`` run while the bench's
nginx still serves the feeds (docs/notes/issue-5-warm.md):

    python bench/warm_parts.py --config /tmp/warm-bench/state/monitor/watchlist.yaml --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CHILD = r"""
import asyncio, sys, time
T = [("start", time.process_time())]
import monitor.cli as cli
T.append(("imports (monitor.cli)", time.process_time()))
from monitor.pipeline import sync_watchlist, utcnow
from monitor.watchlist import load_watchlist
from storage.store import Store
wl = load_watchlist(sys.argv[1]); T.append(("watchlist: read, YAML, validate", time.process_time()))
store = Store.open(wl.database_url); T.append(("Store.open", time.process_time()))
sync_watchlist(store, wl, utcnow()); T.append(("sync_config", time.process_time()))
reports = asyncio.run(cli._poll_all(wl, store, workers=1, concurrency=20, per_host=4))
T.append(("poll loop", time.process_time()))
store.close(); T.append(("store.close", time.process_time()))
print("\t".join(f"{b[0]}={b[1] - a[1]:.3f}" for a, b in zip(T, T[1:])))
print(f"statuses={sorted({r.status for r in reports}, key=str)}", file=sys.stderr)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the state's watchlist.yaml")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rows: list[dict[str, float]] = []
    for _ in range(args.reps):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, args.config], capture_output=True, text=True, check=True
        )
        sys.stderr.write(out.stderr)
        rows.append({k: float(v) for k, v in (x.split("=") for x in out.stdout.split("\t"))})
    total = statistics.median(sum(r.values()) for r in rows)
    print(f"| part | CPU s (median of {args.reps}) | share |\n|---|---:|---:|")
    for key in rows[0]:
        med = statistics.median(r[key] for r in rows)
        print(f"| {key} | {med:.2f} | {100 * med / total:.0f} % |")
    print(f"| **total** | **{total:.2f}** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
