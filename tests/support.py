"""Helpers for tests that run real servers: feeds written on the fly and a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Item:
    guid: str
    title: str
    summary: str = ""
    link: str | None = None
    published: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    )


def rss(items: list[Item], title: str = "Test wire") -> str:
    """An RSS 2.0 document."""
    parts = []
    for it in items:
        pub = it.published
        parts.append(
            "<item>"
            f'<guid isPermaLink="false">{escape(it.guid)}</guid>'
            f"<title>{escape(it.title)}</title>"
            f"<link>{escape(it.link or 'https://news.example.com/' + it.guid)}</link>"
            f"<description>{escape(it.summary)}</description>"
            f"<pubDate>{format_datetime(pub)}</pubDate>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example.com/</link>"
        f"<description>test</description>{''.join(parts)}</channel></rss>"
    )


class FeedFile:
    """A feed served by the test server whose items the test changes between polls."""

    def __init__(self, server: HTTPServer, path: str, title: str = "Test wire") -> None:
        self.items: list[Item] = []
        self.title = title
        self.requests = 0
        server.expect_request(path).respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        self.requests += 1
        return Response(rss(self.items, self.title), content_type="application/rss+xml")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def verify(self, secret: str = SECRET) -> dict:
        """Check the signature with the standardwebhooks package; return the payload."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """A webhook endpoint that records every request and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)  # consumed in order; then 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, server: HTTPServer, path: str = "/hook") -> str:
        server.expect_request(path, method="POST").respond_with_handler(self._handle)
        return server.url_for(path)

    def _handle(self, request: Request) -> Response:
        with self.lock:
            self.received.append(Received(dict(request.headers), request.get_data(), time.time()))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok" if status < 300 else "no", status=status)

    def delivered(self) -> list[Received]:
        """Requests answered with 200 (the statuses script says which were not)."""
        return self.received[-1:] if self.received else []

    def wait(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} webhook request(s) within {timeout}s, got {len(self.received)}"
        )


def write_watchlist(
    path: Path,
    feeds: list[tuple[str, str]],
    *,
    hook_url: str = "",
    schedule: str = "0 8 * * *",
    database: str = "monitor.db",
    extra_watch: str = "",
    poll_interval: str = "15m",
    alert_max_age: str = "7d",
    digest_extra: str = "    immediate: false\n",
    settings_extra: str = "",
) -> Path:
    """A watchlist for tests. Its digest takes no immediate alerts unless ``digest_extra``
    says otherwise (tests of digests count exactly what the receiver got)."""
    feed_yaml = "\n".join(f"  - id: {fid}\n    url: {url}" for fid, url in feeds) or "  []"
    path.write_text(
        f"""\
version: 1
settings:
  database: {database}
  timezone: UTC
  poll_interval: {poll_interval}
  alert_max_age: {alert_max_age}
{settings_extra}feeds:
{feed_yaml}
watch:
  - id: api-broadening
    name: API broadening
    look_for: Muse Spark API access beyond private preview.
    why: A wider API would open platform revenue.
    match:
      any: ["Muse Spark API", "Muse API"]
      all: []
      none: ["private preview"]
    priority: high
  - id: glasses-rollout
    name: Glasses rollout
    look_for: Muse on Meta's glasses.
    why: Glasses are the multimodal wedge.
    match:
      any: ["Ray-Ban Meta", "Oakley Meta"]
      all: [Muse]
{extra_watch}digests:
  - id: daily
    schedule: "{schedule}"
    webhook:
      url: "{hook_url}"
      format: json
      secret: {SECRET}
{digest_extra}"""
    )
    return path
