"""digest@1 with catalyst state: ranking, top_k, state changes without matches, heartbeats,
compatibility (matches[] unchanged) and the published JSON Schemas."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from monitor.digest import WatchInfo, build_digest
from monitor.types import CatalystState, Match, Transition

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
SINCE = T0 - timedelta(days=1)


def schema(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / name).read_text())


DIGEST_SCHEMA = schema("digest-1.json")
ALERT_SCHEMA = schema("alert-1.json")
REGISTRY = Registry().with_resources(
    [(s["$id"], Resource.from_contents(s)) for s in (DIGEST_SCHEMA, ALERT_SCHEMA)]
)


def validate(doc: dict[str, Any], which: dict[str, Any] = DIGEST_SCHEMA) -> None:
    Draft202012Validator(which, registry=REGISTRY, format_checker=FormatChecker()).validate(doc)


def errors(doc: dict[str, Any], which: dict[str, Any] = DIGEST_SCHEMA) -> list[str]:
    v = Draft202012Validator(which, registry=REGISTRY, format_checker=FormatChecker())
    return [e.message for e in v.iter_errors(doc)]


_ids = iter(range(1, 10_000))


def m(
    watch_id: str,
    title: str,
    link: str,
    source: str,
    minutes: int,
    stance: str = "event",
    terms: tuple[str, ...] = ("Muse Spark API",),
) -> Match:
    seen = T0 - timedelta(hours=10) + timedelta(minutes=minutes)
    i = next(_ids)
    return Match(
        id=i,
        entry_id=i,
        watch_id=watch_id,
        title=title,
        link=link,
        guid=f"g{i}",
        feed_id="wire",
        source=source,
        published=seen,
        first_seen=seen,
        matched_terms=terms,
        snippet="",
        revision="r",
        alert=True,
        created_at=seen,
        stance=stance,
    )


INFOS = [
    WatchInfo("api", "API broadening", "Platform revenue.", "normal"),
    WatchInfo("glasses", "Glasses rollout", "Multimodal wedge.", "high", date(2026, 12, 31)),
    WatchInfo("ads", "Ads in Muse", "Monetisation.", "normal", date(2026, 11, 1)),
]


def api_matches() -> list[Match]:
    return [
        # One story told by three outlets (plus a Google News copy of one of them)...
        m(
            "api",
            "Meta expands Muse Spark API to Europe",
            "https://www.reuters.com/a",
            "Reuters",
            1,
        ),
        m(
            "api",
            "Meta expands Muse Spark API to Europe - Reuters",
            "https://news.google.com/rss/articles/x",
            "Reuters",
            5,
        ),
        m(
            "api",
            "Meta brings Muse Spark API to EU developers",
            "https://euractiv.com/b",
            "Euractiv",
            9,
        ),
        m("api", "Muse Spark API comes to Europe, Meta says", "https://ft.com/c", "FT", 12),
        # ... and two single-outlet stories.
        m(
            "api",
            "Rate limits doubled for paying developers, pricing page shows",
            "https://blog.example/rl",
            "Blog",
            20,
            "plan",
        ),
        m(
            "api",
            "Outage hits assistant platform for two hours on Thursday",
            "https://status.example/o",
            "Status",
            30,
        ),
    ]


def build(matches: list[Match], **kw: Any) -> dict[str, Any] | None:
    d = build_digest("daily", INFOS, matches, since=SINCE, until=T0, delivery_id="msg_1", **kw)
    return None if d is None else json.loads(d.body)


# --- shape and compatibility ------------------------------------------------------------------


def test_items_gain_state_and_stories_and_matches_are_unchanged() -> None:
    ms = api_matches()
    body = build(ms)
    assert body is not None
    [item] = body["watch_items"]
    # matches[] exactly as the first digest@1 had it: every match, oldest first.
    assert [x["title"] for x in item["matches"]] == [x.title for x in ms]
    assert set(item["matches"][0]) == {
        "title", "link", "source", "published", "first_seen", "matched_terms", "snippet",
        "stance", "explanation",
    }  # fmt: skip
    assert item["state"] == "no_signal" and item["state_since"] is None
    assert item["state_reason"] == "" and item["state_changed"] is None
    assert item["expected_by"] is None and item["priority"] == "normal"
    # Stories, the most outlets first; match_indexes point into matches[].
    assert [s["outlets"] for s in item["stories"]] == [
        ["reuters.com", "euractiv.com", "ft.com"],
        ["blog.example"],
        ["status.example"],
    ]
    top = item["stories"][0]
    assert top == {
        "title": "Meta expands Muse Spark API to Europe",
        "link": "https://www.reuters.com/a",
        "outlets": ["reuters.com", "euractiv.com", "ft.com"],
        "source_count": 4,
        "first_seen": "2026-11-27T22:01:00Z",
        "matched_terms": ["Muse Spark API"],
        "stances": ["event"],
        "match_indexes": [0, 1, 2, 3],
    }
    assert item["stories"][1]["stances"] == ["plan"]
    assert item["more_stories"] == 0
    validate(body)


def test_state_fields_come_from_the_stored_state() -> None:
    state = CatalystState(
        "api", "confirmed", T0 - timedelta(hours=9), "3 independent outlets", (1, 2), T0
    )
    body = build(api_matches(), states={"api": state})
    assert body is not None
    [item] = body["watch_items"]
    assert item["state"] == "confirmed"
    assert item["state_since"] == "2026-11-27T23:00:00Z"
    assert item["state_reason"] == "3 independent outlets"
    validate(body)


def test_top_k_cuts_stories_and_counts_the_rest_but_keeps_every_match() -> None:
    body = build(api_matches(), top_k=1)
    assert body is not None
    [item] = body["watch_items"]
    assert len(item["stories"]) == 1 and item["more_stories"] == 2
    assert item["stories"][0]["source_count"] == 4
    assert len(item["matches"]) == 6 and body["match_count"] == 6
    validate(body)


# --- what changed, and ranking ----------------------------------------------------------------


def t(watch_id: str, a: str, b: str, at: datetime, reason: str = "", i: int = 1) -> Transition:
    return Transition(i, watch_id, a, b, at, reason)


def test_a_state_change_without_matches_is_news() -> None:
    overdue = t("ads", "expected", "overdue", T0 - timedelta(hours=8), "overdue; expected")
    states = {"ads": CatalystState("ads", "overdue", T0 - timedelta(hours=8), "overdue; expected")}
    body = build([], states=states, transitions=[overdue])
    assert body is not None and body["match_count"] == 0
    [item] = body["watch_items"]
    assert item["id"] == "ads" and item["matches"] == [] and item["stories"] == []
    assert item["state"] == "overdue" and item["expected_by"] == "2026-11-01"
    assert item["state_changed"] == {
        "from": "expected",
        "to": "overdue",
        "at": "2026-11-28T00:00:00Z",
        "reason": "overdue; expected",
    }
    validate(body)


def test_a_change_resting_only_on_matches_not_to_be_sent_is_not_news_alone() -> None:
    # A feed's backlog (matches older than alert_max_age) moved the state: history
    # catching up. Listed only alongside new matches; a deadline (no evidence) is news.
    backlog = Transition(1, "api", "no_signal", "reported", T0 - timedelta(hours=2), "", (7, 8))
    assert build([], transitions=[backlog], quiet_match_ids={7, 8}) is None
    body = build([], transitions=[backlog], quiet_match_ids={7})  # 8 was sent: news
    assert body is not None and body["watch_items"][0]["id"] == "api"
    body = build(api_matches(), transitions=[backlog], quiet_match_ids={7, 8})
    assert body is not None and body["watch_items"][0]["state_changed"]["to"] == "reported"
    deadline = Transition(2, "ads", "expected", "overdue", T0 - timedelta(hours=1), "", (7,))
    body = build([], transitions=[backlog, deadline], quiet_match_ids={7, 8})
    assert body is not None and [w["id"] for w in body["watch_items"]] == ["ads"]


def test_transitions_outside_the_window_or_of_other_items_are_not_shown() -> None:
    trans = [
        t("ads", "expected", "overdue", SINCE - timedelta(seconds=1), i=1),  # before
        t("ads", "overdue", "reported", T0, i=2),  # at until: the next window's
        t("other", "no_signal", "reported", T0 - timedelta(hours=1), i=3),  # not in this digest
    ]
    assert build([], transitions=trans) is None
    # since is inclusive, as Store.transitions: one change is in exactly one window.
    body = build([], transitions=[t("ads", "expected", "overdue", SINCE)])
    assert body is not None and body["watch_items"][0]["state_changed"]["to"] == "overdue"


def test_several_changes_in_one_window_read_first_from_to_last_to() -> None:
    trans = [
        t("api", "reported", "confirmed", T0 - timedelta(hours=3), "3 outlets", i=2),
        t("api", "no_signal", "reported", T0 - timedelta(hours=5), "1 outlet", i=1),
    ]
    body = build(api_matches(), transitions=trans)
    assert body is not None
    assert body["watch_items"][0]["state_changed"] == {
        "from": "no_signal",
        "to": "confirmed",
        "at": "2026-11-28T05:00:00Z",
        "reason": "3 outlets",
    }


def test_ranking_state_changed_first_then_priority_high_then_outlets() -> None:
    glasses = [m("glasses", "Muse on Ray-Ban Meta glasses", "https://verge.example/g", "Verge", 3)]
    api = api_matches()  # 3 outlets on its best story
    # No changes: high priority first, then corroboration.
    body = build(api + glasses)
    assert body is not None
    assert [w["id"] for w in body["watch_items"]] == ["glasses", "api"]
    # A change beats priority.
    change = t("api", "reported", "confirmed", T0 - timedelta(hours=1))
    body = build(api + glasses, transitions=[change])
    assert body is not None
    assert [w["id"] for w in body["watch_items"]] == ["api", "glasses"]
    # Same priority, no change: most outlets first, whatever the watchlist order.
    infos = [WatchInfo("glasses", "G", ""), WatchInfo("api", "A", "")]
    d = build_digest("daily", infos, api + glasses, since=SINCE, until=T0, delivery_id="x")
    assert d is not None
    assert [w["id"] for w in json.loads(d.body)["watch_items"]] == ["api", "glasses"]
    # Ties keep the watchlist order.
    two = [
        m("glasses", "Muse on Ray-Ban Meta glasses", "https://verge.example/g", "Verge", 3),
        m("api", "Muse Spark API outage", "https://status.example/o", "Status", 30),
    ]
    d = build_digest("daily", infos, two, since=SINCE, until=T0, delivery_id="x")
    assert d is not None
    assert [w["id"] for w in json.loads(d.body)["watch_items"]] == ["glasses", "api"]


def test_send_empty_gives_a_heartbeat_and_without_it_nothing() -> None:
    assert build([]) is None
    d = build_digest(
        "daily", INFOS, [], since=SINCE, until=T0, delivery_id="msg_hb", send_empty=True
    )
    assert d is not None and d.match_ids == ()
    body = json.loads(d.body)
    assert body == {
        "schema": "catalyst-monitor/digest@1",
        "digest": "daily",
        "delivery_id": "msg_hb",
        "generated_at": "2026-11-28T08:00:00Z",
        "window": {"since": "2026-11-27T08:00:00Z", "until": "2026-11-28T08:00:00Z"},
        "match_count": 0,
        "watch_items": [],
    }
    validate(body)


# --- the published schemas --------------------------------------------------------------------


def test_schemas_are_valid_2020_12_documents() -> None:
    for s in (DIGEST_SCHEMA, ALERT_SCHEMA):
        Draft202012Validator.check_schema(s)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"


OLD_STYLE = {
    # A body as digest@1 was before issue 4 (README's example): still valid.
    "schema": "catalyst-monitor/digest@1",
    "digest": "daily",
    "delivery_id": "msg_4f1c",
    "generated_at": "2026-11-28T13:00:00Z",
    "window": {"since": "2026-11-27T13:00:00Z", "until": "2026-11-28T13:00:00Z"},
    "match_count": 1,
    "watch_items": [
        {
            "id": "api-broadening",
            "name": "API broadening",
            "why": "Would signal a platform revenue opportunity.",
            "matches": [
                {
                    "title": "Meta opens the Muse Spark API to all developers",
                    "link": "https://news.example.com/muse-api",
                    "source": "Example Wire",
                    "published": "2026-11-28T09:12:00Z",
                    "first_seen": "2026-11-28T09:20:41Z",
                    "matched_terms": ["Muse Spark API"],
                    "snippet": "The Muse Spark API leaves its limited preview…",
                }
            ],
        }
    ],
}


def test_old_style_bodies_still_validate() -> None:
    validate(OLD_STYLE)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("schema",), "catalyst-monitor/digest@2", "was expected"),
        (("match_count",), -1, "less than the minimum"),
        (
            ("watch_items", 0, "matches", 0, "first_seen"),
            "2026-11-28T09:20:41+01:00",
            "does not match",
        ),
        (("watch_items", 0, "state_changed"), {"from": "a"}, "is not valid under any"),
        (("watch_items", 0, "expected_by"), "31/12/2026", "is not valid under any"),
        (("watch_items", 0, "stories"), [{"title": "x"}], "is a required property"),
    ],
)
def test_the_schema_rejects_what_consumers_could_not_read(path, value, message) -> None:
    doc = json.loads(json.dumps(OLD_STYLE))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errs = errors(doc)
    assert errs and any(message in e for e in errs), errs


def alert_body(**over: Any) -> dict[str, Any]:
    body = {
        "schema": "catalyst-monitor/alert@1",
        "digest": "daily",
        "delivery_id": "msg_a1",
        "generated_at": "2026-11-28T10:00:00Z",
        "kind": "state",
        "watch_item": {
            "id": "api",
            "name": "API broadening",
            "why": "Platform revenue.",
            "priority": "high",
            "state": "confirmed",
            "state_since": "2026-11-28T09:10:00Z",
            "expected_by": None,
        },
        "state_changed": {
            "from": "reported",
            "to": "confirmed",
            "at": "2026-11-28T10:00:00Z",
            "reason": "2 independent outlets: reuters.com, ft.com",
        },
        "story": {
            "title": "Meta expands Muse Spark API to Europe",
            "link": "https://www.reuters.com/a",
            "outlets": ["reuters.com", "ft.com"],
            "source_count": 2,
            "first_seen": "2026-11-28T09:10:00Z",
            "matched_terms": ["Muse Spark API"],
            "stances": ["event"],
        },
        "matches": OLD_STYLE["watch_items"][0]["matches"],  # type: ignore[index]
    }
    body.update(over)
    return body


def test_alert_schema_accepts_both_kinds_and_rejects_a_bad_kind() -> None:
    validate(alert_body(), ALERT_SCHEMA)
    validate(alert_body(kind="event", state_changed=None), ALERT_SCHEMA)
    validate(alert_body(story=None), ALERT_SCHEMA)
    assert errors(alert_body(kind="digest"), ALERT_SCHEMA)
    no_item = alert_body()
    del no_item["watch_item"]
    assert any("'watch_item' is a required property" in e for e in errors(no_item, ALERT_SCHEMA))
