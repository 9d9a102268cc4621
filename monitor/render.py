"""Rendering a digest for a target: generic JSON, Slack, Discord, Microsoft Teams, text.

Owns turning a ``catalyst-monitor/digest@1`` body (``digest.py``) into the exact HTTP
bodies a target receives — within each target's size limits, split into several
messages when one is not enough — and escaping feed text for each format. Does not own
sending (``deliver.py``) or building the digest.

Feed text is hostile: a title may try to mention ``@everyone`` / ``<!channel>`` /
``<@U123>`` / ``<@&role>``, to smuggle a link with a misleading label (``[label](url)``,
``<url|label>``) or to break the message's structure (newlines, Markdown or mrkdwn control
characters, HTML). Every feed string goes through one escaper per format, and only links
whose target is the entry's own http(s) URL are ever made clickable.

Within a watch item, entries about the same event are shown once as a story
(``stories.cluster``) with its outlets and source count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from monitor.stories import Story, StoryItem, cluster

FORMATS = ("json", "slack", "discord", "teams", "text")

# --- limits (each cited from the target's documentation) ---------------------------------

# Slack, Block Kit reference (api.slack.com/reference/block-kit/blocks): at most 50 blocks
# per message; a section's text at most 3000 characters; a header's plain_text at most 150;
# a context block at most 10 elements. chat.postMessage truncates top-level ``text`` past
# 40,000 characters; we keep the fallback text far below that.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT = 3000
SLACK_HEADER_TEXT = 150
SLACK_FALLBACK_TEXT = 3000
# Discord, Message resource > Embed limits (discord.com/developers/docs/resources/message):
# title 256, description 4096, footer text 2048, author name 256, 25 fields (name 256,
# value 1024), at most 10 embeds per message and 6000 characters summed over all embeds'
# title, description, field names and values, footer text and author name; ``content`` at
# most 2000 characters (Execute Webhook).
DISCORD_MAX_EMBEDS = 10
DISCORD_EMBED_TOTAL = 6000
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FOOTER = 2048
DISCORD_CONTENT = 2000
# Microsoft Teams, "Create an Incoming Webhook" (learn.microsoft.com/microsoftteams/
# platform/webhooks-and-connectors/how-to/add-incoming-webhook): the message size limit is
# 28 KB; Power Automate's "post card" workflow action documents the same ~28 KB. We aim
# for 24 KB of JSON to leave room for the wrapper and multi-byte text.
TEAMS_MAX_BYTES = 24_000
# Our own, for readability: one story line's title.
TITLE_MAX = 300


@dataclass(frozen=True, slots=True)
class Message:
    """One HTTP body for a target, exactly as it is sent (and signed)."""

    body: str
    content_type: str = "application/json"


# --- the view every format renders ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoryView:
    title: str
    link: str | None
    sources: tuple[str, ...]  # display names of the outlets, first seen first
    outlet_count: int
    entry_count: int
    first_seen: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemView:
    id: str
    name: str
    why: str
    match_count: int
    stories: tuple[StoryView, ...]


@dataclass(frozen=True, slots=True)
class DigestView:
    digest: str
    since: str
    until: str
    match_count: int
    items: tuple[ItemView, ...]

    @property
    def story_count(self) -> int:
        return sum(len(i.stories) for i in self.items)


def _parse_time(value: str | None) -> datetime:
    return datetime.fromisoformat((value or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def view(body: str | dict[str, Any]) -> DigestView:
    """The digest body as stories per watch item (entries about one event shown once)."""
    d = json.loads(body) if isinstance(body, str) else body
    items = []
    for w in d["watch_items"]:
        matches = w["matches"]
        story_items = [
            StoryItem(
                key=i,
                title=m["title"] or "",
                summary=m.get("snippet") or "",
                link=m.get("link"),
                source=m.get("source"),
                first_seen=_parse_time(m.get("first_seen")),
            )
            for i, m in enumerate(matches)
        ]
        stories = [_story_view(s, matches) for s in cluster(story_items)]
        items.append(ItemView(w["id"], w["name"], w.get("why") or "", len(matches), tuple(stories)))
    return DigestView(
        d["digest"], d["window"]["since"], d["window"]["until"], d["match_count"], tuple(items)
    )


def _story_view(story: Story, matches: Sequence[dict[str, Any]]) -> StoryView:
    sources: list[str] = []
    terms: list[str] = []
    for m in story.members:
        name = (m.source or "").strip()
        if name and name not in sources:
            sources.append(name)
        for t in matches[int(m.key)]["matched_terms"]:
            if t not in terms:
                terms.append(t)
    return StoryView(
        title=story.title,
        link=story.lead.link,
        sources=tuple(sources),
        outlet_count=len(story.outlets),
        entry_count=story.source_count,
        first_seen=_short_time(story.first_seen),
        terms=tuple(terms),
    )


def _short_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")


# --- shared text handling ------------------------------------------------------------------

_WS = re.compile(r"\s+")
# "@everyone", "@here", "@channel": a word joiner after the "@" keeps the text readable
# and stops any client that parses bare mentions (belt and braces: the structural escapes
# below already make <@U123>, <!here> and friends inert).
_AT = re.compile(r"@(?=\w)")


def one_line(text: str, limit: int) -> str:
    """Collapse all whitespace (newlines, tabs, U+2028) to single spaces and cut to
    ``limit`` characters with an ellipsis."""
    flat = _WS.sub(" ", "".join(c for c in text if c >= " " or c in "\t\n\r")).strip()
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)].rstrip() + "…"


def fit(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(one_line(text))`` cut so that the *escaped* text is at most ``limit``
    characters: cutting after escaping could split an escape and break the structure."""
    t = one_line(text, limit)
    e = escape(t)
    while len(e) > limit:
        t = one_line(t, max(1, len(t) - (len(e) - limit) - 1))
        e = escape(t)
        if len(t) <= 1 and len(e) > limit:
            return ""
    return e


