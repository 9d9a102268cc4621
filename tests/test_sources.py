"""The feed URL builders of ``monitor/sources.py``, and the search URLs of the shipped
watchlist checked against them.

No URL is fetched here (the tests run without network); they check that every URL is
well-formed and says what its comment says, so a hand-edited query cannot drift into a
broken or ambiguous URL.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.sources import bing_news_rss, edgar_filings_atom, google_news_rss
from monitor.watchlist import load_watchlist

WATCHLIST = Path(__file__).resolve().parent.parent / "watchlist.yaml"
GN = "https://news.google.com/rss/search?q="

# --- Google News ---------------------------------------------------------------------------

GOOGLE_CASES = [
    # (query, lang, country, expected URL)
    ("Muse Spark", "en-US", None, GN + "Muse%20Spark&hl=en-US&gl=US&ceid=US:en"),
    ('"Muse Spark"', "en-US", None, GN + "%22Muse%20Spark%22&hl=en-US&gl=US&ceid=US:en"),
    (
        '"Muse Spark" when:7d',
        "en-US",
        None,
        GN + "%22Muse%20Spark%22%20when:7d&hl=en-US&gl=US&ceid=US:en",
    ),
    ("site:ai.meta.com", "en-US", None, GN + "site:ai.meta.com&hl=en-US&gl=US&ceid=US:en"),
    (
        "Meta (Hyperion OR Prometheus)",
        "en-US",
        None,
        GN + "Meta%20%28Hyperion%20OR%20Prometheus%29&hl=en-US&gl=US&ceid=US:en",
    ),
    ("Muse -Bellamy", "en-US", None, GN + "Muse%20-Bellamy&hl=en-US&gl=US&ceid=US:en"),
    (
        "AT&T + Meta #AI",
        "en-US",
        None,
        GN + "AT%26T%20%2B%20Meta%20%23AI&hl=en-US&gl=US&ceid=US:en",
    ),
    ("a/b?c=d", "en-US", None, GN + "a%2Fb%3Fc%3Dd&hl=en-US&gl=US&ceid=US:en"),
    ("Muse Spark", "en-GB", None, GN + "Muse%20Spark&hl=en-GB&gl=GB&ceid=GB:en"),
    ("Muse Spark", "en-US", "IN", GN + "Muse%20Spark&hl=en-US&gl=IN&ceid=IN:en"),
    ("Meta Rechenzentrum", "de", None, GN + "Meta%20Rechenzentrum&hl=de&gl=DE&ceid=DE:de"),
    ("Muse Spark Brille", "de", "AT", GN + "Muse%20Spark%20Brille&hl=de&gl=AT&ceid=AT:de"),
    (
        '"centre de données"',
        "fr",
        None,
        GN + "%22centre%20de%20donn%C3%A9es%22&hl=fr&gl=FR&ceid=FR:fr",
    ),
    ("inversión", "es", None, GN + "inversi%C3%B3n&hl=es&gl=ES&ceid=ES:es"),
    ("inversión", "es-419", "MX", GN + "inversi%C3%B3n&hl=es-419&gl=MX&ceid=MX:es-419"),
    ("óculos", "pt-BR", None, GN + "%C3%B3culos&hl=pt-BR&gl=BR&ceid=BR:pt-419"),
    ("óculos", "pt-PT", None, GN + "%C3%B3culos&hl=pt-PT&gl=PT&ceid=PT:pt-150"),
    ("ミューズ", "ja", None, GN + "%E3%83%9F%E3%83%A5%E3%83%BC%E3%82%BA&hl=ja&gl=JP&ceid=JP:ja"),
    ("Meta", "zh-TW", None, GN + "Meta&hl=zh-TW&gl=TW&ceid=TW:zh-Hant"),
    ("Größe", "de", None, GN + "Gr%C3%B6%C3%9Fe&hl=de&gl=DE&ceid=DE:de"),
]


@pytest.mark.parametrize(("query", "lang", "country", "expected"), GOOGLE_CASES)
def test_google_news_rss(query: str, lang: str, country: str | None, expected: str) -> None:
    assert google_news_rss(query, lang, country) == expected


def test_google_news_rss_defaults_to_the_us_english_edition() -> None:
    assert google_news_rss("Meta") == GN + "Meta&hl=en-US&gl=US&ceid=US:en"


@pytest.mark.parametrize(
    ("query", "lang", "country", "message"),
    [
        ("", "en-US", None, "non-empty query"),
        ("   ", "en-US", None, "non-empty query"),
        ("Meta", "english", None, "invalid language tag"),
        ("Meta", "EN-us", None, "invalid language tag"),
        ("Meta", "es-419", None, "pass country="),
        ("Meta", "sv", None, "pass country="),
        ("Meta", "en-US", "usa", "invalid country"),
        ("Meta", "en-US", "us", "invalid country"),
    ],
)
def test_google_news_rss_rejects(query: str, lang: str, country: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        google_news_rss(query, lang, country)


# --- Bing News -----------------------------------------------------------------------------

BING = "https://www.bing.com/news/search?q="
BING_CASES = [
    ("Muse Spark", None, BING + "Muse%20Spark&format=rss"),
    ('"Muse Spark" API', None, BING + "%22Muse%20Spark%22%20API&format=rss"),
    ('"Muse Spark"', "de-DE", BING + "%22Muse%20Spark%22&format=rss&setmkt=de-DE"),
    ("óculos Meta", "pt-BR", BING + "%C3%B3culos%20Meta&format=rss&setmkt=pt-BR"),
    ("lunettes & IA", "fr-FR", BING + "lunettes%20%26%20IA&format=rss&setmkt=fr-FR"),
    ("Meta Hyperion", "en-US", BING + "Meta%20Hyperion&format=rss&setmkt=en-US"),
]


@pytest.mark.parametrize(("query", "market", "expected"), BING_CASES)
def test_bing_news_rss(query: str, market: str | None, expected: str) -> None:
    assert bing_news_rss(query, market) == expected


@pytest.mark.parametrize(
    ("query", "market"), [("", None), ("Meta", "de"), ("Meta", "DE-de"), ("Meta", "de_DE")]
)
def test_bing_news_rss_rejects(query: str, market: str | None) -> None:
    with pytest.raises(ValueError):
        bing_news_rss(query, market)


# --- SEC EDGAR -----------------------------------------------------------------------------

EDGAR = "https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK="
EDGAR_CASES = [
    (
        "0001326801",
        "8-K",
        40,
        EDGAR + "0001326801&type=8-K&dateb=&owner=include&count=40&output=atom",
    ),
    ("1326801", "8-K", 40, EDGAR + "0001326801&type=8-K&dateb=&owner=include&count=40&output=atom"),
    (
        "1326801",
        "10-Q",
        40,
        EDGAR + "0001326801&type=10-Q&dateb=&owner=include&count=40&output=atom",
    ),
    (
        "1326801",
        "10-K",
        100,
        EDGAR + "0001326801&type=10-K&dateb=&owner=include&count=100&output=atom",
    ),
    (
        "320193",
        "DEF 14A",
        10,
        EDGAR + "0000320193&type=DEF%2014A&dateb=&owner=include&count=10&output=atom",
    ),
    (
        "1326801",
        "SC 13G/A",
        20,
        EDGAR + "0001326801&type=SC%2013G%2FA&dateb=&owner=include&count=20&output=atom",
    ),
]


@pytest.mark.parametrize(("cik", "form", "count", "expected"), EDGAR_CASES)
def test_edgar_filings_atom(cik: str, form: str, count: int, expected: str) -> None:
    assert edgar_filings_atom(cik, form, count) == expected


def test_edgar_default_count_is_forty() -> None:
    assert edgar_filings_atom("1326801", "8-K").endswith("&count=40&output=atom")


@pytest.mark.parametrize(
    ("cik", "form", "count"),
    [
        ("META", "8-K", 40),
        ("", "8-K", 40),
        ("00001326801", "8-K", 40),
        ("1326801", "8-k", 40),
        ("1326801", "", 40),
        ("1326801", "8-K", 50),
    ],
)
def test_edgar_filings_atom_rejects(cik: str, form: str, count: int) -> None:
    with pytest.raises(ValueError):
        edgar_filings_atom(cik, form, count)


# --- round trip: decoding a built URL gives back its parameters ------------------------------

ROUND_TRIP_QUERIES = [
    '"Muse Spark" (glasses OR "Ray-Ban Meta") when:7d',
    "Größe & Gewicht",
    "a+b c%20d",
    "ＭＥＴＡ 日本",
]


@pytest.mark.parametrize("query", ROUND_TRIP_QUERIES)
def test_builders_round_trip_the_query(query: str) -> None:
    g = parse_qs(urlsplit(google_news_rss(query, "pt-BR")).query)
    assert g == {"q": [query], "hl": ["pt-BR"], "gl": ["BR"], "ceid": ["BR:pt-419"]}
    b = parse_qs(urlsplit(bing_news_rss(query, "de-DE")).query)
    assert b == {"q": [query], "format": ["rss"], "setmkt": ["de-DE"]}


# --- the shipped watchlist ------------------------------------------------------------------


def _shipped_urls() -> list[tuple[str, str]]:
    return [(f.id, f.url) for f in load_watchlist(WATCHLIST).config.feeds]


def _rebuild(url: str) -> str | None:
    """What the matching builder makes of ``url``'s decoded parameters (None: not a search)."""
    parts = urlsplit(url)
    params = parse_qs(parts.query, keep_blank_values=True)
    one = {k: v[0] for k, v in params.items() if len(v) == 1}
    if any(len(v) != 1 for v in params.values()):
        return "duplicate parameter"
    if parts.netloc == "news.google.com":
        return google_news_rss(one["q"], one["hl"], one["gl"])
    if parts.netloc == "www.bing.com":
        return bing_news_rss(one["q"], one.get("setmkt"))
    if parts.netloc == "www.sec.gov":
        return edgar_filings_atom(one["CIK"], one["type"], int(one["count"]))
    return None


