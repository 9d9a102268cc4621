"""Pairwise precision and recall of "same story" on the labelled clusters.

Reads ``tests/quality/stories.json`` (67 hand-labelled clusters), ``stories_holdout2.json``
(21 more: a second held-out set), ``stories_holdout3.json`` (38 more: a third) and
``stories_holdout4.json`` (31 more: a fourth), ``stories_holdout5.json`` (26 more: a
fifth) and ``stories_holdout6.json`` (30 more: a sixth), clusters
the tuning two thirds, the held-out third and each later held-out set on its own with
``monitor.stories.cluster``, and prints a Markdown table: for every pair of entries, is it
"same story" in the labels and in the output? Precision = correct same-story pairs /
predicted pairs; recall = correct / labelled pairs. Also every set at once (a digest of
~565 entries) and the time per clustering run (median of ``--reps``).

    .venv/bin/python bench/stories.py [--threshold 0.17] [--window-hours 36] [--reps 5]
        [--errors] [--sets tuning,held-out,held-out-2,held-out-3,held-out-4,held-out-5,held-out-6,all]
        [--baseline /tmp/stories_main.py]

``--baseline`` scores and times another version of ``monitor/stories.py`` in the same run
(the time ratio is this version's median over the baseline's, runs alternating).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path

from monitor.stories import DEFAULT_THRESHOLD, DEFAULT_WINDOW, Story, StoryItem, cluster

# A clustering function: items -> stories (anything whose members have the items' keys).
ClusterFn = Callable[[Sequence[StoryItem]], Sequence[Story]]

DATA = Path(__file__).resolve().parent.parent / "tests" / "quality" / "stories.json"
HOLDOUT2 = DATA.with_name("stories_holdout2.json")
HOLDOUT3 = DATA.with_name("stories_holdout3.json")
HOLDOUT4 = DATA.with_name("stories_holdout4.json")
HOLDOUT5 = DATA.with_name("stories_holdout5.json")
HOLDOUT6 = DATA.with_name("stories_holdout6.json")
# Keys are distinct across the files so that the sets can be clustered together.
_KEY_BASE = {
    DATA: 0,
    HOLDOUT2: 100_000,
    HOLDOUT3: 200_000,
    HOLDOUT4: 300_000,
    HOLDOUT5: 400_000,
    HOLDOUT6: 500_000,
}


@dataclass(frozen=True)
class Labelled:
    item: StoryItem
    label: str


def load(path: Path = DATA, *, all_held_out: bool = False) -> tuple[list[Labelled], list[Labelled]]:
    """(tuning set, held-out set): held out = clusters at 0-based index i, i % 3 == 2
    (every cluster with ``all_held_out``, for the later held-out files)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    tune: list[Labelled] = []
    held: list[Labelled] = []
    key = _KEY_BASE.get(path, 900_000)
    for i, c in enumerate(data["clusters"]):
        for first_seen, source, link, title, summary in c["members"]:
            key += 1
            item = StoryItem(
                key=key,
                title=title,
                summary=summary,
                link=link,
                source=source,
                first_seen=datetime.fromisoformat(first_seen.replace("Z", "+00:00")),
            )
            (held if all_held_out or i % 3 == 2 else tune).append(Labelled(item, c["id"]))
    return tune, held


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    labelled_pairs: int
    predicted_pairs: int
    false_pos: tuple[tuple[str, str], ...]
    false_neg: tuple[tuple[str, str], ...]


def evaluate(
    rows: list[Labelled],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = DEFAULT_WINDOW,
    cluster_fn: ClusterFn | None = None,
) -> Score:
    label = {r.item.key: r.label for r in rows}
    title = {r.item.key: r.item.title for r in rows}
    predicted = {}
    items = [r.item for r in rows]
    stories = (
        cluster_fn(items)
        if cluster_fn
        else cluster([r.item for r in rows], threshold=threshold, window=window)
    )
    for n, story in enumerate(stories):
        for m in story.members:
            predicted[m.key] = n
    keys = sorted(label, key=str)
    tp = fp = fn = 0
    fps, fns = [], []
    for a, b in combinations(keys, 2):
        same_label = label[a] == label[b]
        same_pred = predicted[a] == predicted[b]
        if same_label and same_pred:
            tp += 1
        elif same_pred:
            fp += 1
            fps.append((title[a], title[b]))
        elif same_label:
            fn += 1
            fns.append((title[a], title[b]))
    return Score(
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / (tp + fn) if tp + fn else 1.0,
        labelled_pairs=tp + fn,
        predicted_pairs=tp + fp,
        false_pos=tuple(fps),
        false_neg=tuple(fns),
    )


