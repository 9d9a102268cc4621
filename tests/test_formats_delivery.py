"""Each webhook format end to end through the CLI, with a real receiver on 127.0.0.1.

poll -> digest -> POST in the webhook's format: the receiver gets exactly the bodies
``render`` makes from the stored digest, signed; a long Slack digest goes out as several
messages and a retry resumes after the last one accepted; ``monitor deliveries`` lists
the outbox and ``monitor deliveries retry ID`` resends a failed delivery.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.deliver import sign
from monitor.render import render
from storage.store import Store
from tests.support import SECRET, FeedFile, Item, Receiver, write_watchlist

NOW = datetime.now(UTC).replace(microsecond=0)
STORY = [
    Item(
        "a",
        "Meta opens the Muse Spark API to all developers",
        "The Muse Spark API is generally available.",
        "https://wire.example/muse-api?utm_source=rss",
        NOW - timedelta(hours=2),
    ),
    Item(
        "b",
        "Meta opens the Muse Spark API to all developers - Wire",
        "Meta opens the Muse Spark API to all developers Wire",
        "https://news.google.com/rss/articles/abc",
        NOW - timedelta(hours=1),
    ),
    Item(
        "c",
        "@everyone <!channel> [Muse Spark API](https://evil.example) *now*",
        "Muse Spark API",
        "https://other.example/x",
        NOW - timedelta(hours=1),
    ),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def setup(
    httpserver: HTTPServer, tmp_path: Path, fmt: str, items: list[Item]
) -> tuple[Receiver, Path]:
    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = items
    receiver = Receiver()
    hook = receiver.install(httpserver)
    config = write_watchlist(
        tmp_path / "watchlist.yaml", [("wire", httpserver.url_for("/wire.xml"))], hook_url=hook
    )
    config.write_text(config.read_text().replace("format: json", f"format: {fmt}"))
    return receiver, config


def stored(config: Path) -> list:
    store = Store.open(f"sqlite:///{config.parent / 'monitor.db'}")
    try:
        return store.deliveries()
    finally:
        store.close()


def check_signature(received, msg_id: str) -> None:
    assert received.headers["Webhook-Id"] == msg_id
    ts = int(received.headers["Webhook-Timestamp"])
    assert received.headers["Webhook-Signature"] == sign(SECRET, msg_id, ts, received.body)


@pytest.mark.parametrize("fmt", ["json", "slack", "discord", "teams", "text"])
def test_each_format_receives_exactly_the_rendered_bodies(
    fmt: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config = setup(httpserver, tmp_path, fmt, STORY)
    assert run(capsys, "poll", "--config", str(config))[0] == 0
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0, out
    [delivery] = stored(config)
    expected = render(delivery.body, fmt)
    assert [r.body.decode() for r in receiver.received] == [m.body for m in expected]
    for r, m in zip(receiver.received, expected, strict=True):
        assert r.headers["Content-Type"] == m.content_type
    check_signature(receiver.received[0], delivery.id)
    if fmt == "json":
        assert receiver.received[0].verify()["delivery_id"] == delivery.id
        return
    text = receiver.received[0].body.decode()
    # One story for the two copies of the wire's report; the hostile title is inert. (The
    # catalyst's state reason may quote the story's title: once more per distinct reason.)
    title = "Meta opens the Muse Spark API to all developers"
    item = json.loads(delivery.body)["watch_items"][0]
    reasons = {item["state_reason"], (item["state_changed"] or {}).get("reason", "")}
    assert text.count(title) == 1 + sum(title in r for r in reasons)
    assert "@everyone" not in text and "<!channel>" not in text
    assert "](https://evil.example)" not in text and "<https://evil.example" not in text
    if fmt == "discord":
        assert json.loads(text)["allowed_mentions"] == {"parse": []}


def _normalise_times(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "T", text)


@pytest.mark.parametrize("fmt", ["slack", "discord", "teams", "text"])
def test_preview_prints_what_would_be_sent(
    fmt: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config = setup(httpserver, tmp_path, fmt, STORY)
    run(capsys, "poll", "--config", str(config))
    code, preview, _ = run(capsys, "digest", "--preview", "--format", fmt, "--config", str(config))
    assert code == 0 and receiver.received == [] and stored(config) == []
    assert run(capsys, "digest", "--config", str(config))[0] == 0
    sent = "".join(r.body.decode() + ("" if fmt == "text" else "\n") for r in receiver.received)
    # The same bodies, but for the window's end (preview says "now", the run said its time).
    assert _normalise_times(preview) == _normalise_times(sent)


def test_long_slack_digest_is_split_and_a_retry_resumes_after_the_part_accepted(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [
        Item(
            f"s{i}",
            f"Muse Spark API note {i}: {' '.join(str(10_000 + i * 10 + k) for k in range(6))}",
            "",
            f"https://w{i}.example/{i}",
            NOW - timedelta(minutes=i),
        )
        for i in range(110)
    ]
    receiver, config = setup(httpserver, tmp_path, "slack", items)
    receiver.statuses = [200, 503]  # part 1 accepted, part 2 refused once
    run(capsys, "poll", "--config", str(config))
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 1, out
    [delivery] = stored(config)
    parts = render(delivery.body, "slack")
    assert len(parts) == 3
    assert delivery.status == "pending" and delivery.parts_sent == 1
    assert delivery.last_error == "part 2/3: HTTP 503"
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0, out
    bodies = [r.body.decode() for r in receiver.received]
    assert bodies == [parts[0].body, parts[1].body, parts[1].body, parts[2].body]
    ids = [r.headers["Webhook-Id"] for r in receiver.received]
    assert ids == [delivery.id, f"{delivery.id}-2", f"{delivery.id}-2", f"{delivery.id}-3"]
    [done] = stored(config)
    assert done.status == "delivered" and done.attempts == 2


def test_deliveries_list_and_retry_a_failed_delivery(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config = setup(httpserver, tmp_path, "json", STORY)
    receiver.statuses = [400]  # the receiver refuses: not retried by itself
    run(capsys, "poll", "--config", str(config))
    assert run(capsys, "digest", "--config", str(config))[0] == 1
    [failed] = stored(config)
    assert failed.status == "failed" and failed.attempts == 1

    code, out, _ = run(capsys, "deliveries", "--config", str(config), "--format", "json")
    assert code == 0
    [row] = json.loads(out)
    assert row["id"] == failed.id and row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == "HTTP 400"
    code, out, _ = run(capsys, "deliveries", "--config", str(config), "--status", "failed")
    assert code == 0 and failed.id in out and "HTTP 400" in out
    code, out, _ = run(capsys, "status", "--config", str(config))
    assert code == 0 and "1 (monitor deliveries --status failed)" in out

    code, out, _ = run(capsys, "deliveries", "retry", failed.id, "--config", str(config))
    assert code == 0, out
    assert f"{failed.id}: delivered (attempt 2)" in out
    assert [r.headers["Webhook-Id"] for r in receiver.received] == [failed.id, failed.id]
    assert receiver.received[0].body == receiver.received[1].body

    code, _, err = run(capsys, "deliveries", "retry", failed.id, "--config", str(config))
    assert code == 2 and "was delivered" in err and "not resent" in err
    code, _, err = run(capsys, "deliveries", "retry", "msg_nope", "--config", str(config))
    assert code == 1 and "no delivery 'msg_nope'" in err


def test_max_retry_age_is_a_setting(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, config = setup(httpserver, tmp_path, "json", STORY)
    config.write_text(
        config.read_text().replace(
            "  alert_max_age: 7d\n", "  alert_max_age: 7d\n  max_retry_age: 0s\n"
        )
    )
    receiver.statuses = [503]
    run(capsys, "poll", "--config", str(config))
    assert run(capsys, "digest", "--config", str(config))[0] == 1
    [d] = stored(config)
    # Retryable, but older than max_retry_age (0s): given up at once.
    assert d.status == "failed" and d.last_error == "HTTP 503"
