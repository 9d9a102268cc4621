"""Crash safety: SIGKILL the daemon 20 times at aimed moments; nothing is lost or sent twice.

The long campaign is ``bench/crash_campaign.py``; both use :mod:`tests.chaos`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import crash_campaign


@pytest.mark.timeout(240)
def test_twenty_sigkills_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    report = crash_campaign(tmp_path, kills=20, seed=7, settle_timeout=90)
    assert report.problems == [], (report.problems, report.landed)
    assert len(report.kills) == 20
    # The kills landed where they were aimed, in each of the four places at least once.
    for moment in ("fetch", "db-write", "outbox-before-post", "post"):
        assert report.landed[moment] >= 1, report.landed
    assert report.integrity == "ok"
    assert report.recorded_matches == report.expected_matches > 50
    assert report.deliveries >= 2
