"""The long crash campaign: many SIGKILLs at aimed moments, then a full check.

    .venv/bin/python bench/crash_campaign.py --kills 200 --feeds 30 --seed 1

Prints where the kills landed and what the final check found (see docs/reliability.md).
Exit status 1 if any promise was broken (an entry lost or recorded twice, a digest lost,
a webhook-id reused for a different body, an integrity_check failure).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos import MOMENTS, crash_campaign


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--feeds", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=300, help="entries per feed document")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="crash-") as tmp:
        r = crash_campaign(
            Path(tmp),
            kills=args.kills,
            seed=args.seed,
            n_feeds=args.feeds,
            settle_timeout=300,
            window=args.window,
            log=(lambda s: None) if args.quiet else print,
        )
    aimed = {m: sum(k.target == m for k in r.kills) for m in MOMENTS}
    hit = {m: sum(k.target == m and m in k.landed for k in r.kills) for m in MOMENTS if m != "any"}
    print()
    print(f"| {'figure':<38} | {'value':>10} |")
    print(f"|{'-' * 40}|{'-' * 12}|")
    rows = [
        ("kills", len(r.kills)),
        *((f"aimed at {m} (landed there)", f"{aimed[m]} ({hit[m]})") for m in hit),
        ("aimed at any moment", aimed["any"]),
        *((f"kills during {m}", n) for m, n in sorted(r.landed.items())),
        ("matches expected", r.expected_matches),
        ("matches recorded", r.recorded_matches),
        ("entries stored", r.entries),
        ("deliveries (outbox)", r.deliveries),
        ("POSTs received", r.posts),
        ("repeats (same webhook-id)", r.repeats),
        ("integrity_check", r.integrity),
        ("problems", len(r.problems)),
        ("wall time (s)", f"{r.elapsed:.0f}"),
    ]
    for name, value in rows:
        print(f"| {name:<38} | {value!s:>10} |")
    for p in r.problems:
        print("PROBLEM:", p)
    return 1 if r.problems else 0


if __name__ == "__main__":
    sys.exit(main())
