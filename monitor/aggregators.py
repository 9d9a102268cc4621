"""Entries from news aggregators tied back to their publisher. Pure.

Owns :func:`tie_to_publisher`, applied to every parsed entry:

- Bing News links are click trackers (``bing.com/news/apiclick.aspx?...&url=<article>``):
  the article's own URL is in the ``url`` parameter, so it replaces the link, and the
  entry clusters (same canonical link) with the publisher's own feed.
- Google News links are opaque redirects, but each item names its publisher in
  ``<source url="...">Publisher</source>`` and ends its title with `` - Publisher``: the
  suffix is stripped from the title (it would otherwise match watch terms and defeat
  de-duplication by title), and the publisher is the entry's ``source``.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from monitor.types import EntryData

__all__ = ["bing_article_url", "tie_to_publisher"]


def bing_article_url(link: str) -> str | None:
    """The article URL inside a Bing News click-tracking link, or None."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not (host == "bing.com" or host.endswith(".bing.com")):
        return None
    if not parts.path.lower().startswith("/news/apiclick"):
        return None
    target = parse_qs(parts.query).get("url", [""])[0].strip()
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        return None
    return target


def _is_google_news(link: str | None) -> bool:
    if not link:
        return False
    try:
        host = (urlsplit(link).hostname or "").lower()
    except ValueError:
        return False
    return host == "news.google.com"


def tie_to_publisher(entry: EntryData) -> EntryData:
    """``entry`` with a Bing tracker link decoded and a Google News title suffix stripped."""
    if entry.link:
        article = bing_article_url(entry.link)
        if article:
            return replace(entry, link=article)
    if _is_google_news(entry.link) and entry.source:
        suffix = f" - {entry.source}"
        if entry.title.endswith(suffix) and len(entry.title) > len(suffix):
            return replace(entry, title=entry.title[: -len(suffix)].rstrip())
    return entry
