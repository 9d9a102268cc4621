"""The Store on both backends: a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

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
from storage.engine import current_revision, head_revision
from storage.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def entry(guid: str, link: str | None = None, title: str = "t", **kw) -> EntryData:
    return EntryData(guid=guid, link=link, title=title, **kw)


def incoming(guid: str, link: str | None = None, matches=(), alert=True, **kw) -> IncomingEntry:
    return IncomingEntry(entry(guid, link, **kw), link, tuple(matches), alert)


def update(feed_id: str, *entries: IncomingEntry, at: datetime = T0, **kw) -> FeedUpdate:
    return FeedUpdate(
        feed_id, at, at + timedelta(minutes=15), status=200, entries=entries, revision="r1", **kw
    )


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    s.sync_config(
        [FeedSpec("a", "http://a/feed"), FeedSpec("b", "http://b/feed")],
        {"daily": ("0 8 * * *", T0 + timedelta(hours=1))},
        "r1",
        "text",
        T0 - timedelta(days=1),
    )
    yield s
    s.close()


def test_fresh_database_is_created_at_the_current_schema(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()


def test_new_feeds_are_due_at_once_and_leased(store: Store) -> None:
    due = store.due_feeds(T0, owner="me", lease=timedelta(minutes=5))
    assert {f.id for f in due} == {"a", "b"}
    # Leased: nobody else gets them until the lease expires or the result is recorded.
    assert store.due_feeds(T0, owner="other", lease=timedelta(minutes=5)) == []
    assert {
        f.id
        for f in store.due_feeds(
            T0 + timedelta(minutes=6), owner="other", lease=timedelta(minutes=5)
        )
    } == {
        "a",
        "b",
    }


def test_ingest_stores_an_entry_once_per_feed_guid(store: Store) -> None:
    m = MatchResult("api", ("Muse Spark API",), "snip")
    r1 = store.ingest(update("a", incoming("g1", "http://x/1", [m]), incoming("g2", "http://x/2")))
    assert (r1.new_entries, r1.new_sightings, len(r1.new_match_ids)) == (2, 2, 1)
    r2 = store.ingest(update("a", incoming("g1", "http://x/1", [m]), incoming("g2", "http://x/2")))
    assert (r2.new_entries, r2.new_sightings, r2.new_match_ids) == (0, 0, ())
    assert store.counts()["matches"] == 1


def test_same_canonical_link_in_another_feed_is_a_sighting_not_a_new_entry(store: Store) -> None:
    store.ingest(update("a", incoming("a-1", "http://x/story")))
    r = store.ingest(update("b", incoming("b-99", "http://x/story")))
    assert (r.new_entries, r.new_sightings) == (0, 1)
    counts = store.counts()
    assert counts["entries"] == 1 and counts["sightings"] == 2


def test_guids_are_unique_only_within_their_feed(store: Store) -> None:
    store.ingest(update("a", incoming("1", "http://x/a")))
    r = store.ingest(update("b", incoming("1", "http://x/b")))
    assert r.new_entries == 1


def test_a_later_sighting_can_add_a_match_for_another_watch_item(store: Store) -> None:
    store.ingest(update("a", incoming("a-1", "http://x/s", [MatchResult("w1", ("x",))])))
    r = store.ingest(
        update(
            "b",
            incoming("b-1", "http://x/s", [MatchResult("w1", ("x",)), MatchResult("w2", ("y",))]),
        )
    )
    assert len(r.new_match_ids) == 1
    assert sorted(m.watch_id for m in store.matches()) == ["w1", "w2"]


@pytest.mark.parametrize("mode", ["one by one", "one batch", "one batch in groups of 2"])
def test_a_batch_is_stored_as_its_refreshes_one_after_another(
    store: Store, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ingest_many writes a batch with one statement per table; what it stores and returns
    must be what ingesting the same refreshes in order does: a link shared across the
    batch, a GUID repeated in a document, a feed twice in one batch, an error."""

    def m(w: str) -> MatchResult:
        return MatchResult(w, (w,), f"snip {w}")

    updates = [
        update(
            "a",
            incoming("g1", "http://x/1", [m("w1")], title="a g1"),
            incoming("g2", None, [m("w1")], title="a g2"),
            incoming("g1", "http://x/1", [m("w2")], title="a g1 again"),  # repeated: ignored
        ),
        update("b", incoming("g9", "http://x/1", [m("w1"), m("w2")], title="b g9")),
        update(
            "a",
            incoming("g1", "http://x/1", [m("w1")], title="a g1"),  # known to a
            incoming("g3", "http://x/1", [m("w3")], title="a g3"),  # a's own entry again
            incoming("g4", "http://x/4", [m("w1")], title="a g4"),
            at=T0 + timedelta(minutes=1),
        ),
        FeedUpdate("b", T0, T0 + timedelta(minutes=30), status=500, error="HTTP 500"),
    ]
    if mode.endswith("groups of 2"):
        monkeypatch.setattr("storage.ingest._GROUP", 2)  # written in several groups
    if mode == "one by one":
        results = [store.ingest(u) for u in updates]
    else:
        results = store.ingest_many(updates)
    assert [(r.feed_id, r.new_entries, r.new_sightings, len(r.new_match_ids)) for r in results] == [
        ("a", 2, 2, 2),
        ("b", 0, 1, 1),
        ("a", 1, 2, 2),
        ("b", 0, 0, 0),
    ]
    counts = store.counts()
    assert (counts["entries"], counts["sightings"], counts["matches"]) == (3, 5, 5)
    got = {(x.guid, x.watch_id): (x.id, x.title, x.feed_id, x.snippet) for x in store.matches()}
    assert {k: v[1:] for k, v in got.items()} == {
        ("g1", "w1"): ("a g1", "a", "snip w1"),
        ("g2", "w1"): ("a g2", "a", "snip w1"),
        ("g1", "w2"): ("a g1", "a", "snip w2"),  # b's sighting added it
        ("g1", "w3"): ("a g1", "a", "snip w3"),
        ("g4", "w1"): ("a g4", "a", "snip w1"),
    }
    ids = [i for r in results for i in r.new_match_ids]
    assert ids == [
        got[k][0] for k in [("g1", "w1"), ("g2", "w1"), ("g1", "w2"), ("g1", "w3"), ("g4", "w1")]
    ]
    # The snapshot is the text the match was decided on: the sighting's, not the entry's.
    snaps = store.match_snapshots(ids)
    assert [snaps[i].title for i in ids] == ["a g1", "a g2", "b g9", "a g3", "a g4"]
    assert snaps[got[("g4", "w1")][0]].fetched_at == T0 + timedelta(minutes=1)
    b = store.feed_state("b")
    assert b is not None and (b.error_count, b.last_error, b.entry_count) == (1, "HTTP 500", 1)


