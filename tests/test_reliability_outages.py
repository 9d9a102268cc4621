"""Outages: a webhook that is down / failing / rate-limiting, feeds that time out, reset or 5xx.

The daemon runs as a subprocess with ``MONITOR_RETRY_BASE=0.2`` (first delivery retry after
0.2 s instead of 30 s, doubling). The long versions (minutes of outage, receiver timeouts
past the 30 s POST timeout) are in ``bench/outage_campaign.py``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.chaos import MONITOR, DaemonProc, build_world, read_db, webhook_outage


@pytest.mark.timeout(200)
def test_webhook_down_then_500_then_429_then_resets_everything_arrives_in_order_once(
    tmp_path: Path,
) -> None:
    phases = [("down", 5.0), ("500", 5.0), ("429", 5.0), ("reset", 5.0)]
    o = webhook_outage(tmp_path, phases)
    assert o.report.problems == []
    assert o.queued_peak >= 2  # digests piled up behind the failing one
    assert set(o.statuses) >= {500, 429, 0}  # 0: answered with a reset
    assert len(o.accepted) == len(set(o.accepted))  # none accepted twice
    assert o.accepted == o.in_db_order  # in order
    assert o.retry_gaps_after_429 and min(o.retry_gaps_after_429) >= 0.9  # Retry-After: 1
    # Memory flat through the outage: no more than 25 MiB between the first and last samples.
    assert max(o.rss[-5:]) - min(o.rss[:5]) < 25 * 1024, o.rss


@pytest.mark.timeout(200)
def test_failing_feeds_back_off_show_in_status_and_recover_while_others_keep_schedule(
    tmp_path: Path,
) -> None:
    feeds, hook, config, db = build_world(tmp_path, 6, schedule="0 8 * * *")
    modes = {"f000": "reset", "f001": "500", "f002": "503", "f003": "410", "f004": "timeout"}
    for fid, mode in modes.items():
        feeds.feeds[fid].mode = mode
    daemon = DaemonProc(config, tmp_path / "d.log").start()
    try:
        time.sleep(14)
        status = subprocess.run(
            [*MONITOR, "status", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        good = feeds.request_times["/feed/f005.xml"]
        # The healthy feed kept its 1 s schedule (generous: the machine is shared).
        assert len(good) >= 7, good
        for fid in ("f000", "f001", "f002"):
            n = len(feeds.request_times[f"/feed/{fid}.xml"])
            assert 2 <= n <= 6, (fid, n)  # backed off: 1, 2, 4, 8 s
        # 410 Gone: polled once, then disabled until re-enabled (or its URL changes).
        assert len(feeds.request_times["/feed/f003.xml"]) == 1
        rows = status.stdout.splitlines()
        for fid in modes:
            # A table row may wrap onto continuation lines: take the row with them.
            start = next(i for i, ln in enumerate(rows) if ln.strip("│ ").startswith(fid))
            end = start + 1
            while (
                end < len(rows)
                and rows[end].startswith("│")
                and not rows[end].strip("│ ")[:1].isalnum()
            ):
                end += 1
            while end < len(rows) and rows[end].startswith("│ ") and rows[end][2:3] == " ":
                end += 1
            line = " ".join(" ".join(c.strip() for c in r.split("│")) for r in rows[start:end])
            if fid != "f004":  # the hung one is still inside its 20 s read timeout
                expected = {"f000": "connection reset", "f001": "HTTP 500", "f002": "HTTP 503"}
                assert expected.get(fid, "GONE since") in line, line
        # Recovery on their own: no restart, no command -- except the gone feed, which
        # stays off until the analyst says so.
        for f in feeds.feeds.values():
            f.mode = "ok"
            feeds.add_entry(f.id)
        want = {g for f in feeds.feeds.values() if f.id != "f003" for g, _ in f.entries}
        deadline = time.time() + 90
        while time.time() < deadline:
            errs = read_db(
                db, "SELECT id, error_count FROM feeds WHERE error_count > 0 AND id != 'f003'"
            )
            have = {g for (g,) in read_db(db, "SELECT guid FROM entries")}
            if not errs and want <= have:
                break
            time.sleep(0.5)
        assert errs == [], errs
        assert want <= have, want - have
        assert len(feeds.request_times["/feed/f003.xml"]) == 1
        enable = subprocess.run(
            [*MONITOR, "feeds", "enable", "f003", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enable.returncode == 0, enable.stderr
        gone_entries = {g for g, _ in feeds.feeds["f003"].entries}
        deadline = time.time() + 60
        while time.time() < deadline:
            have = {g for (g,) in read_db(db, "SELECT guid FROM entries")}
            if gone_entries <= have:
                break
            time.sleep(0.5)
        assert gone_entries <= have, gone_entries - have
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()
        feeds.close()
        hook.close()
