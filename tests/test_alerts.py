"""Immediate alerts end to end: real feeds and a real receiver on 127.0.0.1, a real SQLite
file and the real PostgreSQL, and a controllable clock.

The pipeline steps are the daemon's: lease due feeds -> refresh_feed (ingest, then the
catalyst hook queues alerts) -> due_deliveries -> attempt_delivery (the outbox loop).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from monitor.alerts import AlertItem, AlertTarget, build_alert, plan_alerts, quiet_until
from monitor.cli import main
from monitor.fetch import FetchLimits
from monitor.pipeline import (
    Context,
    attempt_delivery,
    check_catalysts,
    refresh_feed,
    run_digest,
    settle_catalysts,
    sync_watchlist,
)
from monitor.state import catalyst_state, stories_of
from monitor.types import Delivery, Transition
from monitor.watchlist import LoadedWatchlist, load_watchlist
from storage.store import Store
from tests.support import FeedFile, Item, Receiver, write_watchlist
from tests.test_state import FT, RT, m

T = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TITLE = "Meta opens the Muse Spark API to all developers"
LARGE = """\
  - id: larger-model
    name: A larger Muse model ships
    why: Closes the coding gap.
    match:
      any: ["Muse Large"]
    expected_by: 2026-11-30
"""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def item(guid: str, link: str, title: str = TITLE, at: datetime = T) -> Item:
    summary = "The Muse Spark API is generally available." if title == TITLE else "In the US."
    return Item(guid, title, summary, link, at)


class World:
    """Two feeds (a wire and a second outlet), a receiver, a store and a pipeline context."""

    def __init__(
        self, httpserver: HTTPServer, tmp_path: Path, db_url: str, digest_extra: str
    ) -> None:
        self.wire = FeedFile(httpserver, "/wire.xml")
        self.other = FeedFile(httpserver, "/other.xml", title="Other outlet")
        self.receiver = Receiver()
        hook = self.receiver.install(httpserver)
        self.path = write_watchlist(
            tmp_path / "watchlist.yaml",
            [
                ("wire", httpserver.url_for("/wire.xml")),
                ("other", httpserver.url_for("/other.xml")),
            ],
            hook_url=hook,
            database=db_url,
            extra_watch=LARGE,
            digest_extra=digest_extra,
        )
        self.wl: LoadedWatchlist = load_watchlist(self.path)
        self.store = Store.open(db_url)
        self.clock = Clock(T)
        sync_watchlist(self.store, self.wl, T - timedelta(days=1))

    async def poll(self, ctx: Context) -> None:
        for f in self.store.due_feeds(self.clock(), owner="t", lease=timedelta(minutes=5)):
            await refresh_feed(ctx, f)
        await settle_catalysts(ctx)

    async def deliver(self, ctx: Context) -> list[Delivery]:
        """One pass of the outbox loop at the clock's time."""
        return [await attempt_delivery(ctx, d) for d in self.store.due_deliveries(self.clock())]

    def step(self, minutes: float) -> None:
        self.clock.now += timedelta(minutes=minutes)
        # Every feed due again (the test decides when a poll happens).
        with self.store.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("UPDATE feeds SET next_check_at = :t"), {"t": self.clock.now})

    def alerts(self) -> list[dict]:
        return [
            r.verify()
            for r in self.receiver.received
            if r.json["schema"].startswith("catalyst-monitor/alert")
        ]

    def digests(self) -> list[dict]:
        return [
            r.verify()
            for r in self.receiver.received
            if r.json["schema"].startswith("catalyst-monitor/digest")
        ]


@pytest.fixture
def world_factory(httpserver: HTTPServer, tmp_path: Path, db_url: str, monkeypatch):
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    made: list[World] = []

    def make(digest_extra: str = "") -> World:
        w = World(httpserver, tmp_path, db_url, digest_extra)
        made.append(w)
        return w

    yield make
    for w in made:
        w.store.close()


def run(world: World, coro_fn) -> None:
    async def main_() -> None:
        async with httpx.AsyncClient() as client:
            ctx = Context(world.store, client, world.wl, FetchLimits(), clock=world.clock)
            await coro_fn(ctx)

    asyncio.run(main_())


