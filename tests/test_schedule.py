"""Scheduling arithmetic, table-driven with fixed clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule import next_check, next_digest_run

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("interval", "errors", "retry_after", "expected"),
    [
        (15 * M, 0, None, 15 * M),
        (15 * M, 1, None, 15 * M),
        (15 * M, 2, None, 30 * M),
        (15 * M, 3, None, 60 * M),
        (15 * M, 5, None, 4 * H),
        (15 * M, 6, None, 6 * H),  # capped
        (15 * M, 50, None, 6 * H),  # a feed failing for days is still tried every 6 h
        (12 * H, 3, None, 12 * H),  # the cap never shortens a long interval
        (15 * M, 0, 3600, 1 * H),  # Retry-After longer than the interval wins
        (15 * M, 1, 60, 15 * M),  # ... a shorter one does not
        (15 * M, 1, 10**7, 24 * H),  # ... and is capped
    ],
)
def test_next_check(
    interval: timedelta, errors: int, retry_after: float | None, expected: timedelta
) -> None:
    assert next_check(NOW, interval, error_count=errors, retry_after=retry_after) - NOW == expected


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("0 8 * * *", "America/New_York", "2026-11-28T01:00:00", "2026-11-28T13:00:00"),
        (
            "0 8 * * *",
            "America/New_York",
            "2026-11-28T13:00:00",
            "2026-11-29T13:00:00",
        ),  # strictly after
        (
            "0 8 * * *",
            "America/New_York",
            "2026-07-01T00:00:00",
            "2026-07-01T12:00:00",
        ),  # summer time
        ("0 8 * * 1", "UTC", "2026-11-28T12:00:00", "2026-11-30T08:00:00"),  # Monday
        ("*/5 * * * *", "UTC", "2026-11-28T12:01:00", "2026-11-28T12:05:00"),
        ("30 7 1 * *", "Europe/Berlin", "2026-11-28T12:00:00", "2026-12-01T06:30:00"),
        ("0 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00", "2026-03-29T01:00:00"),  # DST gap day
    ],
)
def test_next_digest_run(cron: str, tz: str, after: str, expected: str) -> None:
    got = next_digest_run(cron, tz, datetime.fromisoformat(after).replace(tzinfo=UTC))
    assert got == datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert got.tzinfo is not None


@pytest.mark.parametrize(
    ("dow", "weekdays"),
    [
        ("1", {0}),  # Monday in crontab
        ("0", {6}),
        ("7", {6}),
        ("1-5", {0, 1, 2, 3, 4}),
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("6,0", {5, 6}),
        ("5-7", {4, 5, 6}),
        ("*/2", {6, 1, 3, 5}),  # sun, tue, thu, sat
        ("*", {0, 1, 2, 3, 4, 5, 6}),
    ],
)
def test_day_of_week_uses_crontab_numbering(dow: str, weekdays: set[int]) -> None:
    seen = set()
    t = NOW
    for _ in range(14):
        t = next_digest_run(f"0 9 * * {dow}", "UTC", t)
        seen.add(t.weekday())
    assert seen == weekdays


@pytest.mark.parametrize("dow", ["8", "1-9", "5-2", "*/x", "1/0"])
def test_bad_day_of_week(dow: str) -> None:
    with pytest.raises(ValueError):
        next_digest_run(f"0 9 * * {dow}", "UTC", NOW)


def test_six_fields_have_seconds_first() -> None:
    assert next_digest_run("30 */5 * * * *", "UTC", NOW) == NOW.replace(second=30)
    assert next_digest_run("15 0 9 * * 1", "UTC", NOW) == datetime(
        2026, 11, 30, 9, 0, 15, tzinfo=UTC
    )
