"""Rendering digests with catalyst state, and alert@1 bodies, for every format: exact
bodies, stories[] as given, limits and hostile text in the new fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.render_samples import sample_alert, sample_digest
from monitor.render import render
from tests.test_render import CHECKS, HOSTILE, LIMITS, LINK, big_digest, match, payload

FORMATS = ["slack", "discord", "teams", "text"]


def slack_texts(body: str) -> list[str]:
    out = []
    for b in json.loads(body)["blocks"]:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [e["text"] for e in b.get("elements", [])]
    return out


def teams_texts(body: str) -> list[str]:
    return [b["text"] for b in json.loads(body)["attachments"][0]["content"]["body"]]


REUTERS = "https://www.reuters.com/technology/meta-expands-muse-spark-api-europe/"
STORY_META = "via Reuters, Euractiv · 3 reports, 2 outlets · first seen 2026-11-28 09:10 UTC · terms: Muse Spark API"
SPAM_META = "first seen 2026-11-28 09:50 UTC · terms: Muse Spark API"
API_STATE = "State: ✅ CONFIRMED since 2026-11-28 09:25 UTC"
API_CHANGE = "Changed: reported → confirmed (2 independent outlets: reuters.com, euractiv.com)"
ADS_STATE = "State: ⚠️ OVERDUE since 2026-11-28 00:00 UTC · not happened by 2026-11-27"
ADS_CHANGE = "Changed: expected → overdue (overdue; expected)"


# --- digests with state: exact bodies ---------------------------------------------------------


def test_text_digest_with_states_exact() -> None:
    [m] = render(sample_digest(), "text")
    assert m.body == (
        "# Catalyst digest daily\n"
        "3 stories (5 matches), 2 state changes, 2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC\n"
        "\n"
        "## API broadening (3 stories)\n"
        "_Would signal a platform revenue opportunity._\n"
        "\n"
        f"{API_STATE}\n"
        "\n"
        f"{API_CHANGE}\n"
        "\n"
        f"- [Meta expands Muse Spark API to Europe](<{REUTERS}>)\n"
        f"  {STORY_META}\n"
        "- [@\u2060everyone \\<\\!channel\\> \\[Click here\\]\\(https://evil.example\\) \\*urgent\\*](<https://evil.example/x>)\n"
        f"  via Spam \\<@\\&1\\> · {SPAM_META}\n"
        "\n"
        "+1 more story\n"
        "\n"
        "## Ads in Muse (state change)\n"
        "_Monetisation of the assistant._\n"
        "\n"
        f"{ADS_STATE}\n"
        "\n"
        f"{ADS_CHANGE}\n"
    )


def test_slack_digest_with_states_exact() -> None:
    [m] = render(sample_digest(), "slack")
    msg = json.loads(m.body)
    assert msg["text"] == "Catalyst digest daily: 3 stories (5 matches), 2 state changes"
    assert [b["type"] for b in msg["blocks"]] == [
        "header", "context", "divider", "section", "section", "section", "context",
        "divider", "section",
    ]  # fmt: skip
    assert slack_texts(m.body) == [
        "Catalyst digest daily: 3 stories (5 matches), 2 state changes",
        "2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC",
        "*API broadening* (3 stories)\nWould signal a platform revenue opportunity.\n"
        f"{API_STATE}\n{API_CHANGE}",
        f"• <{REUTERS}|Meta expands Muse Spark API to Europe>\n{STORY_META}",
        "• <https://evil.example/x|@\u2060everyone &lt;!channel&gt; [Click here](https://evil.example) ∗urgent∗>\n"
        f"via Spam &lt;@&amp;1&gt; · {SPAM_META}",
        "+1 more story",
        f"*Ads in Muse* (state change)\nMonetisation of the assistant.\n{ADS_STATE}\n{ADS_CHANGE}",
    ]


def test_discord_digest_with_states_exact() -> None:
    [m] = render(sample_digest(), "discord")
    msg = json.loads(m.body)
    assert msg["content"] == (
        "**Catalyst digest daily**: 3 stories (5 matches), 2 state changes, "
        "2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC"
    )
    assert msg["allowed_mentions"] == {"parse": []}
    assert msg["embeds"] == [
        {
            "title": "API broadening (3 stories)",
            "description": f"{API_STATE}\n{API_CHANGE}\n\n"
            f"• [Meta expands Muse Spark API to Europe]({REUTERS})\n{STORY_META}\n\n"
            "• [@\u2060everyone \\<!channel\\> \\[Click here\\]\\(https://evil.example\\) \\*urgent\\*](https://evil.example/x)\n"
            f"via Spam \\<@&1\\> · {SPAM_META}\n\n"
            "+1 more story",
            "footer": {"text": "Would signal a platform revenue opportunity."},
        },
        {
            "title": "Ads in Muse (state change)",
            "description": f"{ADS_STATE}\n{ADS_CHANGE}",
            "footer": {"text": "Monetisation of the assistant."},
        },
    ]


def test_teams_digest_with_states_exact() -> None:
    [m] = render(sample_digest(), "teams")
    assert teams_texts(m.body) == [
        "Catalyst digest daily: 3 stories (5 matches), 2 state changes",
        "2026-11-27 13:00 UTC → 2026-11-28 13:00 UTC",
        "API broadening (3 stories)",
        "Would signal a platform revenue opportunity.",
        API_STATE,
        API_CHANGE,
        f"[Meta expands Muse Spark API to Europe]({REUTERS})",
        STORY_META,
        "[@\u2060everyone ‹!channel› ［Click here］(https://evil.example) ∗urgent∗](https://evil.example/x)",
        f"via Spam ‹@&1› · {SPAM_META}",
        "+1 more story",
        "Ads in Muse (state change)",
        "Monetisation of the assistant.",
        ADS_STATE,
        ADS_CHANGE,
    ]


def test_json_is_still_the_body_byte_for_byte() -> None:
    body = sample_digest()
    assert [m.body for m in render(body, "json")] == [body]
    alert = sample_alert()
    assert [m.body for m in render(alert, "json")] == [alert]


def test_apprise_gets_the_text_rendering() -> None:
    body = sample_digest()
    assert render(body, "apprise") == render(body, "text")
    assert render(sample_alert(), "apprise") == render(sample_alert(), "text")


def test_stories_in_the_payload_are_used_as_given() -> None:
    # Clustering would merge these two copies into one story; the payload says two (as a
    # future clustering change might): the renderer shows what the payload says.
    d = json.loads(
        payload(
            [
                (
                    "w",
                    [
                        match("Meta expands Muse Spark API", "https://a.example/1", "A", 1),
                        match("Meta expands Muse Spark API", "https://b.example/2", "B", 2),
                    ],
                )
            ]
        )
    )
    assert "1 story" in render(json.dumps(d), "text")[0].body
    d["watch_items"][0]["stories"] = [
        {
            "title": f"Story {i}",
            "link": f"https://{x}.example/{i + 1}",
            "outlets": [f"{x}.example"],
            "source_count": 1,
            "first_seen": f"2026-11-28T09:0{i + 1}:00Z",
            "matched_terms": ["t"],
            "stances": ["event"],
            "match_indexes": [i],
        }
        for i, x in enumerate("ab")
    ]
    d["watch_items"][0]["more_stories"] = 4
    text = render(json.dumps(d), "text")[0].body
    assert "## w (6 stories)" in text and "+4 more stories" in text
    assert (
        "- [Story 0](<https://a.example/1>)\n  via A · first seen 2026-11-28 09:01 UTC · terms: t"
        in text
    )
    assert "- [Story 1](<https://b.example/2>)\n  via B · first seen" in text


def test_heartbeat_renders_in_every_format() -> None:
    body = json.dumps(
        {
            "schema": "catalyst-monitor/digest@1",
            "digest": "daily",
            "delivery_id": "msg_hb",
            "generated_at": "2026-11-28T08:00:00Z",
            "window": {"since": "2026-11-27T08:00:00Z", "until": "2026-11-28T08:00:00Z"},
            "match_count": 0,
            "watch_items": [],
        }
    )
    assert render(body, "text")[0].body == (
        "# Catalyst digest daily\nno new matches, 2026-11-27 08:00 UTC → 2026-11-28 08:00 UTC\n"
    )
    assert (
        json.loads(render(body, "slack")[0].body)["text"] == "Catalyst digest daily: no new matches"
    )
    discord = json.loads(render(body, "discord")[0].body)
    assert discord["content"].startswith("**Catalyst digest daily**: no new matches")
    assert teams_texts(render(body, "teams")[0].body)[0] == "Catalyst digest daily: no new matches"


# --- alerts: exact bodies ---------------------------------------------------------------------

ALERT_STORY_META = "via reuters.com, euractiv.com · 3 reports, 2 outlets · first seen 2026-11-28 09:10 UTC · terms: Muse Spark API"


def test_alert_text_exact() -> None:
    [m] = render(sample_alert(), "text")
    assert m.content_type == "text/markdown; charset=utf-8"
    assert m.body == (
        "# Catalyst alert daily: state change\n"
        "2026-11-28 09:26 UTC\n"
        "\n"
        "## API broadening: reported → confirmed\n"
        "_Would signal a platform revenue opportunity._\n"
        "\n"
        f"{API_STATE}\n"
        "\n"
        f"{API_CHANGE}\n"
        "\n"
        f"- [Meta expands Muse Spark API to Europe](<{REUTERS}>)\n"
        f"  {ALERT_STORY_META}\n"
    )


def test_alert_slack_discord_teams_exact() -> None:
    [s] = render(sample_alert(), "slack")
    assert json.loads(s.body)["text"] == "Catalyst alert: API broadening: reported → confirmed"
    assert json.loads(s.body)["unfurl_links"] is False
    assert slack_texts(s.body) == [
        "Catalyst alert daily: state change",
        "2026-11-28 09:26 UTC",
        "*API broadening: reported → confirmed*\nWould signal a platform revenue opportunity.\n"
        f"{API_STATE}\n{API_CHANGE}",
        f"• <{REUTERS}|Meta expands Muse Spark API to Europe>\n{ALERT_STORY_META}",
    ]
    [d] = render(sample_alert(), "discord")
    assert json.loads(d.body) == {
        "content": "**Catalyst alert daily**: state change, 2026-11-28 09:26 UTC",
        "embeds": [
            {
                "title": "API broadening: reported → confirmed",
                "description": f"{API_STATE}\n{API_CHANGE}\n\n"
                f"• [Meta expands Muse Spark API to Europe]({REUTERS})\n{ALERT_STORY_META}",
                "footer": {"text": "Would signal a platform revenue opportunity."},
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    [t] = render(sample_alert(), "teams")
    assert teams_texts(t.body) == [
        "Catalyst alert daily: state change",
        "2026-11-28 09:26 UTC",
        "API broadening: reported → confirmed",
        "Would signal a platform revenue opportunity.",
        API_STATE,
        API_CHANGE,
        f"[Meta expands Muse Spark API to Europe]({REUTERS})",
        ALERT_STORY_META,
    ]


def test_event_alert_names_the_outlets_from_its_matches() -> None:
    a = json.loads(sample_alert())
    a.update(kind="event", state_changed=None)
    a["matches"] = [
        match("Meta expands Muse Spark API to Europe", REUTERS, "Reuters", 10),
        match(
            "Meta brings Muse Spark API to EU developers", "https://euractiv.com/x", "Euractiv", 25
        ),
    ]
    text = render(json.dumps(a), "text")[0].body
    assert text.startswith("# Catalyst alert daily: new report\n")
    assert "## API broadening: confirmed\n" in text
    assert "  via Reuters, Euractiv · 3 reports, 2 outlets" in text
    assert "Changed:" not in text


# --- hostile text in the new fields -----------------------------------------------------------


def hostile_digest(text: str) -> str:
    d = json.loads(
        payload(
            [("w", [match(text, LINK, text, minute=1, terms=[text])])],
            name=text,
            why=text,
        )
    )
    w = d["watch_items"][0]
    w.update(
        state=text,
        state_since="2026-11-28T09:00:00Z",
        state_reason=text,
        state_changed={
            "from": text,
            "to": "overdue",
            "at": "2026-11-28T10:00:00Z",
            "reason": text + "!",
        },
        expected_by=text,
        stories=[
            {
                "title": text,
                "link": LINK,
                "outlets": [text, "b.example"],
                "source_count": 1,
                "first_seen": "2026-11-28T09:01:00Z",
                "matched_terms": [text],
                "stances": ["event"],
                "match_indexes": [0],
            }
        ],
        more_stories=3,
    )
    return json.dumps(d, ensure_ascii=False)


def hostile_alert(text: str) -> str:
    a = json.loads(sample_alert())
    a["watch_item"].update(name=text, why=text, state=text, expected_by=text)
    a["state_changed"].update({"from": text, "reason": text})
    a["story"].update(title=text, link=LINK, outlets=[text], matched_terms=[text])
    a["matches"] = [match(text, LINK, text, minute=1, terms=[text])]
    return json.dumps(a, ensure_ascii=False)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_states_reasons_and_outlets_render_inert(fmt: str, text: str) -> None:
    for body in (hostile_digest(text), hostile_alert(text)):
        messages = render(body, fmt)
        CHECKS[fmt](messages, links=1)
        LIMITS[fmt](messages)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400))
def test_any_reason_or_name_renders_inert(fmt: str, text: str) -> None:
    for body in (hostile_digest(text or "x"), hostile_alert(text or "x")):
        messages = render(body, fmt)
        CHECKS[fmt](messages, links=1)
        LIMITS[fmt](messages)


def test_a_big_digest_with_long_reasons_stays_within_limits() -> None:
    d = json.loads(big_digest(items=4, stories=40))
    for w in d["watch_items"]:
        w.update(
            state="reported",
            state_since="2026-11-28T09:00:00Z",
            state_reason="R" * 5000,
            state_changed={
                "from": "no_signal",
                "to": "reported",
                "at": "2026-11-28T10:00:00Z",
                "reason": "Q" * 5000,
            },
            expected_by="2026-12-31",
            more_stories=7,
        )
    body = json.dumps(d)
    for fmt in FORMATS:
        messages = render(body, fmt)
        LIMITS[fmt](messages)
        joined = "".join(m.body for m in messages)
        assert joined.count("+7 more stories") == 4
        assert joined.count("expected by 2026-12-31") == 4


def _alert_with(**watch: Any) -> str:
    a = json.loads(sample_alert())
    a["watch_item"].update(watch)
    return json.dumps(a)


def test_overdue_alert_says_not_happened_by() -> None:
    a = json.loads(_alert_with(state="overdue", expected_by="2026-11-27"))
    a["state_changed"] = {
        "from": "expected",
        "to": "overdue",
        "at": "2026-11-28T00:00:00Z",
        "reason": "overdue; expected",
    }
    a["story"] = None
    text = render(json.dumps(a), "text")[0].body
    assert "## API broadening: expected → overdue\n" in text
    # The reason is said once, on the change line.
    assert "\nState: ⚠️ OVERDUE since 2026-11-28 09:25 UTC · not happened by 2026-11-27\n" in text
    assert "Changed: expected → overdue (overdue; expected)" in text
    assert "- [" not in text
