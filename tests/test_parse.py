"""parse_feed over the shared corpus (news, tricky, hostile) and over small hand-made feeds."""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.types import EntryData, ParsedFeed

TAG_RE = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")
PASSWD_MARKERS = ("root:x:0:0", "daemon:x:1:1", "/usr/sbin/nologin")
XML_HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def _names(folder: str) -> list[str]:
    """File names for parametrize (collection time, before fixtures): same search order as
    the ``shared_dir`` fixture; an empty list makes pytest skip the test."""
    repo = Path(__file__).resolve().parent.parent
    for base in (os.environ.get("CATALYST_SHARED"), repo.parent / "shared", "/work/shared"):
        if base and (Path(base) / "feeds" / folder).is_dir():
            return sorted(p.name for p in (Path(base) / "feeds" / folder).iterdir() if p.is_file())
    return []


def _read(shared_dir: Path, folder: str, name: str) -> bytes:
    return (shared_dir / "feeds" / folder / name).read_bytes()


def _check_entry(e: EntryData) -> None:
    assert e.guid and e.guid == e.guid.strip()
    assert not TAG_RE.search(e.title), e.title
    assert "\n" not in e.title
    assert len(e.summary) <= 20000
    if e.link is not None:
        assert e.link.startswith(("http://", "https://")), e.link
    for dt in (e.published, e.updated):
        if dt is not None:
            assert dt.tzinfo is not None and dt.utcoffset() == timedelta(0)
            assert datetime(1995, 1, 1, tzinfo=UTC) <= dt <= datetime.now(UTC) + timedelta(days=1)


def _manifest_counts(shared_dir: Path) -> dict[str, tuple[int, bool]]:
    """news/ file name → (entries feedparser found, whether it flagged the file bozo)."""
    text = (shared_dir / "feeds" / "MANIFEST.md").read_text(encoding="utf-8")
    section = text.split("## news/", 1)[1].split("\n## ", 1)[0]
    row = re.compile(r"^\| `([^`]+)` \| [^|]+ \| [^|]+ \| (\d+)†? \| (\w+)", re.MULTILINE)
    return {m.group(1): (int(m.group(2)), m.group(3) == "yes") for m in row.finditer(section)}


# --- news: every file parses, with the entry count the corpus manifest records -----------


@pytest.mark.parametrize("name", _names("news"))
def test_news_feed_parses(shared_dir: Path, name: str) -> None:
    feed = parse_feed(_read(shared_dir, "news", name), XML_HEADERS, f"https://example.com/{name}")
    assert isinstance(feed, ParsedFeed)
    counts = _manifest_counts(shared_dir)
    assert name in counts, f"{name} missing from MANIFEST.md"
    expected, bozo = counts[name]
    if bozo:  # feedparser's JSON branch gave up on humanwhocodes (0 entries); we do better
        assert len(feed.entries) >= expected
    else:
        assert len(feed.entries) == expected
    family = {"atom": "atom", "rss": "rss", "rdf": "rss", "json": "json"}[
        name.rsplit("-", 1)[1].split(".")[0]
    ]
    assert feed.format.startswith(family)
    assert feed.entries
    for e in feed.entries:
        _check_entry(e)


# --- tricky: parse or ParseError, never anything else -------------------------------------


@pytest.mark.parametrize("name", _names("tricky"))
def test_tricky_feed_parses_or_raises_parse_error(shared_dir: Path, name: str) -> None:
    body = _read(shared_dir, "tricky", name)
    if name.endswith(".gz"):
        # A gzip body reaching the parser means Content-Encoding was missing; refused.
        with pytest.raises(ParseError, match="gzip"):
            parse_feed(body, {}, "https://example.com/feed")
        body = gzip.decompress(body)
    try:
        feed = parse_feed(body, {}, "https://example.com/feed")
    except ParseError as exc:
        assert str(exc).startswith("parse https://example.com/feed: ")
        return
    for e in feed.entries:
        _check_entry(e)