SETS = {
    "tuning": "tuning (2/3 of stories.json)",
    "held-out": "held-out 1 (1/3 of stories.json)",
    "held-out-2": "held-out 2",
    "held-out-3": "held-out 3",
    "held-out-4": "held-out 4",
    "held-out-5": "held-out 5",
    "held-out-6": "held-out 6",
    "all": "all seven at once",
}


def baseline_cluster(path: Path) -> ClusterFn:
    """``cluster`` of another version of ``monitor/stories.py`` (e.g. main's, from
    ``git show main:monitor/stories.py > /tmp/stories_main.py``), with its defaults."""
    spec = importlib.util.spec_from_file_location("stories_baseline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--baseline {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules["stories_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)

    def run(items: Sequence[StoryItem]) -> Sequence[Story]:
        theirs = [
            module.StoryItem(i.key, i.title, i.summary, i.link, i.source, i.first_seen)
            for i in items
        ]
        return module.cluster(theirs)  # type: ignore[no-any-return]

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--window-hours", type=float, default=DEFAULT_WINDOW.total_seconds() / 3600)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--errors", action="store_true", help="list the wrong pairs")
    ap.add_argument(
        "--sets",
        default=",".join(SETS),
        help="comma-separated subset of " + ", ".join(SETS) + " (default: all of them)",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another stories.py to score and time in the same run (adds columns)",
    )
    args = ap.parse_args()
    base = baseline_cluster(args.baseline) if args.baseline else None
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SETS))
    if unknown:
        ap.error(f"--sets: unknown {', '.join(unknown)}; choose from {', '.join(SETS)}")
    window = timedelta(hours=args.window_hours)
    tune, held = load()
    _, held2 = load(HOLDOUT2, all_held_out=True)
    _, held3 = load(HOLDOUT3, all_held_out=True)
    _, held4 = load(HOLDOUT4, all_held_out=True)
    _, held5 = load(HOLDOUT5, all_held_out=True)
    _, held6 = load(HOLDOUT6, all_held_out=True)
    rows_of = {
        "tuning": tune,
        "held-out": held,
        "held-out-2": held2,
        "held-out-3": held3,
        "held-out-4": held4,
        "held-out-5": held5,
        "held-out-6": held6,
        "all": tune + held + held2 + held3 + held4 + held5 + held6,
    }
    print(f"threshold {args.threshold}, window {args.window_hours:g} h")
    if base:
        print(f"baseline: {args.baseline} (its own defaults), timed alternately with this one")
    print()
    head = "| set | clusters | entries | labelled pairs | predicted pairs | precision | recall | median ms |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if base:
        head += " baseline P | baseline R | baseline ms | time ratio |"
        rule += "---:|---:|---:|---:|"
    print(head)
    print(rule)
    for key in wanted:
        name, rows = SETS[key], rows_of[key]
        score = evaluate(rows, threshold=args.threshold, window=window)
        items = [r.item for r in rows]
        times: list[float] = []
        base_times: list[float] = []
        for _ in range(args.reps):
            started = time.perf_counter()
            cluster(items, threshold=args.threshold, window=window)
            times.append((time.perf_counter() - started) * 1000)
            if base:
                started = time.perf_counter()
                base(items)
                base_times.append((time.perf_counter() - started) * 1000)
        line = (
            f"| {name} | {len({r.label for r in rows})} | {len(rows)} | {score.labelled_pairs} "
            f"| {score.predicted_pairs} | {score.precision:.3f} | {score.recall:.3f} "
            f"| {statistics.median(times):.1f} |"
        )
        if base:
            b = evaluate(rows, cluster_fn=base)
            ratio = statistics.median(times) / statistics.median(base_times)
            line += (
                f" {b.precision:.3f} | {b.recall:.3f} | {statistics.median(base_times):.1f} "
                f"| {ratio:.2f} |"
            )
        print(line)
        if args.errors:
            for a, b in score.false_pos:
                print(f"    FP: {a!r}  ~  {b!r}")
            for a, b in score.false_neg:
                print(f"    FN: {a!r}  ~  {b!r}")


if __name__ == "__main__":
    main()