def safe_url(url: str | None, max_len: int = 1000) -> str | None:
    """The URL if it is absolute http(s) with a host, with the characters that could end a
    link in any of our formats (space, quotes, ``<>|()[]`` and backslash) percent-encoded;
    else None (the entry is shown without a link, as it is when the URL is absurdly long)."""
    if not url or len(url) > max_len:
        return None
    url = url.strip()
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe="/:?#&=%+,;~!$*@.-_'")


def _sources_line(s: StoryView, limit: int = 3) -> str:
    """The outlets' names (feed text: escape it). Rendered after our own "via ", so feed
    text never starts a line, where it could open a heading, quote or list."""
    shown = list(s.sources[:limit])
    more = len(s.sources) - len(shown)
    text = ", ".join(shown) if shown else "unknown source"
    if more > 0:
        text += f" +{more}"
    return text


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _count_line(s: StoryView) -> str:
    if s.entry_count <= 1:
        return ""
    return f"{s.entry_count} reports, {s.outlet_count} outlet{'s' if s.outlet_count != 1 else ''}"


# --- Slack ---------------------------------------------------------------------------------

# Slack's control characters are & < > (api.slack.com/reference/surfaces/formatting
# #escaping): escaped as entities they cannot form <!channel>, <@U123> or <url|label>.
# mrkdwn has no escape for * _ ~ ` (Slack documents none), so those become look-alikes
# (as jsx-slack's <Escape> does); a ">" at a line start cannot occur (it is &gt;).
_SLACK_LOOKALIKE = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})


def _slack_esc(t: str) -> str:
    t = t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _AT.sub("@\u2060", t.translate(_SLACK_LOOKALIKE))


def slack_escape(text: str, limit: int) -> str:
    return fit(text, limit, _slack_esc)


def _slack_link(url: str | None, label: str) -> str:
    u = safe_url(url)
    return f"<{u.replace('&', '&amp;')}|{label}>" if u else label


