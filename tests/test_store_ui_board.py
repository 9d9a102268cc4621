"""The board's store queries (storage/ui_board.py) on both backends: a real SQLite file and
the real PostgreSQL (week buckets are computed in SQL, differently on each)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry, MatchResult
from storage.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    s.sync_config(
        [FeedSpec("a", "http://a/feed"), FeedSpec("b", "http://b/feed")],
        {},
        "r1",
        "text",
        NOW - timedelta(days=200),
    )
    yield s
    s.close()


def put(
    store: Store, feed: str, guid: str, at: datetime, watch: tuple[str, ...] = (), link=None
) -> tuple[int, ...]:
    link = link or f"http://x/{guid}"
    entry = IncomingEntry(
        EntryData(guid=guid, link=link, title=guid),
        link,
        tuple(MatchResult(w, ("t",), "s") for w in watch),
        True,
    )
    upd = FeedUpdate(feed, at, at + timedelta(minutes=15), status=200, entries=(entry,))
    return store.ingest(upd).new_match_ids


def test_item_activity_counts_matches_per_week(store: Store) -> None:
    ids = []
    for days in (0.5, 1, 6.9, 7.1, 20, 83, 85, 300):
        ids += put(store, "a", f"g{days}", NOW - timedelta(days=days), ("w1",))
    put(store, "a", "other", NOW - timedelta(days=1), ("w2",))
    put(store, "a", "future", NOW + timedelta(days=1), ("w1",))  # a clock skew: not in a week
    act = store.item_activity(["w1", "w2", "w3"], NOW, weeks=12)
    w1 = act["w1"]
    assert w1.matches == 9 and w1.newest_match_id == max(ids) + 2
    # Oldest week first: 83 days is week 11 (the oldest), 85 and 300 days are older.
    assert w1.weekly == (1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3)
    assert w1.last_match_at == NOW + timedelta(days=1)
    assert act["w2"].weekly[-1] == 1 and act["w2"].matches == 1
    assert act["w3"].matches == 0 and act["w3"].weekly == (0,) * 12
    assert act["w3"].last_match_at is None


def test_labels_of_and_story_mutes(store: Store) -> None:
    (m1,) = put(store, "a", "e1", NOW, ("w",))
    (m2,) = put(store, "a", "e2", NOW, ("w",))
    (m3,) = put(store, "a", "e3", NOW, ("w",))
    e1, e2, e3 = (store.match_ref(m)[0] for m in (m1, m2, m3))  # type: ignore[index]
    store.add_label(e1, "w", "relevant", NOW, m1)
    store.add_label(e2, "w", "noise", NOW, m2)
    assert store.labels_of("w", [e1, e2, e3]) == {e1: "relevant", e2: "noise"}
    # Muting keeps the relevant verdict, replaces noise, adds to the unlabelled.
    assert store.mute_entries("w", [(e1, m1), (e2, m2), (e3, m3)], NOW) == 2
    assert store.labels_of("w", [e1, e2, e3]) == {e1: "relevant", e2: "mute", e3: "mute"}
    assert store.muted_entries("w") == {e2, e3}
    assert store.muted_entries("other") == set()
    assert store.labels("w")[e3] == "mute"  # backtests see a labelled, not relevant entry
    assert store.unmute_entries("w", [e1, e2, e3]) == 2
    assert store.labels_of("w", [e1, e2, e3]) == {e1: "relevant"}


def test_feed_health_counts_sightings_per_week(store: Store) -> None:
    # In time order, as the pipeline stores entries when it first sees them.
    put(store, "a", "old", NOW - timedelta(days=40))
    put(store, "a", "a3", NOW - timedelta(days=15))
    put(store, "a", "a2", NOW - timedelta(days=2))
    put(store, "a", "a1", NOW - timedelta(days=1))
    # Feed b carries a1's story too (a sighting), a day later.
    put(store, "b", "b1", NOW - timedelta(hours=2), link="http://x/a1")
    store.ingest(
        FeedUpdate("b", NOW, NOW + timedelta(hours=1), status=503, error="HTTP 503", revision="")
    )
    health = {f.id: f for f in store.feed_health(NOW, weeks=4)}
    assert health["a"].weekly == (0, 1, 0, 2)  # 15 days ago: two weeks back
    assert health["b"].weekly == (0, 0, 0, 1)
    assert health["b"].error_count == 1 and health["b"].last_error == "HTTP 503"
    assert health["a"].last_success_at == NOW - timedelta(days=1)
    assert health["b"].next_check_at == NOW + timedelta(hours=1)