def test_event_alert_once_then_confirmation_then_digest(world_factory) -> None:
    w = world_factory()

    async def scenario(ctx: Context) -> None:
        # A high-priority event from one outlet: one alert (no_signal -> reported).
        w.wire.items = [item("w1", "https://www.reuters.com/tech/muse-api")]
        await w.poll(ctx)
        assert [d.status for d in await w.deliver(ctx)] == ["delivered"]
        # The same outlet again (a second copy): same story, same confirming sources: no alert.
        w.step(1)
        w.wire.items.append(item("w2", "https://www.reuters.com/tech/muse-api-2"))
        await w.poll(ctx)
        assert await w.deliver(ctx) == []
        # A second outlet confirms: one more alert, with the state change.
        w.step(1)
        w.other.items = [item("o1", "https://www.ft.com/content/muse-api")]
        await w.poll(ctx)
        assert [d.status for d in await w.deliver(ctx)] == ["delivered"]
        w.step(1)
        await w.poll(ctx)  # nothing new
        assert await w.deliver(ctx) == []
        # The scheduled digest still carries every match the alerts were about.
        cfg = w.wl.digest("daily")
        assert cfg is not None
        d = await run_digest(ctx, cfg, claim=None)
        assert d is not None and d.match_count == 3
        assert [x.status for x in await w.deliver(ctx)] == ["delivered"]

    run(w, scenario)
    first, second = w.alerts()
    assert first["schema"] == "catalyst-monitor/alert@1" and first["kind"] == "state"
    assert first["state_changed"]["from"] == "no_signal"
    assert first["state_changed"]["to"] == "reported"
    assert first["watch_item"]["id"] == "api-broadening"
    assert first["watch_item"]["priority"] == "high"
    assert first["story"]["outlets"] == ["reuters.com"]
    assert first["story"]["stances"] == ["event"]
    assert first["matches"][0]["title"] == TITLE
    assert second["state_changed"]["from"] == "reported"
    assert second["state_changed"]["to"] == "confirmed"
    assert "2 independent outlets" in second["state_changed"]["reason"]
    assert second["watch_item"]["state"] == "confirmed"
    assert second["story"]["outlets"] == ["reuters.com", "ft.com"]
    assert second["story"]["source_count"] == 3
    [digest] = w.digests()
    assert digest["match_count"] == 3
    # Each alert went out with its own delivery id as webhook-id.
    ids = [r.headers["Webhook-Id"] for r in w.receiver.received]
    assert len(set(ids)) == 3
    assert first["delivery_id"] == ids[0]
    states = w.store.catalyst_states()
    assert states["api-broadening"].state == "confirmed"
    assert [(t.from_state, t.to_state) for t in w.store.transitions(["api-broadening"])] == [
        ("no_signal", "reported"),
        ("reported", "confirmed"),
    ]
    kinds = sorted(d.kind for d in w.store.deliveries())
    assert kinds == ["alert", "alert", "digest"]


def test_quiet_hours_hold_alerts_but_not_the_digest(world_factory) -> None:
    w = world_factory('    quiet_hours: "22:00-07:00"\n')
    w.clock.now = T.replace(hour=23)

    async def scenario(ctx: Context) -> None:
        w.wire.items = [item("w1", "https://www.reuters.com/tech/muse-api", at=w.clock.now)]
        await w.poll(ctx)
        assert await w.deliver(ctx) == []  # held
        [held] = w.store.queued_deliveries("daily")
        assert held.kind == "alert"
        assert held.next_attempt_at == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
        # A digest built during quiet hours is not held up behind the alert.
        cfg = w.wl.digest("daily")
        assert cfg is not None
        await run_digest(ctx, cfg, claim=None)
        assert [d.kind for d in await w.deliver(ctx)] == ["digest"]
        w.clock.now = datetime(2026, 11, 28, 6, 59, tzinfo=UTC)
        assert await w.deliver(ctx) == []
        w.clock.now = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
        assert [(d.kind, d.status) for d in await w.deliver(ctx)] == [("alert", "delivered")]

    run(w, scenario)
    assert len(w.alerts()) == 1 and len(w.digests()) == 1
    assert w.receiver.received[0].json["schema"] == "catalyst-monitor/digest@1"