def test_match_records_revision_and_first_carrier(store: Store) -> None:
    store.ingest(
        update("a", incoming("g", "http://x/1", [MatchResult("w", ("t",), "s")], title="Hello"))
    )
    (m,) = store.matches()
    assert (m.watch_id, m.revision, m.feed_id, m.guid, m.title, m.matched_terms) == (
        "w",
        "r1",
        "a",
        "g",
        "Hello",
        ("t",),
    )
    assert m.first_seen == T0 and m.first_seen.tzinfo is not None


def test_long_links_and_guids_are_fine(store: Store) -> None:
    long = "http://x/" + "a" * 5000
    r = store.ingest(update("a", incoming(long, long)))
    assert r.new_entries == 1
    assert store.ingest(update("a", incoming(long, long))).new_entries == 0


def test_errors_are_feed_state_and_reset_on_success(store: Store) -> None:
    store.ingest(
        FeedUpdate(
            "a",
            T0,
            T0 + timedelta(minutes=30),
            status=503,
            error="feed a (http://a/feed): HTTP 503",
        )
    )
    store.ingest(FeedUpdate("a", T0, T0 + timedelta(hours=1), status=None, error="timed out"))
    state = store.feed_state("a")
    assert (
        state
        and state.error_count == 2
        and state.last_error == "timed out"
        and state.last_success_at is None
    )
    store.ingest(update("a", etag='"v1"', last_modified="Mon, 02 Nov 2026 10:00:00 GMT"))
    state = store.feed_state("a")
    assert state and (state.error_count, state.last_error, state.etag) == (0, None, '"v1"')
    assert state.last_success_at == T0


def test_not_modified_keeps_validators(store: Store) -> None:
    store.ingest(update("a", etag='"v1"'))
    store.ingest(FeedUpdate("a", T0, T0 + timedelta(minutes=15), status=304))
    state = store.feed_state("a")
    assert state and state.etag == '"v1"'


def test_permanent_redirect_updates_url_until_config_changes(store: Store) -> None:
    store.ingest(update("a", url="http://a/new"))
    assert store.feed_state("a").url == "http://a/new"  # type: ignore[union-attr]
    store.sync_config([FeedSpec("a", "http://a/other")], {}, "r2", "t2", T0)
    state = store.feed_state("a")
    assert state and state.url == "http://a/other" and state.etag is None
    assert store.feed_state("b").enabled is False  # type: ignore[union-attr]  # removed from the watchlist


def _build(digest_id: str, now: datetime):
    infos = [WatchInfo("w", "W", "why")]

    def build(pending, since):
        return build_digest(
            digest_id,
            infos,
            pending,
            since=since,
            until=now,
            delivery_id=f"msg_{now.timestamp():.0f}",
        )

    return build


