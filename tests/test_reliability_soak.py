"""Short soak: 60 feeds changing every few seconds for ~15 s; nothing lost, memory flat.

The long run (500 feeds, minutes) is ``bench/soak.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import soak


@pytest.mark.timeout(200)
def test_short_soak_records_everything_and_memory_stays_flat(tmp_path: Path) -> None:
    s = soak(tmp_path, n_feeds=60, seconds=15, interval="2s", every=0.05, sample=1.5, tick=0.5)
    assert s.problems == []
    assert s.report.recorded_matches == s.report.expected_matches > 100
    assert s.report.deliveries >= 2
    assert len(s.samples) >= 8
    assert s.growth_mib() < 30, s.samples