def test_cap_defers_the_rest_to_the_digest(world_factory) -> None:
    w = world_factory("    max_alerts_per_hour: 1\n")

    async def scenario(ctx: Context) -> None:
        w.wire.items = [
            item("w1", "https://www.reuters.com/tech/muse-api"),
            item(
                "w2", "https://www.reuters.com/tech/glasses", title="Ray-Ban Meta glasses get Muse"
            ),
        ]
        await w.poll(ctx)  # two items change state in one refresh: one alert, one capped
        assert [d.kind for d in await w.deliver(ctx)] == ["alert"]
        # Within the hour a second outlet confirms: still capped.
        w.step(30)
        w.other.items = [item("o1", "https://www.ft.com/content/muse-api")]
        await w.poll(ctx)
        assert await w.deliver(ctx) == []
        cfg = w.wl.digest("daily")
        assert cfg is not None
        await run_digest(ctx, cfg, claim=None)
        assert [d.kind for d in await w.deliver(ctx)] == ["digest"]
        # An hour after the first alert the cap has room again: the next change alerts.
        w.step(31)
        w.other.items.append(
            item("o2", "https://www.ft.com/content/glasses", title="Ray-Ban Meta glasses get Muse")
        )
        await w.poll(ctx)
        assert [d.kind for d in await w.deliver(ctx)] == ["alert"]

    run(w, scenario)
    first, later = w.alerts()
    assert first["watch_item"]["id"] == "api-broadening"
    assert later["watch_item"]["id"] == "glasses-rollout"
    assert later["state_changed"] == {
        "from": "reported",
        "to": "confirmed",
        "at": "2026-11-27T13:01:00Z",
        "reason": later["state_changed"]["reason"],
    }
    [digest] = w.digests()
    assert {x["id"] for x in digest["watch_items"]} == {"api-broadening", "glasses-rollout"}
    assert digest["match_count"] == 3


def test_immediate_false_sends_no_alerts(world_factory) -> None:
    w = world_factory("    immediate: false\n")

    async def scenario(ctx: Context) -> None:
        w.wire.items = [item("w1", "https://www.reuters.com/tech/muse-api")]
        await w.poll(ctx)
        assert await w.deliver(ctx) == []

    run(w, scenario)
    assert w.receiver.received == []
    assert w.store.catalyst_states()["api-broadening"].state == "reported"


