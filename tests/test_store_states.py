"""``Store.record_states`` (bulk write of plain refreshes) against ``Store.ingest``, and
the pipeline's ``StateBatcher`` routing, on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from monitor.errors import StorageError
from monitor.pipeline import StateBatcher
from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry
from storage.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEEDS = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    specs = [FeedSpec(f"{p}{f}", f"http://{f}/feed") for p in "xy" for f in FEEDS]
    s.sync_config(specs, {}, "r1", "text", T0 - timedelta(days=1))
    yield s
    s.close()


def row(store: Store, feed_id: str) -> dict[str, object]:
    with store.engine.connect() as c:
        r = c.execute(text("SELECT * FROM feeds WHERE id = :i"), {"i": feed_id}).mappings().one()
    return {k: v for k, v in r.items() if k != "id"}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def history(feed: str) -> list[FeedUpdate]:
    """Different prior states: validators and a title, errors, a lease, nothing yet."""
    entry = IncomingEntry(EntryData(guid=f"g-{feed}", link=None, title="t"), None)
    ok = FeedUpdate(
        feed, at(0), at(15), status=200, etag='"e1"', last_modified="Mon, 02 Nov 2026",
        content_hash="h1", title="Title", entries=(entry,), update_gap=3600.0,
    )  # fmt: skip
    err = FeedUpdate(feed, at(1), at(20), status=503, error="HTTP 503")
    return {
        "a": [ok],
        "b": [ok, err, err],
        "c": [ok],
        "d": [],
        "e": [ok],
        "f": [err],
    }[feed[1]]


def plain_updates(feed: str) -> list[FeedUpdate]:
    """What a warm cycle writes: 304s (one after a permanent redirect), a 200 with the
    same bytes (new or dropped validators), two refreshes of one feed in one batch."""
    return {
        "a": [FeedUpdate(feed, at(30), at(45), status=304)],
        "b": [FeedUpdate(feed, at(30), at(46), status=304, url="http://b/moved")],
        "c": [
            FeedUpdate(
                feed,
                at(30),
                at(47),
                status=200,
                etag='"e2"',
                last_modified=None,
                content_hash="h1",
                url=None,
            )
        ],
        "d": [FeedUpdate(feed, at(30), at(48), status=200, content_hash=None)],
        "e": [
            FeedUpdate(feed, at(30), at(49), status=304),
            FeedUpdate(feed, at(31), at(50), status=200, etag='"e3"', content_hash="h3"),
        ],
        "f": [FeedUpdate(feed, at(30), at(51), status=304)],
    }[feed[1]]


def test_record_states_writes_what_ingest_writes(store: Store) -> None:
    for f in FEEDS:
        for u in history(f"x{f}") + history(f"y{f}"):
            store.ingest(u)
    store.due_feeds(at(29), owner="me", lease=timedelta(minutes=5))  # leases to clear
    bulk = [u for f in FEEDS for u in plain_updates(f"y{f}")]
    assert all(u.plain for u in bulk)
    results = store.record_states(bulk)
    assert [r.feed_id for r in results] == [u.feed_id for u in bulk]
    assert all(r.new_entries == 0 and not r.new_match_ids for r in results)
    for f in FEEDS:
        for u in plain_updates(f"x{f}"):
            store.ingest(u)
    for f in FEEDS:
        assert row(store, f"y{f}") == row(store, f"x{f}"), f
    b = row(store, "yb")
    assert b["url"] == "http://b/moved" and b["error_count"] == 0 and b["last_error"] is None
    assert b["etag"] == '"e1"' and b["title"] == "Title" and b["lease_owner"] is None
    assert row(store, "ye")["etag"] == '"e3"'  # the later of two refreshes wins


def test_record_states_is_all_or_nothing_and_takes_only_plain_updates(store: Store) -> None:
    before = row(store, "xa")
    with pytest.raises(StorageError, match="'nope' is not in the database"):
        store.record_states(
            [FeedUpdate("xa", at(30), at(45), status=304), FeedUpdate("nope", at(30), at(45))]
        )
    assert row(store, "xa") == before
    for not_plain in (
        FeedUpdate("xa", at(30), at(45), status=503, error="HTTP 503"),
        FeedUpdate("xa", at(30), at(45), status=410, error="gone", gone=True),
        FeedUpdate("xa", at(30), at(45), status=200, title="New title"),
        FeedUpdate("xa", at(30), at(45), status=200, update_gap=60.0),
    ):
        assert not not_plain.plain
        with pytest.raises(ValueError, match="not a plain state update"):
            store.record_states([not_plain])


def test_state_batcher_routes_each_refresh_and_isolates_a_bad_one(store: Store) -> None:
    """One batch: plain refreshes (bulk), one with entries and an error (the full way),
    and a plain one of a feed the database does not know: only that one fails."""
    entry = IncomingEntry(EntryData(guid="g1", link=None, title="t"), None)
    updates = [
        FeedUpdate("xa", at(30), at(45), status=304),
        FeedUpdate("xb", at(30), at(45), status=200, content_hash="h", entries=(entry,)),
        FeedUpdate("xc", at(30), at(45), status=500, error="HTTP 500"),
        FeedUpdate("ghost", at(30), at(45), status=304),
        FeedUpdate("xd", at(30), at(45), status=304, url="http://d/new"),
    ]

    async def run() -> list[object]:
        batcher = StateBatcher(store, delay=0.05)
        return await asyncio.gather(*(batcher.record(u) for u in updates), return_exceptions=True)

    results = asyncio.run(run())
    assert [getattr(r, "feed_id", None) for r in results] == ["xa", "xb", "xc", None, "xd"]
    assert isinstance(results[3], StorageError)
    assert results[1].new_entries == 1  # type: ignore[union-attr]
    assert row(store, "xa")["last_status"] == 304
    assert row(store, "xc")["error_count"] == 1
    assert row(store, "xd")["url"] == "http://d/new"


def test_state_batcher_sends_both_kinds_of_one_feed_the_full_way_in_order(store: Store) -> None:
    updates = [
        FeedUpdate("xa", at(30), at(45), status=503, error="HTTP 503"),
        FeedUpdate("xa", at(31), at(46), status=304),
    ]

    async def run() -> list[object]:
        batcher = StateBatcher(store, delay=0.05)
        return await asyncio.gather(*(batcher.record(u) for u in updates))

    asyncio.run(run())
    r = row(store, "xa")
    assert r["error_count"] == 0 and r["last_status"] == 304  # the later one wins
