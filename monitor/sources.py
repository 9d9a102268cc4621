"""URL builders for the news searches and filing feeds the default watchlist ships.

Pure functions: each turns a few readable parameters (a search query, a language, a
form type) into the exact feed URL a service expects, so a URL in ``watchlist.yaml``
can be checked against (and, later, generated from) what it means. Owns nothing else:
no fetching, no parsing, no knowledge of which searches a watchlist wants.

- Google News RSS search: ``https://news.google.com/rss/search?q=…&hl=…&gl=…&ceid=…``.
  ``hl`` is the interface language, ``gl`` the edition's country, and ``ceid`` is
  ``COUNTRY:language`` where the language is what Google News uses in its own edition
  links: the bare language for most editions (``DE:de``, ``US:en``), but ``pt-419`` for
  Brazil, ``pt-150`` for Portugal, ``es-419`` for Latin America.
- Bing News RSS search: ``https://www.bing.com/news/search?q=…&format=rss``, with
  ``setmkt=<market>`` (e.g. ``de-DE``) to pick a regional market.
- SEC EDGAR company filings as Atom: the ``browse-edgar`` ``getcompany`` listing with
  ``output=atom``. EDGAR asks automated clients for a User-Agent naming a contact and
  for at most 10 requests a second (https://www.sec.gov/os/accessing-edgar-data).

Queries are percent-encoded as UTF-8 (spaces as ``%20``, quotes as ``%22``); the ``:``
of operators such as ``when:7d`` or ``site:`` and of ``ceid`` stays literal, as in the
links these services publish themselves.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

GOOGLE_NEWS_SEARCH = "https://news.google.com/rss/search"
BING_NEWS_SEARCH = "https://www.bing.com/news/search"
EDGAR_BROWSE = "https://www.sec.gov/cgi-bin/browse-edgar"

# Google News editions whose ``ceid`` language is not simply the language subtag.
_CEID_LANGUAGE = {
    "pt-BR": "pt-419",
    "pt-PT": "pt-150",
    "es-419": "es-419",
    "zh-CN": "zh-Hans",
    "zh-TW": "zh-Hant",
    "zh-HK": "zh-Hant",
}
# The edition country of a region-less ``hl`` (Google News' own links use these pairs).
_DEFAULT_COUNTRY = {
    "de": "DE",
    "fr": "FR",
    "es": "ES",
    "it": "IT",
    "nl": "NL",
    "pl": "PL",
    "ja": "JP",
    "ko": "KR",
}
_LANG_RE = re.compile(r"^[a-z]{2,3}(-([A-Z]{2}|\d{3}))?$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_MARKET_RE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
_FORM_RE = re.compile(r"^[A-Z0-9][A-Z0-9/ -]*$")


def _encode(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, safe=":")


def google_news_rss(query: str, lang: str = "en-US", country: str | None = None) -> str:
    """The Google News RSS search URL for ``query`` in the edition ``lang``/``country``.

    ``lang`` is a BCP 47 tag as Google News writes it (``en-US``, ``de``, ``fr``,
    ``es``, ``pt-BR``, ``es-419``); ``country`` defaults to the tag's region, or for a
    bare language to that language's home edition (``de`` -> ``DE``). Raises ValueError
    for an empty query, a malformed tag, or when the country cannot be derived.
    """
    if not query.strip():
        raise ValueError("a Google News search needs a non-empty query")
    if not _LANG_RE.match(lang):
        raise ValueError(f"invalid language tag {lang!r}: use e.g. en-US, de, fr, pt-BR, es-419")
    base, _, region = lang.partition("-")
    if country is None:
        if region and not region.isdigit():
            country = region
        elif base in _DEFAULT_COUNTRY and not region:
            country = _DEFAULT_COUNTRY[base]
        else:
            raise ValueError(f"cannot tell the Google News edition of {lang!r}: pass country=")
    if not _COUNTRY_RE.match(country):
        raise ValueError(f"invalid country {country!r}: use a 2-letter code such as US, DE, BR")
    ceid_lang = _CEID_LANGUAGE.get(lang, base)
    params = {"q": query, "hl": lang, "gl": country, "ceid": f"{country}:{ceid_lang}"}
    return f"{GOOGLE_NEWS_SEARCH}?{_encode(params)}"


def bing_news_rss(query: str, market: str | None = None) -> str:
    """The Bing News RSS search URL for ``query``, optionally in ``market`` (``de-DE``)."""
    if not query.strip():
        raise ValueError("a Bing News search needs a non-empty query")
    params = {"q": query, "format": "rss"}
    if market is not None:
        if not _MARKET_RE.match(market):
            raise ValueError(f"invalid Bing market {market!r}: use language-COUNTRY, e.g. de-DE")
        params["setmkt"] = market
    return f"{BING_NEWS_SEARCH}?{_encode(params)}"


def edgar_filings_atom(cik: str, form: str, count: int = 40) -> str:
    """The EDGAR Atom feed of a company's latest ``form`` filings (``8-K``, ``10-Q``, …).

    ``cik`` is the company's Central Index Key, with or without leading zeros; it is
    written zero-padded to 10 digits as EDGAR's own links do. ``count`` is how many
    filings the listing holds (EDGAR accepts 10, 20, 40, 80 or 100).
    """
    digits = cik.strip()
    if not digits.isdigit() or len(digits) > 10:
        raise ValueError(f"invalid CIK {cik!r}: use up to 10 digits, e.g. 0001326801")
    if not _FORM_RE.match(form):
        raise ValueError(f"invalid form type {form!r}: use e.g. 8-K, 10-Q, 10-K")
    if count not in (10, 20, 40, 80, 100):
        raise ValueError(f"invalid count {count!r}: EDGAR lists 10, 20, 40, 80 or 100 filings")
    params = {
        "action": "getcompany",
        "CIK": digits.zfill(10),
        "type": form,
        "dateb": "",
        "owner": "include",
        "count": str(count),
        "output": "atom",
    }
    return f"{EDGAR_BROWSE}?{_encode(params)}"
