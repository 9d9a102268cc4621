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

from monitor.digest import render_text
from monitor.stories import Story, StoryItem, cluster

FORMATS = ("json", "slack", "discord", "teams", "text", "apprise")

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
class ChangeView:
    from_state: str
    to_state: str
    at: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemView:
    id: str
    name: str
    why: str
    match_count: int
    stories: tuple[StoryView, ...]
    # Catalyst state (digest@1 payloads built since issue 4; None/0 for older ones).
    state: str | None = None
    state_since: str | None = None
    state_reason: str = ""
    change: ChangeView | None = None
    expected_by: str | None = None
    more_stories: int = 0

    @property
    def story_total(self) -> int:
        return len(self.stories) + self.more_stories


@dataclass(frozen=True, slots=True)
class DigestView:
    digest: str
    since: str
    until: str
    match_count: int
    items: tuple[ItemView, ...]

    @property
    def story_count(self) -> int:
        return sum(i.story_total for i in self.items)

    @property
    def change_count(self) -> int:
        return sum(1 for i in self.items if i.change is not None)


def _parse_time(value: str | None) -> datetime:
    return datetime.fromisoformat((value or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def view(body: str | dict[str, Any]) -> DigestView:
    """The digest body as stories per watch item (entries about one event shown once).

    A payload with ``stories[]`` (built since issue 4: ranked, cut to ``top_k``) is shown
    as it is; an older one is clustered here from its ``matches[]``.
    """
    d = json.loads(body) if isinstance(body, str) else body
    items = []
    for w in d["watch_items"]:
        matches = w["matches"]
        if isinstance(w.get("stories"), list):
            stories = [_payload_story(s, matches) for s in w["stories"]]
        else:
            stories = [_story_view(s, matches) for s in cluster(_story_items(matches))]
        items.append(
            ItemView(
                w["id"],
                w["name"],
                w.get("why") or "",
                len(matches),
                tuple(stories),
                **_state_fields(w),
            )
        )
    return DigestView(
        d["digest"], d["window"]["since"], d["window"]["until"], d["match_count"], tuple(items)
    )


def _state_fields(w: dict[str, Any]) -> dict[str, Any]:
    """The catalyst-state part of an ItemView from a watch item (digest or alert)."""
    change = w.get("state_changed")
    state = w.get("state")
    return {
        "state": state if isinstance(state, str) else None,
        "state_since": w.get("state_since"),
        "state_reason": w.get("state_reason") or "",
        "change": ChangeView(
            str(change.get("from", "")),
            str(change.get("to", "")),
            str(change.get("at") or ""),
            str(change.get("reason") or ""),
        )
        if isinstance(change, dict)
        else None,
        "expected_by": w.get("expected_by"),
        "more_stories": int(w.get("more_stories") or 0),
    }


def _story_items(matches: Sequence[dict[str, Any]]) -> list[StoryItem]:
    return [
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


def _payload_story(s: dict[str, Any], matches: Sequence[dict[str, Any]]) -> StoryView:
    """A story of the payload's ``stories[]``; outlet names come from its matches."""
    members = [matches[i] for i in s.get("match_indexes", []) if 0 <= i < len(matches)]
    members.sort(key=lambda m: m.get("first_seen") or "")
    names: list[str] = []
    for m in members:
        name = (m.get("source") or "").strip()
        if name and name not in names:
            names.append(name)
    outlets = [str(o) for o in s.get("outlets") or []]
    return StoryView(
        title=s.get("title") or "",
        link=s.get("link"),
        sources=tuple(names or outlets),
        outlet_count=len(outlets),
        entry_count=int(s.get("source_count") or len(members) or 1),
        first_seen=_short_time(_parse_time(s.get("first_seen"))),
        terms=tuple(str(t) for t in s.get("matched_terms") or []),
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


# --- catalyst state, in words ------------------------------------------------------------

# A state is always written out as a word (readable without colour or emoji, in a plain
# text notification or a screen reader); the symbol before it is decoration.
STATE_WORDS = {
    "no_signal": "no signal",
    "expected": "expected",
    "reported": "reported",
    "confirmed": "confirmed",
    "denied": "denied",
    "delayed": "delayed",
    "overdue": "overdue",
}
STATE_SYMBOLS = {
    "no_signal": "⚪",
    "expected": "🕓",
    "reported": "🟡",
    "confirmed": "✅",
    "denied": "❌",
    "delayed": "⏸️",
    "overdue": "⚠️",
}

Escape = Callable[[str, int], str]


def _state_word(state: str) -> str:
    return STATE_WORDS.get(state, state)


def _when(value: str | None) -> str:
    try:
        return _short_time(_parse_time(value))
    except ValueError:
        return ""


def state_lines(item: ItemView, esc: Escape) -> list[str]:
    """The item's state line and, when it changed in the window, its change line.

    ``State: ✅ CONFIRMED since 2026-11-28 09:10 UTC · 2 independent outlets``,
    ``State: ⚠️ OVERDUE · not happened by 2026-12-31 · overdue; reported``,
    ``Changed: reported → confirmed (2 independent outlets)``. Each starts with our own
    word; the reason (it names outlets, which come from feeds) is escaped like feed text.
    """
    if item.state is None:
        return []

    def word(state: str) -> str:
        return esc(_state_word(state), 40) or "unknown"

    symbol = STATE_SYMBOLS.get(item.state, "")
    head = f"State: {symbol + ' ' if symbol else ''}{word(item.state).upper()}"
    if item.state_since and (since := _when(item.state_since)):
        head += f" since {since}"
    parts = [head]
    if item.expected_by and (by := esc(str(item.expected_by), 40)):
        if item.state == "overdue":
            parts.append(f"not happened by {by}")
        elif item.state not in ("confirmed", "denied"):
            parts.append(f"expected by {by}")
    c = item.change
    # The reason is said once: on the change line when it is that change's reason.
    if not (c and c.reason == item.state_reason) and (reason := esc(item.state_reason, 300)):
        parts.append(reason)
    lines = [" · ".join(parts)]
    if c:
        line = f"Changed: {word(c.from_state)} → {word(c.to_state)}"
        if reason := esc(c.reason, 300):
            line += f" ({reason})"
        lines.append(line)
    return lines


def _more_line(item: ItemView) -> str:
    n = item.more_stories
    return f"+{n} more {'story' if n == 1 else 'stories'}" if n > 0 else ""


def _item_count(item: ItemView) -> str:
    if item.story_total == 0:
        return "state change" if item.change else "no new stories"
    return _n(item.story_total, "story", "stories")


def _headline(v: DigestView) -> str:
    """``2 stories (4 matches), 1 state change``; ``no new matches`` for a heartbeat."""
    if not v.items:
        return "no new matches"
    text = f"{_n(v.story_count, 'story', 'stories')} ({_n(v.match_count, 'match', 'matches')})"
    if v.change_count:
        text += f", {_n(v.change_count, 'state change', 'state changes')}"
    return text


def _window(v: DigestView) -> str:
    return f"{_when(v.since)} → {_when(v.until)}"


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


def _slack_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _slack_story(s: StoryView) -> dict[str, Any]:
    title = _slack_link(s.link, slack_escape(s.title, TITLE_MAX))
    meta = ["via " + slack_escape(_sources_line(s), 400)]
    if c := _count_line(s):
        meta.append(c)
    meta.append(f"first seen {s.first_seen}")
    if s.terms:
        meta.append("terms: " + slack_escape(", ".join(s.terms), 400))
    return _slack_section(f"• {title}\n{' · '.join(meta)}")


def _slack_item(item: ItemView) -> list[dict[str, Any]]:
    """Divider, the item's section (name, why, state, change), its stories, "+N more"."""
    intro = f"*{slack_escape(item.name, 500)}* ({_item_count(item)})"
    if why := slack_escape(item.why, 1500):
        intro += f"\n{why}"
    for line in state_lines(item, slack_escape):
        intro += f"\n{line}"
    group: list[dict[str, Any]] = [{"type": "divider"}, _slack_section(intro)]
    group += [_slack_story(s) for s in item.stories]
    if more := _more_line(item):
        group.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return group


def _slack_messages(
    head: str, context: str, blocks: list[dict[str, Any]], fallback: str | None = None
) -> list[Message]:
    # Split into messages of at most 50 blocks, each opening with a header and a context.
    per_message = SLACK_MAX_BLOCKS - 2
    chunks = [blocks[i : i + per_message] for i in range(0, len(blocks), per_message)] or [[]]
    out = []
    for n, chunk in enumerate(chunks, 1):
        suffix = f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""
        msg = {
            "text": one_line((fallback or head) + suffix, SLACK_FALLBACK_TEXT),
            "blocks": [
                {"type": "header", "text": _slack_plain(head + suffix, SLACK_HEADER_TEXT)},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
                *chunk,
            ],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        out.append(Message(_dumps(msg)))
    return out


def render_slack(body: str) -> list[Message]:
    v = view(body)
    head = f"Catalyst digest {v.digest}: {_headline(v)}"
    blocks: list[dict[str, Any]] = []
    for item in v.items:
        blocks += _slack_item(item)
    return _slack_messages(head, _window(v), blocks)


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


def _discord_embeds(item: ItemView, title_text: str) -> list[dict[str, Any]]:
    """One embed for the item, more when its stories exceed 3000 characters: the state
    lines open the first, "+N more stories" closes the last."""
    lines = [_discord_story(s) for s in item.stories]
    if state := state_lines(item, discord_escape):
        lines.insert(0, "\n".join(state))
    if more := _more_line(item):
        lines.append(more)
    title = discord_plain(title_text, DISCORD_TITLE)
    footer = discord_plain(item.why, 1000)
    # Fill descriptions up to 3000 characters (each story line is at most ~2100, so
    # one always fits); the rest of the item's stories go to its next embed.
    embeds = []
    first = True
    while first or lines:
        desc, lines = _fill(lines, min(DISCORD_DESCRIPTION, 3000))
        embed: dict[str, Any] = {"title": title, "description": desc}
        if footer:
            embed["footer"] = {"text": footer}
        embeds.append(embed)
        first = False
    return embeds


def _discord_messages(head: str, embeds: list[dict[str, Any]]) -> list[Message]:
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


def render_discord(body: str) -> list[Message]:
    v = view(body)
    embeds: list[dict[str, Any]] = []
    for item in v.items:
        embeds += _discord_embeds(item, f"{item.name} ({_item_count(item)})")
    head = f"**Catalyst digest {discord_escape(v.digest, 64)}**: {_headline(v)}, {_window(v)}"
    return _discord_messages(head, embeds)


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
        _teams_subtle(" · ".join(meta)),
    ]


def _teams_subtle(text: str) -> dict[str, Any]:
    return {
        "type": "TextBlock",
        "text": text,
        "wrap": True,
        "isSubtle": True,
        "size": "Small",
        "spacing": "None",
    }


def _teams_item(item: ItemView, title_text: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": title_text,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "separator": True,
        }
    ]
    if why := teams_escape(item.why, 1000):
        parts.append({"type": "TextBlock", "text": why, "wrap": True})
    for line in state_lines(item, teams_escape):
        parts.append({"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"})
    for s in item.stories:
        parts += _teams_story(s)
    if more := _more_line(item):
        parts.append(_teams_subtle(more))
    return parts


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


def _teams_messages(head: str, context: str, parts: list[dict[str, Any]]) -> list[Message]:
    def header(suffix: str) -> list[dict[str, Any]]:
        return [
            {
                "type": "TextBlock",
                "text": teams_escape(head + suffix, 300),
                "weight": "Bolder",
                "size": "Large",
                "wrap": True,
            },
            {"type": "TextBlock", "text": context, "isSubtle": True, "spacing": "None"},
        ]

    chunks = _split_by_size(
        parts, lambda b: len(_dumps(_teams_message(header(" (99/99)") + b)).encode())
    )
    out = []
    for n, chunk in enumerate(chunks, 1):
        suffix = f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""
        out.append(Message(_dumps(_teams_message(header(suffix) + chunk))))
    return out


def render_teams(body: str) -> list[Message]:
    v = view(body)
    parts: list[dict[str, Any]] = []
    for item in v.items:
        parts += _teams_item(item, f"{teams_escape(item.name, 300)} ({_item_count(item)})")
    return _teams_messages(f"Catalyst digest {v.digest}: {_headline(v)}", _window(v), parts)


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


def _markdown_item(item: ItemView, heading: str) -> list[str]:
    lines = ["", heading]
    if why := markdown_escape(item.why, 1000):
        lines.append(f"_{why}_")
    # One paragraph per line: Markdown would join consecutive lines into one.
    for line in state_lines(item, markdown_escape):
        lines += ["", line]
    if item.stories:
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
    if more := _more_line(item):
        lines += ["", more]
    return lines


def render_markdown(body: str) -> str:
    v = view(body)
    lines = [
        f"# Catalyst digest {markdown_escape(v.digest, 64)}",
        f"{_headline(v)}, {_window(v)}",
    ]
    for item in v.items:
        lines += _markdown_item(item, f"## {markdown_escape(item.name, 300)} ({_item_count(item)})")
    return "\n".join(lines) + "\n"


def render_text_message(body: str) -> list[Message]:
    return [Message(render_markdown(body), "text/markdown; charset=utf-8")]


# --- alert@1: one story or one state change, as soon as it is recorded -----------------------

ALERT_SCHEMA = "catalyst-monitor/alert@1"


@dataclass(frozen=True, slots=True)
class AlertView:
    digest: str
    kind: str  # "event" | "state"
    generated_at: str
    item: ItemView

    @property
    def what(self) -> str:
        """``state change`` / ``new report``: our words only (the header carries no feed text)."""
        return "state change" if self.kind == "state" else "new report"


def alert_view(body: str | dict[str, Any]) -> AlertView:
    d = json.loads(body) if isinstance(body, str) else body
    w = dict(d.get("watch_item") or {})
    w["state_changed"] = d.get("state_changed")
    matches = d.get("matches") or []
    story = d.get("story")
    stories: tuple[StoryView, ...] = ()
    if isinstance(story, dict):
        story = {**story, "match_indexes": story.get("match_indexes", range(len(matches)))}
        stories = (_payload_story(story, matches),)
    item = ItemView(
        str(w.get("id", "")),
        str(w.get("name", "")),
        str(w.get("why") or ""),
        len(matches),
        stories,
        **_state_fields(w),
    )
    return AlertView(
        str(d.get("digest", "")), str(d.get("kind", "")), str(d.get("generated_at") or ""), item
    )


def _alert_title(a: AlertView) -> str:
    """The item's title line: ``API broadening: reported → confirmed`` (plain text)."""
    if a.kind == "state" and a.item.change:
        c = a.item.change
        return f"{a.item.name}: {_state_word(c.from_state)} → {_state_word(c.to_state)}"
    return f"{a.item.name}: {_state_word(a.item.state or 'reported')}"


def render_alert_slack(body: str) -> list[Message]:
    a = alert_view(body)
    item = a.item
    intro = f"*{slack_escape(_alert_title(a), 600)}*"
    if why := slack_escape(item.why, 1500):
        intro += f"\n{why}"
    for line in state_lines(item, slack_escape):
        intro += f"\n{line}"
    blocks = [_slack_section(intro), *(_slack_story(s) for s in item.stories)]
    return _slack_messages(
        f"Catalyst alert {a.digest}: {a.what}",
        _when(a.generated_at),
        blocks,
        fallback=f"Catalyst alert: {slack_escape(_alert_title(a), 600)}",
    )


def render_alert_discord(body: str) -> list[Message]:
    a = alert_view(body)
    embeds = _discord_embeds(a.item, _alert_title(a))
    head = f"**Catalyst alert {discord_escape(a.digest, 64)}**: {a.what}, {_when(a.generated_at)}"
    return _discord_messages(head, embeds)


def render_alert_teams(body: str) -> list[Message]:
    a = alert_view(body)
    parts = _teams_item(a.item, teams_escape(_alert_title(a), 600))
    return _teams_messages(f"Catalyst alert {a.digest}: {a.what}", _when(a.generated_at), parts)


def render_alert_markdown(body: str) -> str:
    a = alert_view(body)
    lines = [
        f"# Catalyst alert {markdown_escape(a.digest, 64)}: {a.what}",
        _when(a.generated_at),
    ]
    lines += _markdown_item(a.item, f"## {markdown_escape(_alert_title(a), 600)}")
    return "\n".join(lines) + "\n"


def render_alert_text_message(body: str) -> list[Message]:
    return [Message(render_alert_markdown(body), "text/markdown; charset=utf-8")]


# --- entry point ---------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _as_is(body: str) -> list[Message]:
    return [Message(body)]


_RENDERERS: dict[str, Callable[[str], list[Message]]] = {
    "json": _as_is,
    "slack": render_slack,
    "discord": render_discord,
    "teams": render_teams,
    "text": render_text_message,
    # Apprise gets the Markdown rendering (deliver.py hands it to apprise.notify).
    "apprise": render_text_message,
}
_ALERT_RENDERERS: dict[str, Callable[[str], list[Message]]] = {
    "json": _as_is,
    "slack": render_alert_slack,
    "discord": render_alert_discord,
    "teams": render_alert_teams,
    "text": render_alert_text_message,
    "apprise": render_alert_text_message,
}


def schema_of(body: str) -> str:
    """The ``schema`` of a stored body (digest@1 unless it says otherwise)."""
    try:
        d = json.loads(body)
    except ValueError:
        return ""
    return str(d.get("schema") or "") if isinstance(d, dict) else ""


PREVIEW_FORMATS = ("summary", *FORMATS)


def preview(body: str, fmt: str) -> str:
    """What ``monitor digest --preview --format FMT`` prints for a built body: the
    readable summary, or every message a webhook of that format would receive, each on
    its own line(s), exactly as sent."""
    if fmt == "summary":
        return render_text(body) + "\n"
    return "".join(m.body if m.body.endswith("\n") else m.body + "\n" for m in render(body, fmt))


def render(body: str, fmt: str) -> list[Message]:
    """The messages that deliver ``body`` (a digest@1 or alert@1 JSON text) in ``fmt``, in
    order. ``json`` is the body itself, byte for byte, whatever its schema.
    """
    table = _ALERT_RENDERERS if schema_of(body) == ALERT_SCHEMA else _RENDERERS
    try:
        renderer = table[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}") from None
    return renderer(body)
