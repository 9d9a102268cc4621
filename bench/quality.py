"""Precision, recall and F1 of the default watchlist on tests/quality/items.jsonl.

A prediction is a match whose stance is ``event`` (only events count as evidence).
Prints one table per split (tune, heldout) and both together: per watch item and
micro-averaged. Usage: ``python bench/quality.py [--watchlist watchlist.yaml] [--errors]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.types import EntryData  # noqa: E402
from monitor.watchlist import load_watchlist  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchlist", default=str(ROOT / "watchlist.yaml"))
    ap.add_argument("--items", default=str(ROOT / "tests" / "quality" / "items.jsonl"))
    ap.add_argument("--errors", action="store_true", help="list false positives/negatives")
    args = ap.parse_args()
    wl = load_watchlist(args.watchlist)
    ids = [w.id for w in wl.config.watch]
    items = [json.loads(line) for line in Path(args.items).read_text("utf-8").splitlines()]
    rows: list[tuple[dict, set[str], set[str]]] = []
    for it in items:
        e = EntryData(
            guid=it["id"],
            link=None,
            title=it["title"],
            summary=it["summary"],
            published=datetime.fromisoformat(it["date"]).replace(tzinfo=UTC),
            source=it["outlet"],
        )
        got = {m.watch_id for m in wl.matcher.match(e) if m.stance == "event"}
        rows.append((it, set(it["labels"]), got))
    for split in ("tune", "heldout", "all"):
        part = [r for r in rows if split == "all" or r[0]["split"] == split]
        print(f"\n== {split}: {len(part)} items ==")
        print(f"{'watch item':28} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>6} {'rec':>6} {'F1':>6}")
        TP = FP = FN = 0
        for wid in ids:
            tp = sum(wid in want and wid in got for _, want, got in part)
            fp = sum(wid not in want and wid in got for _, want, got in part)
            fn = sum(wid in want and wid not in got for _, want, got in part)
            TP, FP, FN = TP + tp, FP + fp, FN + fn
            print(f"{wid:28} {tp:4d} {fp:4d} {fn:4d} " + _prf(tp, fp, fn))
        print(f"{'micro-average':28} {TP:4d} {FP:4d} {FN:4d} " + _prf(TP, FP, FN))
    if args.errors:
        print()
        for it, want, got in rows:
            if want != got:
                print(
                    f"{it['id']} [{it['split']}] want={sorted(want)} got={sorted(got)}: {it['title']}"
                )
    return 0


def _prf(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"{p:6.2f} {r:6.2f} {f:6.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
