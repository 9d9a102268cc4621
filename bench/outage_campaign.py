"""Long webhook outage: minutes of a receiver that is down, answers 500, times out, answers
429 with Retry-After, resets connections; then recovers. Feeds keep changing and a digest is
built every 2 s throughout.

    .venv/bin/python bench/outage_campaign.py --scale 1

``--scale`` multiplies every phase (default phases: down 120 s, 500 60 s, timeout 70 s,
429 60 s, reset 30 s). Delivery retries start at ``--retry-base`` seconds
(``MONITOR_RETRY_BASE``; 30 s in production) and double. Prints the figures of
docs/reliability.md; exit 1 if anything was lost, duplicated or reordered, or memory grew
more than 30 MiB through the outage. The short version is
tests/test_reliability_outages.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos import webhook_outage


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--retry-base", type=float, default=0.5)
    args = ap.parse_args()
    phases = [("down", 120), ("500", 60), ("timeout", 70), ("429", 60), ("reset", 30)]
    phases = [(m, s * args.scale) for m, s in phases]
    with tempfile.TemporaryDirectory(prefix="outage-") as tmp:
        o = webhook_outage(
            Path(tmp),
            phases,
            retry_base=args.retry_base,
            sample=5,
            settle_timeout=600,
            out=lambda s: print(s, flush=True),
        )
    r = o.report
    third = max(1, len(o.rss) // 3)
    first = statistics.median(o.rss[:third]) / 1024
    last = statistics.median(o.rss[-third:]) / 1024
    rows = [
        ("outage (s)", f"{sum(s for _, s in phases):.0f}"),
        ("failed answers during outage", dict(o.statuses)),
        ("deliveries queued at recovery", o.queued_peak),
        ("deliveries total", r.deliveries),
        ("accepted, in outbox order", o.accepted == o.in_db_order),
        ("accepted twice", len(o.accepted) - len(set(o.accepted))),
        ("matches expected / recorded", f"{r.expected_matches} / {r.recorded_matches}"),
        ("last delivery after recovery (s)", f"{o.recovered_s:.1f}"),
        ("min gap after a 429 (s)", f"{min(o.retry_gaps_after_429, default=0):.2f}"),
        ("RSS median first / last third (MiB)", f"{first:.1f} / {last:.1f}"),
        ("problems", len(r.problems)),
    ]
    for name, value in rows:
        print(f"| {name:<38} | {value!s:>24} |")
    for p in r.problems:
        print("PROBLEM:", p)
    bad = r.problems or o.accepted != o.in_db_order or last - first > 30
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
