"""monitor/pipeline.py's catalyst draining: new matches of a burst of refreshes are
coalesced into few updates, ``settle_catalysts`` starts a queued one at once, and updates
run on the same single writer thread as the StateBatcher's writes, one after another."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from monitor import pipeline
from monitor.catalysts import CatalystReport
from monitor.pipeline import Context, queue_catalyst_update, settle_catalysts
from monitor.types import CatalystState, FeedUpdate, IngestResult

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class FakeStore:
    """The StateBatcher's writes (plain refreshes only), recording the writing thread; the
    matches' items are ``items``."""

    def __init__(self, items: tuple[str, ...] = ("w",)) -> None:
        self.threads: list[str] = []
        self.items = items

    def watch_ids_of_matches(self, match_ids: list[int]) -> list[str]:
        self.threads.append(threading.current_thread().name)
        return sorted(self.items)

    def record_states(self, updates: list[FeedUpdate]) -> list[IngestResult]:
        self.threads.append(threading.current_thread().name)
        return [IngestResult(u.feed_id) for u in updates]


class Updates:
    """Stands in for ``monitor.catalysts.update_catalysts``: records each call's match ids
    (``items``: its watch ids) and thread; the first call can be held until the test
    releases it."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.items: list[list[str]] = []
        self.threads: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()

    def __call__(
        self, store: Any, wl: Any, watch_ids: list[str], now: datetime, *, new_match_ids: Any
    ) -> CatalystReport:
        self.started.set()
        self.hold.wait(30)
        self.calls.append(list(new_match_ids))
        self.items.append(list(watch_ids))
        self.threads.append(threading.current_thread().name)
        return CatalystReport(
            states={w: CatalystState(w, "reported", now) for w in watch_ids},
            alerts={"queued": 1},
        )


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> Updates:
    u = Updates()
    monkeypatch.setattr(pipeline, "update_catalysts", u)
    return u


def context(store: Any = None, order: tuple[str, ...] = ("w",)) -> Context:
    wl = SimpleNamespace(config=SimpleNamespace(watch=[SimpleNamespace(id=w) for w in order]))
    return Context(store or FakeStore(), None, wl, None)  # type: ignore[arg-type]


def test_a_burst_is_one_update_started_by_settle(updates: Updates) -> None:
    async def go() -> None:
        ctx = context()
        queue_catalyst_update(ctx, [5, 3])
        queue_catalyst_update(ctx, [4])
        queue_catalyst_update(ctx, [])
        queue_catalyst_update(ctx, [3, 9])
        await settle_catalysts(ctx)
        assert updates.calls == [[3, 4, 5, 9]]
        assert not ctx._catalyst_ids and not ctx._catalyst_flush.is_set()
        await settle_catalysts(ctx)  # nothing queued: returns, no update
        assert len(updates.calls) == 1

    asyncio.run(go())


def test_matches_queued_during_an_update_make_the_next_one(updates: Updates) -> None:
    async def go() -> None:
        ctx = context()
        updates.hold.clear()
        queue_catalyst_update(ctx, [1])
        settle = asyncio.create_task(settle_catalysts(ctx))
        await asyncio.to_thread(updates.started.wait, 30)  # the first update is running
        queue_catalyst_update(ctx, [2])
        queue_catalyst_update(ctx, [3])
        updates.hold.set()
        await settle
        assert updates.calls == [[1], [2, 3]]

    asyncio.run(go())


def test_without_settle_an_update_still_runs(
    updates: Updates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon never settles while running: a quiet moment starts the update.
    monkeypatch.setattr(pipeline, "CATALYST_QUIET", 0.0)

    async def go() -> None:
        ctx = context()
        queue_catalyst_update(ctx, [7])
        assert ctx._catalyst_task is not None
        await ctx._catalyst_task
        assert updates.calls == [[7]]

    asyncio.run(go())


def test_updates_and_the_batchers_writes_share_one_thread(updates: Updates) -> None:
    async def go() -> None:
        store = FakeStore()
        ctx = context(store)
        res = await ctx.states().record(FeedUpdate("f1", T, T + timedelta(minutes=15), 304))
        assert res == IngestResult("f1")
        queue_catalyst_update(ctx, [1])
        await settle_catalysts(ctx)
        threads = {*store.threads, *updates.threads}
        assert len(threads) == 1 and threads.pop().startswith("writer")

    asyncio.run(go())


def test_each_item_is_its_own_job_in_watchlist_order(updates: Updates) -> None:
    async def go() -> None:
        store = FakeStore(items=("a", "b"))
        ctx = context(store, order=("c", "b", "a"))
        report = await pipeline.update_catalysts_after(ctx, [4, 2])
        assert updates.items == [["b"], ["a"]]
        assert updates.calls == [[4, 2], [4, 2]]  # every item sees all the new matches
        assert report is not None
        assert sorted(report.states) == ["a", "b"] and report.alerts == {"queued": 2}
        assert len({*store.threads, *updates.threads}) == 1

    asyncio.run(go())
