"""Scheduling arithmetic, table-driven with fixed clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule import freshness_lifetime, next_check, next_digest_run, update_gap

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


# --- adaptive interval, freshness lifetime, jitter -------------------------------------------

D = timedelta(days=1)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # the feed's own rhythm: every half gap, between the interval and max_interval
        ({"update_gap": 3600}, 30 * M),  # posts hourly -> every 30 min
        ({"update_gap": 600}, 15 * M),  # posts every 10 min -> never below the interval
        ({"update_gap": 3.5 * 86400}, 4 * H),  # twice a week -> the ceiling
        ({"update_gap": 3.5 * 86400, "max_interval": 12 * H}, 12 * H),
        ({"update_gap": 3600, "max_interval": None}, 15 * M),  # no ceiling: never adaptive up
        ({"update_gap": 0}, 15 * M),
        # the server's freshness lifetime: no poll before it ends, up to the ceiling
        ({"max_age": 7200}, 2 * H),
        ({"max_age": 60}, 15 * M),
        ({"max_age": 10 * 86400}, 4 * H),
        ({"max_age": 7200, "update_gap": 3600}, 2 * H),
        # errors override the rhythm and max-age; Retry-After lengthens them
        ({"update_gap": 3.5 * 86400, "error_count": 1}, 15 * M),
        ({"max_age": 7200, "error_count": 3}, 1 * H),
        ({"error_count": 1, "retry_after": 7200}, 2 * H),
        # jitter lengthens by that fraction, and never shortens
        ({"jitter": 0.1}, 15 * M * 1.1),
        ({"jitter": 0.1, "retry_after": 3600, "error_count": 1}, 1 * H * 1.1),
        ({"jitter": 0.0}, 15 * M),
    ],
)
def test_next_check_policy(kwargs: dict[str, object], expected: timedelta) -> None:
    args: dict[str, object] = {"max_interval": 4 * H, **kwargs}
    assert next_check(NOW, 15 * M, **args) - NOW == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Cache-Control": "max-age=600"}, 600.0),
        ({"cache-control": "public, max-age=3600, must-revalidate"}, 3600.0),
        ({"Cache-Control": 'max-age="120"'}, 120.0),
        ({"Cache-Control": "s-maxage=900, max-age=60"}, 900.0),
        ({"Cache-Control": "no-cache, max-age=600"}, None),
        ({"Cache-Control": "no-store"}, None),
        ({"Cache-Control": "max-age=abc"}, None),
        ({"Expires": "Sat, 28 Nov 2026 14:00:00 GMT"}, 7200.0),  # against now (no Date)
        (
            {"Expires": "Sat, 28 Nov 2026 14:00:00 GMT", "Date": "Sat, 28 Nov 2026 13:00:00 GMT"},
            3600.0,
        ),
        ({"Expires": "Sat, 28 Nov 2026 11:00:00 GMT"}, 0.0),  # already stale
        ({"Expires": "0"}, 0.0),  # invalid Expires means stale (RFC 9111 5.3)
        ({"Expires": "Sat, 28 Nov 2026 14:00:00 GMT", "Cache-Control": "max-age=60"}, 60.0),
    ],
)
def test_freshness_lifetime(headers: dict[str, str], expected: float | None) -> None:
    assert freshness_lifetime(headers, NOW) == expected


def _dates(*hours_ago: float) -> list[datetime | None]:
    return [NOW - timedelta(hours=h) for h in hours_ago]


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ([], None),
        (_dates(1, 2), None),  # too few to tell
        ([None, None, None, None], None),
        (_dates(1, 2, 3, 4), 3600.0),
        (_dates(4, 1, 3, 2), 3600.0),  # document order does not matter
        (_dates(1, 1, 2, 3), 3600.0),  # duplicates count once
        (_dates(0, 84, 168, 252), 84 * 3600.0),  # twice a week
        (_dates(0, 1, 2, 3, 500), 3600.0),  # median: one old outlier does not count
        ([*_dates(1, 2, 3), None], 3600.0),
    ],
)
def test_update_gap(dates: list[datetime | None], expected: float | None) -> None:
    assert update_gap(dates) == expected


def test_update_gap_uses_only_the_newest_entries() -> None:
    recent = [NOW - timedelta(minutes=10 * i) for i in range(10)]
    ancient = [NOW - timedelta(days=30 + i) for i in range(50)]
    assert update_gap(recent + ancient) == 600.0