@pytest.mark.parametrize(
    "name",
    [
        "notafeed-html.html",
        "unrecognized-root.xml",
        "scriptingnews-rss-in-json-2017.json",
        "feedparser-illformed-rss_empty_document.xml",
    ],
)
def test_not_feeds_are_parse_errors(shared_dir: Path, name: str) -> None:
    with pytest.raises(ParseError, match="not a"):
        parse_feed(_read(shared_dir, "tricky", name), {}, "https://example.com/feed")


def test_gunzipped_feed_parses(shared_dir: Path) -> None:
    body = gzip.decompress(_read(shared_dir, "tricky", "gzip-compressed-feed.xml.gz"))
    assert parse_feed(body, {}, "https://example.com/feed").entries


def test_bozo_feed_is_kept_with_a_warning(shared_dir: Path) -> None:
    feed = parse_feed(_read(shared_dir, "news", "pypy-blog-2024-rss.xml"), {}, "https://x/")
    assert len(feed.entries) == 10
    assert any("SAXParseException" in w for w in feed.warnings)


def test_encoding_override_is_a_warning(shared_dir: Path) -> None:
    name = "fastfeedparser-utf16-declared-but-utf8.xml"
    feed = parse_feed(_read(shared_dir, "tricky", name), {}, "https://x/")
    assert feed.entries
    assert any("CharacterEncodingOverride" in w for w in feed.warnings)


def test_windows_1251_text_is_decoded(shared_dir: Path) -> None:
    feed = parse_feed(_read(shared_dir, "tricky", "ibash-windows1251-2018.xml"), {}, "https://x/")
    assert re.search("[А-Яа-я]{4}", feed.entries[0].summary)


def test_safe_internal_entity_is_expanded(shared_dir: Path) -> None:
    feed = parse_feed(_read(shared_dir, "tricky", "feedparser-rss-entity_in_doctype.xml"), {}, "u")
    assert feed.entries[0].guid == "tag:example.com,2006-05-04:/blog/"


# --- links, guids, text --------------------------------------------------------------------


def test_atom_relative_links_resolved(shared_dir: Path) -> None:
    body = _read(shared_dir, "tricky", "atom-relative-urls.xml")
    feed = parse_feed(body, {}, "https://example.com/blog/feed.xml")
    assert feed.link == "https://example.com/blog/"
    assert feed.entries[0].link == "https://example.com/blog/2003/12/13/atom03"


def test_rss_relative_link_resolved_against_feed_url(shared_dir: Path) -> None:
    body = _read(shared_dir, "tricky", "relative-html-urls-no-base.xml")
    feed = parse_feed(body, {}, "https://example.com/feed/")
    assert feed.entries[0].link == "https://example.com/feed/posts/post-1"
    assert feed.entries[0].guid == "https://example.com/feed/posts/post-1"  # no guid: link


def test_guid_falls_back_to_hash_of_title_and_date(shared_dir: Path) -> None:
    body = _read(shared_dir, "tricky", "dival-rss091-missing-guid-and-date.xml")
    a = parse_feed(body, {}, "http://www.dival.es/rss").entries[0]
    b = parse_feed(body, {}, "http://www.dival.es/rss").entries[0]
    assert a.link is None and a.guid.startswith("sha1:") and a.guid == b.guid
    other = parse_feed(body.replace(b"Oferta", b"Otra"), {}, "http://x/").entries[0]
    assert other.guid != a.guid


def test_source_and_summary_of_aggregator_entry(shared_dir: Path) -> None:
    body = _read(shared_dir, "news", "google-news-be-fr-2020-rss.xml")
    entry = parse_feed(body, {}, "https://news.google.com/rss").entries[0]
    assert entry.source == "RTBF"
    assert entry.summary and not TAG_RE.search(entry.summary)


def test_script_in_content_never_reaches_text(shared_dir: Path) -> None:
    body = _read(shared_dir, "hostile", "feedparser-sanitize-entry_content_crazy.xml")
    entry = parse_feed(body, {}, "https://x/").entries[0]
    assert "alert" not in entry.summary and "executeMe" not in entry.summary
    assert "Did The Javascript Execute?" in entry.summary


