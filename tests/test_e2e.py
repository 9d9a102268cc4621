"""End to end through the CLI, with real servers on 127.0.0.1 and a real SQLite file.

poll -> match -> record -> digest -> signed POST, verified with the standardwebhooks package;
then poll and digest again: no duplicate match, no second delivery of the same matches.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.cli import main
from tests.support import FeedFile, Item, Receiver, write_watchlist

MUSE_API = Item(
    "wire-1",
    "Meta opens the Muse Spark API to all developers",
    "The Muse Spark API leaves its limited preview and is now generally available.",
    "https://news.example.com/muse-api?utm_source=rss&utm_medium=feed",
)
GLASSES = Item(
    "wire-2",
    "Ray-Ban Meta glasses get Muse",
    "Meta's Muse Spark model now runs on Ray-Ban Meta glasses in the US.",
)
NOISE = Item("wire-3", "Muse announce a European stadium tour", "The band Muse will tour in 2027.")
PREVIEW_ONLY = Item(
    "wire-4", "Muse Spark API stays in private preview", "No change to the Muse API for now."
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def site(httpserver: HTTPServer, tmp_path: Path):
    feed = FeedFile(httpserver, "/wire.xml")
    receiver = Receiver()
    hook = receiver.install(httpserver)
    config = write_watchlist(
        tmp_path / "watchlist.yaml", [("wire", httpserver.url_for("/wire.xml"))], hook_url=hook
    )
    return feed, receiver, config


def test_poll_match_digest_and_no_repeats(
    site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    feed, receiver, config = site
    feed.items = [MUSE_API, GLASSES, NOISE, PREVIEW_ONLY]
    code, out, _ = run(capsys, "poll", "--config", str(config))
    assert code == 0
    assert out.strip() == "wire: 4 new entries, 2 new matches"

    code, out, _ = run(capsys, "matches", "--config", str(config), "--format", "json")
    rows = json.loads(out)
    assert sorted((r["watch_id"], r["guid"]) for r in rows) == [
        ("api-broadening", "wire-1"),
        ("glasses-rollout", "wire-2"),
    ]
    api = next(r for r in rows if r["watch_id"] == "api-broadening")
    assert api["matched_terms"] == ["Muse Spark API"]
    assert api["feed_id"] == "wire" and api["source"] == "Test wire"
    assert api["link"] == MUSE_API.link  # as the feed gave it
    for key in ("id", "title", "published", "first_seen"):
        assert api[key]
    assert api["first_seen"].endswith("Z")
    assert api["stance"] == "event"
    assert "score" in api["explanation"] and "stance event" in api["explanation"]
    assert "«Muse Spark API»" in api["explanation"]

    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0, out
    (req,) = receiver.received
    payload = req.verify()
    assert payload["schema"] == "catalyst-monitor/digest@1"
    assert payload["digest"] == "daily"
    assert payload["delivery_id"] == req.headers["Webhook-Id"]
    assert payload["match_count"] == 2
    assert set(payload["window"]) == {"since", "until"}
    items = {w["id"]: w for w in payload["watch_items"]}
    assert set(items) == {"api-broadening", "glasses-rollout"}
    assert items["api-broadening"]["why"] == "A wider API would open platform revenue."
    m = items["api-broadening"]["matches"][0]
    assert set(m) == {
        "title",
        "link",
        "source",
        "published",
        "first_seen",
        "matched_terms",
        "snippet",
        "stance",
        "explanation",
    }
    assert m["title"] == MUSE_API.title

    # Poll and digest again: nothing new, nothing sent. The server sent the same bytes, so
    # they were not even parsed; a changed document with the same entries adds nothing.
    code, out, _ = run(capsys, "poll", "--config", str(config))
    assert out.strip() == "wire: unchanged"
    feed.title = "Test wire (renamed)"
    code, out, _ = run(capsys, "poll", "--config", str(config))
    assert out.strip() == "wire: 0 new entries, 0 new matches"
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0 and "nothing pending" in out
    assert len(receiver.received) == 1

    # A new matching entry goes out in the next digest, alone.
    feed.items.append(
        Item("wire-5", "Oakley Meta glasses add Muse", "Muse arrives on Oakley Meta HSTN.")
    )
    run(capsys, "poll", "--config", str(config))
    run(capsys, "digest", "--config", str(config))
    assert len(receiver.received) == 2
    second = receiver.received[1].verify()
    assert second["match_count"] == 1
    assert second["watch_items"][0]["matches"][0]["title"] == "Oakley Meta glasses add Muse"
    assert second["window"]["since"] == payload["window"]["until"]
    assert second["delivery_id"] != payload["delivery_id"]

    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM matches").fetchone()[0] == 3


def test_webhook_500_twice_then_200(site, capsys: pytest.CaptureFixture[str]) -> None:
    feed, receiver, config = site
    feed.items = [MUSE_API]
    receiver.statuses = [500, 500]
    run(capsys, "poll", "--config", str(config))
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 1 and "failed" in out
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 1
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0 and "delivered" in out
    assert len(receiver.received) == 3
    ids = {r.headers["Webhook-Id"] for r in receiver.received}
    assert len(ids) == 1  # the same delivery on every attempt
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1
    for r in receiver.received:
        assert r.verify()["match_count"] == 1  # each attempt signed afresh and valid
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert "nothing pending" in out and len(receiver.received) == 3

    code, out, _ = run(capsys, "status", "--config", str(config))
    assert "delivered" in out


def test_preview_sends_and_records_nothing(site, capsys: pytest.CaptureFixture[str]) -> None:
    feed, receiver, config = site
    feed.items = [MUSE_API]
    run(capsys, "poll", "--config", str(config))
    code, out, _ = run(capsys, "digest", "--config", str(config), "--preview")
    assert code == 0 and MUSE_API.title in out and "API broadening" in out
    assert receiver.received == []
    run(capsys, "digest", "--config", str(config))
    assert len(receiver.received) == 1  # the preview did not consume the matches


def test_old_entries_are_recorded_but_not_sent(site, capsys: pytest.CaptureFixture[str]) -> None:
    feed, receiver, config = site
    old = Item(
        "old-1",
        "Meta widens Muse Spark API access",
        "Muse Spark API for partners.",
        published=datetime.now(UTC) - timedelta(days=30),
    )
    feed.items = [old]
    run(capsys, "poll", "--config", str(config))
    code, out, _ = run(capsys, "matches", "--config", str(config), "--format", "json")
    (row,) = json.loads(out)
    assert code == 0 and row["alert"] is False
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert code == 0 and "nothing pending" in out and receiver.received == []


def test_empty_webhook_url_records_the_digest_without_sending(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = [MUSE_API]
    config = write_watchlist(
        tmp_path / "watchlist.yaml", [("wire", httpserver.url_for("/wire.xml"))], hook_url=""
    )
    run(capsys, "poll", "--config", str(config))
    code, out, _err = run(capsys, "digest", "--config", str(config))
    assert code == 0 and "not sent (webhook url is empty)" in out
    code, out, _ = run(capsys, "digest", "--config", str(config))
    assert "nothing pending" in out


def test_broken_feeds_do_not_stop_the_others(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = [MUSE_API]
    httpserver.expect_request("/500.xml").respond_with_data("oops", status=500)
    httpserver.expect_request("/html").respond_with_data(
        "<html><body><p>Not a feed</p></body></html>", content_type="text/html"
    )
    httpserver.expect_request("/broken.xml").respond_with_data(
        "<rss><channel><item><title>x</ti", content_type="application/xml"
    )
    feeds = [
        ("wire", httpserver.url_for("/wire.xml")),
        ("five-hundred", httpserver.url_for("/500.xml")),
        ("html", httpserver.url_for("/html")),
        ("refused", "http://127.0.0.1:9/feed.xml"),
        ("nxdomain", "http://no-such-host.invalid/feed.xml"),
    ]
    config = write_watchlist(tmp_path / "watchlist.yaml", feeds)
    code, out, _err = run(capsys, "poll", "--config", str(config))
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["wire"] == "1 new entries, 1 new matches"
    assert lines["five-hundred"].startswith("error: ") and "500" in lines["five-hundred"]
    assert lines["html"].startswith("error: ")
    assert lines["refused"].startswith("error: ")
    assert lines["nxdomain"].startswith("error: ")
    assert "refused" in lines["refused"] and "127.0.0.1:9" in lines["refused"]
    code, out, _ = run(capsys, "status", "--config", str(config))
    assert code == 0 and "five-hundred" in out


def test_every_shared_news_file_parses_or_records_an_error(
    httpserver: HTTPServer, tmp_path: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    news = sorted((shared_dir / "feeds" / "news").iterdir())
    assert len(news) > 100
    feeds = []
    for i, path in enumerate(news):
        ctype = "application/feed+json" if path.suffix == ".json" else "application/xml"
        httpserver.expect_request(f"/news/{path.name}").respond_with_response(
            Response(path.read_bytes(), content_type=ctype)
        )
        feeds.append((f"n{i:03d}", httpserver.url_for(f"/news/{path.name}")))
    config = write_watchlist(tmp_path / "watchlist.yaml", feeds)
    code, out, _ = run(capsys, "poll", "--config", str(config))
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == len(news)
    errors = [line for line in lines if ": error: " in line]
    assert errors == [], errors  # every real news file in the corpus is a readable feed
    db = sqlite3.connect(tmp_path / "monitor.db")
    stored = db.execute("SELECT count(DISTINCT feed_id) FROM sightings").fetchone()[0]
    assert stored == len(news)
    assert db.execute("SELECT count(*) FROM sightings").fetchone()[0] > 3000
    # The same bytes again: no parse, nothing new.
    code, out, _ = run(capsys, "poll", "--config", str(config))
    assert all(line.endswith("unchanged") for line in out.strip().splitlines())


def test_copy_of_config_dir_moves_database_with_it(
    site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed, _receiver, config = site
    feed.items = [MUSE_API]
    run(capsys, "poll", "--config", str(config))
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(config, moved / "watchlist.yaml")
    _code, out, _ = run(
        capsys, "matches", "--config", str(moved / "watchlist.yaml"), "--format", "json"
    )
    assert json.loads(out) == []  # a relative database path is beside the watchlist, not the cwd
