"""Print a sample of each format as rendered, for a digest with catalyst states and for
one alert of each kind (the closing note of issue 4 quotes this output).

    .venv/bin/python bench/render_samples.py [--format slack]

The digest is built by ``digest.build_digest`` from real ``Match`` records: a story told
by Reuters, its Google News copy and Euractiv on a watch item that went reported ->
confirmed, a hostile entry (mentions, a smuggled link, Markdown), an overdue item with no
new match, and a top_k of 2 so one story is counted as "+1 more story".
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, timedelta

from monitor.digest import WatchInfo, build_digest
from monitor.render import FORMATS, render
from monitor.types import CatalystState, Match, Transition

T0 = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


def _match(i: int, watch: str, title: str, link: str, source: str, minute: int) -> Match:
    seen = datetime(2026, 11, 28, 9, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return Match(
        id=i,
        entry_id=i,
        watch_id=watch,
        title=title,
        link=link,
        guid=f"g{i}",
        feed_id="wire",
        source=source,
        published=seen,
        first_seen=seen,
        matched_terms=("Muse Spark API",),
        snippet="",
        revision="r",
        alert=True,
        created_at=seen,
    )


def sample_digest() -> str:
    infos = [
        WatchInfo("api", "API broadening", "Would signal a platform revenue opportunity.", "high"),
        WatchInfo(
            "ads", "Ads in Muse", "Monetisation of the assistant.", "normal", date(2026, 11, 27)
        ),
    ]
    matches = [
        _match(1, "api", "Meta expands Muse Spark API to Europe",
               "https://www.reuters.com/technology/meta-expands-muse-spark-api-europe/", "Reuters", 10),
        _match(2, "api", "Meta expands Muse Spark API to Europe - Reuters",
               "https://news.google.com/rss/articles/CBMi", "Reuters", 14),
        _match(3, "api", "Meta brings Muse Spark API to EU developers",
               "https://www.euractiv.com/section/tech/news/muse-api-eu/", "Euractiv", 25),
        _match(4, "api", "@everyone <!channel> [Click here](https://evil.example) *urgent*",
               "https://evil.example/x", "Spam <@&1>", 50),
        _match(5, "api", "Developers see doubled rate limits on the assistant platform",
               "https://blog.example/limits", "Dev Blog", 55),
    ]  # fmt: skip
    states = {
        "api": CatalystState(
            "api", "confirmed", T0 - timedelta(hours=3, minutes=35),
            "2 independent outlets: reuters.com, euractiv.com",
        ),
        "ads": CatalystState("ads", "overdue", T0 - timedelta(hours=13), "overdue; expected"),
    }  # fmt: skip
    transitions = [
        Transition(1, "api", "reported", "confirmed", T0 - timedelta(hours=3, minutes=35),
                   "2 independent outlets: reuters.com, euractiv.com"),
        Transition(2, "ads", "expected", "overdue", T0 - timedelta(hours=13), "overdue; expected"),
    ]  # fmt: skip
    d = build_digest(
        "daily", infos, matches, since=T0 - timedelta(days=1), until=T0,
        delivery_id="msg_sample", states=states, transitions=transitions, top_k=2,
    )  # fmt: skip
    assert d is not None
    return d.body


def sample_alert() -> str:
    return json.dumps(
        {
            "schema": "catalyst-monitor/alert@1",
            "digest": "daily",
            "delivery_id": "msg_alert",
            "generated_at": "2026-11-28T09:26:00Z",
            "kind": "state",
            "watch_item": {
                "id": "api",
                "name": "API broadening",
                "why": "Would signal a platform revenue opportunity.",
                "priority": "high",
                "state": "confirmed",
                "state_since": "2026-11-28T09:25:00Z",
                "expected_by": None,
            },
            "state_changed": {
                "from": "reported",
                "to": "confirmed",
                "at": "2026-11-28T09:26:00Z",
                "reason": "2 independent outlets: reuters.com, euractiv.com",
            },
            "story": {
                "title": "Meta expands Muse Spark API to Europe",
                "link": "https://www.reuters.com/technology/meta-expands-muse-spark-api-europe/",
                "outlets": ["reuters.com", "euractiv.com"],
                "source_count": 3,
                "first_seen": "2026-11-28T09:10:00Z",
                "matched_terms": ["Muse Spark API"],
                "stances": ["event"],
            },
            "matches": [],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", choices=FORMATS)
    args = ap.parse_args()
    for name, body in (("digest", sample_digest()), ("alert", sample_alert())):
        for fmt in [args.format] if args.format else FORMATS:
            if fmt == "apprise":
                continue  # the text rendering, sent through Apprise
            for i, m in enumerate(render(body, fmt), 1):
                print(f"--- {name} / {fmt} (message {i}, {m.content_type})")
                print(m.body, end="" if m.body.endswith("\n") else "\n")


if __name__ == "__main__":
    main()
