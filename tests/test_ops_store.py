"""Operating the store on both backends: migrations, delivery claims, stats, retention."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from monitor.digest import WatchInfo, build_digest
from monitor.errors import StorageError
from monitor.types import (
    AttemptOutcome,
    EntryData,
    FeedSpec,
    FeedUpdate,
    IncomingEntry,
    MatchResult,
)
from storage.engine import current_revision, ensure_schema, head_revision, make_engine, upgrade
from storage.store import Store
from tests.support import write_watchlist

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
M = MatchResult("api", ("Muse Spark API",), "snip")


def incoming(guid: str, link: str | None, matches=()) -> IncomingEntry:
    return IncomingEntry(
        EntryData(guid=guid, link=link, title=f"title {guid}", summary="s" * 50),
        link,
        tuple(matches),
        True,
    )


def ingest(store: Store, feed: str, at: datetime, *entries: IncomingEntry):
    return store.ingest(
        FeedUpdate(feed, at, at + timedelta(minutes=15), status=200, entries=entries, revision="r1")
    )


@pytest.fixture
def store(db_url: str):
    s = Store.open(db_url)
    s.sync_config(
        [FeedSpec("a", "http://a/feed"), FeedSpec("b", "http://b/feed")],
        {"daily": ("0 8 * * *", T0 + timedelta(days=1))},
        "r1",
        "text",
        T0 - timedelta(days=1),
    )
    yield s
    s.close()


# --- migrations -----------------------------------------------------------------------------


def test_migrating_from_the_first_schema_keeps_the_data(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        assert current_revision(engine) == "0001"
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO feeds (id, config_url, url, enabled, error_count, created_at) "
                    "VALUES ('a', 'http://a/feed', 'http://a/feed', true, 0, '2026-01-01 00:00:00')"
                )
            )
            c.execute(
                text(
                    "INSERT INTO entries (canonical_link, link_hash, feed_id, guid, title, summary, "
                    "categories, first_seen) VALUES ('http://x/1', 'h1', 'a', 'g1', 'Old', '', '[]', "
                    "'2026-01-01 00:00:00')"
                )
            )
        # The daemon refuses an out-of-date schema and says what to run.
        with pytest.raises(StorageError, match=r"run `monitor db upgrade`"):
            ensure_schema(engine, db_url)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        cols = {c["name"] for c in inspect(engine).get_columns("entries")}
        assert "pruned_at" in cols
        with engine.connect() as c:
            assert c.execute(text("SELECT title, pruned_at FROM entries")).one() == ("Old", None)
    finally:
        engine.dispose()
    store = Store.open(db_url)  # at head now: opens without complaint
    try:
        assert store.db_stats().rows["entries"] == 1
    finally:
        store.close()


def test_db_upgrade_command_from_the_first_schema(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine, "0001")
    engine.dispose()
    config = write_watchlist(tmp_path / "watchlist.yaml", [])
    run = [sys.executable, "-m", "monitor"]
    r = subprocess.run([*run, "status", "--config", str(config)], capture_output=True, text=True)
    assert r.returncode == 2 and "run `monitor db upgrade`" in r.stderr
    r = subprocess.run(
        [*run, "db", "upgrade", "--config", str(config)], capture_output=True, text=True
    )
    assert r.returncode == 0 and "schema is up to date" in r.stdout
    r = subprocess.run(
        [*run, "db", "stats", "--config", str(config)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "database: sqlite" in r.stdout and "entries" in r.stdout


# --- the outbox across replicas ------------------------------------------------------------


def test_only_one_claim_of_a_delivery_attempt_wins(store: Store) -> None:
    ingest(store, "a", T0, incoming("g1", "http://x/1", [M]))
    info = [WatchInfo("api", "API", "why")]
    d = store.run_digest(
        "daily",
        ["api"],
        T0,
        lambda pending, since: build_digest(
            "daily", info, pending, since=since, until=T0, delivery_id="msg_1"
        ),
    )
    assert d is not None
    hold = timedelta(minutes=5)
    assert store.claim_delivery(d, T0, hold) is True
    assert store.claim_delivery(d, T0, hold) is False  # same expected next_attempt_at: lost
    # Claimed: not due for anyone else until the claim expires...
    assert store.due_deliveries(T0 + timedelta(minutes=1)) == []
    (again,) = store.due_deliveries(T0 + timedelta(minutes=6))
    # ... and then claimable once more (the holder died mid-POST).
    assert store.claim_delivery(again, T0 + timedelta(minutes=6), hold) is True
    store.record_attempt(d.id, AttemptOutcome(ok=True, status=200), T0 + timedelta(minutes=6), None)
    assert store.claim_delivery(again, T0 + timedelta(minutes=7), hold) is False  # delivered


# --- stats and retention ---------------------------------------------------------------------


def test_prune_drops_old_unmatched_text_and_keeps_identity(store: Store) -> None:
    old, new = T0, T0 + timedelta(days=200)
    ingest(
        store,
        "a",
        old,
        incoming("g-old", "http://x/old"),
        incoming("g-old-match", "http://x/old-match", [M]),
        incoming("g-nolink", None),
    )
    ingest(store, "a", new, incoming("g-new", "http://x/new"))
    before = store.db_stats()
    assert before.rows["entries"] == 4 and before.pruned_entries == 0
    assert before.oldest_entry == old and before.newest_entry == new
    assert before.size_bytes and before.size_bytes > 0

    assert store.prune_entries(new - timedelta(days=180), new) == 2
    assert store.prune_entries(new - timedelta(days=180), new) == 0  # idempotent
    after = store.db_stats()
    assert after.rows["entries"] == 4 and after.pruned_entries == 2
    assert after.oldest_entry == old  # the matched one is kept whole
    kept = store.matches()
    assert [m.title for m in kept] == ["title g-old-match"]

    # The same GUIDs again from the same feed: not new. The same story from another feed
    # (same canonical link) is sighted, not stored again, and not matched as new.
    later = new + timedelta(hours=1)
    r = ingest(store, "a", later, incoming("g-old", "http://x/old"), incoming("g-nolink", None))
    assert (r.new_entries, r.new_sightings) == (0, 0)
    r = ingest(store, "b", later, incoming("other-guid", "http://x/old", [M]))
    assert (r.new_entries, r.new_sightings, r.new_match_ids) == (0, 1, ())
    assert store.db_stats().rows["entries"] == 4


def test_health_figures(store: Store) -> None:
    ingest(store, "a", T0, incoming("g1", "http://x/1", [M]))
    store.ingest(FeedUpdate("b", T0, T0 + timedelta(minutes=15), error="boom"))
    store.ingest(FeedUpdate("b", T0, T0 + timedelta(minutes=15), error="boom"))
    f = store.health_figures()
    assert f.feed_errors == {"a": 0, "b": 2}
    assert f.matches_by_watch == {"api": 1}
    assert (f.outbox_depth, f.oldest_undelivered) == (0, None)
    info = [WatchInfo("api", "API", "why")]
    store.run_digest(
        "daily",
        ["api"],
        T0,
        lambda pending, since: build_digest(
            "daily", info, pending, since=since, until=T0, delivery_id="msg_2"
        ),
    )
    f = store.health_figures()
    assert (f.outbox_depth, f.oldest_undelivered) == (1, T0)
    store.ping()
