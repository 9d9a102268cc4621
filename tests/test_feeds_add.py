"""``monitor feeds add``: feed discovery from a page, against a real local server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.discover import feed_links, suggest_id
from monitor.watchlist import load_watchlist
from tests.support import Item, rss, write_watchlist

PAGE = """<!doctype html><html><head><title>Site</title>
<link rel="stylesheet" href="/s.css">
<link rel="alternate" type="application/rss+xml" title="All posts" href="/feed.xml">
<link rel="alternate" type="application/atom+xml" title="Comments" href="comments.atom">
<link rel="alternate" hreflang="de" href="/de/">
</head><body><a href="/other.xml">not a link element</a></body></html>"""


@pytest.mark.parametrize(
    ("html", "url", "expected"),
    [
        (
            PAGE,
            "https://ex.com/blog/",
            [
                ("https://ex.com/feed.xml", "All posts"),
                ("https://ex.com/blog/comments.atom", "Comments"),
            ],
        ),
        (
            '<base href="https://cdn.ex.com/x/"><link rel="Alternate feed" '
            'type="application/feed+json; charset=utf-8" href="f.json">',
            "https://ex.com/",
            [("https://cdn.ex.com/x/f.json", "")],
        ),
        ('<link rel="alternate" type="text/html" href="/m">', "https://ex.com/", []),
        (
            '<link rel="alternate" type="application/rss+xml" href="javascript:x">',
            "https://e.com/",
            [],
        ),
        (
            '<link rel="alternate" type="application/rss+xml" href="/a">' * 2,
            "https://e.com/",
            [("https://e.com/a", "")],
        ),
        ("<html><<<>>", "https://e.com/", []),
    ],
)
def test_feed_links(html: str, url: str, expected: list[tuple[str, str]]) -> None:
    assert feed_links(html, url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.example.com/feed/", "example-com"),
        ("https://blog.example.com/rss.xml", "blog-example-com"),
        ("https://example.com/category/ai/feed", "example-com-category-ai"),
        ("https://example.com/atom.xml", "example-com"),
        ("https://EXAMPLE.com/News_Feed.rss", "example-com-news-feed"),
    ],
)
def test_suggest_id(url: str, expected: str) -> None:
    assert suggest_id(url) == expected


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_watchlist(tmp_path / "watchlist.yaml", [("existing", "https://e.com/x.xml")])
    path.write_text(path.read_text().replace("feeds:\n", "feeds: # my feeds\n"))
    return path


FEED = rss([Item("g1", "Hello")], title="The Blog")


def test_add_from_a_home_page(
    httpserver: HTTPServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED, content_type="application/rss+xml"
    )
    assert main(["feeds", "add", httpserver.url_for("/"), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "found " + httpserver.url_for("/feed.xml") + " (The Blog)" in out
    feeds = {f.id: f.url for f in load_watchlist(config).config.feeds}
    assert feeds["localhost"] == httpserver.url_for("/feed.xml")
    assert "# my feeds" in config.read_text()  # comments kept
    # Again: already there, nothing added.
    assert main(["feeds", "add", httpserver.url_for("/"), "--config", str(config)]) == 0
    assert "already in the watchlist" in capsys.readouterr().out
    assert len(load_watchlist(config).config.feeds) == 2


def test_add_a_feed_url_directly_with_an_id(
    httpserver: HTTPServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED, content_type="application/rss+xml"
    )
    url = httpserver.url_for("/feed.xml")
    assert main(["feeds", "add", url, "--id", "blog", "--config", str(config)]) == 0
    assert {f.id: f.url for f in load_watchlist(config).config.feeds}["blog"] == url


def test_broken_advertised_feed_is_skipped_for_the_next(
    httpserver: HTTPServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/feed.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/comments.atom").respond_with_data(
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>C</title><entry><id>1</id>'
        "<title>c</title></entry></feed>",
        content_type="application/atom+xml",
    )
    assert main(["feeds", "add", httpserver.url_for("/"), "--config", str(config)]) == 0
    urls = [f.url for f in load_watchlist(config).config.feeds]
    assert urls[-1] == httpserver.url_for("/comments.atom")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html><head></head></html>", "neither a feed nor a page that names one"),
        (PAGE, "the feeds it names do not work"),
    ],
)
def test_nothing_to_add_is_a_clear_error(
    httpserver: HTTPServer,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    body: str,
    message: str,
) -> None:
    httpserver.expect_request("/").respond_with_data(body, content_type="text/html")
    before = config.read_text()
    assert main(["feeds", "add", httpserver.url_for("/"), "--config", str(config)]) != 0
    assert message in capsys.readouterr().err
    assert config.read_text() == before
