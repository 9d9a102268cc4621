"""The digests page: each digest's next run as it will be sent (per format), past
deliveries paged, and resend, against a real SQLite store and a real webhook receiver."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from markupsafe import escape
from pytest_httpserver import HTTPServer

from monitor.digest import build_digest, new_delivery_id
from monitor.pipeline import preview_digest
from monitor.render import PREVIEW_FORMATS, preview
from monitor.types import (
    AttemptOutcome,
    EntryData,
    FeedSpec,
    FeedUpdate,
    IncomingEntry,
    MatchResult,
)
from monitor.ui.digests import with_delivery_id
from tests.support import Receiver
from tests.ui_support import UIApp, client, ui_app

TOKEN = "digest-token"
NOW = datetime.now(UTC).replace(microsecond=0)
HOSTILE = '<script>alert("x")</script> Muse Spark API & <b>bold</b>'
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def seed(ui: UIApp) -> None:
    """The digest and a feed as the daemon records them, and three matching entries (one
    with a hostile title) stored through the same ingest the pipeline uses."""
    wl = ui.ctx.watchlist()
    ui.store.sync_config(
        [FeedSpec("wire", "http://127.0.0.1:9/wire.xml")],
        {d.id: (d.schedule, NOW + timedelta(hours=3)) for d in wl.config.digests},
        wl.revision,
        wl.text,
        NOW - timedelta(days=1),
    )
    titles = [
        ("g1", "Meta opens Muse Spark API to all developers"),
        ("g2", HOSTILE),
        ("g3", "Ray-Ban Meta glasses get Muse"),
    ]
    entries = []
    for guid, title in titles:
        watch = "glasses-rollout" if "Ray-Ban" in title else "api-broadening"
        terms = ("Ray-Ban Meta", "Muse") if watch == "glasses-rollout" else ("Muse Spark API",)
        entries.append(
            IncomingEntry(
                EntryData(
                    guid=guid,
                    link=f"https://news.example.com/{guid}",
                    title=title,
                    summary=f"{title}. More text.",
                    published=NOW - timedelta(hours=2),
                ),
                f"https://news.example.com/{guid}",
                (MatchResult(watch, terms, title),),
            )
        )
    ui.store.ingest(
        FeedUpdate("wire", NOW, NOW + timedelta(minutes=15), status=200, entries=tuple(entries))
    )


def heartbeat(ui: UIApp, at: datetime, status: str = "pending") -> str:
    """A delivery in the outbox (an empty digest, as send_empty makes), with ``status``."""
    delivery_id = new_delivery_id()
    built = build_digest(
        "daily", [], [], since=at, until=at, delivery_id=delivery_id, send_empty=True
    )
    ui.store.run_digest("daily", [], at, lambda pending, since: built)
    if status == "delivered":
        ui.store.record_attempt(delivery_id, AttemptOutcome(True, status=200), at, None)
    elif status == "failed":
        ui.store.record_attempt(
            delivery_id,
            AttemptOutcome(False, status=400, error="HTTP 400: <bad> & worse"),
            at,
            None,
        )
    return delivery_id


def world(tmp_path: Path, hook: str = "", token: str | None = TOKEN) -> UIApp:
    ui = ui_app(tmp_path, token=token, hook_url=hook)
    ui.ctx.clock = lambda: NOW
    seed(ui)
    return ui


def without_ids(text: str) -> str:
    text = re.sub(r"msg_[0-9a-f]{32}", "msg_X", text)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "T", text)


def test_page_lists_each_digest_with_its_next_run_and_deliveries(tmp_path: Path) -> None:
    ui = world(tmp_path)
    failed = heartbeat(ui, NOW - timedelta(hours=5), "failed")
    delivered = heartbeat(ui, NOW - timedelta(hours=4), "delivered")
    r = client(ui.app).get("/digests", headers=AUTH)
    assert r.status_code == 200
    section = r.text[r.text.index('id="digest-daily"') :]
    assert "<code>0 8 * * *</code> (UTC)" in section
    assert "json" in section and "no webhook url" in section
    assert 'href="/catalysts/api-broadening">API broadening</a>' in section
    assert 'href="/catalysts/glasses-rollout">Glasses rollout</a>' in section
    # The summary preview lists the pending matches, titles escaped.
    assert "Meta opens Muse Spark API to all developers" in section
    assert str(escape(HOSTILE)) in section and "<script>alert" not in r.text
    # Deliveries newest first with their outcome, each with a resend button.
    table = r.text[r.text.index('id="deliveries"') :]
    assert table.index(delivered) < table.index(failed)
    assert "✓ delivered" in table and "✗ failed" in table
    assert "HTTP 400: &lt;bad&gt; &amp; worse" in table
    assert table.count('class="resend"') == 2
    assert f'action="/deliveries/{failed}/resend"' in table


@pytest.mark.parametrize("fmt", PREVIEW_FORMATS)
def test_preview_per_format_is_what_monitor_digest_preview_prints(tmp_path: Path, fmt: str) -> None:
    ui = world(tmp_path)
    wl = ui.ctx.watchlist()
    digest = wl.digest("daily")
    assert digest is not None
    built = preview_digest(ui.store, wl, digest, NOW)
    assert built is not None
    expected = preview(built.body, fmt)
    c = client(ui.app)
    r = c.get(f"/digests/daily/preview?format={fmt}", headers={**AUTH, "HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div class="digest-preview" id="digest-preview-daily"')
    shown = re.search(r'<pre class="preview">(.*)</pre>', r.text, re.S)
    assert shown is not None
    assert without_ids(html.unescape(shown.group(1))) == without_ids(expected)
    assert "<script>alert" not in r.text
    # Without htmx it is a whole page, the preview in #digest-preview.
    full = c.get(f"/digests/daily/preview?format={fmt}", headers=AUTH)
    assert full.status_code == 200 and 'id="digest-preview"' in full.text
    assert "<title>" in full.text


def test_preview_bad_format_and_unknown_digest_are_clear_errors(tmp_path: Path) -> None:
    ui = world(tmp_path)
    c = client(ui.app)
    bad = c.get("/digests/daily/preview?format=fax", headers=AUTH)
    assert bad.status_code == 400 and "unknown format 'fax'" in bad.text
    assert "summary, json, slack" in bad.text
    missing = c.get("/digests/weekly/preview", headers=AUTH)
    assert missing.status_code == 404 and "no digest 'weekly' (digests: daily)" in missing.text


def test_nothing_pending_says_so(tmp_path: Path) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    wl = ui.ctx.watchlist()
    ui.store.sync_config(
        [], {"daily": ("0 8 * * *", NOW + timedelta(hours=1))}, wl.revision, wl.text, NOW
    )
    r = client(ui.app).get("/digests/daily/preview?format=slack", headers=AUTH)
    assert r.status_code == 200 and "Nothing pending" in r.text
    assert "No deliveries yet" in client(ui.app).get("/digests", headers=AUTH).text


def test_a_digest_the_daemon_has_not_recorded_yet_is_explained(tmp_path: Path) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    r = client(ui.app).get("/digests", headers=AUTH)
    assert r.status_code == 200
    assert "not yet recorded" in r.text and "is not in the database" in r.text


def test_deliveries_are_paged_newest_first(tmp_path: Path) -> None:
    ui = world(tmp_path)
    ids = [heartbeat(ui, NOW - timedelta(minutes=60 - i), "delivered") for i in range(30)]
    c = client(ui.app)
    first = c.get("/digests", headers=AUTH).text
    assert "30 deliveries, newest first; page 1 of 2" in first
    assert ids[-1] in first and ids[4] not in first and ids[5] in first
    assert 'href="/digests?page=2#deliveries"' in first
    second = c.get("/digests?page=2", headers=AUTH).text
    assert "page 2 of 2" in second
    assert all(i in second for i in ids[:5]) and ids[5] not in second
    assert c.get("/digests?page=0", headers=AUTH).status_code == 400
    assert c.get("/digests?page=x", headers=AUTH).status_code == 400


def test_resend_a_failed_delivery_sends_it_again_with_its_id(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    receiver = Receiver()
    ui = world(tmp_path, hook=receiver.install(httpserver))
    failed = heartbeat(ui, NOW - timedelta(hours=5), "failed")
    c = client(ui.app, follow_redirects=False)
    r = c.post(f"/deliveries/{failed}/resend", headers=AUTH)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/digests?flash=")
    [got] = receiver.wait(1)
    assert got.headers["Webhook-Id"] == failed
    assert got.verify()["delivery_id"] == failed
    d = ui.store.delivery(failed)
    assert d is not None and d.status == "delivered" and d.attempts == 2
    flash = c.get(r.headers["location"], headers=AUTH).text
    assert f"{failed} was requeued; delivered (attempt 2)." in flash


def test_resend_a_delivered_one_queues_a_copy_with_a_new_id(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    receiver = Receiver()
    ui = world(tmp_path, hook=receiver.install(httpserver))
    delivered = heartbeat(ui, NOW - timedelta(hours=5), "delivered")
    original = ui.store.delivery(delivered)
    assert original is not None
    r = client(ui.app).post(
        f"/deliveries/{delivered}/resend", headers={**AUTH, "HX-Request": "true"}
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="deliveries">')
    [got] = receiver.wait(1)
    copy_id = got.headers["Webhook-Id"]
    assert copy_id != delivered and copy_id.startswith("msg_")
    payload = got.verify()
    assert payload["delivery_id"] == copy_id
    assert json.loads(original.body) | {"delivery_id": copy_id} == payload
    assert f"{delivered} was delivered; a copy was queued as {copy_id}; delivered" in r.text
    copy = ui.store.delivery(copy_id)
    assert copy is not None and copy.status == "delivered" and copy.digest_id == "daily"
    assert (copy.window_since, copy.window_until) == (original.window_since, original.window_until)
    # The new row is the newest in the swapped table.
    assert r.text.index(copy_id) < r.text.index(f"<code>{delivered}</code>")


def test_a_failed_resend_shows_the_error_and_stays_queued(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    receiver = Receiver(statuses=[503])
    ui = world(tmp_path, hook=receiver.install(httpserver))
    failed = heartbeat(ui, NOW - timedelta(hours=5), "failed")
    r = client(ui.app).post(f"/deliveries/{failed}/resend", headers={**AUTH, "HX-Request": "1"})
    assert r.status_code == 200
    receiver.wait(1)
    d = ui.store.delivery(failed)
    assert d is not None and d.status == "pending" and d.next_attempt_at is not None
    assert "attempt 2 failed (HTTP 503" in r.text and ": pending." in r.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer nope"}, 401), (AUTH, 303)],
)
def test_resend_needs_the_token(
    httpserver: HTTPServer, tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    receiver = Receiver()
    ui = world(tmp_path, hook=receiver.install(httpserver))
    failed = heartbeat(ui, NOW - timedelta(hours=5), "failed")
    r = client(ui.app, follow_redirects=False).post(f"/deliveries/{failed}/resend", headers=headers)
    assert r.status_code == status
    d = ui.store.delivery(failed)
    assert d is not None
    if status == 401:
        assert receiver.received == [] and d.status == "failed" and d.attempts == 1
    else:
        assert len(receiver.wait(1)) == 1 and d.status == "delivered"


def test_the_page_needs_the_token(tmp_path: Path) -> None:
    ui = world(tmp_path)
    c = client(ui.app, follow_redirects=False)
    assert c.get("/digests").status_code == 401
    assert c.get("/digests/daily/preview", headers={"Authorization": "Bearer x"}).status_code == 401
    assert c.get("/digests", headers=AUTH).status_code == 200


def test_resend_unknown_or_without_webhook_is_refused(tmp_path: Path) -> None:
    ui = world(tmp_path)  # no webhook url
    failed = heartbeat(ui, NOW - timedelta(hours=5), "failed")
    c = client(ui.app)
    assert c.post("/deliveries/msg_nope/resend", headers=AUTH).status_code == 404
    r = c.post(f"/deliveries/{failed}/resend", headers=AUTH)
    assert r.status_code == 409 and "has no webhook url" in r.text
    d = ui.store.delivery(failed)
    assert d is not None and d.status == "failed"


def test_with_delivery_id_rewrites_only_the_id() -> None:
    body = json.dumps({"schema": "x", "delivery_id": "msg_a", "t": "é"}, ensure_ascii=False)
    assert json.loads(with_delivery_id(body, "msg_b")) == {
        "schema": "x",
        "delivery_id": "msg_b",
        "t": "é",
    }
    assert with_delivery_id("not json", "msg_b") == "not json"
    assert with_delivery_id('{"a":1}', "msg_b") == '{"a":1}'


def test_the_preview_follows_new_matches_and_deliveries(tmp_path: Path) -> None:
    """The built digest is reused across formats, never past a change it is built from."""
    ui = world(tmp_path)
    c = client(ui.app)
    first = c.get("/digests/daily/preview?format=summary", headers=AUTH).text
    assert "Muse Spark API reaches Europe" not in first
    entry = EntryData(
        guid="g9",
        link="https://news.example.com/g9",
        title="Muse Spark API reaches Europe",
        summary="Developers in the EU get the Muse Spark API.",
        published=NOW - timedelta(hours=1),
    )
    ui.store.ingest(
        FeedUpdate(
            "wire",
            NOW,
            NOW + timedelta(minutes=15),
            status=200,
            entries=(
                IncomingEntry(
                    entry, entry.link, (MatchResult("api-broadening", ("Muse Spark API",)),)
                ),
            ),
        )
    )
    after = c.get("/digests/daily/preview?format=summary", headers=AUTH).text
    assert "Muse Spark API reaches Europe" in after
    # A digest run takes the pending matches out of the next one.
    wl = ui.ctx.watchlist()
    d = wl.digest("daily")
    assert d is not None
    built = preview_digest(ui.store, wl, d, NOW)
    ui.store.run_digest("daily", wl.watch_ids_for(d), NOW, lambda pending, since: built)
    assert "Nothing pending" in c.get("/digests/daily/preview?format=text", headers=AUTH).text
