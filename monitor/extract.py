"""Main text of an article page, for feeds with ``fetch_full_text``. Pure (CPU only).

Owns :func:`article_text`: HTML bytes + response headers -> the page's main text, with
trafilatura (boilerplate, navigation and comments removed). Runs in the parse worker
(process pool) or a thread, never on the event loop: one extraction is 10-100 ms of CPU.

trafilatura is the optional extra ``fulltext`` (``pip install 'catalyst-monitor[fulltext]'``):
it is imported on first use, so a process that never extracts does not pay its ~0.6 s
import and ~29 MB. :func:`available` tells without importing it.

Does not own: fetching the page or deciding which entries need it (``monitor.fulltext``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from monitor.errors import ParseError
from monitor.text import clean_text

__all__ = ["HTML_TYPES", "MAX_TEXT", "ExtractError", "article_text", "available", "is_html"]

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_TEXT = 20_000  # characters kept, like a feed entry's summary (monitor.parse)


class ExtractError(ParseError):
    """The page gave no usable main text."""


def available() -> bool:
    """Whether trafilatura (the ``fulltext`` extra) is installed."""
    return importlib.util.find_spec("trafilatura") is not None


def is_html(headers: Mapping[str, str]) -> bool:
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media in HTML_TYPES


def _charset(headers: Mapping[str, str]) -> str | None:
    for part in headers.get("content-type", "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def article_text(body: bytes, headers: Mapping[str, str], url: str) -> str:
    """The main text of an HTML page (at most MAX_TEXT characters); ExtractError when
    the page is not HTML, or trafilatura finds no main text in it."""
    if not is_html(headers):
        media = headers.get("content-type", "").split(";")[0].strip() or "no Content-Type"
        raise ExtractError(f"not an HTML page ({media})")
    try:
        import trafilatura
    except ImportError as exc:
        raise ExtractError(
            "trafilatura is not installed (pip install 'catalyst-monitor[fulltext]')"
        ) from exc
    document: str | bytes = body
    charset = _charset(headers)
    if charset:
        try:
            document = body.decode(charset, errors="replace")
        except LookupError:  # an unknown charset name: trafilatura guesses from the bytes
            document = body
    try:
        text = trafilatura.extract(
            document,
            url=url,
            include_comments=False,
            include_tables=False,
            output_format="txt",
        )
    except Exception as exc:  # a bug or odd input inside the library: a fallback, not a crash
        raise ExtractError(f"extraction failed: {type(exc).__name__}: {exc}") from exc
    text = clean_text(text or "", MAX_TEXT)
    if not text:
        raise ExtractError("no main text found in the page")
    return text
