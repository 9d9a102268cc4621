"""Matching speed: entries/s of the streaming matcher on one core.

Prints a table: the default watchlist (8 items) and a generated watchlist of 1,000 items,
over the same generated entries (headlines and summaries drawn from the labelled set,
shuffled with filler news vocabulary). Medians of --repeat runs.
Usage: ``python bench/matching.py [--entries 20000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.match import CompiledItem, Matcher  # noqa: E402
from monitor.query import parse_query  # noqa: E402
from monitor.types import EntryData  # noqa: E402
from monitor.watchlist import load_watchlist  # noqa: E402

FILLER = [
    "the",
    "company",
    "said",
    "on",
    "Tuesday",
    "that",
    "its",
    "new",
    "product",
    "would",
    "reach",
    "customers",
    "in",
    "more",
    "markets",
    "this",
    "year",
    "while",
    "analysts",
    "expect",
    "revenue",
    "growth",
    "to",
    "slow",
    "as",
    "costs",
    "rise",
    "and",
    "regulators",
    "in",
    "Europe",
    "and",
    "the",
    "United",
    "States",
    "examine",
    "the",
    "deal",
]


def entries(n: int, rng: random.Random) -> list[EntryData]:
    items = [
        json.loads(x)
        for x in (ROOT / "tests" / "quality" / "items.jsonl").read_text("utf-8").splitlines()
    ]
    out = []
    for i in range(n):
        it = rng.choice(items)
        if rng.random() < 0.8:  # most news is unrelated: filler only
            title = " ".join(rng.choices(FILLER, k=10)).capitalize()
            summary = " ".join(rng.choices(FILLER, k=45))
        else:
            title = it["title"]
            summary = it["summary"] + " " + " ".join(rng.choices(FILLER, k=25))
        out.append(
            EntryData(guid=str(i), link=f"https://news.example/{i}", title=title, summary=summary)
        )
    return out


def big_matcher(n: int, rng: random.Random) -> Matcher:
    vocab = [w for w in sorted({*FILLER}) if len(w) > 3] + [f"brand{i}" for i in range(3000)]
    items = []
    for i in range(n):
        words = rng.sample(vocab, 6)
        q = f'("{words[0]} {words[1]}" OR {words[2]} OR {words[3][:5]}*) {words[4]} -{words[5]}'
        items.append(CompiledItem(f"w{i}", parse_query(q)))
    return Matcher(tuple(items))


def rate(matcher: Matcher, docs: list[EntryData], repeat: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        found = sum(len(matcher.match(e, "feed")) for e in docs)
        times.append(time.perf_counter() - t)
    return len(docs) / statistics.median(times), found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(7)
    docs = entries(args.entries, rng)
    default = load_watchlist(ROOT / "watchlist.yaml").matcher
    one = Matcher((CompiledItem("one", parse_query("Muse")),))
    rows = [
        ("baseline: 1 one-word item", one),
        ("default watchlist (8 items)", default),
        ("generated, 1,000 items", big_matcher(1000, rng)),
    ]
    print(f"{'watchlist':32} {'entries/s':>12} {'vs baseline':>12} {'matches':>8}")
    base = None
    for name, m in rows:
        r, found = rate(m, docs, args.repeat)
        base = base or r
        print(f"{name:32} {r:12,.0f} {r / base:12.2f} {found:8d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
