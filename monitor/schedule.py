"""Scheduling arithmetic, pure: when a feed is next checked, when a digest next runs.

Owns the error backoff of feeds (exponential, capped, never a silent stop) and the cron
arithmetic of digests in the watchlist's timezone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.watchlist import cron_trigger

ERROR_BACKOFF_CAP = timedelta(hours=6)
RETRY_AFTER_CAP = timedelta(hours=24)


def next_check(
    now: datetime,
    interval: timedelta,
    *,
    error_count: int = 0,
    retry_after: float | None = None,
) -> datetime:
    """When to check a feed next.

    After ``error_count`` consecutive errors (counting the one just recorded) the interval
    doubles per error up to ``max(interval, 6 h)``: a feed failing for a day is still tried
    every few hours, and shows its errors in ``monitor status``. A server's Retry-After
    (429/503) is honoured up to 24 h.
    """
    delay = interval
    if error_count > 0:
        delay = min(interval * (2 ** min(error_count - 1, 20)), max(interval, ERROR_BACKOFF_CAP))
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), RETRY_AFTER_CAP))
    return now + delay


def next_digest_run(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that the cron ``schedule`` fires in ``timezone``."""
    trigger = cron_trigger(schedule, ZoneInfo(timezone))
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    assert fire is not None  # a valid 5-field crontab always fires again
    return fire.astimezone(after.tzinfo)
