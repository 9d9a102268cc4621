"""Where a cold cycle's time goes: py-spy raw samples of both processes, per stage.

Reads the ``--format raw`` output of
``py-spy record --subprocesses --rate 100 --format raw -o OUT -- monitor poll ...`` (one
or more files, e.g. main's code and this tree's) and prints a Markdown table: each stage's
share of all samples and, in parentheses, its sample count (py-spy counts every thread
that is not idle, so a thread waiting for the GIL or SQLite's write lock counts too).

    python bench/spy_stages.py before.txt after.txt
    python bench/spy_stages.py after.txt --top "main: other"    # the stacks of one stage
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Callable

Rule = tuple[str, Callable[[str], bool]]


def _leaf(s: str) -> str:
    return s.rsplit(";", 1)[-1]


def _storing(s: str) -> bool:
    return "ingest_many" in s or "ingest (storage" in s or "_ingest_" in s


WORKER: list[Rule] = [
    (
        "worker: fastfeedparser + strict XML check",
        lambda s: "parse_entries" in s or "fastfeedparser" in s or "lxml" in s,
    ),
    (
        "worker: entry conversion: html_to_text / clean_text",
        lambda s: "_fast_entry" in s and ("html_to_text" in s or "clean_text" in s),
    ),
    (
        "worker: entry conversion: other (links, dates, ...)",
        lambda s: "_fast_entry" in s or "_parse_xml" in s or "parse_feed" in s,
    ),
    ("worker: matching (Matcher.match)", lambda s: "match (monitor/match.py" in s),
    ("worker: canonical_link", lambda s: "canonical_link" in s),
    ("worker: match_entries other (publisher, replace)", lambda s: "match_entries" in s),
    (
        "worker: pickling results / IPC",
        lambda s: "_sendback_result" in s or "dumps" in s or "send_bytes" in s,
    ),
]
MAIN: list[Rule] = [
    ("main: storing: commit", lambda s: _storing(s) and "commit" in s),
    (
        "main: storing: driver execute (SQLite itself, BEGIN IMMEDIATE wait)",
        lambda s: _storing(s) and ("do_execute" in s or "do_executemany" in s),
    ),
    ("main: storing: SQLAlchemy + our Python", _storing),
    ("main: HTTP (fetch_feed)", lambda s: "fetch_feed" in s or "httpx" in s or "httpcore" in s),
    ("main: start-up imports", lambda s: "_find_and_load" in s),
    ("main: watchlist load", lambda s: "load_watchlist" in s),
    ("main: unpickling worker results", lambda s: "loads" in s or "recv_bytes" in s),
    ("main: catalyst updates (clustering, state)", lambda s: "catalyst" in s or "digest" in s),
    ("main: event loop (select, callbacks)", lambda s: "select (selectors" in s),
    (
        "main: sending bodies to the worker (Queue._feed)",
        lambda s: "Queue._feed" in s or "_ThreadWakeup" in s,
    ),
    ("main: idle executor threads (GIL waits)", lambda s: _leaf(s).startswith("_worker (")),
]


def classify(stack: str) -> str:
    worker = "_process_worker" in stack or "prepare_in_worker" in stack
    for label, test in WORKER if worker else MAIN:
        if test(stack):
            return label
    return "worker: other" if worker else "main: other"


def read(path: str) -> list[tuple[str, int]]:
    out = []
    with open(path) as fh:
        for line in fh:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if stack:
                out.append((stack, int(n)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--top", help="print the commonest stacks (leaf first) of this stage")
    args = ap.parse_args()
    samples = [read(p) for p in args.files]
    if args.top:
        for path, rows in zip(args.files, samples, strict=True):
            total = sum(n for _, n in rows)
            c: collections.Counter[str] = collections.Counter()
            for stack, n in rows:
                if classify(stack) == args.top:
                    frames = [f.split(" (")[0] for f in stack.split(";")[1:]]
                    c[" < ".join(frames[::-1][:5])] += n
            print(f"{path}:")
            for k, v in c.most_common(12):
                print(f"  {100 * v / total:5.1f} %  {k}")
        return 0
    counts = []
    for rows in samples:
        c = collections.Counter()
        for stack, n in rows:
            c[classify(stack)] += n
        counts.append((c, sum(c.values())))
    labels = sorted(set().union(*(c for c, _ in counts)))
    print(
        "| where | "
        + " | ".join(f"{p} ({t} samples)" for p, (_, t) in zip(args.files, counts, strict=True))
        + " |"
    )
    print("|---|" + "---:|" * len(counts))
    for group in ("worker", "main"):
        cells = []
        for c, t in counts:
            n = sum(v for k, v in c.items() if k.startswith(group))
            cells.append(f"{100 * n / t:.1f} % ({n})")
        print(f"| **{group} process** | " + " | ".join(cells) + " |")
        for label in labels:
            if label.startswith(group):
                cells = [f"{100 * c[label] / t:.1f} % ({c[label]})" for c, t in counts]
                print(f"| - {label.split(': ', 1)[1]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
