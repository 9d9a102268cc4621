"""The default watchlist on the labelled set (tests/quality): a regression guard.

``bench/quality.py`` prints the full table; this keeps the targets (micro-F1 >= 0.90, each
watch item >= 0.80) from silently eroding when the watchlist or the matcher changes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.types import EntryData
from monitor.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parent.parent
ITEMS = [
    json.loads(line)
    for line in (ROOT / "tests" / "quality" / "items.jsonl").read_text("utf-8").splitlines()
]


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def test_the_set_is_as_documented() -> None:
    assert len(ITEMS) >= 150
    negatives = sum(not it["labels"] for it in ITEMS)
    assert negatives >= len(ITEMS) / 2
    assert {it["lang"] for it in ITEMS} == {"en", "de", "fr", "es", "pt"}
    assert sum(it["split"] == "heldout" for it in ITEMS) == len(ITEMS) // 3


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_default_watchlist_meets_the_targets(split: str, monkeypatch) -> None:
    monkeypatch.delenv("MONITOR_WEBHOOK_URL", raising=False)
    wl = load_watchlist(ROOT / "watchlist.yaml")
    counts = {w.id: [0, 0, 0] for w in wl.config.watch}
    for it in (i for i in ITEMS if i["split"] == split):
        e = EntryData(
            guid=it["id"],
            link=None,
            title=it["title"],
            summary=it["summary"],
            published=datetime.fromisoformat(it["date"]).replace(tzinfo=UTC),
        )
        got = {m.watch_id for m in wl.matcher.match(e) if m.stance == "event"}
        for wid, c in counts.items():
            c[0] += wid in got and wid in it["labels"]
            c[1] += wid in got and wid not in it["labels"]
            c[2] += wid not in got and wid in it["labels"]
    micro = f1(*(sum(c[k] for c in counts.values()) for k in range(3)))
    assert micro >= 0.90, counts
    for wid, c in counts.items():
        assert f1(*c) >= 0.80, (wid, c)
