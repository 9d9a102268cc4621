"""Rendering digests for Slack, Discord, Teams and text: exact bodies, limits, escaping."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.render import (
    DISCORD_CONTENT,
    DISCORD_EMBED_TOTAL,
    DISCORD_MAX_EMBEDS,
    SLACK_HEADER_TEXT,
    SLACK_MAX_BLOCKS,
    SLACK_SECTION_TEXT,
    TEAMS_MAX_BYTES,
    render,
    safe_url,
)

HOSTILE = [
    "@everyone look",
    "@here now",
    "<!channel> <!here> <!everyone>",
    "<@U123ABC> and <@&987654321> and <#C024BE7LR>",
    "[Official statement](https://evil.example/phish)",
    "<https://evil.example|Reuters>",
    "*bold* _it_ ~strike~ `code` ```block```",
    "line one\nline two\r\n# Heading\n> quote\n- item\n1. item",
    "<script>alert(1)</script> &amp; <b>bold</b>",
    "||spoiler|| <t:0:R> :warning:",
    "\u2028sep\u2029 \x00nul \x1b[31mansi",
]


def payload(matches_by_item: list[tuple[str, list[dict[str, Any]]]], **extra: Any) -> str:
    items = [
        {"id": wid, "name": extra.get("name", wid), "why": extra.get("why", ""), "matches": ms}
        for wid, ms in matches_by_item
    ]
    return json.dumps(
        {
            "schema": "catalyst-monitor/digest@1",
            "digest": "daily",
            "delivery_id": "msg_1",
            "generated_at": "2026-11-28T13:00:00Z",
            "window": {"since": "2026-11-27T13:00:00Z", "until": "2026-11-28T13:00:00Z"},
            "match_count": sum(len(ms) for _, ms in matches_by_item),
            "watch_items": items,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def match(title: str, link: str | None, source: str | None = "Reuters", minute: int = 0, **kw: Any):
    return {
        "title": title,
        "link": link,
        "source": source,
        "published": None,
        "first_seen": f"2026-11-28T09:{minute:02d}:00Z",
        "matched_terms": kw.get("terms", ["Muse Spark API"]),
        "snippet": kw.get("snippet", ""),
    }


SAMPLE = payload(
    [
        (
            "api-broadening",
            [
                match(
                    "Meta expands Muse Spark API to Europe",
                    "https://www.reuters.com/a?utm_source=x",
                    minute=1,
                ),
                match(
                    "Meta expands Muse Spark API to Europe - Reuters",
                    "https://news.google.com/rss/articles/x",
                    minute=5,
                ),
                match(
                    "Meta brings Muse Spark API to EU developers",
                    "https://www.euractiv.com/b",
                    "Euractiv",
                    minute=9,
                ),
            ],
        )
    ],
    name="API broadening",
    why="Would signal platform revenue.",
)


def test_json_is_the_stored_body_byte_for_byte() -> None:
    [m] = render(SAMPLE, "json")
    assert m.body == SAMPLE and m.content_type == "application/json"


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render(SAMPLE, "xml")


def test_slack_exact_body() -> None:
    [m] = render(SAMPLE, "slack")
    assert json.loads(m.body) == {
        "text": "Catalyst digest daily: 1 story (3 matches)",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "Catalyst digest daily: 1 story (3 matches)",
                    "emoji": False,
                },
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC"}
                ],
            },
            {"type": "divider"},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*API broadening* (1 story)\nWould signal platform revenue.",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "• <https://www.reuters.com/a?utm_source=x|Meta expands Muse Spark API to Europe>\n"
                    "via Reuters, Euractiv · 3 reports, 2 outlets · first seen 2026-11-28 09:01 UTC · terms: Muse Spark API",
                },
            },
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_discord_exact_body() -> None:
    [m] = render(SAMPLE, "discord")
    assert json.loads(m.body) == {
        "content": "**Catalyst digest daily**: 1 story (3 matches), 2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC",
        "embeds": [
            {
                "title": "API broadening (1 story)",
                "description": "• [Meta expands Muse Spark API to Europe](https://www.reuters.com/a?utm_source=x)\n"
                "via Reuters, Euractiv · 3 reports, 2 outlets · first seen 2026-11-28 09:01 UTC · terms: Muse Spark API",
                "footer": {"text": "Would signal platform revenue."},
            }
        ],
        "allowed_mentions": {"parse": []},
    }


def test_teams_exact_body() -> None:
    [m] = render(SAMPLE, "teams")
    card = json.loads(m.body)
    assert card["type"] == "message"
    [att] = card["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert att["content"]["type"] == "AdaptiveCard" and att["content"]["version"] == "1.4"
    assert [b["text"] for b in att["content"]["body"]] == [
        "Catalyst digest daily: 1 story (3 matches)",
        "2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC",
        "API broadening (1 story)",
        "Would signal platform revenue.",
        "[Meta expands Muse Spark API to Europe](https://www.reuters.com/a?utm_source=x)",
        "via Reuters, Euractiv · 3 reports, 2 outlets · first seen 2026-11-28 09:01 UTC · terms: Muse Spark API",
    ]


def test_text_exact_body() -> None:
    [m] = render(SAMPLE, "text")
    assert m.content_type == "text/markdown; charset=utf-8"
    assert m.body == (
        "# Catalyst digest daily\n"
        "1 story (3 matches), 2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC\n"
        "\n"
        "## API broadening (1 story)\n"
        "_Would signal platform revenue._\n"
        "\n"
        "- [Meta expands Muse Spark API to Europe](<https://www.reuters.com/a?utm_source=x>)\n"
        "  via Reuters, Euractiv · 3 reports, 2 outlets · first seen 2026-11-28 09:01 UTC · terms: Muse Spark API\n"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x?q=1&r=2", "https://a.example/x?q=1&r=2"),
        ("https://a.example/a b|c>d)e]", "https://a.example/a%20b%7Cc%3Ed%29e%5D"),
        ("javascript:alert(1)", None),
        ("data:text/html,hi", None),
        ("/relative", None),
        ("https://a.example/\nx", None),
        ("https://a.example/" + "x" * 2000, None),
        (None, None),
    ],
)
def test_safe_url(url, expected) -> None:
    assert safe_url(url) == expected


# --- limits -------------------------------------------------------------------------------


def big_digest(items: int = 6, stories: int = 60, title_len: int = 280) -> str:
    out = []
    for i in range(items):
        ms = [
            match(
                f"Story {i}-{j} "
                # Distinct numbers: no two stories share a word, so none is clustered.
                + " ".join(str(100000 + (i * stories + j) * 40 + k) for k in range(title_len // 8)),
                f"https://n{j}.example/{i}/{j}?" + "p=" + "y" * 300,
                f"Outlet {j} " + "z" * 200,
                minute=j % 60,
                terms=[f"term {k}" for k in range(30)],
            )
            for j in range(stories)
        ]
        out.append((f"item-{i}", ms))
    return payload(out, name="N" * 400, why="W" * 3000)


def slack_texts(msg: dict[str, Any]) -> list[str]:
    texts = []
    for b in msg["blocks"]:
        if "text" in b:
            texts.append(b["text"]["text"])
        for e in b.get("elements", []):
            texts.append(e["text"])
    return texts


def check_slack_limits(messages) -> None:
    for m in messages:
        msg = json.loads(m.body)
        assert len(msg["blocks"]) <= SLACK_MAX_BLOCKS
        assert len(msg["text"]) <= 3000
        for b in msg["blocks"]:
            if b["type"] == "header":
                assert len(b["text"]["text"]) <= SLACK_HEADER_TEXT
            if b["type"] == "section":
                assert 0 < len(b["text"]["text"]) <= SLACK_SECTION_TEXT


def check_discord_limits(messages) -> None:
    for m in messages:
        msg = json.loads(m.body)
        assert msg["allowed_mentions"] == {"parse": []}
        assert len(msg["content"]) <= DISCORD_CONTENT
        assert 1 <= len(msg["embeds"]) <= DISCORD_MAX_EMBEDS
        total = 0
        for e in msg["embeds"]:
            assert len(e["title"]) <= 256 and len(e["description"]) <= 4096
            assert len(e.get("footer", {}).get("text", "")) <= 2048
            total += (
                len(e["title"]) + len(e["description"]) + len(e.get("footer", {}).get("text", ""))
            )
        assert total <= DISCORD_EMBED_TOTAL


def check_teams_limits(messages) -> None:
    for m in messages:
        assert len(m.body.encode()) <= 28 * 1024
        assert (
            len(m.body.encode()) <= TEAMS_MAX_BYTES
            or len(json.loads(m.body)["attachments"][0]["content"]["body"]) <= 4
        )


def test_a_big_digest_is_split_within_every_limit_and_loses_no_story() -> None:
    body = big_digest()
    stories = 6 * 60
    slack = render(body, "slack")
    discord = render(body, "discord")
    teams = render(body, "teams")
    assert len(slack) > 1 and len(discord) > 1 and len(teams) > 1
    check_slack_limits(slack)
    check_discord_limits(discord)
    check_teams_limits(teams)
    # Every story appears exactly once across the messages of each format.
    assert sum(m.body.count("• <https://n") for m in slack) == stories
    assert sum(m.body.count("• [Story") for m in discord) == stories
    assert sum(m.body.count('"text":"[Story') for m in teams) == stories
    # Parts are numbered.
    assert json.loads(slack[0].body)["text"].endswith(f"(1/{len(slack)})")
    assert json.loads(discord[-1].body)["content"].endswith(f"({len(discord)}/{len(discord)})")


# --- hostile text ---------------------------------------------------------------------------

LINK = "https://news.example.com/story"


def inert_slack(messages, links: int) -> None:
    for m in messages:
        for text in slack_texts(json.loads(m.body)):
            # The only "<" left are our links to the entry's own URL.
            ours = re.findall(r"<([^<>|]*)\|", text)
            assert all(u == LINK for u in ours), ours
            stripped = re.sub(r"<https://news\.example\.com/story\|", "", text)
            stripped = re.sub(r">(\n|$)", r"\1", stripped)
            assert "<" not in stripped and ">" not in stripped, text
            assert "@everyone" not in text and "@here" not in text and "@channel" not in text
            assert not re.search(r"[*_~`]", re.sub(r"^\*[^*\n]*\*( \([^()]*\))?", "", text))
            assert "\n\n" not in text
    assert sum(m.body.count(f"<{LINK}|") for m in messages) == links


def inert_discord(messages, links: int) -> None:
    for m in messages:
        msg = json.loads(m.body)
        assert msg["allowed_mentions"] == {"parse": []}
        for e in msg["embeds"]:
            for text in (e["title"], e.get("footer", {}).get("text", "")):
                assert "@everyone" not in text and "@here" not in text
            desc = e["description"]
            unescaped = re.sub(r"\\.", "", desc)  # drop every backslash escape
            # Our own parentheses around a change's reason ("Changed: a → b (reason)").
            unescaped = re.sub(r"(?m)^(Changed: [^\n]*?) \(([^\n]*)\)$", r"\1 \2", unescaped)
            # What is left of the Markdown is ours: "• [" ... "](" LINK ")".
            ours = re.sub(r"• \[|\]\(https://news\.example\.com/story\)", "", unescaped)
            assert not re.search(r"[\[\]()<>*_~`|]", ours), desc
            # Every line starts with our own text, never with feed text (a heading, quote...).
            assert all(
                ln == "" or ln.startswith(("• ", "via ", "State: ", "Changed: ", "+"))
                for ln in desc.split("\n")
            ), desc
            assert "@everyone" not in desc and "@here" not in desc
    assert sum(m.body.count(f"]({LINK})") for m in messages) == links


def inert_teams(messages, links: int) -> None:
    for m in messages:
        for b in json.loads(m.body)["attachments"][0]["content"]["body"]:
            text = re.sub(r"^\[|\]\(https://news\.example\.com/story\)$", "", b["text"])
            assert not re.search(r"[\[\]<>*_`~]", text), b["text"]
            assert "\n" not in text and "@everyone" not in text and "@here" not in text
    assert sum(m.body.count(f"]({LINK})") for m in messages) == links


def inert_text(messages, links: int) -> None:
    [m] = messages
    for line in m.body.splitlines():
        unescaped = re.sub(r"\\.", "", line)
        ours = re.sub(
            r"^(# |## |- \[|  |_)|\]\(<https://news\.example\.com/story>\)$|_$", "", unescaped
        )
        assert not re.search(r"[\[\]<>*_`~#|]", ours), line
        assert "@everyone" not in line and "@here" not in line
    assert m.body.count(f"](<{LINK}>)") == links


CHECKS = {"slack": inert_slack, "discord": inert_discord, "teams": inert_teams, "text": inert_text}
LIMITS = {
    "slack": check_slack_limits,
    "discord": check_discord_limits,
    "teams": check_teams_limits,
    "text": lambda m: None,
}


@pytest.mark.parametrize("fmt", list(CHECKS))
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_titles_render_inert(fmt: str, text: str) -> None:
    body = payload(
        [
            (
                "w",
                [
                    match(text, LINK, text, minute=1, terms=[text]),
                    match(text + " x", "javascript:alert(1)", text, minute=2),
                ],
            )
        ],
        name=text,
        why=text,
    )
    messages = render(body, fmt)
    CHECKS[fmt](
        messages, links=1 if len(json.loads(render(body, "discord")[0].body)["embeds"]) else 0
    )
    LIMITS[fmt](messages)


@pytest.mark.parametrize("fmt", list(CHECKS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(max_size=400), source=st.text(max_size=60), why=st.text(max_size=200))
def test_any_title_renders_inert_and_within_limits(
    fmt: str, title: str, source: str, why: str
) -> None:
    body = payload(
        [("w", [match(title or "x", LINK, source, minute=3, terms=[title[:20] or "t"])])],
        name=why or "n",
        why=why,
    )
    messages = render(body, fmt)
    CHECKS[fmt](messages, links=1)
    LIMITS[fmt](messages)
