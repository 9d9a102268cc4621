"""Parse stage: one fetched body → :class:`ParsedFeed` of normalised :class:`EntryData`.

Owns: :func:`parse_feed`, a pure module-level function (no I/O, picklable for a process
pool). RSS 0.9x/1.0/2.0 and Atom go through feedparser over the bytes and the response
headers, always wrapped in BytesIO: given a bare str/bytes, feedparser fetches it if it
looks like a URL and *opens it* if it names a file. JSON Feed 1.0/1.1 is read with json.

Does not own: HTTP (``monitor.fetch``), deduplication or canonical links (the store and
``monitor.urls``), matching.

Bozo triage (after lemon24/reader ``_parser/feedparser.py``): ``CharacterEncodingOverride``
and ``NonXMLContentType`` are only warnings; any other bozo exception is a warning when
the lenient parser still produced a feed (entries or a feed title), else a ParseError. A
document feedparser recognises no feed in (an HTML page, an XSLT file) is a ParseError.

Hostile XML, measured on ``feeds/hostile`` (feedparser 6.0.14, expat 2.5.0): external
entities (``file:///etc/passwd``, ``http://``, ``php://``, ``data:``) and external DTDs are
never resolved (feedparser turns off ``feature_external_ges``; its ``replace_doctype``
drops non-literal ENTITY declarations), so nothing is read or fetched; billion laughs is
defused the same way. But ``replace_doctype`` keeps any literal entity, so the quadratic
blowup (a 100,000-character entity referenced 1,000 times) reached expat: 1 s and 300 MB
of RAM before expat's amplification limit stopped it (expat >= 2.4 only; an older system
expat would build the 100 MB). Its regex can also be sidestepped: a ``<a`` in a comment
before the DOCTYPE ends its "head" early. Decision, applied after feedparser's own
encoding detection (so UTF-16/32 or a header charset cannot hide anything):
:func:`_check_expansion` refuses a document whose literal entities, wherever declared,
would expand beyond ``_MAX_EXPANSION``; :func:`_harden_prolog` rebuilds any DOCTYPE with
an internal subset keeping only short literal general entities (warning for each dropped).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import fastfeedparser
import feedparser
from feedparser.datetimes import _parse_date as _feedparser_date
from feedparser.encodings import convert_to_utf8
from lxml import etree

from monitor.errors import ParseError
from monitor.text import clean_text, html_to_text
from monitor.types import EntryData, ParsedFeed

__all__ = ["parse_feed"]

_MIN_DATE = datetime(1995, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)
_TITLE_MAX = 2000
_SUMMARY_MAX = 20000
_MAX_CATEGORIES = 50

# https://feedparser.readthedocs.io/en/latest/character-encoding.html
_SURVIVABLE = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)

# --- hostile XML -------------------------------------------------------------------------

_MAX_ENTITIES = 64  # literal general entities kept from an internal DTD subset
_MAX_ENTITY_LEN = 1024  # characters in one kept entity value
_MAX_EXPANSION = 1 << 20  # bytes all references to kept entities may expand to
_ENTITY_RE = re.compile(rb"<!ENTITY\s+(%\s*)?([^\s\"'<>%]+)\s+(\"[^\"]*\"|'[^']*'|[^>]*)\s*>")
# The values feedparser's own replace_doctype calls safe: one character reference, or
# literal text with no reference in it.
_SAFE_VALUE_RE = re.compile(rb"&#\w+;|[^&%<\"]*")
_NAME_RE = re.compile(rb"\w+")


# Inside a DOCTYPE: a quoted literal or a comment (skipped whole), or a structural byte.
_DOCTYPE_TOKEN_RE = re.compile(rb"\"[^\"]*\"|'[^']*'|<!--.*?-->|[\[\]>]", re.DOTALL)


def _skip(data: bytes, pos: int, end_marker: bytes) -> int:
    end = data.find(end_marker, pos)
    if end == -1:
        raise ParseError(f"unterminated {end_marker.decode()!r} in XML prolog")
    return end + len(end_marker)


def _doctype_end(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """Scan the DOCTYPE at ``pos``: (its internal subset or None, the offset after it)."""
    subset_start = -1
    for m in _DOCTYPE_TOKEN_RE.finditer(data, pos + len(b"<!DOCTYPE")):
        token = m.group()
        if token == b"[" and subset_start == -1:
            subset_start = m.end()
        elif token == b"]" and subset_start != -1:
            return data[subset_start : m.start()], _skip(data, m.end(), b">")
        elif token == b">" and subset_start == -1:
            return None, m.end()
    raise ParseError("unterminated DOCTYPE in XML prolog")


def _check_expansion(data: bytes) -> None:
    """Refuse a document whose literal entities, wherever declared, would expand beyond
    _MAX_EXPANSION: a bound that holds even where our prolog scan and expat's (or
    feedparser's regex) disagree about where a DOCTYPE ends."""
    if b"<!ENTITY" not in data:
        return
    declarations = list(_ENTITY_RE.finditer(data))
    if len(declarations) > 4 * _MAX_ENTITIES:  # each one costs a scan of the document
        raise ParseError(f"{len(declarations)} DTD entity declarations")
    total = 0
    for m in declarations:
        value = m.group(3)
        if value[:1] in (b'"', b"'"):
            total += (len(value) - 2) * data.count(b"&" + m.group(2) + b";")
    if total > _MAX_EXPANSION:
        raise ParseError(f"DTD entities would expand to {total} bytes (limit {_MAX_EXPANSION})")