def test_deadline_passes_overdue_alert_and_status(
    world_factory, capsys: pytest.CaptureFixture[str]
) -> None:
    w = world_factory()
    # End of 2026-11-30 in UTC (the test watchlist's zone).
    w.clock.now = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)

    async def scenario(ctx: Context) -> None:
        await check_catalysts(ctx, force=True)
        assert await w.deliver(ctx) == []
        w.clock.now = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)
        await check_catalysts(ctx)  # within a minute of the last check: skipped
        assert await w.deliver(ctx) == []
        w.clock.now = datetime(2026, 12, 1, 0, 1, 0, tzinfo=UTC)
        await check_catalysts(ctx)
        assert [d.kind for d in await w.deliver(ctx)] == ["alert"]
        w.clock.now += timedelta(minutes=5)
        await check_catalysts(ctx)  # settled: nothing new
        assert await w.deliver(ctx) == []

    run(w, scenario)
    [alert] = w.alerts()
    assert alert["watch_item"]["id"] == "larger-model"
    assert alert["watch_item"]["state"] == "overdue"
    assert alert["watch_item"]["expected_by"] == "2026-11-30"
    assert alert["state_changed"]["from"] == "no_signal"
    assert alert["state_changed"]["to"] == "overdue"
    assert "not happened by 2026-11-30" in alert["state_changed"]["reason"]
    assert alert["story"] is None and alert["matches"] == []
    assert main(["status", "--config", str(w.path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "larger-model" in line)
    assert "overdue" in row and "2026-11-30 (passed)" in row
    assert main(["evidence", "larger-model", "--config", str(w.path), "--format", "csv"]) == 0
    csv_out = capsys.readouterr().out.splitlines()
    assert csv_out[0].startswith("record,watch_id,at,from_state,to_state")
    assert csv_out[1].startswith("transition,larger-model,2026-12-01T00:01:00Z,no_signal,overdue")


# --- the pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "quiet", "tz", "until"),
    [
        (
            datetime(2026, 11, 27, 23, 0, tzinfo=UTC),
            "22:00-07:00",
            "UTC",
            datetime(2026, 11, 28, 7, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
            "22:00-07:00",
            "UTC",
            datetime(2026, 11, 27, 7, tzinfo=UTC),
        ),
        (datetime(2026, 11, 27, 7, 0, tzinfo=UTC), "22:00-07:00", "UTC", None),
        (datetime(2026, 11, 27, 21, 59, tzinfo=UTC), "22:00-07:00", "UTC", None),
        (
            datetime(2026, 11, 27, 13, 0, tzinfo=UTC),
            "12:00-14:30",
            "UTC",
            datetime(2026, 11, 27, 14, 30, tzinfo=UTC),
        ),
        (datetime(2026, 11, 27, 14, 30, tzinfo=UTC), "12:00-14:30", "UTC", None),
        # 23:00 in New York is 04:00 UTC the next day; quiet until 07:00 New York (12:00 UTC).
        (
            datetime(2026, 11, 28, 4, 0, tzinfo=UTC),
            "22:00-07:00",
            "America/New_York",
            datetime(2026, 11, 28, 12, tzinfo=UTC),
        ),
        (datetime(2026, 11, 28, 4, 0, tzinfo=UTC), None, "UTC", None),
    ],
)
def test_quiet_until(now, quiet, tz, until) -> None:
    assert quiet_until(now, quiet, tz) == until


def test_plan_alerts_keys() -> None:
    ms = [m(1, "event", RT), m(2, "event", FT, hours=1)]
    stories = stories_of(ms)
    st = catalyst_state("w", ms, now=T)
    it = AlertItem("w", "W", priority="high", expected_by=date(2026, 12, 31))
    targets = [AlertTarget("a"), AlertTarget("b", quiet_hours="00:00-23:59", max_per_hour=3)]
    ids = iter(f"msg_{i}" for i in range(10))
    # A new event match without a state change, on a high item: an event alert per digest.
    drafts = plan_alerts(
        it, st, None, stories, {2}, targets, now=T, tz="UTC", new_id=lambda: next(ids)
    )
    assert [(d.digest_id, d.story_key, d.confirming_sources, d.state) for d in drafts] == [
        ("a", "e101", 2, "confirmed"),
        ("b", "e101", 2, "confirmed"),
    ]
    assert drafts[0].not_before == T and drafts[1].not_before == datetime(
        2026, 11, 27, 23, 59, tzinfo=UTC
    )
    assert drafts[1].max_per_hour == 3
    body = json.loads(drafts[0].body)
    assert body["kind"] == "event" and body["state_changed"] is None
    assert body["delivery_id"] == drafts[0].delivery_id == "msg_0"
    assert body["watch_item"]["expected_by"] == "2026-12-31"
    # A normal item: new events alone do not alert; no targets: nothing.
    normal = AlertItem("w", "W")
    assert (
        plan_alerts(normal, st, None, stories, {2}, targets, now=T, tz="UTC", new_id=lambda: "x")
        == []
    )
    assert plan_alerts(it, st, None, stories, {2}, [], now=T, tz="UTC", new_id=lambda: "x") == []
    # A transition without a story (overdue): keyed by the transition.
    t = Transition(7, "w", "reported", "overdue", T, "overdue: ...")
    [d] = plan_alerts(normal, st, t, [], (), targets[:1], now=T, tz="UTC", new_id=lambda: "x")
    assert (d.story_key, d.confirming_sources, d.story_ref) == ("t7", 0, None)
    # A transition with its story: keyed by the transition, the story logged with it; a new
    # event on another story of a high item is its own alert.
    other = [
        *ms,
        m(3, "event", "https://www.theverge.com/x", title="Meta signs nuclear power deal"),
    ]
    t = Transition(8, "w", "reported", "confirmed", T, "2 outlets", (1, 2))
    drafts = plan_alerts(
        it, st, t, stories_of(other), {2, 3}, targets[:1], now=T, tz="UTC", new_id=lambda: "x"
    )
    assert [(d.story_key, d.story_ref, json.loads(d.body)["kind"]) for d in drafts] == [
        ("t8", "e101", "state"),
        ("e103", None, "event"),
    ]
    assert json.loads(drafts[1].body)["state_changed"] is None


def test_backlog_alone_does_not_alert() -> None:
    """Matches older than alert_max_age (a new feed's backlog) are recorded and may set the
    state, but neither a change resting only on them nor their events alert; overdue does."""
    old = [
        replace(m(1, "event", RT), alert=False),
        replace(m(2, "event", FT, hours=1), alert=False),
    ]
    stories = stories_of(old)
    st = catalyst_state("w", old, now=T)
    it = AlertItem("w", "W", priority="high")
    targets = [AlertTarget("a")]
    t = Transition(9, "w", "no_signal", "confirmed", T, "2 outlets", (1, 2))
    assert (
        plan_alerts(it, st, t, stories, {1, 2}, targets, now=T, tz="UTC", new_id=lambda: "x") == []
    )
    # One fresh match among the evidence makes it news again.
    mixed = [old[0], m(2, "event", FT, hours=1)]
    drafts = plan_alerts(
        it, st, t, stories_of(mixed), {1, 2}, targets, now=T, tz="UTC", new_id=lambda: "x"
    )
    assert [json.loads(d.body)["kind"] for d in drafts] == ["state"]
    overdue = Transition(10, "w", "reported", "overdue", T, "overdue", (1,))
    [d] = plan_alerts(it, st, overdue, stories, (), targets, now=T, tz="UTC", new_id=lambda: "x")
    assert d.story_key == "t10"


def test_alert_body_shape() -> None:
    ms = [m(1, "event", RT)]
    [s] = stories_of(ms)
    st = catalyst_state("w", ms, now=T)
    body = json.loads(
        build_alert(
            "daily",
            "msg_1",
            kind="event",
            item=AlertItem("w", "W", "why"),
            state=st,
            transition=None,
            story=s,
            now=T,
        )
    )
    assert set(body) == {
        "schema",
        "digest",
        "delivery_id",
        "generated_at",
        "kind",
        "watch_item",
        "state_changed",
        "story",
        "matches",
    }
    assert set(body["watch_item"]) == {
        "id",
        "name",
        "why",
        "priority",
        "state",
        "state_since",
        "expected_by",
    }
    assert set(body["story"]) == {
        "title",
        "link",
        "outlets",
        "source_count",
        "first_seen",
        "matched_terms",
        "stances",
    }
    assert body["generated_at"] == "2026-11-27T12:00:00Z"
    assert body["story"]["link"] == RT


# --- the daemon: alerts go out within one poll cycle -------------------------------------------


def test_daemon_sends_alerts_within_a_poll_cycle(httpserver: HTTPServer, tmp_path: Path) -> None:
    import time

    from tests.test_daemon import Daemon

    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    wire = FeedFile(httpserver, "/wire.xml")
    other = FeedFile(httpserver, "/other.xml", title="Other outlet")
    wire.items = [item("w1", "https://www.reuters.com/tech/muse-api", at=now)]
    receiver = Receiver()
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml")), ("other", httpserver.url_for("/other.xml"))],
        hook_url=receiver.install(httpserver),
        poll_interval="1s",
        digest_extra="",  # immediate alerts on (the default)
    )
    d = Daemon(config, tmp_path / "daemon.log").start()
    try:
        (first,) = receiver.wait(1)
        assert first.verify()["state_changed"]["to"] == "reported"
        # A second outlet publishes the story: one more alert, with the state change.
        other.items = [item("o1", "https://www.ft.com/content/muse-api", at=now)]
        _, second = receiver.wait(2)
        body = second.verify()
        assert (body["state_changed"]["from"], body["state_changed"]["to"]) == (
            "reported",
            "confirmed",
        )
        assert body["story"]["outlets"] == ["reuters.com", "ft.com"]
        # Both feeds are polled again several times: nothing new, no more alerts.
        seen = (wire.requests, other.requests)
        give_up = time.time() + 60
        while min(wire.requests - seen[0], other.requests - seen[1]) < 3:
            assert time.time() < give_up, "the daemon stopped polling"
            time.sleep(0.1)
        d.wait_log("alert digest=daily", count=2)
        assert len(receiver.received) == 2
    finally:
        assert d.stop() == 0
    log = d.log.read_text()
    assert "Traceback" not in log
    assert "catalyst watch=api-broadening change=" in log


def test_cron_only_digest_sees_a_passed_deadline(
    httpserver: HTTPServer, tmp_path: Path, db_url: str, monkeypatch
) -> None:
    """No daemon: ``monitor digest`` from cron re-evaluates passed deadlines first, so the
    digest it sends says the catalyst is overdue."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    receiver = Receiver()
    hook = receiver.install(httpserver)
    path = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml"))],
        hook_url=hook,
        database=db_url,
        extra_watch=LARGE.replace("2026-11-30", "2026-01-15"),
    )
    assert main(["digest", "--config", str(path)]) == 0
    digests = [r.verify() for r in receiver.received if r.json["schema"].endswith("digest@1")]
    [item] = [w for d in digests for w in d["watch_items"] if w["id"] == "larger-model"]
    assert item["state"] == "overdue" and item["state_changed"]["to"] == "overdue"
    assert item["expected_by"] == "2026-01-15"
