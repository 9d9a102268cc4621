"""``fetch_full_text: true``: a headline-only feed's new entries are matched on their linked
article's main text, fetched from a real local server under the feed's limits; every
failure keeps the feed's own text; an entry seen before is never fetched again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor import fulltext
from monitor.extract import ExtractError, article_text
from monitor.fetch import FetchLimits, build_client
from monitor.fulltext import MAX_ARTICLES, SHORT_TEXT
from monitor.pipeline import Context, PollReport, refresh_feed, sync_watchlist
from monitor.scheduler import parse_executor
from monitor.types import FeedState, Match
from monitor.watchlist import LoadedWatchlist, load_watchlist
from storage.store import Store
from tests.support import Item, rss, write_watchlist

NOW = datetime.now(UTC).replace(microsecond=0)


def article_page(headline: str, *paragraphs: str) -> str:
    """A news article page as publishers serve them: navigation, the story, a footer."""
    nav = "".join(f'<li><a href="/section/{n}">{n.title()}</a></li>' for n in ("world", "tech"))
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{headline} | The Daily Wire Service</title>
<meta name="description" content="Latest news"></head>
<body>
<header><nav><ul>{nav}</ul></nav><div class="promo">Subscribe for $1 a week</div></header>
<main><article>
<h1>{headline}</h1>
<p class="byline">By A. Reporter, March 12, 2026</p>
{body}
</article></main>
<aside><h2>Most read</h2><ul><li><a href="/x">Celebrity chef opens bistro</a></li></ul></aside>
<footer><p>Copyright 2026 The Daily Wire Service. All rights reserved.</p></footer>
</body></html>"""


STORY = (
    "Meta said on Thursday that the Muse Spark API is now open to outside developers, "
    "ending months of limited testing with a handful of partners.",
    "The company said developers can sign up through its platform console and pay per "
    "token, with rate limits that rise as accounts build a history of usage.",
    "Analysts said the move puts the model in direct competition with rival offerings "
    "and could open a new source of platform revenue for the company next year.",
)
DULL = (
    "The city council met on Tuesday to discuss the repaving of the main road, which has "
    "been closed for repairs since the spring floods damaged the bridge.",
    "Residents asked for a timeline; the council said work would resume next month once "
    "the contractor delivers the remaining materials to the site.",
)


class Harness:
    """A watchlist whose feed ``agg`` sets fetch_full_text, a database, and refresh_feed."""

    def __init__(
        self,
        tmp_path: Path,
        db_url: str,
        server: HTTPServer,
        *,
        limits: FetchLimits | None = None,
        executor: Executor | None = None,
    ) -> None:
        feeds = [("agg", server.url_for("/agg.xml")), ("plain", server.url_for("/plain.xml"))]
        config = write_watchlist(tmp_path / "watchlist.yaml", feeds, database=db_url)
        agg = f"  - id: agg\n    url: {server.url_for('/agg.xml')}\n"
        text = config.read_text()
        assert agg in text
        config.write_text(text.replace(agg, agg + "    fetch_full_text: true\n"))
        self.wl: LoadedWatchlist = load_watchlist(config)
        assert self.wl.feed("agg").fetch_full_text  # type: ignore[union-attr]
        self.store = Store.open(db_url)
        self.limits = limits or FetchLimits(total_timeout=20)
        self.executor = executor
        self.server = server
        sync_watchlist(self.store, self.wl, NOW)

    def state(self, feed_id: str) -> FeedState:
        state = self.store.feed_state(feed_id)
        assert state is not None
        return state

    def refresh(self, feed_id: str = "agg") -> PollReport:
        async def go() -> PollReport:
            async with build_client(self.limits, "CatalystMonitor-test/1") as client:
                ctx = Context(
                    self.store,
                    client,
                    self.wl,
                    self.limits,
                    self.executor,
                    clock=lambda: NOW,
                    jitter=lambda: 0.0,
                )
                return await refresh_feed(ctx, self.state(feed_id))

        return asyncio.run(go())

    def matches(self) -> list[Match]:
        return self.store.matches()

    def requests(self, path: str) -> int:
        return sum(1 for req, _ in self.server.log if req.path == path)

    def serve_feed(self, path: str, items: list[Item]) -> None:
        self.server.expect_request(path).respond_with_data(
            rss(items, "Aggregator"), content_type="application/rss+xml"
        )

    def serve_html(self, path: str, html: str, **headers: str) -> None:
        self.server.expect_request(path).respond_with_data(
            html, content_type="text/html; charset=utf-8", headers=headers
        )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def harness(tmp_path: Path, sqlite_url: str, httpserver: HTTPServer) -> Iterator[Harness]:
    h = Harness(tmp_path, sqlite_url, httpserver)
    yield h
    h.store.close()


def headline(guid: str, title: str, server: HTTPServer, path: str) -> Item:
    return Item(guid, title, "", server.url_for(path), NOW - timedelta(hours=1))


