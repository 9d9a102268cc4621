"""How long one catalyst-state evaluation takes as a watch item's matches grow.

The refresh hook re-evaluates an item from all its (non-restatement) matches each time a
refresh records new ones, so this is the added cost per affected item per refresh.
Synthetic matches: random 8-word titles over 25 words, 40 outlets, spread over 200 days.
Prints the median of 5 runs per size; the ratio is against the first size per match.

    .venv/bin/python bench/catalyst_state.py
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from monitor.state import catalyst_state
from monitor.types import Match

WORDS = [
    "meta",
    "muse",
    "spark",
    "api",
    "developers",
    "open",
    "launch",
    "price",
    "europe",
    "glasses",
    "rollout",
    "whatsapp",
    "instagram",
    "larger",
    "model",
    "coding",
    "reasoning",
    "datacenter",
    "hyperion",
    "nuclear",
    "power",
    "earnings",
    "capex",
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def matches(n: int, rng: random.Random) -> list[Match]:
    out = []
    for i in range(n):
        at = T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 200))
        out.append(
            Match(
                i,
                i,
                "w",
                " ".join(rng.choice(WORDS) for _ in range(8)),
                f"https://o{rng.randint(1, 40)}.com/{i}",
                str(i),
                "f",
                None,
                at,
                at,
                ("Muse",),
                "",
                "r",
                True,
                at,
                rng.choice(["event", "event", "plan", "denial"]),
            )
        )
    return out


def main() -> None:
    rng = random.Random(1)
    print(f"{'matches':>8} {'median ms':>10} {'ms/match':>9}")
    for n in (100, 500, 1000, 2000):
        ms = matches(n, rng)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            catalyst_state("w", ms, now=T0 + timedelta(days=300))
            runs.append(time.perf_counter() - t)
        med = statistics.median(runs) * 1000
        print(f"{n:>8} {med:>10.0f} {med / n:>9.2f}")


if __name__ == "__main__":
    main()