def _harden_prolog(data: bytes) -> tuple[bytes, list[str]]:
    """Rebuild every DOCTYPE that has an internal subset; see the module docstring."""
    notes: list[str] = []
    out: list[bytes] = []
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while data[pos : pos + 1] in (b" ", b"\t", b"\r", b"\n"):
            pos += 1
        if data.startswith(b"<?", pos):
            pos = _skip(data, pos + 2, b"?>")
        elif data.startswith(b"<!--", pos):
            pos = _skip(data, pos + 4, b"-->")
        elif data.startswith(b"<!DOCTYPE", pos):
            subset, end = _doctype_end(data, pos)
            if subset is None:  # external DTD only: expat never fetches it
                pos = end
                continue
            kept: list[bytes] = []
            for m in _ENTITY_RE.finditer(subset):
                is_param, name, raw = m.group(1), m.group(2), m.group(3)
                value = raw[1:-1] if raw[:1] in (b'"', b"'") else b"&"  # SYSTEM/PUBLIC
                if (
                    is_param
                    or not _NAME_RE.fullmatch(name)
                    or not _SAFE_VALUE_RE.fullmatch(value)
                    or len(value) > _MAX_ENTITY_LEN
                    or len(kept) >= _MAX_ENTITIES
                ):
                    notes.append(f"dropped DTD entity declaration {name.decode('latin-1')!r}")
                    continue
                kept.append(b'<!ENTITY %s "%s">\n' % (name, value))
            out.append(data[:pos])
            if kept:
                out.append(b"<!DOCTYPE feed [\n" + b"".join(kept) + b"]>")
            data, pos = data[end:], 0
        else:
            break
    return (b"".join([*out, data]) if out else data), notes


# --- small helpers -----------------------------------------------------------------------


def _as_text(value: Any, content_type: str | None = None, max_len: int = _SUMMARY_MAX) -> str:
    if not isinstance(value, str) or not value:
        return ""
    # Bound the work: text longer than max_len is cut anyway, and markup rarely exceeds
    # ten times its text (inline data: URIs aside).
    value = value[: max_len * 10]
    if content_type and "html" not in content_type and not re.search(r"<[A-Za-z/!?]", value):
        return clean_text(value, max_len)  # text/plain: "AT&amp;T" stays as written
    return _fit(html_to_text(value), max_len)