# --- the article's text is matched ---------------------------------------------------------


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_headline_only_item_matches_on_the_article_text(
    tmp_path: Path, sqlite_url: str, httpserver: HTTPServer, executor: str
) -> None:
    pool = parse_executor(1 if executor == "process" else 0)
    h = Harness(tmp_path, sqlite_url, httpserver, executor=pool)
    try:
        title = "Meta opens its new model to outside firms"  # no watch term in the headline
        h.serve_html("/story.html", article_page(title, *STORY))
        h.serve_html("/dull.html", article_page("Road works", *DULL))
        h.serve_feed(
            "/agg.xml",
            [
                headline("a1", title, httpserver, "/story.html"),
                headline("a2", "Council news", httpserver, "/dull.html"),
            ],
        )
        # The same headline without fetch_full_text: nothing to match on.
        h.serve_feed("/plain.xml", [headline("p1", title, httpserver, "/other.html")])
        assert h.refresh("plain").new_matches == 0

        report = h.refresh("agg")
        assert report.error is None and report.new_entries == 2 and report.new_matches == 1
        (match,) = h.matches()
        assert match.watch_id == "api-broadening" and match.feed_id == "agg"
        assert match.title == title
        assert "Muse Spark API" in match.snippet
        assert set(match.matched_terms) >= {"Muse Spark API"}
        assert match.stance == "event"
        # Fetched with the daemon's client: its User-Agent, asking for HTML.
        req = next(r for r, _ in httpserver.log if r.path == "/story.html")
        assert req.headers["User-Agent"] == "CatalystMonitor-test/1"
        assert req.headers["Accept"].startswith("text/html")
        assert h.requests("/other.html") == 0  # the plain feed never fetches articles
    finally:
        h.store.close()
        pool.shutdown(wait=True)


def test_stored_summary_is_the_article_text_with_the_feed_snippet(
    harness: Harness, httpserver: HTTPServer
) -> None:
    harness.serve_html("/s.html", article_page("Muse news", *STORY))
    snippet = "Short teaser from the aggregator."
    harness.serve_feed(
        "/agg.xml",
        [Item("s1", "Muse news", snippet, httpserver.url_for("/s.html"), NOW - timedelta(hours=1))],
    )
    assert harness.refresh().new_entries == 1
    (_id, _feed, entry), *_ = harness.store.entries_after(0, 10)
    assert entry.summary.startswith(snippet)
    assert STORY[0] in entry.summary and STORY[2] in entry.summary
    assert "Most read" not in entry.summary and "Subscribe" not in entry.summary


