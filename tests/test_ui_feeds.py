"""The feeds page: health per feed from the stored feed state, and adding a feed by URL
with discovery, against a real local HTTP server (the same code path as
``monitor feeds add``)."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry
from monitor.watchlist import load_watchlist
from tests.support import Item, rss
from tests.ui_support import UIApp, client, ui_app

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

PAGE = """<!doctype html><html><head><title>Site</title>
<link rel="alternate" type="application/rss+xml" title="All posts" href="/feed.xml">
</head><body>Hello</body></html>"""
FEED = rss([Item("g1", "Hello")], title="The Blog")


@pytest.fixture
def ua(tmp_path: Path) -> UIApp:
    app = ui_app(tmp_path)
    app.ctx.clock = lambda: NOW
    text = app.watchlist_path.read_text()
    app.watchlist_path.write_text(
        "# Our watchlist: keep this comment.\n" + text.replace("feeds:\n", "feeds: # my feeds\n")
    )
    return app


def set_feeds(ua: UIApp, feeds: list[FeedSpec]) -> None:
    listed = "".join(f"  - id: {f.id}\n    url: {f.url}\n" for f in feeds)
    text = ua.watchlist_path.read_text().replace(
        "feeds: # my feeds\n  []\n", "feeds: # my feeds\n" + listed
    )
    ua.watchlist_path.write_text(text)
    ua.store.sync_config(feeds, {}, "r1", "t", NOW - timedelta(days=60))


def refresh(store, feed: str, at: datetime, *, error: str | None = None, n: int = 0, **kw):
    entries = tuple(
        IncomingEntry(
            EntryData(
                guid=f"{feed}-{at.isoformat()}-{i}",
                link=f"https://{feed}.ex/{at}/{i}",
                title=f"t{i}",
            ),
            f"https://{feed}.ex/{at}/{i}",
            (),
            True,
        )
        for i in range(n)
    )
    store.ingest(
        FeedUpdate(
            feed,
            at,
            at + timedelta(minutes=15),
            status=kw.pop("status", 500 if error else 200),
            error=error,
            entries=entries,
            revision="r1",
            **kw,
        )
    )


def test_feed_health_failing_first_with_entries_per_week(ua: UIApp) -> None:
    s = ua.store
    set_feeds(
        ua,
        [
            FeedSpec("aaa-ok", "https://ok.ex/feed"),
            FeedSpec("bad", "https://bad.ex/feed"),
            FeedSpec("gone", "https://gone.ex/feed"),
        ],
    )
    refresh(s, "aaa-ok", NOW - timedelta(days=20), n=2)
    refresh(s, "aaa-ok", NOW - timedelta(days=1), n=3)
    refresh(s, "bad", NOW - timedelta(days=3), n=1)
    refresh(s, "bad", NOW - timedelta(hours=2), error="HTTP 503 <b>Service</b> Unavailable")
    refresh(s, "bad", NOW - timedelta(hours=1), error="HTTP 503 <b>Service</b> Unavailable")
    refresh(s, "gone", NOW - timedelta(hours=5), error="HTTP 410 Gone", status=410, gone=True)
    r = client(ua.app).get("/feeds")
    assert r.status_code == 200
    html = r.text
    assert '<table id="feeds">' in html
    order = re.findall(r'<tr id="feed-([^"]+)"', html)
    assert order == ["gone", "bad", "aaa-ok"]
    bad = html[html.index('id="feed-bad"') : html.index('id="feed-aaa-ok"')]
    assert "failing" in bad and "2 in a row" in bad and "(HTTP 500)" in bad
    assert "HTTP 503 &lt;b&gt;Service&lt;/b&gt; Unavailable" in bad  # escaped
    assert "due now" in bad  # its next poll time has passed
    gone = html[html.index('id="feed-gone"') : html.index('id="feed-bad"')]
    assert "gone (410)" in gone and "not polled" in gone
    ok = html[html.index('id="feed-aaa-ok"') :]
    assert "✓ ok" in ok and "in 15 min" not in ok and "2026-11-27 12:15 UTC" in ok
    # Entries per week over 4 weeks, oldest first: 2 three weeks ago... 3 this week.
    assert "0 · 2 · 0 · 3" in ok
    assert "oldest first: 0, 2, 0, 3" in ok
    by_id = client(ua.app).get("/feeds?sort=id").text
    assert re.findall(r'<tr id="feed-([^"]+)"', by_id) == ["aaa-ok", "bad", "gone"]


def test_watchlist_feed_not_polled_yet_is_listed(ua: UIApp) -> None:
    html = client(ua.app).get("/feeds").text
    assert "<tbody>" in html and '<tr id="feed-' not in html
    text = ua.watchlist_path.read_text().replace(
        "feeds: # my feeds\n  []", "feeds: # my feeds\n  - id: fresh\n    url: https://f.ex/rss"
    )
    ua.watchlist_path.write_text(text)
    html = client(ua.app).get("/feeds").text
    row = html[html.index('id="feed-fresh"') :]
    assert "not polled yet" in row


def test_add_a_feed_from_a_home_page(ua: UIApp, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED, content_type="application/rss+xml"
    )
    saved: list[bool] = []
    ua.ctx.on_saved = lambda: saved.append(True)
    before = ua.watchlist_path.read_text()
    c = client(ua.app, follow_redirects=False)
    r = c.post("/feeds", data={"url": httpserver.url_for("/")})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/feeds?flash=Added+localhost")
    wl = load_watchlist(ua.watchlist_path)  # what `monitor check` reads: valid
    assert {f.id: f.url for f in wl.config.feeds} == {"localhost": httpserver.url_for("/feed.xml")}
    text = ua.watchlist_path.read_text()
    assert "# Our watchlist: keep this comment." in text and "# my feeds" in text
    backup = ua.watchlist_path.with_name("watchlist.yaml.bak")
    assert backup.read_text() == before
    assert saved == [True]
    # The page lists it (not polled yet: the daemon picks it up on reload).
    assert 'id="feed-localhost"' in c.get("/feeds").text
    # htmx: the result swaps in place. Adding the same site again is a duplicate.
    r = c.post("/feeds", data={"url": httpserver.url_for("/")}, headers={"HX-Request": "true"})
    assert r.status_code == 409
    assert 'id="feed-add-error"' in r.text and "already in the watchlist as localhost" in r.text
    assert "<html" not in r.text


def test_add_errors_are_shown_inline_with_the_url(ua: UIApp, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/plain").respond_with_data(
        "<html><head></head><body>no feeds</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/broken").respond_with_data(
        '<link rel="alternate" type="application/rss+xml" href="/missing.xml">',
        content_type="text/html",
    )
    httpserver.expect_request("/missing.xml").respond_with_data("nope", status=404)
    c = client(ua.app, follow_redirects=False)
    before = ua.watchlist_path.read_text()

    plain = httpserver.url_for("/plain")
    r = c.post("/feeds", data={"url": plain})
    assert r.status_code == 422
    assert 'id="feed-add-error"' in r.text and plain in r.text
    assert "neither a feed nor a page that names one" in r.text
    assert f'value="{plain}"' in r.text  # the form keeps the URL
    assert '<table id="feeds">' in r.text  # the whole page, with the error inline

    r = c.post("/feeds", data={"url": httpserver.url_for("/broken")})
    assert r.status_code == 422 and "the feeds it names do not work" in r.text

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/"
    r = c.post("/feeds", data={"url": dead})
    assert r.status_code == 502 and "unreachable" in r.text and dead in r.text

    r = c.post("/feeds", data={"url": "ftp://x.example/feed"})
    assert r.status_code == 400 and "not an http(s) URL" in r.text
    r = c.post("/feeds", data={"url": ""})
    assert r.status_code == 400
    assert ua.watchlist_path.read_text() == before  # nothing written


def test_add_feed_needs_the_token(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED, content_type="application/rss+xml"
    )
    ua = ui_app(tmp_path, token="s3cret")
    c = client(ua.app, follow_redirects=False)
    url = httpserver.url_for("/feed.xml")
    assert c.post("/feeds", data={"url": url}).status_code == 401
    bad = c.post("/feeds", data={"url": url}, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401
    assert load_watchlist(ua.watchlist_path).config.feeds == []
    ok = c.post(
        "/feeds", data={"url": url, "id": "blog"}, headers={"Authorization": "Bearer s3cret"}
    )
    assert ok.status_code == 303
    assert [f.id for f in load_watchlist(ua.watchlist_path).config.feeds] == ["blog"]
    assert c.get("/feeds").status_code == 401
