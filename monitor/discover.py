"""Feed discovery in a web page, pure: ``<link rel="alternate" type="...feed type...">``.

Owns :func:`feed_links` (the feed URLs a page advertises, resolved against the page's URL
and any ``<base href>``, in document order, without duplicates) and :func:`suggest_id`
(a watchlist id from a URL). The fetching is ``monitor.feeds_add`` (``monitor feeds add``, the feeds page).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

__all__ = ["FEED_TYPES", "feed_links", "suggest_id"]

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
        "application/xml",
        "text/xml",
    }
)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.found: list[tuple[str, str]] = []  # (href, title)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and self.base is None and a.get("href"):
            self.base = a["href"].strip()
        if tag != "link":
            return
        rels = a.get("rel", "").lower().split()
        kind = a.get("type", "").split(";")[0].strip().lower()
        if "alternate" in rels and kind in FEED_TYPES and a.get("href", "").strip():
            self.found.append((a["href"].strip(), a.get("title", "").strip()))


def feed_links(html: str, page_url: str) -> list[tuple[str, str]]:
    """(absolute http(s) URL, title) of every feed the page advertises, first ones first."""
    parser = _Links()
    parser.feed(html[:2_000_000])  # the <head> is at the start; a huge page is cut
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out: dict[str, str] = {}
    for href, title in parser.found:
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https") and url not in out:
            out[url] = title
    return list(out.items())


def suggest_id(url: str) -> str:
    """A readable watchlist id from a feed URL: host without ``www.``, then the path."""
    parts = urlsplit(url)
    host = (parts.hostname or "feed").removeprefix("www.")
    path = re.sub(r"\.(xml|rss|atom|json)$", "", parts.path.strip("/"))
    path = re.sub(r"(^|/)(feed|rss|atom|index)$", "", path)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{host} {path}".lower()).strip("-")
    return slug[:60].strip("-") or "feed"