def test_digest_carries_each_match_once_and_skips_too_old(store: Store) -> None:
    store.ingest(
        update(
            "a",
            incoming("1", "http://x/1", [MatchResult("w", ("t",))]),
            incoming("2", "http://x/2", [MatchResult("w", ("t",))], alert=False),
        )
    )
    d1 = store.run_digest(
        "daily", ["w"], T0 + timedelta(minutes=1), _build("daily", T0 + timedelta(minutes=1))
    )
    assert d1 is not None and d1.match_count == 1 and d1.status == "pending"
    body = json.loads(d1.body)
    assert body["match_count"] == 1 and body["watch_items"][0]["matches"][0]["link"] == "http://x/1"
    # Nothing new: no second digest.
    assert (
        store.run_digest(
            "daily", ["w"], T0 + timedelta(minutes=2), _build("daily", T0 + timedelta(minutes=2))
        )
        is None
    )
    store.ingest(
        update(
            "a",
            incoming("3", "http://x/3", [MatchResult("w", ("t",))]),
            at=T0 + timedelta(minutes=3),
        )
    )
    d2 = store.run_digest(
        "daily", ["w"], T0 + timedelta(minutes=4), _build("daily", T0 + timedelta(minutes=4))
    )
    assert d2 is not None and d2.match_count == 1
    assert d2.window_since == d1.window_until


def test_scheduled_digest_runs_once_per_claim(store: Store) -> None:
    store.ingest(update("a", incoming("1", "http://x/1", [MatchResult("w", ("t",))])))
    (state,) = store.due_digests(T0 + timedelta(hours=2), ["daily"])
    assert state.next_run_at is not None
    claim = (state.next_run_at, state.next_run_at + timedelta(days=1))
    now = T0 + timedelta(hours=2)
    first = store.run_digest("daily", ["w"], now, _build("daily", now), claim=claim)
    second = store.run_digest(
        "daily", ["w"], now, _build("daily", now + timedelta(seconds=1)), claim=claim
    )
    assert first is not None and second is None
    assert store.due_digests(now, ["daily"]) == []


def test_outbox_retries_then_delivers(store: Store) -> None:
    store.ingest(update("a", incoming("1", "http://x/1", [MatchResult("w", ("t",))])))
    now = T0 + timedelta(minutes=1)
    d = store.run_digest("daily", ["w"], now, _build("daily", now))
    assert d is not None
    assert [x.id for x in store.due_deliveries(now)] == [d.id]
    after = store.record_attempt(
        d.id, AttemptOutcome(False, 500, "HTTP 500"), now, now + timedelta(seconds=30)
    )
    assert (after.status, after.attempts) == ("pending", 1)
    assert store.due_deliveries(now) == []
    assert [x.id for x in store.due_deliveries(now + timedelta(seconds=31))] == [d.id]
    done = store.record_attempt(d.id, AttemptOutcome(True, 200), now + timedelta(seconds=31), None)
    assert done.status == "delivered" and done.attempts == 2
    assert store.queued_deliveries() == []
    assert [a.status for a in store.delivery_attempts(d.id)] == [500, 200]


def test_newer_delivery_waits_behind_an_older_one(store: Store) -> None:
    for i in range(2):
        now = T0 + timedelta(minutes=i + 1)
        store.ingest(
            update("a", incoming(str(i), f"http://x/{i}", [MatchResult("w", ("t",))]), at=now)
        )
        store.run_digest("daily", ["w"], now, _build("daily", now))
    first, _second = store.queued_deliveries("daily")
    assert [d.id for d in store.due_deliveries(T0 + timedelta(minutes=5))] == [first.id]


def test_failed_delivery_stops_retrying(store: Store) -> None:
    store.ingest(update("a", incoming("1", "http://x/1", [MatchResult("w", ("t",))])))
    d = store.run_digest("daily", ["w"], T0, _build("daily", T0))
    assert d is not None
    gone = store.record_attempt(
        d.id, AttemptOutcome(False, 410, "HTTP 410", retryable=False), T0, None
    )
    assert gone.status == "failed"
    assert store.due_deliveries(T0 + timedelta(days=1)) == []


def test_out_of_date_schema_is_refused(db_url: str) -> None:
    s = Store.open(db_url)
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    s.close()
    with pytest.raises(StorageError, match="monitor db upgrade"):
        Store.open(db_url)


def test_head_revision_read_from_the_files_is_alembics() -> None:
    """`monitor poll` checks the schema without importing Alembic: the head it reads from
    storage/migrations/versions must be the one Alembic computes."""
    from alembic.script import ScriptDirectory

    from storage.engine import _alembic_config, _head_from_files

    assert _head_from_files() is not None
    assert _head_from_files() == ScriptDirectory.from_config(_alembic_config()).get_current_head()