def _slack_plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": one_line(text, limit), "emoji": False}


def _slack_story(s: StoryView) -> dict[str, Any]:
    title = _slack_link(s.link, slack_escape(s.title, TITLE_MAX))
    meta = ["via " + slack_escape(_sources_line(s), 400)]
    if c := _count_line(s):
        meta.append(c)
    meta.append(f"first seen {s.first_seen}")
    if s.terms:
        meta.append("terms: " + slack_escape(", ".join(s.terms), 400))
    text = f"• {title}\n{' · '.join(meta)}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def render_slack(body: str) -> list[Message]:
    v = view(body)
    head = f"Catalyst digest {v.digest}: {_n(v.story_count, 'story', 'stories')} ({_n(v.match_count, 'match', 'matches')})"
    window = f"{_short_time(_parse_time(v.since))} → {_short_time(_parse_time(v.until))}"
    blocks: list[dict[str, Any]] = []
    for item in v.items:
        intro = f"*{slack_escape(item.name, 500)}* ({_n(len(item.stories), 'story', 'stories')})"
        if item.why:
            intro += f"\n{slack_escape(item.why, 2000)}"
        group: list[dict[str, Any]] = [
            {"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
        ]
        group += [_slack_story(s) for s in item.stories]
        blocks += group
    # Split into messages of at most 50 blocks, each opening with a header and a context.
    per_message = SLACK_MAX_BLOCKS - 2
    chunks = [blocks[i : i + per_message] for i in range(0, len(blocks), per_message)] or [[]]
    out = []
    for n, chunk in enumerate(chunks, 1):
        suffix = f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""
        msg = {
            "text": one_line(head + suffix, SLACK_FALLBACK_TEXT),
            "blocks": [
                {"type": "header", "text": _slack_plain(head + suffix, SLACK_HEADER_TEXT)},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": window}]},
                *chunk,
            ],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        out.append(Message(_dumps(msg)))
    return out


# --- Discord -------------------------------------------------------------------------------

# Discord Markdown honours a backslash before any of these (the client's own escaping);
# "<" is escaped too so <@123>, <@&456>, <#789> and <t:…> never parse. allowed_mentions
# {"parse": []} (Execute Webhook) is what makes any mention that slipped through inert.
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|>\[\]()<])")


def _discord_esc(t: str) -> str:
    return _AT.sub("@\u2060", _DISCORD_SPECIAL.sub(r"\\\1", t))


def discord_escape(text: str, limit: int) -> str:
    """For Markdown fields (content, description)."""
    return fit(text, limit, _discord_esc)


def discord_plain(text: str, limit: int) -> str:
    """For fields Discord shows as plain text (embed title, footer): no Markdown there,
    so a backslash would show; only mentions are neutralised."""
    return fit(text, limit, lambda t: _AT.sub("@\u2060", t))


def _discord_story(s: StoryView) -> str:
    title = discord_escape(s.title, TITLE_MAX)
    u = safe_url(s.link)
    line = f"• [{title}]({u})" if u else f"• {title}"
    meta = ["via " + discord_escape(_sources_line(s), 300)]
    if c := _count_line(s):
        meta.append(c)
    meta.append(f"first seen {s.first_seen}")
    if s.terms:
        meta.append("terms: " + discord_escape(", ".join(s.terms), 300))
    return f"{line}\n{' · '.join(meta)}"


def _embed_size(e: dict[str, Any]) -> int:
    return (
        len(e.get("title", ""))
        + len(e.get("description", ""))
        + len(e.get("footer", {}).get("text", ""))
    )


