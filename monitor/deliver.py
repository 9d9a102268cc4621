"""Sending a delivery to a webhook, signed as the Standard Webhooks specification says.

Owns the signature (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64
HMAC-SHA256(key, id.timestamp.body)>``; the secret is ``whsec_`` + base64 key), one POST
and the classification of its outcome, and the retry arithmetic. Does not own the outbox
(``storage``) or when to retry (``pipeline``).

The signature is a few lines of stdlib HMAC rather than the ``standardwebhooks`` package, so
the tests can verify our requests with that package as an independent implementation.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import logging
import os
import random
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from monitor.types import AttemptOutcome

USER_AGENT = "CatalystMonitor/0.1 (webhook)"
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# Test knob (docs/reliability.md): MONITOR_RETRY_BASE=0.2 makes the first retry come after
# 0.2 s instead of 30 s, and scales the cap with it, so outage tests need not wait minutes.
RETRY_BASE_ENV = "MONITOR_RETRY_BASE"
RETRY_AFTER_CAP = timedelta(hours=6)


def new_secret() -> str:
    """A fresh signing secret in the specification's format (32 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, f"{msg_id}.{timestamp}." + body)>``."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(
    delivery_id: str,
    body: bytes,
    secret: str | None,
    timestamp: int,
    content_type: str = "application/json",
) -> dict[str, str]:
    headers = {
        "content-type": content_type,
        "user-agent": USER_AGENT,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, delivery_id, timestamp, body)
    return headers


def redact_url(url: str) -> str:
    """Scheme and host only: webhook paths (Slack, Discord) are secrets. For any other
    scheme (an Apprise URL: ``tgram://TOKEN/CHAT``) the scheme only: there the "host" is
    often the token."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"{parts.scheme or '?'}://…"
    return (
        f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date, RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


async def post_delivery(
    client: httpx.AsyncClient,
    url: str,
    secret: str | None,
    delivery_id: str,
    body: str,
    *,
    timeout: float = 30.0,
    content_type: str = "application/json",
) -> AttemptOutcome:
    """POST one attempt. Never raises for HTTP or network failures: it classifies them.

    2xx is delivered; 408, 429 and 5xx are retried; other 4xx are not (the receiver said the
    request itself is wrong); network errors and timeouts are retried. The timestamp and
    signature are computed afresh for every attempt; the id and body never change.
    """
    raw = body.encode()
    headers = signed_headers(delivery_id, raw, secret, int(time.time()), content_type)
    started = time.monotonic()
    try:
        resp = await client.post(url, content=raw, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return AttemptOutcome(
            False, None, f"timed out after {timeout:g}s", True, None, time.monotonic() - started
        )
    except httpx.HTTPError as exc:
        reason = exc.__class__.__name__
        return AttemptOutcome(
            False, None, f"{reason}: {_short(exc)}", True, None, time.monotonic() - started
        )
    elapsed = time.monotonic() - started
    code = resp.status_code
    if 200 <= code < 300:
        return AttemptOutcome(True, code, None, False, None, elapsed)
    retryable = code in (408, 429) or code >= 500
    retry_after = parse_retry_after(resp.headers.get("retry-after")) if code in (429, 503) else None
    return AttemptOutcome(False, code, f"HTTP {code}", retryable, retry_after, elapsed)


APPRISE_MISSING = (
    "webhook.format apprise needs the Apprise package: pip install 'catalyst-monitor[apprise]'"
)


async def notify_apprise(url: str, body: str) -> AttemptOutcome:
    """Send one Markdown message through Apprise (``url`` is an Apprise URL: ``json://``,
    ``mailto://``, ``tgram://``, ``ntfy://``...). Never raises.

    The first line, a ``# heading``, becomes the notification's title. Apprise reports only
    success or failure (no status code), so a failed notify is retried like a network
    error; a URL Apprise does not understand, or Apprise not installed, is not retried.
    Apprise's requests are not signed (the target is not our receiver).
    """
    try:
        import apprise
    except ImportError:
        return AttemptOutcome(False, None, APPRISE_MISSING, False)
    first, _, rest = body.partition("\n")
    title, text = (first[2:], rest.lstrip("\n")) if first.startswith("# ") else ("", body)

    def send() -> AttemptOutcome:
        started = time.monotonic()
        ap = apprise.Apprise()
        if not ap.add(url):
            return AttemptOutcome(
                False, None, f"not a valid Apprise URL ({redact_url(url)})", False
            )
        try:
            with apprise.LogCapture(level=logging.WARNING) as captured:
                ok = bool(
                    ap.notify(body=text, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
                )
        except Exception as exc:  # a plugin bug must not take the outbox down
            return AttemptOutcome(
                False, None, f"apprise: {_short(exc)}", True, None, time.monotonic() - started
            )
        elapsed = time.monotonic() - started
        if ok:
            return AttemptOutcome(True, None, None, False, None, elapsed)
        lines = [ln for ln in captured.getvalue().splitlines() if ln.strip()]
        why = lines[-1].split(" - ", 2)[-1] if lines else "notify failed"
        return AttemptOutcome(False, None, f"apprise: {why[:200]}", True, None, elapsed)

    return await asyncio.to_thread(send)


def _short(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return text[:200]


def retry_delay(
    attempts: int, retry_after: float | None = None, *, rng: random.Random | None = None
) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1-based).

    Exponential from 30 s (``$MONITOR_RETRY_BASE`` seconds, for tests), doubling, capped at
    1 h (scaled likewise), with ±20 % jitter so many queued
    deliveries do not retry in lockstep; a receiver's Retry-After wins when longer (capped
    at 6 h).
    """
    r = rng or random
    first, cap = RETRY_BASE, RETRY_CAP
    scaled = os.environ.get(RETRY_BASE_ENV)
    if scaled:
        first = timedelta(seconds=float(scaled))
        cap = RETRY_CAP * (first / RETRY_BASE)
    # The exponent is bounded: 30 s x 2**42 overflows timedelta, and attempt 43 comes after
    # ~35 h of a 72 h retry age.
    base = min(cap, first * (2 ** min(max(0, attempts - 1), 30)))
    delay = base * r.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), RETRY_AFTER_CAP))
    return delay


def now_utc() -> datetime:
    return datetime.now(UTC)