def test_long_feed_text_is_not_fetched(harness: Harness, httpserver: HTTPServer) -> None:
    long_summary = "Muse Spark news in depth. " * (SHORT_TEXT // 20)
    assert len(long_summary) >= SHORT_TEXT
    harness.serve_html("/long.html", article_page("x", *STORY))
    harness.serve_feed(
        "/agg.xml",
        [Item("l1", "Long", long_summary, httpserver.url_for("/long.html"), NOW)],
    )
    assert harness.refresh().new_entries == 1
    assert harness.requests("/long.html") == 0


# --- failures fall back to the feed's text -------------------------------------------------


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    """A server that answers while one of its handlers sleeps (the slow article)."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_article_failures_fall_back_and_the_feed_is_recorded(
    tmp_path: Path,
    sqlite_url: str,
    threaded_server: HTTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    httpserver = threaded_server
    limits = FetchLimits(connect_timeout=2, read_timeout=2, total_timeout=2, max_body_bytes=300_000)
    h = Harness(tmp_path, sqlite_url, httpserver, limits=limits)

    def slow(request: Request) -> Response:
        time.sleep(4)  # beyond total_timeout: the fetch gives up at 2 s
        return Response(article_page("slow", *STORY), content_type="text/html")

    good = "Muse Spark API now open"
    h.serve_html("/good.html", article_page(good, *STORY))
    httpserver.expect_request("/missing.html").respond_with_data("no such page", status=404)
    httpserver.expect_request("/broken.html").respond_with_data("oops", status=503)
    httpserver.expect_request("/slow.html").respond_with_handler(slow)
    h.serve_html("/huge.html", article_page("huge", *(STORY * 2000)))  # ~1.3 MB > 300 KB cap
    httpserver.expect_request("/paper.pdf").respond_with_data(
        b"%PDF-1.7 Muse Spark API", content_type="application/pdf"
    )
    h.serve_html("/empty.html", "<html><head><title>x</title></head><body></body></html>")
    paths = ["/missing.html", "/broken.html", "/slow.html", "/huge.html", "/paper.pdf",
             "/empty.html"]  # fmt: skip
    items = [headline(f"b{i}", f"Muse Spark API item {i}", httpserver, p) for i, p in
             enumerate(paths)]  # fmt: skip
    items.append(headline("ok", "Headline only", httpserver, "/good.html"))
    h.serve_feed("/agg.xml", items)
    try:
        with caplog.at_level(logging.WARNING, logger="monitor"):
            report = h.refresh()
        assert report.error is None and report.new_entries == len(items)
        state = h.state("agg")
        assert state.error_count == 0 and state.last_status == 200
        # Every failing item is still matched on its feed text (its title names the API)...
        by_guid = {m.guid: m for m in h.matches()}
        assert set(by_guid) == {f"b{i}" for i in range(len(paths))} | {"ok"}
        # ...and the good article was matched on its page.
        assert "Muse Spark API" in by_guid["ok"].snippet
        fallbacks = [r.getMessage() for r in caplog.records if "outcome=fallback" in r.getMessage()]
        assert len(fallbacks) == len(paths), fallbacks
        for path, why in zip(
            paths,
            ["HTTP 404", "HTTP 503", "timed out", "body larger than 300000", "not an HTML page",
             "no main text"],
            strict=True,
        ):  # fmt: skip
            line = next(f for f in fallbacks if httpserver.url_for(path) in f)
            assert "feed=agg" in line and why in line, line
    finally:
        h.store.close()


def test_extraction_errors_name_what_went_wrong() -> None:
    with pytest.raises(ExtractError, match="not an HTML page"):
        article_text(b"{}", {"content-type": "application/json"}, "http://x/")
    with pytest.raises(ExtractError, match="no main text"):
        article_text(b"<html><body> </body></html>", {"content-type": "text/html"}, "http://x/")
    text = article_text(
        article_page("Nouvelles", "Le modèle Muse Spark est désormais ouvert aux développeurs "
                     "du monde entier, a annoncé l'entreprise jeudi à Paris.").encode("latin-1"),
        {"content-type": "text/html; charset=iso-8859-1"},
        "http://x/",
    )  # fmt: skip
    assert "modèle Muse Spark est désormais ouvert" in text


# --- new entries only ------------------------------------------------------------------------


def test_an_entry_seen_before_is_not_fetched_again(
    tmp_path: Path, db_url: str, httpserver: HTTPServer
) -> None:
    h = Harness(tmp_path, db_url, httpserver)
    try:
        h.serve_html("/one.html", article_page("one", *STORY))
        h.serve_html("/two.html", article_page("two", *DULL))
        h.serve_html("/shared.html", article_page("shared", *DULL))
        first = [headline("g1", "First", httpserver, "/one.html")]
        # Another feed stored /shared.html already: the aggregator's copy is not new either.
        h.serve_feed("/plain.xml", [headline("p1", "Shared", httpserver, "/shared.html")])
        assert h.refresh("plain").new_entries == 1
        httpserver.expect_oneshot_request("/agg.xml").respond_with_data(
            rss(first), content_type="application/rss+xml"
        )
        assert h.refresh().new_matches == 1
        assert h.requests("/one.html") == 1
        # The feed changes (new body): g1 is old news, g2 new, g3 is the stored article.
        second = [
            *first,
            headline("g2", "Second", httpserver, "/two.html"),
            headline("g3", "Shared", httpserver, "/shared.html"),
        ]
        httpserver.expect_oneshot_request("/agg.xml").respond_with_data(
            rss(second), content_type="application/rss+xml"
        )
        report = h.refresh()
        assert report.error is None and report.new_entries == 1  # g2 (g3 is a sighting)
        assert h.requests("/one.html") == 1
        assert h.requests("/two.html") == 1
        assert h.requests("/shared.html") == 0
    finally:
        h.store.close()


def test_articles_per_poll_are_capped(harness: Harness, httpserver: HTTPServer) -> None:
    n = MAX_ARTICLES + 5
    for i in range(n):
        harness.serve_html(f"/c{i}.html", article_page(f"c{i}", *DULL))
    harness.serve_feed(
        "/agg.xml", [headline(f"c{i}", f"Item {i}", httpserver, f"/c{i}.html") for i in range(n)]
    )
    assert harness.refresh().new_entries == n
    fetched = sum(harness.requests(f"/c{i}.html") for i in range(n))
    assert fetched == MAX_ARTICLES
    assert all(harness.requests(f"/c{i}.html") == 1 for i in range(MAX_ARTICLES))  # first ones


def test_without_the_fulltext_extra_the_feed_text_is_used(
    harness: Harness,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`pip install .` (no extra): such feeds poll as usual, and the log says why once."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "trafilatura" else real(name)
    )
    monkeypatch.setattr(fulltext, "_warned_unavailable", False)
    harness.serve_html("/n.html", article_page("n", *STORY))
    harness.serve_feed("/agg.xml", [headline("n1", "Muse Spark API opens", httpserver, "/n.html")])
    with caplog.at_level(logging.WARNING, logger="monitor"):
        report = harness.refresh()
    assert report.error is None and report.new_matches == 1  # on the headline
    assert harness.requests("/n.html") == 0
    (line,) = [r.getMessage() for r in caplog.records if "fulltext" in r.getMessage()]
    assert "outcome=unavailable" in line and "catalyst-monitor[fulltext]" in line
