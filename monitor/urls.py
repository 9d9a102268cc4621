"""Canonical form of entry links, used to recognise one story behind several URLs.

Owns: :func:`canonical_link`, a pure function from a link as a feed gave it to the form
the store deduplicates on. Two links that differ only in case of scheme/host, a default
port, a fragment, the order of query parameters or tracking parameters (``utm_*``, click
ids, mailing-list ids) name the same story.

Does not own: resolving relative links (``monitor.parse`` does that against the feed URL)
and never touches the network (no redirect following, no DNS, no IDNA lookups).

Parameters that select content (``id``, ``p``, ``q``, ``article``, ``page`` ...) are kept:
only names on the explicit lists below are dropped, so an unknown parameter survives.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_link"]

# Exact parameter names (compared lower-case) that only track the click, never select
# content. Sources: Google Analytics / Ads (utm_*, gclid, gbraid/wbraid: iOS 14 ATT),
# Meta (fbclid, igshid), Microsoft (msclkid, ocid), Yandex (yclid, ysclid), Mailchimp
# (mc_cid, mc_eid), HubSpot (_hsenc, _hsmi, __hs*), Marketo (mkt_tok), AT Internet /
# XiTi (at_*, xtor), Webtrends (wt_mc), Deutsche Welle (maca), NYT (emc, smid), Twitter
# (ref_src, twclid), TikTok (ttclid), LinkedIn (li_fat_id), Adobe (s_cid, cmpid, icid).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # click ids
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ysclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "igsh",
        "epik",
        "irclickid",
        "rb_clickid",
        "s_kwcid",
        # analytics / campaign
        "_ga",
        "_gl",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "ocid",
        "cmpid",
        "icid",
        "s_cid",
        "cmp",
        "xtor",
        "wt_mc",
        "wt_zmc",
        "maca",
        "emc",
        "smid",
        "smtyp",
        "traffic_source",
        "ref_src",
        "ref_url",
        "_openstat",
        "oly_anon_id",
        "oly_enc_id",
        "vero_conv",
        "vero_id",
        "wickedid",
        "spm",
        "scid",
        "sr_share",
        # AT Internet (Piano Analytics) campaign parameters
        "at_medium",
        "at_campaign",
        "at_campaign_type",
        "at_creation",
        "at_format",
        "at_link",
        "at_link_id",
        "at_link_origin",
        "at_link_type",
        "at_platform",
        "at_ptr_name",
        "at_recipient_id",
        "at_recipient_list",
        "at_send_date",
        "at_source",
        "at_term",
        "at_variant",
        "at_emailtype",
        "at_general_placement",
        "at_detail_placement",
        "at_type",
        "at_audience_id",
        "at_identifier",
        "at_bbc_team",
        "at_ptr_type",
    }
)

# Name prefixes (compared lower-case) that only track: utm_source, utm_medium, ...,
# at_custom1..4 (AT Internet), pk_* / mtm_* (Matomo campaign parameters).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "at_custom", "pk_", "mtm_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 section 3.2.2: a reg-name host; we accept letters, digits, - . _ ~ and
# percent-encoded or non-ASCII characters (IRIs), plus bracketed IPv6 literals.
_HOST_RE = re.compile(r"^(\[[0-9a-f:.]+\]|[^\s/?#@:\[\]<>\"\\^`{|}]+)$", re.IGNORECASE)
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_CONTROL_RE = re.compile("[\x00-\x1f\x7f]")  # C0 controls and DEL
_SAFE_QUERY = "/%:@!$'()*+,;=?-._~"


def _is_tracking(name: str) -> bool:
    lower = name.lower()
    return lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES)


def canonical_link(url: str | None) -> str | None:
    """Return the canonical form of an absolute http(s) URL, or None.

    None is returned for None, empty strings, non-http(s) schemes (``mailto:``,
    ``javascript:``, ``tag:``), relative references and anything that does not parse as a
    URL with a host. The result has a lower-case scheme and host, no default port, no
    fragment, an empty path as "/", and the non-tracking query parameters sorted by name
    (stable for repeated names, each kept exactly as written).
    """
    if not url:
        return None
    url = url.strip()
    # Control characters inside a URL are an injection attempt or garbage (WHATWG URL
    # parsers strip tab/newline; we refuse instead). Inner spaces are escaped below.
    if not url or _CONTROL_RE.search(url) is not None:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a non-numeric or out-of-range port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets
        host = f"[{host}]"
    if not host or not _HOST_RE.match(host):
        return None
    netloc = host
    if parts.username is not None or parts.password is not None:
        # Keep user-info as given (rare in feeds, but it does change the resource).
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"

    # Re-quote only characters that must be quoted; keep existing %XX escapes as they are.
    path = quote(parts.path, safe=_SAFE_PATH) or "/"

    # Parameters are kept byte-for-byte (no decode/re-encode round trip, which would turn
    # "?a" into "?a=" or "+" into "%20"); only their order and the tracking ones change.
    kept: list[tuple[str, str]] = []
    for raw in parts.query.split("&"):
        if not raw:
            continue
        name = unquote_plus(raw.partition("=")[0])
        if not _is_tracking(name):
            kept.append((name, quote(raw, safe=_SAFE_QUERY)))
    kept.sort(key=lambda item: item[0])  # stable: repeated names keep their order
    query = "&".join(raw for _, raw in kept)

    return urlunsplit((scheme, netloc, path, query, ""))
