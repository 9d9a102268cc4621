"""Scheduling arithmetic, pure: when a feed is next checked, when a digest next runs.

Owns the polling interval of feeds (configured interval, the feed's own publishing rhythm,
the server's freshness lifetime and Retry-After, jitter), their error backoff (exponential,
capped, never a silent stop) and the cron arithmetic of digests in the watchlist's timezone.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from monitor.watchlist import cron_trigger

# How long a replica holds a feed or delivery it works on (``monitor run --lease``).
LEASE = timedelta(minutes=5)
ERROR_BACKOFF_CAP = timedelta(hours=6)
RETRY_AFTER_CAP = timedelta(hours=24)


def next_check(
    now: datetime,
    interval: timedelta,
    *,
    error_count: int = 0,
    retry_after: float | None = None,
    max_age: float | None = None,
    update_gap: float | None = None,
    max_interval: timedelta | None = None,
    jitter: float = 0.0,
) -> datetime:
    """When to check a feed next. Pure: every input is an argument, ``jitter`` included.

    - ``interval`` is the feed's configured interval: never poll more often than that
      (except after an error's Retry-After, which only lengthens).
    - ``update_gap`` (seconds): how often the feed itself publishes (the median gap
      between its recent entries' dates). A feed is checked every half gap, between
      ``interval`` and ``max_interval``: one posting twice a week is checked every
      ``max_interval``, one posting hourly every 30 min (or ``interval`` if that is longer).
    - ``max_age`` (seconds): the response's freshness lifetime (Cache-Control max-age or
      Expires): no poll before it ends, up to ``max_interval``.
    - After ``error_count`` consecutive errors (counting the one just recorded) the interval
      doubles per error up to ``max(interval, 6 h)``: a feed failing for a day is still
      tried every few hours, and shows its errors in ``monitor status``.
    - A server's Retry-After (429/503) is honoured up to 24 h.
    - ``jitter`` in [0, 1) lengthens the delay by that fraction of itself (callers pass
      ``random() * 0.1``), so feeds added together do not poll in lockstep. It never
      shortens a delay, so Retry-After and max-age stay honoured.
    """
    ceiling = max(interval, max_interval or interval)
    delay = interval
    if update_gap is not None and update_gap > 0:
        delay = min(max(interval, timedelta(seconds=update_gap / 2)), ceiling)
    if max_age is not None and max_age > 0:
        delay = max(delay, min(timedelta(seconds=max_age), ceiling))
    if error_count > 0:
        delay = min(interval * (2 ** min(error_count - 1, 20)), max(interval, ERROR_BACKOFF_CAP))
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), RETRY_AFTER_CAP))
    if jitter > 0:
        delay += delay * min(jitter, 0.99)
    return now + delay


def freshness_lifetime(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds a response stays fresh (RFC 9111 4.2.1): ``Cache-Control: max-age`` (or
    ``s-maxage``), else ``Expires`` minus ``Date`` (or ``now``). None when the response
    says nothing, or forbids reuse (``no-cache``/``no-store``); an unreadable or past
    Expires is 0, as the RFC says."""
    h = {k.lower(): v for k, v in headers.items()}
    directives: dict[str, str] = {}
    for part in h.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return None
    for name in ("s-maxage", "max-age"):
        value = directives.get(name, "")
        if value.isdigit():
            return float(int(value))
    expires = h.get("expires")
    if expires is None:
        return None
    when = _http_date(expires)
    if when is None:
        return 0.0
    base = _http_date(h.get("date", "")) or now
    return max(0.0, (when - base).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def update_gap(dates: Iterable[datetime | None], *, sample: int = 10) -> float | None:
    """The feed's own publishing rhythm: the median gap in seconds between the ``sample``
    newest distinct entry dates, or None with fewer than 3 dated entries."""
    newest = sorted({d for d in dates if d is not None}, reverse=True)[:sample]
    if len(newest) < 3:
        return None
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(newest)]
    return float(statistics.median(gaps))


def next_digest_run(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that the cron ``schedule`` fires in ``timezone``."""
    trigger = cron_trigger(schedule, ZoneInfo(timezone))
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    assert fire is not None  # a valid 5-field crontab always fires again
    return fire.astimezone(after.tzinfo)
