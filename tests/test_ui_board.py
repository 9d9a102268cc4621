"""The catalysts board, a catalyst's stories and the label actions, against a real SQLite
store seeded through the Store's own ingest (as the pipeline writes)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.types import CatalystState, EntryData, FeedSpec, FeedUpdate, IncomingEntry, MatchResult
from monitor.ui.context import UIContext
from tests.test_ui_browser import browser  # noqa: F401 (fixture)
from tests.ui_support import UIApp, client, ui_app

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
API = "api-broadening"
GLASSES = "glasses-rollout"
DEADLINE_ITEM = """\
  - id: launch-date
    name: Launch by October
    match:
      any: ["Muse launch"]
    expected_by: 2026-10-31
"""


def ingest(
    store,
    feed: str,
    guid: str,
    title: str,
    link: str | None,
    at: datetime,
    matches: tuple[MatchResult, ...],
    summary: str = "",
) -> tuple[int, ...]:
    data = EntryData(guid=guid, link=link, title=title, summary=summary)
    upd = FeedUpdate(
        feed,
        at,
        at + timedelta(minutes=15),
        status=200,
        entries=(IncomingEntry(data, link, matches, True),),
        revision="r1",
    )
    return store.ingest(upd).new_match_ids


def api(snippet: str = "", stance: str = "event") -> MatchResult:
    return MatchResult(API, ("Muse Spark API",), snippet, stance=stance)


@pytest.fixture
def ua(tmp_path: Path) -> Iterator[UIApp]:
    app = ui_app(tmp_path, extra_watch=DEADLINE_ITEM)
    app.ctx.clock = lambda: NOW
    app.store.sync_config(
        [
            FeedSpec("wire", "https://wire.example/feed"),
            FeedSpec("blog", "https://blog.example/feed"),
        ],
        {},
        "r1",
        "text",
        NOW - timedelta(days=120),
    )
    yield app
    app.ctx.close()


def seed_api(ua: UIApp) -> dict[str, int]:
    """Two stories of the API item: one told by two outlets, one older single report."""
    ids = {}
    (ids["reuters"],) = ingest(
        ua.store,
        "wire",
        "r1",
        "Meta opens Muse Spark API to all developers",
        "https://www.reuters.com/tech/meta-muse-spark-api",
        NOW - timedelta(days=2),
        (api("Meta said the Muse Spark API is open to every developer."),),
        "Meta said the Muse Spark API is open to every developer.",
    )
    (ids["ft"],) = ingest(
        ua.store,
        "blog",
        "f1",
        "Meta opens Muse Spark API to developers",
        "https://www.ft.com/content/meta-muse-spark-api",
        NOW - timedelta(days=2, hours=-1),
        (api("The Muse Spark API opens to developers, Meta said."),),
        "The Muse Spark API opens to developers, Meta said.",
    )
    (ids["old"],) = ingest(
        ua.store,
        "wire",
        "r0",
        "Muse Spark API pricing leaks in a partner memo",
        "https://www.theinformation.com/muse-pricing",
        NOW - timedelta(days=40),
        (api("A memo lists Muse Spark API pricing tiers.", stance="plan"),),
        "A memo lists Muse Spark API pricing tiers.",
    )
    return ids


def test_board_shows_one_card_per_item_in_watchlist_order(ua: UIApp) -> None:
    seed_api(ua)
    ua.store.record_state(
        CatalystState(API, "confirmed", NOW - timedelta(days=2), "2 independent outlets", ()),
        NOW,
    )
    r = client(ua.app).get("/")
    assert r.status_code == 200
    html = r.text
    order = [m.group(1) for m in re.finditer(r'<article class="card" id="card-([^"]+)"', html)]
    assert order == [API, GLASSES, "launch-date"]
    card = html[html.index(f'id="card-{API}"') : html.index(f'id="card-{GLASSES}"')]
    assert 'data-stories="2"' in card and 'data-sources="3"' in card
    assert f'<a class="drill" href="/catalysts/{API}">' in card
    assert 'class="state state-confirmed"' in card and "confirmed</span>" in card
    assert "2026-11-26 12:00 UTC" in card  # since
    assert "high priority" in card
    # Matches per week, oldest first, as text: 2 in the last week, 1 five weeks before.
    assert "oldest first: 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2" in card
    assert "<svg" in card and "<title>" in card
    glasses = html[html.index(f'id="card-{GLASSES}"') : html.index('id="card-launch-date"')]
    assert "no signal</span>" in glasses and 'data-stories="0"' in glasses
    late = html[html.index('id="card-launch-date"') :]
    assert "2026-10-31" in late and "(passed)" in late


def test_board_state_is_a_word_and_an_icon_for_every_state(ua: UIApp) -> None:
    for state, words in [("overdue", "overdue"), ("delayed", "delayed"), ("denied", "denied")]:
        ua.store.record_state(CatalystState("launch-date", state, NOW, state, ()), NOW)
        html = client(ua.app).get("/").text
        card = html[html.index('id="card-launch-date"') :]
        assert f'<span class="state state-{state}"><span aria-hidden="true">' in card
        assert f"</span> {words}</span>" in card


def test_stories_page_lists_stories_newest_first_with_marks_and_links(ua: UIApp) -> None:
    ids = seed_api(ua)
    ua.store.record_state(CatalystState(API, "reported", NOW - timedelta(days=40), "x", ()), NOW)
    ua.store.record_state(
        CatalystState(API, "confirmed", NOW - timedelta(days=2), "2 outlets", ()), NOW
    )
    r = client(ua.app).get(f"/catalysts/{API}")
    assert r.status_code == 200
    html = r.text
    assert '<section id="stories"' in html
    assert f'<a id="edit-rule" class="button" href="/catalysts/{API}/edit">' in html
    stories = re.findall(r'<article class="story[^"]*" id="story-(\d+)"', html)
    assert len(stories) == 2
    # Newest first: the two-outlet story (first member: the Reuters entry), then the memo.
    first, second = html.index(f'id="story-{stories[0]}"'), html.index(f'id="story-{stories[1]}"')
    assert first < second
    assert html.index("Meta opens <mark>") < html.index("pricing leaks")
    assert "<mark>Muse Spark API</mark>" in html
    assert "reuters.com, ft.com" in html
    assert 'rel="noopener noreferrer"' in html
    assert 'href="https://www.reuters.com/tech/meta-muse-spark-api"' in html
    assert "event" in html and "plan" in html
    # The transitions history, newest first.
    hist = html[html.index('id="transitions"') :]
    assert hist.index("state-confirmed") < hist.index("state-no_signal")
    assert f'id="match-{ids["ft"]}"' in html


def test_hostile_feed_text_is_escaped_and_still_marked(ua: UIApp) -> None:
    ingest(
        ua.store,
        "wire",
        "evil",
        '<script>alert("x")</script> Muse Spark API <img src=x onerror=alert(1)>',
        "javascript:alert(1)",
        NOW - timedelta(hours=3),
        (api('<b>bold</b> Muse Spark API "quoted"'),),
    )
    html = client(ua.app).get(f"/catalysts/{API}").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; <mark>Muse Spark API</mark>" in html
    assert "&lt;b&gt;bold&lt;/b&gt; <mark>Muse Spark API</mark>" in html
    assert "javascript:" not in html  # a link that is not http(s) is not a link


def test_unknown_catalyst_is_a_404_page(ua: UIApp) -> None:
    r = client(ua.app).get("/catalysts/nope")
    assert r.status_code == 404
    assert "No watch item &#39;nope&#39;" in r.text


def test_stories_are_paged(ua: UIApp) -> None:
    for i in range(57):
        ingest(
            ua.store,
            "wire",
            f"g{i}",
            f"Muse Spark API item {i} zq{i}x distinct{i}word",
            f"https://site{i}.example/{i}",
            NOW - timedelta(days=3 * i),
            (api(f"unique{i} words{i}"),),
        )
    c = client(ua.app, follow_redirects=False)
    one = c.get(f"/catalysts/{API}").text
    assert "Stories (57), page 1 of 2" in one
    assert len(re.findall(r'<article class="story', one)) == 50
    assert "item 0 " in one and "item 56 " not in one
    two = c.get(f"/catalysts/{API}?page=2").text
    assert len(re.findall(r'<article class="story', two)) == 7
    assert "item 56 " in two


def label_row(db: Path, entry_id: int) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT entry_id, watch_id, match_id, verdict FROM labels WHERE entry_id = ?",
            (entry_id,),
        ).fetchone()


def entry_of(ua: UIApp, match_id: int) -> int:
    ref = ua.store.match_ref(match_id)
    assert ref is not None
    return ref[0]


def test_labels_are_the_records_monitor_label_writes(
    ua: UIApp, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_api(ua)
    db = ua.watchlist_path.parent / "monitor.db"
    c = client(ua.app, follow_redirects=False)
    r = c.post("/labels", data={"match_id": ids["reuters"], "verdict": "relevant"})
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/catalysts/{API}?flash=")
    web = label_row(db, entry_of(ua, ids["reuters"]))
    # The same verdict on another match through the CLI gives the same shape of record.
    assert main(["label", str(ids["ft"]), "relevant", "--config", str(ua.watchlist_path)]) == 0
    cli = label_row(db, entry_of(ua, ids["ft"]))
    assert web[1:] == (API, ids["reuters"], "relevant")
    assert cli[1:] == (API, ids["ft"], "relevant")
    r = c.post("/labels", data={"match_id": ids["old"], "verdict": "noise"})
    assert r.status_code == 303
    assert ua.store.labels(API) == {
        entry_of(ua, ids["reuters"]): "relevant",
        entry_of(ua, ids["ft"]): "relevant",
        entry_of(ua, ids["old"]): "noise",
    }
    # monitor backtest shows them.
    capsys.readouterr()
    cfg = str(ua.watchlist_path)
    assert main(["backtest", API, "--format", "json", "--config", cfg]) == 0
    out = json.loads(capsys.readouterr().out)
    labels = {w["entry_id"]: w["label"] for w in out["would_match"]}
    assert labels[entry_of(ua, ids["old"])] == "noise"
    assert labels[entry_of(ua, ids["reuters"])] == "relevant"
    # And the page shows them.
    html = c.get(f"/catalysts/{API}").text
    assert "label: noise" in html and "label: relevant" in html


def test_flag_a_missed_entry(ua: UIApp) -> None:
    ingest(
        ua.store,
        "wire",
        "m",
        "Meta widens developer access to its model",
        "https://x.example/m",
        NOW - timedelta(hours=5),
        (),
    )
    entry_id = 1
    db = ua.watchlist_path.parent / "monitor.db"
    c = client(ua.app, follow_redirects=False)
    r = c.post(
        "/labels",
        data={"entry_id": str(entry_id), "watch_id": API, "verdict": "missed"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "flagged as missed" in r.text
    assert label_row(db, entry_id) == (entry_id, API, None, "relevant")
    # Bad input: a clear 4xx message.
    r = c.post("/labels", data={"entry_id": "999", "watch_id": API, "verdict": "missed"})
    assert r.status_code == 404 and "no entry 999" in r.text
    r = c.post("/labels", data={"entry_id": "x", "watch_id": API, "verdict": "missed"})
    assert r.status_code == 400 and "entry_id must be a number" in r.text
    r = c.post("/labels", data={"entry_id": "1", "watch_id": "nope", "verdict": "missed"})
    assert r.status_code == 400 and "unknown watch item" in r.text
    r = c.post("/labels", data={"match_id": "1", "verdict": "maybe"})
    assert r.status_code == 400 and "verdict must be one of" in r.text
    r = c.post(
        "/labels",
        data={"match_id": "12345", "verdict": "noise"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 404 and "no match 12345" in r.text


def test_htmx_label_swaps_the_story(ua: UIApp) -> None:
    ids = seed_api(ua)
    n = entry_of(ua, ids["reuters"])
    r = client(ua.app).post(
        "/labels",
        data={"match_id": str(ids["ft"]), "verdict": "noise", "story": str(n)},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<article class="story" id="story-{n}"')
    assert "label: noise" in r.text and "<html" not in r.text


def test_mute_hides_a_story_until_shown(ua: UIApp) -> None:
    ids = seed_api(ua)
    c = client(ua.app, follow_redirects=False)
    c.post("/labels", data={"match_id": ids["reuters"], "verdict": "relevant"})
    n = entry_of(ua, ids["reuters"])
    r = c.post(
        "/labels",
        data={"watch_id": API, "verdict": "mute", "match_id": [ids["reuters"], ids["ft"]]},
    )
    assert r.status_code == 303
    # The relevant verdict is kept; the other entry carries the mute.
    assert ua.store.labels(API) == {n: "relevant", entry_of(ua, ids["ft"]): "mute"}
    html = c.get(f"/catalysts/{API}").text
    assert f'id="story-{n}"' not in html
    assert "1 muted story hidden" in html and 'href="/catalysts/api-broadening?muted=1"' in html
    shown = c.get(f"/catalysts/{API}?muted=1").text
    assert f'id="story-{n}"' in shown and "Show this story again" in shown
    r = c.post(
        "/labels",
        data={"watch_id": API, "verdict": "unmute", "match_id": [ids["reuters"], ids["ft"]]},
    )
    assert r.status_code == 303
    assert f'id="story-{n}"' in c.get(f"/catalysts/{API}").text
    assert ua.store.labels(API) == {n: "relevant"}
    # A match of another item cannot be muted under this one.
    r = c.post("/labels", data={"watch_id": GLASSES, "verdict": "mute", "match_id": ids["ft"]})
    assert r.status_code == 404


def test_label_action_needs_the_token(tmp_path: Path) -> None:
    ua = ui_app(tmp_path, token="s3cret")
    ua.store.sync_config([FeedSpec("wire", "https://wire.example/feed")], {}, "r1", "t", NOW)
    (mid,) = ingest(ua.store, "wire", "g", "Muse Spark API", "https://a.example/1", NOW, (api(),))
    c = client(ua.app, follow_redirects=False)
    data = {"match_id": str(mid), "verdict": "noise"}
    assert c.post("/labels", data=data).status_code == 401
    wrong = c.post("/labels", data=data, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert ua.store.labels(API) == {}
    ok = c.post("/labels", data=data, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 303
    assert ua.store.labels(API) == {1: "noise"}
    assert c.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get(f"/catalysts/{API}").status_code == 401


def test_pages_are_phone_friendly(ua: UIApp) -> None:
    seed_api(ua)
    ua.store.record_state(CatalystState(API, "reported", NOW, "x", ()), NOW)
    c = client(ua.app, follow_redirects=False)
    for path in ("/", f"/catalysts/{API}"):
        html = c.get(path).text
        assert 'name="viewport" content="width=device-width' in html
        assert not re.search(r'style="[^"]*width:\s*\d+px', html)
        assert not re.search(r'<(svg|table|img|input)[^>]*\swidth="\d+"', html)  # scale to fit
    css = (Path(__file__).parents[1] / "monitor/ui/static/style.css").read_text()
    assert not re.search(r"(?<![-\w])width:\s*\d+(px|rem|em)", css)  # no fixed widths
    assert "table-wrap" in c.get(f"/catalysts/{API}").text


def test_context_clock_is_used(ua: UIApp) -> None:
    assert isinstance(ua.ctx, UIContext) and ua.ctx.clock() == NOW


def _poll(fn, what: str, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    """fn() until it returns something truthy (a spawned worker may take seconds to start
    on a loaded machine); the value."""
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _card(c, watch_id: str, wanted: str = "") -> str | None:  # type: ignore[no-untyped-def]
    """The card fragment (when it contains ``wanted``)."""
    r = c.get(f"/catalysts/{watch_id}/card", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    return str(r.text) if wanted in r.text else None


def test_a_busy_items_card_fills_in_and_follows_new_matches(
    ua: UIApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.ui import board

    monkeypatch.setattr(board, "SYNC_MATCHES", 2)  # 3 matches make a busy item here
    seed_api(ua)
    c = client(ua.app)
    html = c.get("/").text
    card = html[html.index(f'id="card-{API}"') : html.index(f'id="card-{GLASSES}"')]
    # Nothing clustered yet: the page does not wait, the card asks again.
    assert "data-stories" not in card and "counting…" in card
    assert f'hx-get="/catalysts/{API}/card" hx-trigger="load delay:1s"' in card
    # Nor does the stories page: its section says so and asks again (htmx, same URL).
    page = c.get(f"/catalysts/{API}?page=1").text
    assert "Counting… the 3 matches are being clustered" in page and 'class="story"' not in page
    assert f'hx-get="/catalysts/{API}?page=1" hx-trigger="load delay:1s" hx-select="#stories"' in (
        page
    )
    assert "State history" in page and 'id="missed"' in page  # the rest is there at once
    text = _poll(lambda: _card(c, API, "data-stories"), "the card")
    assert 'data-stories="2" data-sources="3"' in text and "hx-get" not in text
    assert c.get("/catalysts/nope/card").status_code == 404
    # A third story arrives: the card shows the previous counts at once (no "counting…"),
    # then the current ones once the worker re-clustered.
    ingest(
        ua.store,
        "wire",
        "r9",
        "Muse Spark API gets an enterprise tier with audit logs",
        "https://www.theverge.com/muse-enterprise",
        NOW - timedelta(hours=3),
        (api("An enterprise tier of the Muse Spark API adds audit logs."),),
    )
    at_once = _card(c, API)
    assert "counting…" not in at_once and re.search(r'data-stories="[23]"', at_once)
    text = _poll(lambda: _card(c, API, 'data-stories="3"'), "3 stories")
    assert 'data-stories="3" data-sources="4"' in text
    page = c.get(f"/catalysts/{API}").text
    assert page.count('class="story"') == 3 and "enterprise tier" in page
    assert "Counting…" not in page and "aria-busy" not in page


def test_stories_are_clustered_in_a_worker_process(ua: UIApp) -> None:
    from monitor.state import stories_of
    from monitor.ui.clustering import StoryClusterer

    seed_api(ua)
    primary = tuple(ua.ctx.watchlist().config.settings.primary_sources)
    cl = StoryClusterer(ua.store)
    slot, job = (API, None), (API, 5000, primary)
    try:
        # Nothing yet: the board gets None (the job is queued), the stories page waits
        # for that same job (no second one).
        assert cl.get(slot, (3,), job, wait=False, local=False) is None
        first = cl.get(slot, (3,), job, wait=True, local=False)
        assert first is not None and (first.stories, first.outlets) == (2, 3)
        pids = cl.worker_pids()
        assert pids and os.getpid() not in pids and cl.jobs == 1
        # It yields the CPU to the server: niceness 10 above the server's.
        assert os.getpriority(os.PRIO_PROCESS, pids[0]) == min(19, os.nice(0) + 10)
        here = stories_of(ua.store.matches(watch_id=API), primary)
        assert [(s.key, [m.id for m in s.matches]) for s in first.load()] == [
            (s.key, [m.id for m in s.matches]) for s in here
        ]
        assert cl.get(slot, (3,), job, wait=True, local=False) is first and cl.jobs == 1
        # New matches: the previous stories at once, the new ones from the worker.
        ingest(
            ua.store,
            "blog",
            "b9",
            "Muse Spark API adds batch jobs",
            "https://blog.example/batch",
            NOW - timedelta(hours=1),
            (api(),),
        )
        assert cl.get(slot, (4,), job, wait=False, local=False) is first
        new = _poll(
            lambda: (x := cl.get(slot, (4,), job, wait=False, local=False)) is not first and x,
            "the new clustering",
        )
        assert new.version == (4,) and new.stories == 3 and cl.jobs == 2
        # Small items are clustered in the calling thread: no job.
        small = cl.get(("glasses-rollout", None), (0,), ("glasses-rollout", 5000, primary),
                       wait=True, local=True)  # fmt: skip
        assert small is not None and small.stories == 0 and cl.jobs == 2
    finally:
        cl.close()
    for pid in pids:
        assert not _running(pid), f"worker {pid} still runs after close()"
    # A request still in flight after close() is answered in its own thread (no hang).
    late = cl.get(slot, (5,), job, wait=True, local=False)
    assert late is not None and late.stories == 3 and cl.jobs == 2


def test_an_idle_clustering_worker_stops_and_the_next_job_starts_one(
    ua: UIApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.ui import clustering

    monkeypatch.setattr(clustering, "IDLE_SECONDS", 0.3)
    seed_api(ua)
    primary = tuple(ua.ctx.watchlist().config.settings.primary_sources)
    cl = clustering.StoryClusterer(ua.store)
    slot, job = (API, None), (API, 5000, primary)
    try:
        first = cl.get(slot, (3,), job, wait=True, local=False)
        assert first is not None and first.stories == 2
        (pid,) = cl.worker_pids()
        _poll(lambda: not _running(pid), "the idle worker to stop")
        assert cl.worker_pids() == []
        # The stored stories stay; new matches start a new worker.
        assert cl.get(slot, (3,), job, wait=False, local=False) is first
        again = _poll(
            lambda: (x := cl.get(slot, (4,), job, wait=False, local=False)) is not first and x,
            "the new worker's clustering",
        )
        assert again.version == (4,) and cl.jobs == 2 and cl.worker_pids() != [pid]
    finally:
        cl.close()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its new parent may not reap it at once)


def _children(pid: int) -> list[tuple[int, str]]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append((int(d.name), cmd))
    return out


@pytest.mark.parametrize("server", ["web", "daemon"])
def test_the_clustering_worker_stops_with_the_server(tmp_path: Path, server: str) -> None:
    """``monitor web`` and ``monitor run --http``: the board's busy item is clustered in a
    worker process, which the server stops when it stops."""
    import httpx

    from monitor.watchlist import load_watchlist
    from storage.store import Store
    from tests.support import write_watchlist
    from tests.test_ui_auth import _free_port, _wait_http

    path = write_watchlist(tmp_path / "watchlist.yaml", [])
    store = Store.open(load_watchlist(path).database_url)
    store.sync_config([FeedSpec("wire", "https://wire.example/feed")], {}, "r1", "text", NOW)
    at = datetime.now(UTC) - timedelta(days=1)
    entries = tuple(
        IncomingEntry(
            EntryData(guid=f"g{i}", link=f"https://n{i % 7}.example/{i}",
                      title=f"Muse Spark API news {i // 4} from partner {i // 4}"),
            f"https://n{i % 7}.example/{i}", (api(),), True,
        )
        for i in range(200)
    )  # fmt: skip
    store.ingest(FeedUpdate("wire", at, at, status=200, entries=entries, revision="r1"))
    store.close()
    port = _free_port()
    args = ["web", "--listen"] if server == "web" else ["run", "--http"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", args[0], "--config", str(path), args[1],
         f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MONITOR_WEB_TOKEN": "t0ken"},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/login", proc)
        auth = {"Authorization": "Bearer t0ken"}
        assert "counting… (200 matches)" in httpx.get(base + "/", headers=auth).text

        def card() -> str | None:
            r = httpx.get(f"{base}/catalysts/{API}/card", headers=auth, timeout=10)
            return r.text if "data-stories" in r.text else None

        text = _poll(card, "the worker's stories")
        assert 'data-stories="50"' in text
        workers = [p for p, cmd in _children(proc.pid) if "spawn_main" in cmd]
        assert workers, _children(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT if server == "web" else signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    # Stopped and reaped by the server before it exited (a worker it left behind would
    # still run here: an orphaned worker notices its new parent only within 0.5 s).
    assert [pid for pid in workers if _running(pid)] == []


def test_the_daemons_http_service_stops_the_worker_when_it_stops(
    ua: UIApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the daemon the process lives on after the pages stop (a drain, the outbox):
    ``HttpService.stop`` ends the clustering worker itself."""
    import asyncio

    import httpx

    from monitor.ui import board
    from monitor.web import HttpService, bind

    class Probe:
        def last_tick_age(self) -> float | None:
            return 0.1

        def stale_after(self) -> float:
            return 60.0

        def watchlist_loaded(self) -> bool:
            return True

        def ping_database(self) -> None:
            return None

        def health_figures(self) -> object:
            raise RuntimeError("unused")

    monkeypatch.setattr(board, "SYNC_MATCHES", 2)
    seed_api(ua)
    before = {p for p, _ in _children(os.getpid())}

    async def main() -> list[int]:
        svc = HttpService(Probe(), bind("127.0.0.1", 0), ua.ctx)  # type: ignore[arg-type]
        svc.start()
        base = f"http://127.0.0.1:{svc.address[1]}"
        try:

            def up() -> bool:
                try:
                    return httpx.get(base + "/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            await asyncio.to_thread(_poll, up, "the server")  # the server runs on this loop
            home = await asyncio.to_thread(httpx.get, base + "/", timeout=10)
            assert "counting…" in home.text

            def card() -> str | None:
                r = httpx.get(f"{base}/catalysts/{API}/card", timeout=10)
                return r.text if "data-stories" in r.text else None

            assert 'data-stories="2"' in await asyncio.to_thread(_poll, card, "the card")
            return [
                p for p, cmd in _children(os.getpid()) if "spawn_main" in cmd and p not in before
            ]
        finally:
            await svc.stop()

    workers = asyncio.run(main())
    assert workers
    assert [pid for pid in workers if _running(pid)] == []


def test_the_worker_reads_both_databases(db_url: str) -> None:
    """The worker opens the server's database by its URL: SQLite file or PostgreSQL."""
    from monitor.state import stories_of
    from monitor.ui.clustering import StoryClusterer
    from storage.store import Store

    store = Store.open(db_url)
    store.sync_config(
        [FeedSpec("wire", "https://wire.example/feed")], {}, "r1", "text", NOW - timedelta(days=9)
    )
    for i, title in enumerate(
        ["Muse Spark API opens", "Muse Spark API opens to all", "Muse Spark API pricing"]
    ):
        ingest(store, "wire", f"g{i}", title, f"https://n{i}.example/a", NOW, (api(),))
    cl = StoryClusterer(store)
    try:
        got = cl.get((API, None), (3,), (API, 5000, ()), wait=True, local=False)
        assert got is not None and cl.jobs == 1 and cl.worker_pids()
        here = stories_of(store.matches(watch_id=API), ())
        assert [[m.id for m in s.matches] for s in got.load()] == [
            [m.id for m in s.matches] for s in here
        ]
    finally:
        cl.close()
        store.close()


def test_a_browser_sees_the_stories_fill_in(
    ua: UIApp,
    monkeypatch: pytest.MonkeyPatch,
    browser: Any,  # noqa: F811 (test_ui_browser's fixture: Debian's chromium, or fail in CI)
) -> None:
    """The stories page's "counting…" section swaps itself for the stories (htmx
    ``hx-select``) in a real browser, once, without nesting a page in the page."""
    from monitor.ui import board
    from tests.ui_support import serve

    monkeypatch.setattr(board, "SYNC_MATCHES", 2)
    seed_api(ua)
    with serve(ua.app) as base:
        page = browser.new_page()
        try:
            page.goto(f"{base}/catalysts/{API}")
            page.wait_for_selector("article.story", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('article.story').length === 2")
            assert page.locator("#stories").count() == 1 and page.locator("h1").count() == 1
            assert page.locator("#stories[aria-busy]").count() == 0
            assert "Stories (2)" in page.locator("#stories h2").inner_text()
            page.goto(base + "/")
            assert page.locator(f'#card-{API}[data-stories="2"]').count() == 1
        finally:
            page.close()