def _fit(clean: str, max_len: int) -> str:
    """``clean_text(clean, max_len)`` for text that is clean already: only cut it."""
    return clean if len(clean) <= max_len else clean_text(clean, max_len)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _absolute(link: Any, base: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    try:
        joined = urljoin(base, link.strip())
        scheme = urlsplit(joined).scheme.lower()
    except ValueError:
        return None
    return joined if scheme in ("http", "https") else None


def _sane(dt: datetime) -> datetime | None:
    """UTC, or None when before 1995 or more than a day ahead (a broken clock or CMS)."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt if _MIN_DATE <= dt <= datetime.now(UTC) + _FUTURE_SLACK else None


def _from_struct(value: Any) -> datetime | None:
    try:
        return _sane(datetime.fromtimestamp(calendar.timegm(value), UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _from_string(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    # RFC 3339 as JSON Feed requires, RFC 822 as some use anyway, then feedparser's zoo.
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            return _sane(parse(value))
        except (TypeError, ValueError, IndexError):
            pass
    return _from_struct(_feedparser_date(value))


_ELLIPSES = ("[…]", "[...]", "…", "...")
_ELLIPSES_RE = re.compile(r"(?:\s*(?:\[…\]|\[\.\.\.\]|…|\.\.\.))+$")


def _without_ellipses(text: str) -> str:
    """``_ELLIPSES_RE.sub("", text)``: trailing "…", "...", "[…]", "[...]" (and the space
    before each) removed. Read from the end, not by the regex: the regex tries its match at
    every character of a long summary, which cost ~5 % of a cold poll cycle. The tokens
    are told apart by their last character, so the reading from the end is unique."""
    if text.endswith("\n"):  # "$" also matches before a final newline: leave it to re
        return _ELLIPSES_RE.sub("", text)
    end = len(text)
    while True:
        for token in _ELLIPSES:
            if text.endswith(token, 0, end):
                end -= len(token)
                while end and text[end - 1].isspace():  # \s and isspace() agree
                    end -= 1
                break
        else:
            return text[:end]


def _rstrip_dots(text: str) -> str:
    r"""``re.sub(r"[\s.…\[\]]+$", "", text)`` without a regex scan of the whole text."""
    end = len(text)
    while end and (text[end - 1] in ".…[]" or text[end - 1].isspace()):
        end -= 1
    return text[:end]


def _join_texts(parts: Iterable[str]) -> str:
    """Join summary and content texts, dropping one that repeats or truncates another."""
    kept: list[str] = []
    for part in parts:
        if not part:
            continue
        stem = _without_ellipses(part)
        if any(stem in k or k.startswith(stem) for k in kept):
            continue
        kept = [k for k in kept if _rstrip_dots(k) not in part]
        kept.append(part)
    return _fit("\n\n".join(kept), _SUMMARY_MAX)  # clean parts joined stay clean


def _categories(terms: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for term in terms:
        text = _one_line(_as_text(term, "text/plain", 200))
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
    return tuple(seen.values())[:_MAX_CATEGORIES]


def _guid(given: Any, link: str | None, title: str, published: datetime | None) -> str:
    if isinstance(given, int | float) and not isinstance(given, bool):
        given = str(given)
    if isinstance(given, str) and given.strip():
        return given.strip()
    if link:
        return link
    stamp = published.isoformat() if published else ""
    return "sha1:" + hashlib.sha1(f"{title}\n{stamp}".encode()).hexdigest()


# --- XML via feedparser -------------------------------------------------------------------


def _xml_entry(e: Any, base: str) -> EntryData:
    title_detail = e.get("title_detail") or {}
    title = _one_line(_as_text(e.get("title"), title_detail.get("type"), _TITLE_MAX))
    summary_detail = e.get("summary_detail") or {}
    texts = [_as_text(e.get("summary"), summary_detail.get("type"))]
    texts += [_as_text(c.get("value"), c.get("type")) for c in e.get("content") or ()]
    link = _absolute(e.get("link"), base)
    # "key in entry" bypasses FeedParserDict's fallback of updated → published.
    published = _from_struct(e["published_parsed"]) if "published_parsed" in e else None
    updated = _from_struct(e["updated_parsed"]) if "updated_parsed" in e else None
    source = e.get("source") or {}
    author = _one_line(_as_text(e.get("author"), "text/plain", 500)) or None
    return EntryData(
        guid=_guid(e.get("id"), link, title, published),
        link=link,
        title=title,
        summary=_join_texts(texts),
        categories=_categories(t.get("term") or t.get("label") for t in e.get("tags") or ()),
        # Many Atom feeds give only <updated>: it is then the best date we have (the GUID
        # above still uses the published date alone, so it stays stable across edits).
        published=published or updated,
        updated=updated,
        author=author,
        # RSS <source>, else Bing News' <News:Source> (feedparser names an element of an
        # unknown namespace after the document's prefix: Bing's is "News").
        source=_one_line(_as_text(source.get("title") or e.get("news_source"), "text/plain", 500))
        or None,
    )


def _parse_xml(body: bytes, headers: dict[str, str], url: str, max_entries: int) -> ParsedFeed:
    warnings: list[str] = []
    declared_type = "content-type" in headers
    probe: dict[str, Any] = {}
    utf8 = convert_to_utf8(headers, body, probe)
    _check_expansion(utf8)
    if probe.get("encoding"):  # expat only runs when the encoding is known
        hardened, notes = _harden_prolog(utf8)
        warnings += notes
        if hardened is not utf8:
            media = headers.get("content-type", "application/xml").split(";")[0].strip()
            headers = {**headers, "content-type": f"{media or 'application/xml'}; charset=utf-8"}
            body = hardened
    # The fast path takes documents whose encoding was clear, or only "overridden" by the
    # HTTP charset / missing a Content-Type (benign: the bytes are UTF-8 by now); anything
    # else (unknown encoding, undecodable bytes) is for feedparser's repairs.
    if not probe.get("bozo") or isinstance(probe.get("bozo_exception"), _SURVIVABLE):
        fast = _parse_xml_fast(body, url, headers, max_entries, tuple(warnings))
        if fast is not None:
            return fast
    # sanitize_html / resolve_relative_uris rewrite HTML content with feedparser's sgmllib;
    # we keep plain text only (monitor.text), so both are off: 8x faster on news/mikhail-io
    # (1.0 s → 0.12 s). Links are still resolved against xml:base / Content-Location.
    options = {"sanitize_html": False, "resolve_relative_uris": False}
    try:
        d = feedparser.parse(io.BytesIO(body), response_headers=headers, **options)
    except Exception as exc:  # a feedparser bug must not escape as a non-ParseError
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from exc
    entries = d.get("entries") or []
    feed = d.get("feed") or {}
    if d.get("bozo"):
        bozo = d.get("bozo_exception")
        problem = f"{type(bozo).__name__}: {bozo}"
        if not isinstance(bozo, _SURVIVABLE) and not (entries or feed.get("title")):
            cause = bozo if isinstance(bozo, BaseException) else None
            raise ParseError(f"not a feed: {problem}") from cause
        if not (isinstance(bozo, feedparser.NonXMLContentType) and not declared_type):
            warnings.append(problem)  # (a missing Content-Type is not worth a warning)
    version = d.get("version") or ""
    if not version and not entries:
        raise ParseError("not a feed: no RSS, Atom or RDF root element")
    base = headers.get("content-location") or url
    title_type = (feed.get("title_detail") or {}).get("type")
    return ParsedFeed(
        title=_one_line(_as_text(feed.get("title"), title_type, _TITLE_MAX)) or None,
        link=_absolute(feed.get("link"), base),
        format=version or "unknown",
        entries=tuple(_xml_entry(e, base) for e in entries[: max(max_entries, 0)]),
        warnings=tuple(warnings),
    )


# --- XML via fastfeedparser (the fast path) ----------------------------------------------

# Documents the fast path hands to feedparser: relative links against xml:base, and RSS
# <source> (the publisher of an aggregator's item), which fastfeedparser does not read.
_STRICT = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)
_FAST_PATH_SKIP = re.compile(rb"xml:base|<source[\s>]|<!DOCTYPE")


def _parse_xml_fast(
    body: bytes, url: str, headers: Mapping[str, str], max_entries: int, warnings: tuple[str, ...]
) -> ParsedFeed | None:
    """lxml-based fastfeedparser, ~50x cheaper than feedparser on the benchmark's feeds
    (0.5 ms against 28 ms a feed). None means "use feedparser": it raised, found no
    entries (RSS 0.9x, odd roots), or the document uses what only feedparser reads.
    ``body`` is already UTF-8 with a matching declaration and a hardened DOCTYPE."""
    if _FAST_PATH_SKIP.search(body):
        return None
    try:  # fastfeedparser's lxml recovers from malformed XML silently (garbling text after
        # a bare "&"): a document that is not well-formed goes to feedparser, which warns.
        tree = etree.fromstring(body, _STRICT)
    except etree.XMLSyntaxError:
        return None
    try:
        d = fastfeedparser.parse(body, include_media=False, include_enclosures=False)
    except Exception:  # malformed XML, unknown root: feedparser's recovery decides
        return None
    entries = d.get("entries") or []
    if not entries:
        return None
    feed = d.get("feed") or {}
    base = headers.get("content-location") or url
    root = body.lstrip()[:512]
    version = "atom10" if b"<feed" in root else ("rss10" if b"<rdf:RDF" in root else "rss20")
    return ParsedFeed(
        title=_one_line(_as_text(feed.get("title"), "text/plain", _TITLE_MAX)) or None,
        link=_absolute(feed.get("link"), base),
        format=version,
        entries=_with_bing_sources(
            tuple(_fast_entry(e, base) for e in entries[: max(max_entries, 0)]), tree, body, base
        ),
        warnings=warnings,
    )


def _with_bing_sources(
    entries: tuple[EntryData, ...], tree: Any, body: bytes, base: str
) -> tuple[EntryData, ...]:
    """Bing News RSS names each item's publisher in ``<News:Source>`` (namespace
    ``https://www.bing.com:443/news/search?q=...``), which fastfeedparser does not read:
    it is read here from the tree already parsed, keyed by the item's link."""
    if b":Source>" not in body:
        return entries
    by_link: dict[str, str] = {}
    for item in tree.iter("item"):
        link = source = None
        for child in item:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == "link":
                link = _absolute((child.text or "").strip(), base)
            elif tag.endswith("}Source") and "bing.com" in tag:
                source = _one_line(_as_text(child.text, "text/plain", 500))
        if link and source:
            by_link.setdefault(link, source)
    if not by_link:
        return entries
    return tuple(
        replace(e, source=by_link[e.link]) if e.link in by_link and not e.source else e
        for e in entries
    )


_TAG_RE = re.compile(r"<[^>]*>")


def _derived_from(description: str, contents: list[str]) -> bool:
    """Whether ``description`` is text the content holds anyway. fastfeedparser fills a
    missing summary with a tag-stripped prefix of the content (script text included,
    which html_to_text drops): such a description is skipped, the content is read."""
    head = " ".join(description.split())[:120]
    if not head:
        return True
    return any(head in " ".join(html.unescape(_TAG_RE.sub(" ", raw)).split()) for raw in contents)


def _fast_entry(e: Any, base: str) -> EntryData:
    title = _one_line(_as_text(e.get("title"), "text/plain", _TITLE_MAX))
    contents = [c for c in e.get("content") or () if isinstance(c.get("value"), str)]
    description = e.get("description")
    texts = []
    if isinstance(description, str) and not _derived_from(
        description, [c["value"] for c in contents]
    ):
        texts.append(_as_text(description, "text/html"))
    texts += [_as_text(c["value"], c.get("type") or "text/html") for c in contents]
    link = _absolute(e.get("link"), base)
    published = _from_string(e.get("published"))
    updated = _from_string(e.get("updated"))
    author = _one_line(_as_text(e.get("author"), "text/plain", 500)) or None
    return EntryData(
        guid=_guid(e.get("id"), link, title, published),
        link=link,
        title=title,
        summary=_join_texts(texts),
        categories=_categories(t.get("term") or t.get("label") for t in e.get("tags") or ()),
        published=published or updated,
        updated=updated,
        author=author,
        source=None,
    )


# --- JSON Feed ----------------------------------------------------------------------------

_JSONFEED_VERSIONS = {"1": "json1", "1.0": "json1", "1.1": "json11"}


def _json_entry(item: dict[str, Any], base: str) -> EntryData:
    # JSON Feed text fields are plain text by the spec, but publishers (WordPress plugins)
    # put HTML entities in them ("Blog &#8211; InfluxData"): read them as HTML.
    title = _one_line(_as_text(item.get("title"), "text/html", _TITLE_MAX))
    link = _absolute(item.get("url"), base) or _absolute(item.get("external_url"), base)
    published = _from_string(item.get("date_published"))
    texts = [
        _as_text(item.get("summary"), "text/html"),
        _as_text(item.get("content_html"), "text/html"),
        _as_text(item.get("content_text"), "text/plain"),
    ]
    authors = item.get("authors")  # 1.1: a list; 1.0: one "author" object
    authors = authors if isinstance(authors, list) and authors else [item.get("author")]
    authors = [a for a in authors if isinstance(a, dict)]
    names = (_one_line(_as_text(a.get("name"), "text/plain", 500)) for a in authors if a)
    author = next((n for n in names if n), None)
    tags = item.get("tags")
    return EntryData(
        guid=_guid(item.get("id"), link, title, published),
        link=link,
        title=title,
        summary=_join_texts(texts),
        categories=_categories(tags if isinstance(tags, list) else ()),
        published=published or _from_string(item.get("date_modified")),
        updated=_from_string(item.get("date_modified")),
        author=author,
        source=None,
    )


def _parse_json(body: bytes, url: str, max_entries: int) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ParseError(f"malformed JSON: {exc}") from exc
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise ParseError("JSON document is not a JSON Feed (no jsonfeed.org version)")
    fmt = _JSONFEED_VERSIONS.get(version.rsplit("/", 1)[-1].strip(), "json1")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed has no 'items' list")
    items = [i for i in items if isinstance(i, dict)][: max(max_entries, 0)]
    return ParsedFeed(
        title=_one_line(_as_text(doc.get("title"), "text/html", _TITLE_MAX)) or None,
        link=_absolute(doc.get("home_page_url"), url),
        format=fmt,
        entries=tuple(_json_entry(i, url) for i in items),
    )


# --- entry point ----------------------------------------------------------------------------

_JSON_TYPES = ("application/feed+json", "application/json")


def parse_feed(
    body: bytes, headers: Mapping[str, str], url: str, *, max_entries: int = 1000
) -> ParsedFeed:
    """Parse one response body into a :class:`ParsedFeed`; raise ParseError if not a feed.

    ``headers`` are the response headers (any case); ``url`` is the URL the body came
    from, used only to resolve relative links (it is never fetched). At most
    ``max_entries`` entries are kept, the first ones in document order.
    """
    hdrs = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if not body or not body.strip():
            raise ParseError("empty body")
        if body[:2] == b"\x1f\x8b":
            # gzip magic: a .gz file served without Content-Encoding. Decompressing here
            # would bypass fetch's size cap, so it is refused.
            raise ParseError("body is gzip-compressed data, not a feed")
        media = hdrs.get("content-type", "").split(";")[0].strip().lower()
        start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if start == b"{" or (media in _JSON_TYPES and start != b"<"):
            return _parse_json(body, url, max_entries)
        location = hdrs.get("content-location")
        # feedparser resolves relative links against Content-Location when given no URL.
        hdrs["content-location"] = urljoin(url, location) if location else url
        return _parse_xml(body, hdrs, url, max_entries)
    except ParseError as exc:
        raise ParseError(f"parse {url}: {exc}") from exc.__cause__
