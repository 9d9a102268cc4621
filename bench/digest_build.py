"""How long the pure digest build takes now that it clusters stories and ranks items.

    .venv/bin/python bench/digest_build.py

``build_digest`` runs inside ``Store.run_digest``'s transaction, so its time is time the
transaction stays open. Baseline in the same invocation: the same matches rendered as
the first digest@1 did (``_match_json`` per match, one ``json.dumps``). Entries come from
the labelled story set (tests/quality/stories.json), repeated with shifted links and
times to reach N; 3 watch items, medians of 7 runs.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.digest import WatchInfo, _match_json, build_digest
from monitor.types import Match

ROOT = Path(__file__).resolve().parents[1]


def matches(n: int) -> list[Match]:
    data = json.loads((ROOT / "tests/quality/stories.json").read_text())
    # members: [first_seen, source, link, title, summary]
    entries = [e for c in data["clusters"] for e in c["members"]]
    out = []
    for i in range(n):
        when, source, link, title, summary = entries[i % len(entries)]
        rep = i // len(entries)
        seen = datetime.fromisoformat(when.replace("Z", "+00:00")) + timedelta(days=3 * rep)
        out.append(
            Match(
                id=i, entry_id=i, watch_id=("a", "b", "c")[i % 3], title=title,
                link=f"{link}?r={rep}", guid=str(i), feed_id="f", source=source,
                published=seen, first_seen=seen, matched_terms=("Muse",), snippet=summary,
                revision="r", alert=True, created_at=seen,
            )
        )  # fmt: skip
    return out


def median_ms(fn, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    infos = [WatchInfo(w, w.upper(), "") for w in ("a", "b", "c")]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    print("| matches | first digest@1 (ms) | digest@1 with stories and state (ms) | ratio |")
    print("|---:|---:|---:|---:|")
    for n in (50, 200, 500):
        ms = matches(n)

        def old(ms: list[Match] = ms) -> None:
            json.dumps({"watch_items": [_match_json(m) for m in ms]})

        def new(ms: list[Match] = ms) -> None:
            build_digest("d", infos, ms, since=t0, until=t0 + timedelta(days=400), delivery_id="x")

        base, cur = median_ms(old), median_ms(new)
        print(f"| {n} | {base:.1f} | {cur:.1f} | {cur / base:.1f}x |")


if __name__ == "__main__":
    main()