def render_discord(body: str) -> list[Message]:
    v = view(body)
    embeds: list[dict[str, Any]] = []
    for item in v.items:
        lines = [_discord_story(s) for s in item.stories]
        title = discord_plain(
            f"{item.name} ({_n(len(item.stories), 'story', 'stories')})", DISCORD_TITLE
        )
        footer = discord_plain(item.why, 1000) if item.why else ""
        # Fill descriptions up to 3000 characters (each story line is at most ~2100, so
        # one always fits); the rest of the item's stories go to its next embed.
        first = True
        while first or lines:
            desc, lines = _fill(lines, min(DISCORD_DESCRIPTION, 3000))
            embed: dict[str, Any] = {"title": title, "description": desc}
            if footer:
                embed["footer"] = {"text": footer}
            embeds.append(embed)
            first = False
    head = (
        f"**Catalyst digest {discord_escape(v.digest, 64)}**: {_n(v.story_count, 'story', 'stories')} "
        f"({_n(v.match_count, 'match', 'matches')}), {_short_time(_parse_time(v.since))} → "
        f"{_short_time(_parse_time(v.until))}"
    )
    messages: list[list[dict[str, Any]]] = [[]]
    total = 0
    for e in embeds:
        size = _embed_size(e)
        if messages[-1] and (
            len(messages[-1]) >= DISCORD_MAX_EMBEDS or total + size > DISCORD_EMBED_TOTAL
        ):
            messages.append([])
            total = 0
        messages[-1].append(e)
        total += size
    out = []
    for n, chunk in enumerate(messages, 1):
        suffix = f" ({n}/{len(messages)})" if len(messages) > 1 else ""
        msg = {
            "content": (head + suffix)[:DISCORD_CONTENT],
            "embeds": chunk,
            "allowed_mentions": {"parse": []},
        }
        out.append(Message(_dumps(msg)))
    return out


def _fill(lines: list[str], limit: int) -> tuple[str, list[str]]:
    """As many whole lines as fit in ``limit`` characters (always at least one)."""
    taken: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        extra = len(line) + (2 if taken else 0)
        if taken and size + extra > limit:
            return "\n\n".join(taken), lines[i:]
        taken.append(line)
        size += extra
    return "\n\n".join(taken), []


# --- Microsoft Teams -----------------------------------------------------------------------

# Adaptive Card TextBlocks render a CommonMark subset: **bold**, _italic_, lists and
# [title](url) (learn.microsoft.com/adaptive-cards/authoring-cards/text-features); no
# escape for it is documented, so its control characters become look-alikes, and HTML is
# not rendered at all ("HTML is ignored and treated as plain text", Incoming Webhook docs).
_TEAMS_LOOKALIKE = str.maketrans({"*": "∗", "_": "ˍ", "[": "［", "]": "］", "`": "ˋ", "~": "∼"})


def _teams_esc(t: str) -> str:
    t = t.translate(_TEAMS_LOOKALIKE)
    # A line that starts like a list item ("- x", "1. x") would become one.
    t = re.sub(r"^(\d+)\.", "\\1\u2024", re.sub(r"^([-+])\s", "\\1\u00a0", t))
    return _AT.sub("@\u2060", t.replace("<", "‹").replace(">", "›"))


def teams_escape(text: str, limit: int) -> str:
    return fit(text, limit, _teams_esc)


def _teams_story(s: StoryView) -> list[dict[str, Any]]:
    title = teams_escape(s.title, TITLE_MAX)
    u = safe_url(s.link)
    meta = ["via " + teams_escape(_sources_line(s), 300)]
    if c := _count_line(s):
        meta.append(c)
    meta.append(f"first seen {s.first_seen}")
    if s.terms:
        meta.append("terms: " + teams_escape(", ".join(s.terms), 300))
    return [
        {"type": "TextBlock", "text": f"[{title}]({u})" if u else title, "wrap": True},
        {
            "type": "TextBlock",
            "text": " · ".join(meta),
            "wrap": True,
            "isSubtle": True,
            "size": "Small",
            "spacing": "None",
        },
    ]


def _teams_message(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": body,
                },
            }
        ],
    }


