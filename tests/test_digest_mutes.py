"""A story muted on the stories page leaves digests and immediate alerts until unmuted.

The decision is pure (``monitor.digest.muted_story_matches``, table-tested here); end to
end, the analyst mutes through the real page (``POST /labels``), and a real webhook
receiver on 127.0.0.1 gets a digest without the story (``monitor digest``), the previews
(``monitor digest --preview`` and ``/digests/{id}/preview``) leave it out, a later copy
of the story stays out, and once unmuted the story's unsent matches go out. Alerts:
a muted story's event alert is not queued (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from starlette.applications import Starlette

from monitor.digest import WatchInfo, build_digest, muted_story_matches
from monitor.pipeline import Context, run_digest
from monitor.render import PREVIEW_FORMATS, preview
from monitor.types import Match, Transition
from monitor.ui.app import ui_middleware, ui_routes
from monitor.ui.context import UIContext
from monitor.watchlist import load_watchlist
from storage.store import Store
from tests.support import FeedFile, Item, Receiver, write_watchlist
from tests.test_alerts import T, World, item, run, world_factory  # noqa: F401 (fixture)
from tests.test_formats_delivery import check_signature
from tests.test_formats_delivery import run as cli
from tests.ui_support import client

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
MUTED = "Meta opens the Muse Spark API to all developers"
OTHER = "Muse API prices halved for startups in Europe"


def match(
    i: int,
    title: str,
    link: str,
    *,
    watch: str = "api",
    minutes: int = 0,
    stance: str = "event",
) -> Match:
    at = T0 + timedelta(minutes=minutes)
    return Match(
        id=i,
        entry_id=100 + i,
        watch_id=watch,
        title=title,
        link=link,
        guid=f"g{i}",
        feed_id="wire",
        source=None,
        published=at,
        first_seen=at,
        matched_terms=("Muse Spark API",),
        snippet=title,
        revision="r",
        alert=True,
        created_at=at,
        stance=stance,
    )


REUTERS = match(1, MUTED, "https://www.reuters.com/tech/muse-api")
FT = match(2, MUTED, "https://www.ft.com/content/muse-api", minutes=5)
VERGE = match(3, MUTED, "https://www.theverge.com/muse-api", minutes=30)
PRICES = match(4, OTHER, "https://www.reuters.com/tech/muse-prices", minutes=10)
GLASSES_COPY = match(5, MUTED, "https://www.ft.com/content/muse-api", watch="glasses")


@pytest.mark.parametrize(
    ("pending", "muted", "silenced"),
    [
        # Nothing muted: nothing silenced.
        ([REUTERS, FT, PRICES], [], set()),
        # A muted match that is still pending is silenced itself.
        ([REUTERS, PRICES], [REUTERS], {1}),
        # A story is muted as a whole: its other pending member goes too.
        ([REUTERS, FT, PRICES], [REUTERS], {1, 2}),
        # A copy that arrives after the mute joins the muted story.
        ([VERGE, PRICES], [REUTERS, FT], {3}),
        # ... also when the muted members were delivered long ago and only the copy is new.
        ([VERGE], [REUTERS], {3}),
        # Another story of the same item stays.
        ([PRICES], [REUTERS, FT], set()),
        # A mute is per watch item: the same story under another item is not silenced.
        ([GLASSES_COPY, VERGE], [REUTERS], {3}),
        ([GLASSES_COPY], [REUTERS, FT], set()),
        # Muted matches that are not pending silence nothing by themselves.
        ([], [REUTERS], set()),
    ],
)
def test_muted_story_matches(pending: list[Match], muted: list[Match], silenced: set[int]) -> None:
    assert muted_story_matches(pending, muted) == silenced
    # The order of the inputs does not matter.
    assert muted_story_matches(pending[::-1], muted[::-1]) == silenced


INFOS = [WatchInfo("api", "API", "why", "high"), WatchInfo("glasses", "Glasses", "why")]


def build(pending: list[Match], muted: list[Match], **kw: object) -> dict | None:
    d = build_digest(
        "daily",
        INFOS,
        pending,
        since=T0 - timedelta(days=1),
        until=T0 + timedelta(hours=1),
        delivery_id="msg_x",
        muted=muted,
        **kw,  # type: ignore[arg-type]
    )
    if d is None:
        return None
    body = json.loads(d.body)
    assert body["match_count"] == len(d.match_ids)
    return {"ids": d.match_ids, "body": body}


def test_build_digest_leaves_a_muted_story_out_of_every_part() -> None:
    got = build([REUTERS, FT, VERGE, PRICES, GLASSES_COPY], [REUTERS])
    assert got is not None
    assert got["ids"] == (4, 5)  # only these are recorded as sent
    api, glasses = got["body"]["watch_items"]
    assert [m["title"] for m in api["matches"]] == [OTHER]
    assert [s["title"] for s in api["stories"]] == [OTHER]
    assert [m["link"] for m in glasses["matches"]] == [GLASSES_COPY.link]
    # An item left with nothing but its muted story is not listed; an empty digest is None.
    got = build([REUTERS, FT, GLASSES_COPY], [FT])
    assert got is not None and [w["id"] for w in got["body"]["watch_items"]] == ["glasses"]
    assert build([VERGE], [REUTERS]) is None
    heartbeat = build([VERGE], [REUTERS], send_empty=True)
    assert heartbeat is not None and heartbeat["body"]["match_count"] == 0
    # A state change is the catalyst's news: the item is listed, without the story.
    change = Transition(
        1, "api", "no_signal", "reported", T0, "one outlet", evidence_match_ids=(1,)
    )
    got = build([VERGE], [REUTERS], transitions=[change])
    assert got is not None
    [api] = got["body"]["watch_items"]
    assert api["state_changed"]["to"] == "reported" and api["matches"] == []


# --- end to end: the page mutes, the CLI and the page preview, a receiver gets the digest ----


def page(config: Path, token: str = "t") -> tuple[Starlette, Store]:
    wl = load_watchlist(config)
    store = Store.open(wl.database_url)
    ctx = UIContext.start(store, wl, token=token)
    return Starlette(routes=ui_routes(ctx), middleware=ui_middleware(ctx)), store


def ids_by_link(store: Store, watch_id: str) -> dict[str, int]:
    return {m.link or "": m.id for m in store.matches(watch_id=watch_id)}


def test_muted_story_stays_out_of_digests_and_previews_until_unmuted(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    feed = FeedFile(httpserver, "/wire.xml")
    reuters = "https://www.reuters.com/tech/muse-api"
    ft = "https://www.ft.com/content/muse-api"
    verge = "https://www.theverge.com/muse-api"
    prices = "https://www.reuters.com/tech/muse-prices"
    feed.items = [
        Item(
            "r1",
            MUTED,
            "The Muse Spark API is generally available.",
            reuters,
            now - timedelta(hours=3),
        ),
        Item(
            "f1", MUTED, "The Muse Spark API is generally available.", ft, now - timedelta(hours=2)
        ),
        Item("p1", OTHER, "Muse API prices fall.", prices, now - timedelta(hours=2)),
    ]
    receiver = Receiver()
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml"))],
        hook_url=receiver.install(httpserver),
    )
    assert cli(capsys, "poll", "--config", str(config))[0] == 0
    app, store = page(config)
    try:
        c = client(app, follow_redirects=False, headers={"Authorization": "Bearer t"})
        before = c.get("/digests/daily/preview?format=json").text
        assert "muse-api" in before and "muse-prices" in before
        ids = ids_by_link(store, "api-broadening")
        r = c.post(
            "/labels",
            data={
                "watch_id": "api-broadening",
                "verdict": "mute",
                "match_id": [ids[reuters], ids[ft]],
            },
        )
        assert r.status_code == 303
        # Both previews show the digest as it will be sent: without the muted story (the
        # item's state change, which rests on it, is the catalyst's news and stays).
        code, out, _ = cli(capsys, "digest", "--preview", "--config", str(config))
        assert code == 0 and f" - {OTHER}" in out and f" - {MUTED}" not in out
        assert "changed: no_signal -> confirmed" in out
        shown = c.get("/digests/daily/preview?format=json").text
        assert "muse-prices" in shown and "muse-api" not in shown
        # A third outlet reports the muted story later: it joins the story and stays out.
        feed.items.append(
            Item(
                "v1",
                MUTED,
                "The Muse Spark API is generally available.",
                verge,
                now - timedelta(hours=1),
            )
        )
        with store.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("UPDATE feeds SET next_check_at = :t"), {"t": now})
        assert cli(capsys, "poll", "--config", str(config))[0] == 0
        ids = ids_by_link(store, "api-broadening")
        assert verge in ids
        code, out, _ = cli(
            capsys, "digest", "--preview", "--format", "slack", "--config", str(config)
        )
        assert code == 0 and "muse-prices" in out and "muse-api" not in out
        # The scheduled digest as the receiver gets it.
        code, out, _ = cli(capsys, "digest", "--config", str(config))
        assert code == 0, out
        [first] = receiver.wait(1)
        body = first.verify()
        check_signature(first, body["delivery_id"])
        [api] = body["watch_items"]
        assert body["match_count"] == 1
        assert [m["link"] for m in api["matches"]] == [prices]
        assert [s["title"] for s in api["stories"]] == [OTHER]
        assert "muse-api" not in first.body.decode()
        # Unmuted (the page sends every match of the story it shows): the story's unsent
        # matches go out with the next digest; the other story was sent and is not repeated.
        r = c.post(
            "/labels",
            data={
                "watch_id": "api-broadening",
                "verdict": "unmute",
                "match_id": [ids[reuters], ids[ft], ids[verge]],
            },
        )
        assert r.status_code == 303
        shown = c.get("/digests/daily/preview?format=json").text
        assert "muse-api" in shown and "muse-prices" not in shown
        code, out, _ = cli(capsys, "digest", "--config", str(config))
        assert code == 0, out
        second = receiver.wait(2)[1].verify()
        assert second["match_count"] == 3
        [api] = second["watch_items"]
        assert sorted(m["link"] for m in api["matches"]) == sorted([reuters, ft, verge])
        assert [s["title"] for s in api["stories"]] == [MUTED]
    finally:
        store.close()


# --- immediate alerts ---------------------------------------------------------------------------


STORY2 = "European regulators clear Muse API for banks"
STORY3 = "Jio bundles Muse API for Indian schools"
SUMMARIES = {
    STORY2: "Brussels approved the service for lenders.",
    STORY3: "Classrooms in Mumbai get the service first.",
}


def story(guid: str, link: str, title: str) -> Item:
    return Item(guid, title, SUMMARIES[title], link, T)


def test_a_muted_story_queues_no_event_alert(world_factory) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    w: World = world_factory()

    async def scenario(ctx: Context) -> None:
        # Confirmed by two outlets (two state alerts); then two more stories from one outlet.
        w.wire.items = [item("w1", "https://www.reuters.com/tech/muse-api")]
        w.other.items = [item("o1", "https://www.ft.com/content/muse-api")]
        await w.poll(ctx)
        w.step(1)
        w.wire.items += [
            story("w2", "https://www.reuters.com/tech/muse-eu", STORY2),
            story("w3", "https://www.reuters.com/tech/muse-japan", STORY3),
        ]
        await w.poll(ctx)
        alerts = [d for d in w.store.deliveries() if d.kind == "alert"]
        titles = [json.loads(d.body)["story"]["title"] for d in alerts]
        assert STORY2 in titles and STORY3 in titles
        # The analyst mutes the EU story; both stories are then confirmed by a second outlet.
        eu = [m for m in w.store.matches(watch_id="api-broadening") if m.title == STORY2]
        w.store.mute_entries("api-broadening", [(m.entry_id, m.id) for m in eu], w.clock())
        w.step(1)
        w.other.items += [
            story("o2", "https://www.ft.com/content/muse-eu", STORY2),
            story("o3", "https://www.ft.com/content/muse-japan", STORY3),
        ]
        await w.poll(ctx)
        new = [d for d in w.store.deliveries() if d.kind == "alert" and d not in alerts]
        stories = [json.loads(d.body)["story"] for d in new]
        assert [(s["title"], s["outlets"]) for s in stories] == [
            (STORY3, ["reuters.com", "ft.com"])
        ]
        # Unmuted: the EU story alerts on its next confirming source.
        w.store.unmute_entries("api-broadening", [m.entry_id for m in eu])
        w.step(1)
        w.other.items.append(story("o4", "https://www.theverge.com/muse-eu", STORY2))
        await w.poll(ctx)
        latest = [d for d in w.store.deliveries() if d.kind == "alert" and d not in alerts + new]
        assert [json.loads(d.body)["story"]["title"] for d in latest] == [STORY2]
        # The digest leaves the muted story out only while it is muted: all go out now.
        cfg = w.wl.digest("daily")
        assert cfg is not None
        d = await run_digest(ctx, cfg, claim=None)
        assert d is not None and d.match_count == 7

    run(w, scenario)


def test_preview_text_names_no_muted_story(tmp_path: Path) -> None:
    """``render.preview`` of a digest built without the muted story (every format)."""
    d = build_digest(
        "daily",
        INFOS,
        [REUTERS, PRICES],
        since=T0,
        until=T0 + timedelta(hours=1),
        delivery_id="msg_x",
        muted=[FT],
    )
    assert d is not None
    for fmt in PREVIEW_FORMATS:
        text = preview(d.body, fmt)
        assert "muse-prices" in text and "muse-api" not in text, fmt


# --- the daemon's scheduled digest, in the chat formats too -------------------------------------


@pytest.mark.parametrize("fmt", ["json", "slack", "discord"])
def test_the_daemons_scheduled_digest_leaves_a_muted_story_out(
    fmt: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_daemon import Daemon

    now = datetime.now(UTC).replace(microsecond=0)
    feed = FeedFile(httpserver, "/wire.xml")
    muted_links = ["https://www.reuters.com/tech/muse-api", "https://www.ft.com/content/muse-api"]
    feed.items = [
        Item(f"m{i}", MUTED, "The Muse Spark API is generally available.", link, now)
        for i, link in enumerate(muted_links)
    ] + [Item("p1", OTHER, "Muse API prices fall.", "https://www.reuters.com/tech/muse-prices")]
    receiver = Receiver()
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml"))],
        hook_url=receiver.install(httpserver),
        schedule="*/2 * * * * *",
    )
    config.write_text(config.read_text().replace("format: json", f"format: {fmt}"))
    assert cli(capsys, "poll", "--config", str(config))[0] == 0
    store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    try:
        story = [m for m in store.matches(watch_id="api-broadening") if m.title == MUTED]
        assert len(story) == 2
        store.mute_entries("api-broadening", [(m.entry_id, m.id) for m in story], now)
    finally:
        store.close()
    daemon = Daemon(config, tmp_path / "daemon.log").start()
    try:
        [got] = receiver.wait(1)
    finally:
        assert daemon.stop() == 0
    text = got.body.decode()
    assert "muse-prices" in text and "muse-api" not in text
    if fmt == "json":
        assert got.verify()["match_count"] == 1
