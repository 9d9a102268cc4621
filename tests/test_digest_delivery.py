"""Digests with catalyst state and immediate alerts, end to end through the CLI with real
receivers on 127.0.0.1: exact bodies in every format (validated against the published
JSON Schemas), top_k, send_empty heartbeats, a state change without matches, an outage
of a chat target (every digest arrives once, in order) and Apprise targets."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.catalysts import check_deadlines
from monitor.render import render
from monitor.watchlist import load_watchlist
from storage.store import Store
from tests.support import FeedFile, Item, Receiver, write_watchlist
from tests.test_digest_state import ALERT_SCHEMA, DIGEST_SCHEMA, validate
from tests.test_formats_delivery import STORY, check_signature, run

NOW = datetime.now(UTC).replace(microsecond=0)
PAST = (NOW - timedelta(days=30)).date()
OVERDUE_ITEM = f"    expected_by: {PAST.isoformat()}\n"
FORMATS = ["json", "slack", "discord", "teams", "text"]


def world(
    httpserver: HTTPServer,
    tmp_path: Path,
    fmt: str,
    items: list[Item],
    *,
    digest_extra: str = "    immediate: false\n",
    hook: str | None = None,
    glasses_extra: str = "",
) -> tuple[Receiver, Path, FeedFile]:
    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = list(items)
    receiver = Receiver()
    url = hook if hook is not None else receiver.install(httpserver)
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml"))],
        hook_url=url,
        digest_extra=digest_extra,
    )
    text = config.read_text().replace("format: json", f"format: {fmt}")
    if glasses_extra:
        text = text.replace(
            "    why: Glasses are the multimodal wedge.\n",
            "    why: Glasses are the multimodal wedge.\n" + glasses_extra,
        )
    config.write_text(text)
    return receiver, config, feed


def open_store(config: Path) -> Store:
    return Store.open(f"sqlite:///{config.parent / 'monitor.db'}")


def deliveries(config: Path) -> list:
    """Oldest first."""
    store = open_store(config)
    try:
        return list(reversed(store.deliveries(limit=500)))
    finally:
        store.close()


def run_deadline_check(config: Path) -> None:
    """What the daemon does once a minute: items past expected_by become overdue."""
    store = open_store(config)
    try:
        check_deadlines(store, load_watchlist(config), datetime.now(UTC))
    finally:
        store.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_digest_with_states_arrives_exactly_in_every_format(
    fmt: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(httpserver, tmp_path, fmt, STORY, glasses_extra=OVERDUE_ITEM)
    assert run(capsys, "poll", "--config", str(config))[0] == 0
    run_deadline_check(config)
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0, out
    [delivery] = deliveries(config)
    body = json.loads(delivery.body)
    validate(body, DIGEST_SCHEMA)
    # Both items changed state; the high-priority one first. The overdue item has no match.
    api, glasses = body["watch_items"]
    assert api["id"] == "api-broadening" and api["state"] == "confirmed"
    assert api["state_changed"]["from"] == "no_signal" and api["state_changed"]["to"] == "confirmed"
    assert len(api["matches"]) == 3 and sum(s["source_count"] for s in api["stories"]) == 3
    assert glasses["id"] == "glasses-rollout" and glasses["matches"] == []
    assert glasses["state"] == "overdue" and glasses["expected_by"] == PAST.isoformat()
    assert glasses["state_changed"]["to"] == "overdue"
    # The receiver got exactly what render() makes of the stored body, signed.
    expected = render(delivery.body, fmt)
    assert [r.body.decode() for r in receiver.received] == [m.body for m in expected]
    check_signature(receiver.received[0], delivery.id)
    if fmt != "json":
        text = receiver.received[0].body.decode()
        assert "State: ✅ CONFIRMED" in text and "State: ⚠️ OVERDUE" in text
        assert f"not happened by {PAST.isoformat()}" in text
        assert "Changed: no signal → confirmed" in text


def test_preview_shows_states_as_they_would_be_sent(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(httpserver, tmp_path, "text", STORY, glasses_extra=OVERDUE_ITEM)
    run(capsys, "poll", "--config", str(config))
    run_deadline_check(config)
    code, preview, _ = run(
        capsys, "digest", "--preview", "--format", "text", "--config", str(config)
    )
    assert code == 0 and receiver.received == []
    assert (
        f"not happened by {PAST.isoformat()}" in preview
        and "Changed: no signal → confirmed" in preview
    )
    code, summary, _ = run(capsys, "digest", "--preview", "--config", str(config))
    assert "state: overdue" in summary and "changed: no_signal -> confirmed" in summary
    run(capsys, "digest", "--config", str(config))
    [sent] = receiver.received
    assert preview.split("\n", 2)[2] == sent.body.decode().split("\n", 2)[2]  # but the window line


def test_a_state_change_without_matches_is_delivered(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(httpserver, tmp_path, "json", [], glasses_extra=OVERDUE_ITEM)
    run(capsys, "poll", "--config", str(config))
    # No daemon ran the deadline check: `monitor digest` (cron) re-evaluates passed
    # deadlines itself before building, so this digest already says overdue.
    assert run(capsys, "digest", "--config", str(config))[0] == 0
    [r] = receiver.received
    body = r.verify()
    validate(body, DIGEST_SCHEMA)
    assert body["match_count"] == 0
    [item] = body["watch_items"]
    assert item["id"] == "glasses-rollout" and item["matches"] == [] and item["stories"] == []
    assert item["state_changed"]["to"] == "overdue"
    # Said once: the next digest has nothing new.
    assert "nothing pending" in run(capsys, "digest", "--config", str(config))[1]
    assert len(receiver.received) == 1


@pytest.mark.parametrize("fmt", ["json", "slack"])
def test_send_empty_delivers_a_heartbeat(
    fmt: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(
        httpserver, tmp_path, fmt, [], digest_extra="    immediate: false\n    send_empty: true\n"
    )
    run(capsys, "poll", "--config", str(config))
    for n in (1, 2):
        code, out, _ = run(capsys, "digest", "--config", str(config))
        assert code == 0 and "delivered" in out, out
        assert len(receiver.received) == n
    first, second = deliveries(config)
    assert first.match_count == 0 and first.status == "delivered"
    body = json.loads(first.body)
    validate(body, DIGEST_SCHEMA)
    assert body["match_count"] == 0 and body["watch_items"] == []
    assert [r.body.decode() for r in receiver.received] == [
        render(first.body, fmt)[0].body,
        render(second.body, fmt)[0].body,
    ]
    if fmt == "slack":
        assert (
            json.loads(receiver.received[0].body)["text"] == "Catalyst digest daily: no new matches"
        )


def test_without_send_empty_nothing_is_sent(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(httpserver, tmp_path, "json", [])
    run(capsys, "poll", "--config", str(config))
    assert "nothing pending" in run(capsys, "digest", "--config", str(config))[1]
    assert receiver.received == [] and deliveries(config) == []


def distinct_stories(n: int, prefix: str = "s") -> list[Item]:
    topics = [
        "pricing tiers announced for enterprise customers",
        "outage hits developers across Europe for two hours",
        "rate limits doubled after complaints from startups",
        "new SDK released for Swift and Kotlin",
        "regulator opens inquiry into data retention",
        "partnership signed with a cloud provider in Japan",
    ]
    return [
        Item(
            f"{prefix}{i}",
            f"Muse Spark API: {topics[i % len(topics)]} {i}",
            "",
            f"https://outlet{i}.example/{prefix}/{i}",
            NOW - timedelta(hours=3, minutes=i),
        )
        for i in range(n)
    ]


def test_top_k_limits_stories_per_item_and_counts_the_rest(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(
        httpserver,
        tmp_path,
        "slack",
        distinct_stories(4),
        digest_extra="    immediate: false\n    top_k: 1\n",
    )
    run(capsys, "poll", "--config", str(config))
    assert run(capsys, "digest", "--config", str(config))[0] == 0
    [d] = deliveries(config)
    [item] = json.loads(d.body)["watch_items"]
    assert len(item["matches"]) == 4 and len(item["stories"]) == 1 and item["more_stories"] == 3
    [r] = receiver.received
    msg = json.loads(r.body)
    assert msg["text"].startswith("Catalyst digest daily: 4 stories (4 matches)")
    assert sum(1 for b in msg["blocks"] if b["type"] == "section") == 2  # the item and 1 story
    assert msg["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "+3 more stories"}],
    }


def test_top_k_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_watchlist(
        tmp_path / "watchlist.yaml", [], digest_extra="    immediate: false\n    top_k: 0\n"
    )
    code, out, err = run(capsys, "check", "--config", str(config))
    assert code != 0
    assert "top_k" in out + err and "greater than or equal to 1" in out + err
    assert "watchlist.yaml:" in out + err


@pytest.mark.parametrize("fmt", FORMATS)
def test_alerts_go_out_in_the_digest_format_before_the_digest(
    fmt: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config, _ = world(httpserver, tmp_path, fmt, STORY, digest_extra="")
    run(capsys, "poll", "--config", str(config))  # the state change queues an alert
    assert run(capsys, "digest", "--config", str(config))[0] == 0
    alert, digest = deliveries(config)
    assert alert.kind == "alert" and digest.kind == "digest"
    a = json.loads(alert.body)
    validate(a, ALERT_SCHEMA)
    validate(json.loads(digest.body), DIGEST_SCHEMA)
    assert a["kind"] == "state" and a["state_changed"]["to"] == "confirmed"
    expected = [m.body for m in render(alert.body, fmt) + render(digest.body, fmt)]
    assert [r.body.decode() for r in receiver.received] == expected
    check_signature(receiver.received[0], alert.id)
    if fmt != "json":
        text = receiver.received[0].body.decode()
        assert "Catalyst alert daily" in text and "state change" in text
        assert "API broadening: no signal → confirmed" in text
        assert "@everyone" not in text and "<!channel>" not in text


# --- an outage of a chat target ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_outage_of_a_slack_target_every_digest_arrives_once_in_order(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there yet: connection refused
    hook = f"http://127.0.0.1:{port}/hook"
    receiver, config, feed = world(httpserver, tmp_path, "slack", [], hook=hook)
    for round_ in range(3):
        feed.items += distinct_stories(2, prefix=f"r{round_}-")
        run(capsys, "poll", "--config", str(config))
        code, out, _ = run(capsys, "digest", "--config", str(config))
        assert code == 1, out
    queued = deliveries(config)
    assert len(queued) == 3 and all(d.status == "pending" for d in queued)
    assert "ConnectError" in (queued[0].last_error or "")
    assert queued[1].attempts == 0 and queued[2].attempts == 0  # waited behind the first

    server = HTTPServer(host="127.0.0.1", port=port)
    server.start()
    try:
        receiver.install(server)
        feed.items += distinct_stories(1, prefix="r3-")
        run(capsys, "poll", "--config", str(config))
        code, out, _ = run(capsys, "digest", "--config", str(config))
        assert code == 0, out
        code, out, _ = run(capsys, "digest", "--config", str(config))  # nothing new, nothing resent
        assert "nothing pending" in out
    finally:
        server.clear()
        server.stop()
    done = deliveries(config)
    assert len(done) == 4 and all(d.status == "delivered" for d in done)
    ids = [r.headers["Webhook-Id"] for r in receiver.received]
    assert ids == [d.id for d in done]  # once each, oldest first
    assert [r.body.decode() for r in receiver.received] == [
        render(d.body, "slack")[0].body for d in done
    ]
    assert [json.loads(d.body)["match_count"] for d in done] == [2, 2, 2, 1]


# --- Apprise ----------------------------------------------------------------------------------


def apprise_url(httpserver: HTTPServer) -> str:
    return f"json://127.0.0.1:{httpserver.port}/hook"


def test_apprise_target_gets_the_text_rendering(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = Receiver()
    receiver.install(httpserver)
    _, config, _ = world(httpserver, tmp_path, "apprise", STORY, hook=apprise_url(httpserver))
    run(capsys, "poll", "--config", str(config))
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0, out
    [d] = deliveries(config)
    [r] = receiver.received
    text = render(d.body, "text")[0].body
    title, _, rest = text.partition("\n")
    assert r.json == {
        "version": "1.0",
        "title": title.removeprefix("# "),
        "message": rest.rstrip("\n"),  # Apprise trims the trailing newline
        "attachments": [],
        "type": "info",
    }
    assert r.json["title"] == "Catalyst digest daily" and "State: ✅ CONFIRMED" in r.json["message"]
    assert "Webhook-Signature" not in r.headers  # Apprise's request, not ours


def test_apprise_failure_is_retried_and_delivered_once(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = Receiver(statuses=[503])
    receiver.install(httpserver)
    _, config, _ = world(httpserver, tmp_path, "apprise", STORY, hook=apprise_url(httpserver))
    run(capsys, "poll", "--config", str(config))
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 1
    [d] = deliveries(config)
    assert d.status == "pending" and d.next_attempt_at is not None
    assert d.last_error and d.last_error.startswith("apprise: ") and "503" in d.last_error
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0, out
    [d] = deliveries(config)
    assert d.status == "delivered" and d.attempts == 2
    assert len(receiver.received) == 2 and receiver.received[0].body == receiver.received[1].body


def test_an_invalid_apprise_url_fails_without_retrying(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, config, _ = world(
        httpserver, tmp_path, "apprise", STORY, hook="nosuchscheme://secret-token/x"
    )
    run(capsys, "poll", "--config", str(config))
    assert run(capsys, "digest", "--config", str(config))[0] == 1
    [d] = deliveries(config)
    assert d.status == "failed"
    assert d.last_error == "not a valid Apprise URL (nosuchscheme://…)"  # the token is not logged