def _rss(items: str, extra_ns: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {extra_ns}><channel>'
        f"<title>T</title><link>https://example.com/</link>{items}</channel></rss>"
    ).encode()


def test_title_html_is_plain_text_and_summary_deduplicated() -> None:
    body = _rss(
        "<item><guid>g1</guid><title>&lt;b&gt;Fed&lt;/b&gt; raises &amp;amp; rates</title>"
        "<description>&lt;p&gt;Same text.&lt;/p&gt;</description>"
        "<content:encoded><![CDATA[<p>Same text.</p>]]></content:encoded>"
        "<category>Markets</category><category>markets</category><category>Fed</category>"
        "</item>",
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    )
    entry = parse_feed(body, XML_HEADERS, "https://example.com/rss").entries[0]
    assert entry.title == "Fed raises & rates"
    assert entry.summary == "Same text."
    assert entry.categories == ("Markets", "Fed")


def test_truncated_summary_dropped_when_content_continues_it() -> None:
    body = _rss(
        "<item><guid>g</guid><title>t</title><description>Alpha beta […]</description>"
        "<content:encoded><![CDATA[<p>Alpha beta gamma delta.</p>]]></content:encoded></item>",
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    )
    assert parse_feed(body, {}, "https://x/").entries[0].summary == "Alpha beta gamma delta."


# --- dates ----------------------------------------------------------------------------------


def _rfc822(dt: datetime) -> str:
    return dt.strftime("%a, %d %b %Y %H:%M:%S +0000")


@pytest.mark.parametrize(
    ("pubdate", "expected"),
    [
        ("Tue, 10 Jun 2003 04:00:00 GMT", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("Tue, 10 Jun 2003 06:00:00 +0200", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("Mon, 09 Jun 2003 23:00:00 -0500", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("2003-06-10T04:00:00Z", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("Sun, 01 Jan 1990 00:00:00 GMT", None),  # before 1995: absurd
        (_rfc822(datetime.now(UTC) + timedelta(days=3)), None),  # in the future
        ("not a date", None),
        ("", None),
    ],
)
def test_published_is_utc_or_none(pubdate: str, expected: datetime | None) -> None:
    body = _rss(f"<item><guid>g</guid><title>t</title><pubDate>{pubdate}</pubDate></item>")
    entry = parse_feed(body, {}, "https://x/").entries[0]
    assert entry.published == expected
    if entry.published is not None:
        assert entry.published.utcoffset() == timedelta(0)


def test_slightly_future_date_within_a_day_is_kept() -> None:
    soon = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body = _rss(f"<item><guid>g</guid><title>t</title><pubDate>{_rfc822(soon)}</pubDate></item>")
    assert parse_feed(body, {}, "https://x/").entries[0].published == soon


def test_atom_entry_with_only_updated_uses_it_as_published(shared_dir: Path) -> None:
    body = _read(shared_dir, "tricky", "atom-relative-urls.xml")
    entry = parse_feed(body, {}, "https://example.com/").entries[0]
    assert entry.updated == datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC)
    assert entry.published == entry.updated  # the best date the feed gives
    # The derived GUID does not depend on <updated>, so an edit never makes a new entry.
    edited = body.replace(b"2003-12-13T18:30:02Z", b"2004-01-01T00:00:00Z")
    assert parse_feed(edited, {}, "https://example.com/").entries[0].guid == entry.guid


# --- max_entries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["giantbomb-podcast-2019-rss.xml", "daringfireball-2017-json.json"]
)
def test_max_entries_keeps_the_first_entries(shared_dir: Path, name: str) -> None:
    body = _read(shared_dir, "news", name)
    full = parse_feed(body, {}, "https://x/")
    capped = parse_feed(body, {}, "https://x/", max_entries=5)
    assert len(full.entries) > 5
    assert capped.entries == full.entries[:5]
    assert parse_feed(body, {}, "https://x/", max_entries=0).entries == ()


# --- JSON Feed -------------------------------------------------------------------------------


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_json_feed_11_fields() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Wire &amp; Co",
        "home_page_url": "https://example.org/",
        "items": [
            {
                "id": "a-1",
                "url": "/posts/1",
                "title": "Merger <em>approved</em>",
                "summary": "Short.",
                "content_html": "<p>Long <b>story</b>.</p><script>x()</script>",
                "tags": ["M&A", "deals", "M&A"],
                "date_published": "2024-03-01T10:00:00+02:00",
                "date_modified": "2024-03-02T00:00:00Z",
                "authors": [{"name": "Ann"}, {"name": "Bob"}],
            },
            {"id": 7, "external_url": "https://other.example/x", "content_text": "plain"},
            {"title": "no id, no url"},
            "not an object",
        ],
    }
    feed = parse_feed(
        _json(doc), {"content-type": "application/feed+json"}, "https://example.org/feed.json"
    )
    assert (feed.format, feed.title, feed.link) == ("json11", "Wire & Co", "https://example.org/")
    a, b, c = feed.entries
    assert a.guid == "a-1" and a.link == "https://example.org/posts/1"
    assert a.title == "Merger approved"
    assert a.summary == "Short.\n\nLong story."
    assert a.categories == ("M&A", "deals")
    assert a.published == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert a.updated == datetime(2024, 3, 2, tzinfo=UTC)
    assert a.author == "Ann"
    assert (b.guid, b.link, b.summary) == ("7", "https://other.example/x", "plain")
    assert c.guid.startswith("sha1:") and c.link is None


def test_json_feed_10_author_and_bom() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "items": [{"id": "x", "title": "t", "author": {"name": "Me"}, "content_text": "c"}],
    }
    feed = parse_feed(b"\xef\xbb\xbf \n" + _json(doc), {}, "https://example.org/f.json")
    assert feed.format == "json1" and feed.entries[0].author == "Me"


