"""Soak run: 500 feeds changing every few seconds, accelerated; memory over time, matches
recorded vs expected, deliveries.

    .venv/bin/python bench/soak.py --feeds 500 --minutes 10

Time is accelerated by polling every ``--interval`` seconds (the watchlist's minimum is 1 s;
real feeds are polled every 15 min) while the feed server adds an entry to a random feed
every ``--every`` seconds, and a digest goes out every 10 s to a local receiver. Prints a
table of the daemon's memory (VmRSS) and progress every ``--sample`` seconds, then the final
check of tests/chaos.verify (every matching entry recorded once, every digest delivered
once). Exit 1 when the median RSS of the last third of the run exceeds that of the first
third by more than ``--max-growth-mib``, or the check failed. The short version is
tests/test_reliability_soak.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos import soak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", default="5s", help="poll interval of every feed")
    ap.add_argument("--every", type=float, default=0.02, help="seconds between new entries")
    ap.add_argument("--window", type=int, default=50, help="entries a feed document carries")
    ap.add_argument("--sample", type=float, default=30)
    ap.add_argument("--max-growth-mib", type=float, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        s = soak(
            Path(tmp),
            n_feeds=args.feeds,
            seconds=args.minutes * 60,
            interval=args.interval,
            every=args.every,
            window=args.window,
            sample=args.sample,
            out=lambda line: print(line, flush=True),
        )
    r = s.report
    rss = [k for _, k in s.samples]
    print()
    print(f"polls {s.polls}, entries published {s.published}")
    print(f"matches expected {r.expected_matches}, recorded {r.recorded_matches}")
    print(f"deliveries {r.deliveries}, POSTs {r.posts}, repeats {r.repeats}")
    print(f"settled {s.settle_seconds:.0f}s after the feeds stopped changing")
    print(
        f"RSS growth (median last third - first third) {s.growth_mib():.1f} MiB; "
        f"min {min(rss) / 1024:.1f}, max {max(rss) / 1024:.1f} MiB"
    )
    print(f"integrity_check {r.integrity}")
    for p in s.problems:
        print("PROBLEM:", p)
    grew = s.growth_mib() > args.max_growth_mib
    if grew:
        print(f"PROBLEM: memory grew {s.growth_mib():.1f} MiB (limit {args.max_growth_mib})")
    return 1 if (grew or s.problems) else 0


if __name__ == "__main__":
    sys.exit(main())
