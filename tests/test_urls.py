"""canonical_link: one table, each row a URL as a feed gives it and the form we store."""

from __future__ import annotations

import pytest

from monitor.urls import TRACKING_PARAMS, canonical_link

CASES: list[tuple[str | None, str | None]] = [
    # scheme and host case, default ports, empty path, fragment
    ("HTTP://Example.COM/Path", "http://example.com/Path"),
    ("https://EXAMPLE.com", "https://example.com/"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com/a#section-2", "https://example.com/a"),
    ("https://example.com/a?x=1#frag", "https://example.com/a?x=1"),
    ("https://example.com.", "https://example.com/"),
    ("  https://example.com/a  ", "https://example.com/a"),
    # tracking parameters removed
    ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
    ("https://example.com/a?UTM_Campaign=x&id=7", "https://example.com/a?id=7"),
    ("https://example.com/a?utm_whatever_new=1", "https://example.com/a"),
    ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
    ("https://example.com/a?gclid=x&dclid=y&gbraid=z&wbraid=w", "https://example.com/a"),
    ("https://example.com/a?msclkid=1&yclid=2&igshid=3", "https://example.com/a"),
    ("https://example.com/a?mc_cid=1&mc_eid=2", "https://example.com/a"),
    ("https://example.com/a?_hsenc=1&_hsmi=2&mkt_tok=3", "https://example.com/a"),
    ("https://example.com/a?ocid=rss&cmpid=x&icid=y", "https://example.com/a"),
    (
        "https://www.bbc.co.uk/news/x?at_medium=RSS&at_campaign=KARANGA",
        "https://www.bbc.co.uk/news/x",
    ),
    ("https://www.dw.com/en/x/a-1?maca=en-rss-en-world-4025-rdf", "https://www.dw.com/en/x/a-1"),
    ("https://site.fr/a?xtor=RSS-3208", "https://site.fr/a"),
    ("https://nytimes.com/x.html?emc=rss&partner=rss", "https://nytimes.com/x.html?partner=rss"),
    ("https://example.com/a?pk_campaign=x&mtm_source=y", "https://example.com/a"),
    ("https://example.com/a?at_custom1=x", "https://example.com/a"),
    # content-selecting parameters kept, sorted, byte-for-byte
    ("https://example.com/?p=123", "https://example.com/?p=123"),
    ("https://example.com/item?id=42&utm_source=hn", "https://example.com/item?id=42"),
    ("https://example.com/s?q=rates&page=2", "https://example.com/s?page=2&q=rates"),
    ("https://example.com/a?z=1&a=2&m=3", "https://example.com/a?a=2&m=3&z=1"),
    ("https://example.com/a?b=2&a=1&b=1", "https://example.com/a?a=1&b=2&b=1"),
    ("https://example.com/a?article=9&ref=home", "https://example.com/a?article=9&ref=home"),
    ("https://example.com/a?flag", "https://example.com/a?flag"),
    ("https://example.com/a?q=a%2Bb", "https://example.com/a?q=a%2Bb"),
    ("https://example.com/a?", "https://example.com/a"),
    ("https://example.com/a?&&id=1&", "https://example.com/a?id=1"),
    (
        "https://news.google.com/rss/articles/CBMi?oc=5",
        "https://news.google.com/rss/articles/CBMi?oc=5",
    ),
    # paths: escapes kept, unsafe characters escaped
    ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),
    ("https://example.com/caf\u00e9 bar", "https://example.com/caf%C3%A9%20bar"),
    ("https://example.com/a/../b", "https://example.com/a/../b"),
    # hosts: IP literals, user-info
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
    ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
    ("https://user:pw@Example.com/", "https://user:pw@example.com/"),
    # not http(s), relative, garbage → None
    (None, None),
    ("", None),
    ("   ", None),
    ("ftp://example.com/file", None),
    ("mailto:someone@example.com", None),
    ("javascript:alert(1)", None),
    ("tag:example.com,2024:entry-1", None),
    ("//example.com/a", None),
    ("/relative/path", None),
    ("https://", None),
    ("https:///path-only", None),
    ("https://exa mple.com/", None),
    ("https://example.com:99999/", None),
    ("https://example.com:port/", None),
    ("https://example.com/a\nb", None),
    ("https://example.com/\x00", None),
    ("https://[::1/", None),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_link(url: str | None, expected: str | None) -> None:
    assert canonical_link(url) == expected


@pytest.mark.parametrize(("url", "expected"), [c for c in CASES if c[1] is not None])
def test_canonical_link_is_idempotent(url: str, expected: str) -> None:
    assert canonical_link(expected) == expected


def test_content_parameters_are_not_on_the_tracking_list() -> None:
    for name in ("id", "p", "q", "article", "page", "s", "v", "ref", "partner", "url"):
        assert name not in TRACKING_PARAMS
