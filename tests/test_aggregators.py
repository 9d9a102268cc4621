"""News searches as sources: watchlist expansion and tying aggregator entries to publishers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.aggregators import bing_article_url, tie_to_publisher
from monitor.errors import ConfigError
from monitor.parse import parse_feed
from monitor.prepare import prepare_entries
from monitor.types import EntryData
from monitor.watchlist import load_watchlist, load_watchlist_text

WATCH = "watch:\n  - id: w\n    name: W\n    match: {any: [Madrid, Belgique]}\n"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=1&url=https%3a%2f%2fwww."
            "dailymail.co.uk%2fsport%2farticle-1.html&c=44&mkt=it-it",
            "https://www.dailymail.co.uk/sport/article-1.html",
        ),
        (
            "https://bing.com/news/apiclick.aspx?url=http%3A%2F%2Fa.example%2Fx",
            "http://a.example/x",
        ),
        ("https://www.bing.com/news/apiclick.aspx?url=javascript%3Aalert(1)", None),
        ("https://www.bing.com/news/apiclick.aspx?ref=FexRss", None),
        ("https://www.bing.com/news/search?q=x&url=https%3A%2F%2Fa.example%2F", None),
        ("https://notbing.com/news/apiclick.aspx?url=https%3A%2F%2Fa.example%2F", None),
        ("https://example.com/article", None),
        ("http://[::1", None),
    ],
)
def test_bing_article_url(link: str, expected: str | None) -> None:
    assert bing_article_url(link) == expected


def _entry(title: str, link: str | None, source: str | None) -> EntryData:
    return EntryData(guid="g", link=link, title=title, summary="", source=source)


GN = "https://news.google.com/rss/articles/CBMi?oc=5"


@pytest.mark.parametrize(
    ("entry", "title", "link", "source"),
    [
        (_entry("Muse ships - Reuters", GN, "Reuters"), "Muse ships", GN, "Reuters"),
        (_entry("A - B - Le Monde", GN, "Le Monde"), "A - B", GN, "Le Monde"),
        (_entry("Muse ships - Reuters", GN, "AP"), "Muse ships - Reuters", GN, "AP"),
        (_entry("Muse ships - Reuters", GN, None), "Muse ships - Reuters", GN, None),
        (_entry(" - Reuters", GN, "Reuters"), " - Reuters", GN, "Reuters"),
        (  # only Google News titles are touched
            _entry("Muse ships - Reuters", "https://reuters.com/x", "Reuters"),
            "Muse ships - Reuters",
            "https://reuters.com/x",
            "Reuters",
        ),
        (
            _entry(
                "T", "https://www.bing.com/news/apiclick.aspx?url=https%3A%2F%2Fa.example%2F1", None
            ),
            "T",
            "https://a.example/1",
            None,
        ),
    ],
)
def test_tie_to_publisher(
    entry: EntryData, title: str, link: str | None, source: str | None
) -> None:
    out = tie_to_publisher(entry)
    assert (out.title, out.link, out.source) == (title, link, source)


def _prepare(path: Path, url: str) -> list[EntryData]:
    wl = load_watchlist_text("version: 1\n" + WATCH, Path("w.yaml"))
    now = datetime.now(UTC)
    _, entries = prepare_entries(
        path.read_bytes(), {}, url, wl.matcher, timedelta(days=7), now, "fallback"
    )
    return [e.data for e in entries]


def test_real_google_news_feed_titles_lose_the_publisher_suffix(shared_dir: Path) -> None:
    path = shared_dir / "feeds" / "news" / "google-news-be-fr-2020-rss.xml"
    entries = _prepare(path, "https://news.google.com/rss?hl=fr&gl=BE")
    first = entries[0]
    assert first.source == "RTBF"
    assert first.title.startswith("Coronavirus en Belgique") and not first.title.endswith("RTBF")
    assert sum(1 for e in entries if e.source and e.title.endswith(" - " + e.source)) == 0


def test_real_bing_news_feed_links_are_the_articles(shared_dir: Path) -> None:
    path = shared_dir / "feeds" / "news" / "bing-news-search-2021-rss.xml"
    entries = _prepare(path, "https://www.bing.com/news/search?q=madrid&format=rss")
    assert entries and all(e.link and "bing.com" not in e.link for e in entries)
    assert entries[0].link and entries[0].link.startswith("https://www.dailymail.co.uk/")


def test_real_bing_news_feed_names_the_publisher(shared_dir: Path) -> None:
    path = shared_dir / "feeds" / "news" / "bing-news-search-2021-rss.xml"
    entries = _prepare(path, "https://www.bing.com/news/search?q=madrid&format=rss")
    assert entries[0].source == "Daily Mail"


def _bing_item(title: str, article: str, source: str, description: str = "") -> str:
    click = (
        "http://www.bing.com/news/apiclick.aspx?ref=FexRss&amp;aid=&amp;tid=AB12&amp;url="
        + quote(article, safe="").lower()
        + "&amp;c=1234567890&amp;mkt=en-us"
    )
    return f"""
        <item>
            <title>{title}</title>
            <link>{click}</link>
            <description>{description}</description>
            <pubDate>Tue, 12 Mar 2024 15:04:00 GMT</pubDate>
            <News:Source>{source}</News:Source>
            <News:Image>http://www.bing.com/th?id=OVFT.abc&amp;pid=News</News:Image>
            <News:ImageSize>w={{0}}&amp;h={{1}}&amp;c=7</News:ImageSize>
            <News:ImageMaxWidth>700</News:ImageMaxWidth>
            <News:ImageMaxHeight>400</News:ImageMaxHeight>
        </item>"""


def _bing_feed(description_of_first: str) -> bytes:
    """A Bing News RSS search result as Bing serves it (News: namespace, click trackers)."""
    items = [
        _bing_item(
            "Muse Spark API opens to developers",
            "https://www.reuters.com/technology/muse-spark-api-2024-03-12/",
            "Reuters",
            description_of_first,
        ),
        _bing_item(
            "Muse Spark: what the API means",
            "https://www.theverge.com/2024/3/12/muse-spark",
            "The Verge",
            "Analysis of the launch.",
        ),
        _bing_item("Muse Spark pricing", "https://example.org/muse", "Le Monde", ""),
    ]
    return (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<rss xmlns:News="https://www.bing.com:443/news/search?q=%22Muse+Spark%22&amp;'
        'format=rss" version="2.0"><channel>'
        '<title>"Muse Spark" - BingNews</title>'
        "<link>https://www.bing.com:443/news/search?q=%22Muse+Spark%22&amp;format=rss</link>"
        "<description>Search results</description>"
        "<image><url>http://www.bing.com/rsslogo.gif</url><title>Muse Spark</title>"
        "<link>https://www.bing.com:443/news/search?q=Muse&amp;format=rss</link></image>"
        "<copyright>Copyright \u00a9 2024 Microsoft. All rights reserved.</copyright>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("path", "description"),
    [
        ("fast", "Developers can now call the model."),
        # A bare "&" makes the document not well-formed: feedparser's lenient parser reads it.
        ("fallback", "Developers & partners can now call the model."),
    ],
)
def test_bing_news_source_is_the_publisher_on_both_parser_paths(
    path: str, description: str
) -> None:
    body = _bing_feed(description)
    url = "https://www.bing.com/news/search?q=%22Muse+Spark%22&format=rss"
    parsed = parse_feed(body, {"content-type": "application/rss+xml; charset=utf-8"}, url)
    assert ("&" in parsed.entries[0].summary) == (path == "fallback")
    assert bool(parsed.warnings) == (path == "fallback")
    assert [e.source for e in parsed.entries] == ["Reuters", "The Verge", "Le Monde"]
    matcher = load_watchlist_text(
        "watch:\n  - id: w\n    name: W\n    match: {any: [Muse Spark]}\n", Path("inline.yaml")
    ).matcher
    now = datetime(2024, 3, 13, tzinfo=UTC)
    _, entries = prepare_entries(body, {}, url, matcher, timedelta(days=3), now, "bing")
    assert [(e.data.source, e.data.link) for e in entries] == [
        ("Reuters", "https://www.reuters.com/technology/muse-spark-api-2024-03-12/"),
        ("The Verge", "https://www.theverge.com/2024/3/12/muse-spark"),
        ("Le Monde", "https://example.org/muse"),
    ]
    assert all(e.matches for e in entries)


# --- watchlist keys --------------------------------------------------------------------------


def test_news_searches_expand_to_provider_urls(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "version: 1\nfeeds:\n"
        "  - id: gn\n    google_news: {query: '\"Muse Spark\" API', lang: en-US}\n"
        "  - id: gn-de\n    google_news: {query: Muse Spark, lang: de}\n"
        "  - id: bing\n    bing_news: {query: Muse Spark, market: de-DE}\n"
        "  - id: plain\n    url: https://example.com/feed\n" + WATCH
    )
    urls = {f.id: f.url for f in load_watchlist(path).config.feeds}
    assert urls == {
        "gn": "https://news.google.com/rss/search?q=%22Muse%20Spark%22%20API&hl=en-US&gl=US&ceid=US:en",
        "gn-de": "https://news.google.com/rss/search?q=Muse%20Spark&hl=de&gl=DE&ceid=DE:de",
        "bing": "https://www.bing.com/news/search?q=Muse%20Spark&format=rss&setmkt=de-DE",
        "plain": "https://example.com/feed",
    }


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ("google_news: {query: x, lang: english}", "3:5: feeds.0: invalid language tag 'english'"),
        (
            "google_news: {query: '  '}",
            "3:5: feeds.0: a Google News search needs a non-empty query",
        ),
        ("bing_news: {query: x, market: de}", "3:5: feeds.0: invalid Bing market 'de'"),
        ("bing_news: {market: de-DE}", "3:5: feeds.0: a news search needs query"),
        (
            "url: https://e.com/f\n    bing_news: {query: x}",
            "3:5: feeds.0: give one of url, google_news, bing_news (got url, bing_news)",
        ),
        ("interval: 5m", "3:5: feeds.0: a feed needs url, google_news or bing_news"),
    ],
)
def test_bad_news_searches_name_where_and_what(tmp_path: Path, feed: str, message: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(f"version: 1\nfeeds:\n  - id: f\n    {feed}\n" + WATCH)
    with pytest.raises(ConfigError) as info:
        load_watchlist(path)
    assert f"{path}:{message}" in str(info.value), str(info.value)