def render_teams(body: str) -> list[Message]:
    v = view(body)
    head = f"Catalyst digest {v.digest}: {_n(v.story_count, 'story', 'stories')} ({_n(v.match_count, 'match', 'matches')})"
    window = f"{_short_time(_parse_time(v.since))} → {_short_time(_parse_time(v.until))}"
    parts: list[dict[str, Any]] = []
    for item in v.items:
        parts.append(
            {
                "type": "TextBlock",
                "text": f"{teams_escape(item.name, 300)} ({_n(len(item.stories), 'story', 'stories')})",
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "separator": True,
            }
        )
        if item.why:
            parts.append({"type": "TextBlock", "text": teams_escape(item.why, 1000), "wrap": True})
        for s in item.stories:
            parts += _teams_story(s)

    def header(suffix: str) -> list[dict[str, Any]]:
        return [
            {
                "type": "TextBlock",
                "text": teams_escape(head + suffix, 300),
                "weight": "Bolder",
                "size": "Large",
                "wrap": True,
            },
            {"type": "TextBlock", "text": window, "isSubtle": True, "spacing": "None"},
        ]

    chunks = _split_by_size(
        parts, lambda b: len(_dumps(_teams_message(header(" (99/99)") + b)).encode())
    )
    out = []
    for n, chunk in enumerate(chunks, 1):
        suffix = f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""
        out.append(Message(_dumps(_teams_message(header(suffix) + chunk))))
    return out


def _split_by_size(
    parts: list[dict[str, Any]], size: Callable[[list[dict[str, Any]]], int]
) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = [[]]
    for p in parts:
        if chunks[-1] and size([*chunks[-1], p]) > TEAMS_MAX_BYTES:
            chunks.append([])
        chunks[-1].append(p)
    return chunks


# --- plain text / Markdown -----------------------------------------------------------------

# CommonMark: any ASCII punctuation may be backslash-escaped (spec section 2.4). We escape
# the characters that could form links, images, emphasis, code, HTML, entities or tables;
# feed text never starts a line (our own prefix does), so list and heading markers are
# harmless.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~&])")


def markdown_escape(text: str, limit: int) -> str:
    return fit(text, limit, lambda t: _AT.sub("@\u2060", _MD_SPECIAL.sub(r"\\\1", t)))


def render_markdown(body: str) -> str:
    v = view(body)
    lines = [
        f"# Catalyst digest {markdown_escape(v.digest, 64)}",
        f"{_n(v.story_count, 'story', 'stories')} ({_n(v.match_count, 'match', 'matches')}), "
        f"{_short_time(_parse_time(v.since))} → {_short_time(_parse_time(v.until))}",
    ]
    for item in v.items:
        lines += [
            "",
            f"## {markdown_escape(item.name, 300)} ({_n(len(item.stories), 'story', 'stories')})",
        ]
        if item.why:
            lines.append(f"_{markdown_escape(item.why, 1000)}_")
        lines.append("")
        for s in item.stories:
            title = markdown_escape(s.title, TITLE_MAX)
            u = safe_url(s.link)
            meta = ["via " + markdown_escape(_sources_line(s), 300)]
            if c := _count_line(s):
                meta.append(c)
            meta.append(f"first seen {s.first_seen}")
            if s.terms:
                meta.append("terms: " + markdown_escape(", ".join(s.terms), 300))
            lines.append(f"- [{title}](<{u}>)" if u else f"- {title}")
            lines.append(f"  {' · '.join(meta)}")
    return "\n".join(lines) + "\n"


def render_text_message(body: str) -> list[Message]:
    return [Message(render_markdown(body), "text/markdown; charset=utf-8")]


# --- entry point ---------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_RENDERERS: dict[str, Callable[[str], list[Message]]] = {
    "json": lambda body: [Message(body)],
    "slack": render_slack,
    "discord": render_discord,
    "teams": render_teams,
    "text": render_text_message,
}


def render(body: str, fmt: str) -> list[Message]:
    """The messages that deliver ``body`` (a digest@1 JSON text) in ``fmt``, in order.

    ``json`` is the body itself, byte for byte.
    """
    try:
        return _RENDERERS[fmt](body)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}") from None