BUILT_HOSTS = ("news.google.com", "www.bing.com", "www.sec.gov")


@pytest.mark.parametrize(
    ("feed_id", "url"), [(i, u) for i, u in _shipped_urls() if urlsplit(u).netloc in BUILT_HOSTS]
)
def test_shipped_search_url_is_what_the_builder_makes(feed_id: str, url: str) -> None:
    assert _rebuild(url) == url, f"{feed_id}: rebuild it with monitor.sources"


def test_shipped_watchlist_has_searches_of_each_kind() -> None:
    hosts = [urlsplit(u).netloc for _, u in _shipped_urls()]
    assert hosts.count("news.google.com") >= 20
    assert hosts.count("www.bing.com") >= 5
    assert hosts.count("www.sec.gov") == 3


def test_shipped_search_comments_match_their_urls() -> None:
    """Each search feed is preceded by a ``# q: <query>`` comment saying what it asks."""
    lines = WATCHLIST.read_text(encoding="utf-8").splitlines()
    checked = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("url: https://news.google.com/") and not stripped.startswith(
            "url: https://www.bing.com/"
        ):
            continue
        above = [lines[j].strip() for j in range(i - 1, max(i - 4, -1), -1)]
        comment = next((c for c in above if c.startswith("# q:")), None)
        assert comment is not None, (
            f"line {i + 1}: search URL without a '# q: <query>' comment above it"
        )
        said = comment[len("# q:") :].split("  (")[0].strip()
        query = parse_qs(urlsplit(stripped[len("url: ") :]).query)["q"][0]
        assert said == query, f"line {i + 1}: comment says {said!r}, URL asks {query!r}"
        checked += 1
    assert checked >= 25