def test_json_feed_rfc822_dates(shared_dir: Path) -> None:
    body = _read(shared_dir, "tricky", "influxdata-jsonfeed-rfc822-dates-2018.json")
    feed = parse_feed(body, {}, "https://www.influxdata.com/blog/feed/json")
    assert feed.title == "Blog – InfluxData"
    assert feed.entries[1].published == datetime(2018, 2, 6, 13, 34, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"version": "https://jsonfeed.org/version/1", "items": [', "malformed JSON"),
        (b"{not json}", "malformed JSON"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "no 'items'"),
        (b'{"items": []}', "not a JSON Feed"),
        (b"[1, 2, 3]", "not a JSON Feed"),
        (b"\xff\xfe{garbage", "malformed JSON"),
        (b"{" * 100_000, "malformed JSON"),  # recursion depth, not a crash
    ],
)
def test_bad_json_is_parse_error(body: bytes, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_feed(body, {"Content-Type": "application/json"}, "https://x/f.json")


def test_empty_and_non_feed_bodies_are_parse_errors() -> None:
    for body in (b"", b"   \n", b"just some text", b"<html><body>hi</body></html>"):
        with pytest.raises(ParseError):
            parse_feed(body, {"content-type": "text/html"}, "https://x/")


# --- hostile -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[concurrent.futures.Executor]:
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


def _parse_in_pool(pool: concurrent.futures.Executor, body: bytes, timeout: float = 20) -> object:
    """Run parse_feed in another process (it must be picklable), bounded by ``timeout``."""
    future = pool.submit(parse_feed, body, {}, "https://example.com/feed")
    try:
        return future.result(timeout=timeout)
    except ParseError as exc:
        return exc


@pytest.mark.parametrize("name", _names("hostile"))
def test_hostile_file_is_harmless(
    shared_dir: Path, pool: concurrent.futures.Executor, name: str
) -> None:
    result = _parse_in_pool(pool, _read(shared_dir, "hostile", name))
    assert isinstance(result, ParsedFeed | ParseError)
    text = repr(result)
    for marker in PASSWD_MARKERS:
        assert marker not in text
    assert len(text) < 100_000  # no entity expansion made it through


def _xxe_feed(doctype: str, title: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n{doctype}\n<rss version="2.0"><channel><title>{title}</title>'
        "<item><guid>g</guid><title>t</title></item></channel></rss>"
    ).encode()


def test_feed_shaped_xxe_reads_no_file(pool: concurrent.futures.Executor) -> None:
    body = _xxe_feed('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "x&xxe;y")
    result = _parse_in_pool(pool, body)
    assert isinstance(result, ParsedFeed)
    assert not any(m in repr(result) for m in PASSWD_MARKERS)
    assert any("dropped DTD entity declaration 'xxe'" in w for w in result.warnings)


def test_external_dtd_and_entities_are_never_fetched(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/evil.dtd").respond_with_data('<!ENTITY leak "LEAKED">')
    httpserver.expect_request("/ext").respond_with_data("LEAKED")
    dtd, ext = httpserver.url_for("/evil.dtd"), httpserver.url_for("/ext")
    for doctype, title in [
        (f'<!DOCTYPE rss SYSTEM "{dtd}">', "a&leak;b"),
        (f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd}"> %p;]>', "a&leak;b"),
        (f'<!DOCTYPE rss [<!ENTITY ext SYSTEM "{ext}">]>', "a&ext;b"),
    ]:
        try:
            feed = parse_feed(_xxe_feed(doctype, title), {}, "https://example.com/feed")
            assert "LEAKED" not in repr(feed)
        except ParseError:
            pass
    assert httpserver.log == []


def test_quadratic_blowup_hidden_behind_a_comment_is_refused(
    pool: concurrent.futures.Executor,
) -> None:
    # feedparser's regex DOCTYPE stripper stops at the first "<a", even inside a comment,
    # so it hands this entity to expat; only expat >= 2.4's amplification limit stops it.
    doctype = '<!-- <a -->\n<!DOCTYPE rss [\n<!ENTITY a "' + "B" * 100_000 + '">\n]>'
    result = _parse_in_pool(pool, _xxe_feed(doctype, "&a;" * 1000))
    assert isinstance(result, ParseError) and "expand" in str(result)


def test_long_entity_referenced_once_is_dropped_not_expanded() -> None:
    doctype = '<!DOCTYPE rss [\n<!ENTITY a "' + "B" * 5000 + '">\n<!ENTITY ok "fine">\n]>'
    feed = parse_feed(_xxe_feed(doctype, "x&a;&ok;"), {}, "https://x/")
    assert "dropped DTD entity declaration 'a'" in feed.warnings
    assert "BBBB" not in repr(feed)


def test_many_references_to_a_short_entity_exceed_the_budget() -> None:
    doctype = '<!DOCTYPE rss [<!ENTITY a "' + "B" * 1000 + '">]>'
    with pytest.raises(ParseError, match="expand"):
        parse_feed(_xxe_feed(doctype, "&a;" * 2000), {}, "https://x/")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_entities_cannot_hide_in_other_encodings(encoding: str) -> None:
    doctype = '<!DOCTYPE rss [<!ENTITY a "' + "B" * 5000 + '">]>'
    body = (
        _xxe_feed(doctype, "&a;" * 500)
        .decode()
        .replace('"1.0"?>', f'"1.0" encoding="{encoding}"?>')
    )
    try:
        feed = parse_feed(body.encode(encoding), {}, "https://x/")
    except ParseError:
        return
    assert "B" * 5001 not in repr(feed)


def test_body_that_looks_like_a_file_name_is_not_opened(tmp_path: Path) -> None:
    # feedparser.parse(bytes) treats its argument as a file name when one exists there.
    secret = tmp_path / "feed.xml"
    secret.write_bytes(_rss("<item><guid>secret-file</guid><title>t</title></item>"))
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(str(secret).encode(), {}, "https://x/")
