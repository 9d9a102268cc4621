"""storage/catalysts.py and migration 0007, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import text

from monitor.types import AlertDraft, CatalystState, MatchResult
from storage.store import Store
from tests.test_store import T0, _build, incoming, store, update  # noqa: F401


def test_record_state_compares_and_sets(store: Store) -> None:  # noqa: F811
    assert store.catalyst_states() == {}
    t1 = T0 + timedelta(hours=1)
    # A first verdict of no_signal is stored without a transition.
    assert store.record_state(CatalystState("a", "no_signal", None), T0) is None
    got = store.record_state(CatalystState("a", "reported", T0, "1 outlet: reuters.com", (3,)), t1)
    assert got is not None
    assert (got.watch_id, got.from_state, got.to_state, got.at, got.reason) == (
        "a",
        "no_signal",
        "reported",
        t1,
        "1 outlet: reuters.com",
    )
    assert got.evidence_match_ids == (3,)
    # Same state, new evidence: stored, no transition.
    assert store.record_state(CatalystState("a", "reported", T0, "again", (3, 4)), t1) is None
    st = store.catalyst_states()["a"]
    assert (st.state, st.since, st.reason, st.evidence_match_ids, st.updated_at) == (
        "reported",
        T0,
        "again",
        (3, 4),
        t1,
    )
    t2 = T0 + timedelta(hours=2)
    store.record_state(CatalystState("a", "confirmed", t1, "2 outlets"), t2)
    # A missing row counts as no_signal.
    b = store.record_state(CatalystState("b", "expected", T0, "plan"), t2)
    assert b is not None and b.from_state == "no_signal"
    all_t = store.transitions()
    assert [(t.watch_id, t.from_state, t.to_state) for t in all_t] == [
        ("a", "no_signal", "reported"),
        ("a", "reported", "confirmed"),
        ("b", "no_signal", "expected"),
    ]
    assert [t.id for t in all_t] == sorted(t.id for t in all_t)
    assert [t.to_state for t in store.transitions(["a"])] == ["reported", "confirmed"]
    # since inclusive, until exclusive.
    assert [t.to_state for t in store.transitions(["a", "b"], since=t2)] == [
        "confirmed",
        "expected",
    ]
    assert [t.to_state for t in store.transitions(until=t2)] == ["reported"]
    assert store.transitions([]) == []


def test_ingest_writes_a_snapshot_per_new_match(store: Store) -> None:  # noqa: F811
    m = [MatchResult("api", ("Muse",)), MatchResult("ads", ("Meta",))]
    r = store.ingest(
        update("a", incoming("g1", "http://x/1", m, title="Muse API", summary="Meta opens it"))
    )
    assert len(r.new_match_ids) == 2
    # The same story from another feed: a sighting, its new match keeps this feed's text.
    later = T0 + timedelta(minutes=5)
    r2 = store.ingest(
        update(
            "b",
            incoming("g9", "http://x/1", [MatchResult("eu", ("Europe",))], title="Muse in Europe"),
            at=later,
        )
    )
    snaps = store.match_snapshots([*r.new_match_ids, *r2.new_match_ids, 999])
    assert set(snaps) == {*r.new_match_ids, *r2.new_match_ids}
    s0 = snaps[r.new_match_ids[0]]
    assert (s0.title, s0.summary, s0.fetched_at) == ("Muse API", "Meta opens it", T0)
    assert s0.text_sha256 == hashlib.sha256(b"Muse API\nMeta opens it").hexdigest()
    s2 = snaps[r2.new_match_ids[0]]
    assert (s2.title, s2.summary, s2.fetched_at) == ("Muse in Europe", "", later)


def test_alert_deliveries_do_not_move_the_digest_window(store: Store) -> None:  # noqa: F811
    m = MatchResult("w", ("t",))
    store.ingest(update("a", incoming("g1", "http://x/1", [m])))
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO deliveries (id, digest_id, created_at, status, attempts, match_count,"
                " window_since, window_until, body, kind) VALUES ('msg_alert', 'daily', :t,"
                " 'pending', 0, 1, :t, :u, '{}', 'alert')"
            ),
            {"t": T0.replace(tzinfo=None), "u": (T0 + timedelta(days=9)).replace(tzinfo=None)},
        )
    pending, since = store.pending_matches("daily", ["w"])
    assert len(pending) == 1 and since == T0 - timedelta(days=1)
    assert store.last_delivery("daily") is None
    d = store.delivery("msg_alert")
    assert d is not None and d.kind == "alert"
    now = T0 + timedelta(hours=1)
    built = store.run_digest("daily", ["w"], now, _build("daily", now))
    assert built is not None and built.kind == "digest" and built.match_count == 1


def test_migration_0007_upgrades_a_0006_database_with_rows(db_url: str) -> None:
    from alembic import command

    from storage.engine import _alembic_config, current_revision, make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0006")
    naive = T0.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO deliveries (id, digest_id, created_at, status, attempts, match_count,"
                " window_since, window_until, body) VALUES ('msg_old', 'daily', :t, 'delivered',"
                " 1, 1, :t, :t, '{}')"
            ),
            {"t": naive},
        )
        conn.execute(
            text(
                "INSERT INTO entries (canonical_link, link_hash, feed_id, guid, link, title,"
                " summary, categories, first_seen) VALUES ('http://x/1', 'h1', 'a', 'g1',"
                " 'http://x/1', 'old', '', '[]', :t)"
            ),
            {"t": naive},
        )
        conn.execute(
            text(
                "INSERT INTO matches (entry_id, watch_id, revision, matched_terms, snippet,"
                " alert, created_at) SELECT id, 'w', 'r0', '[]', '', true, :t FROM entries"
            ),
            {"t": naive},
        )
    upgrade(engine, "0007")
    assert current_revision(engine) == "0007"
    upgrade(engine)  # (the store opens only a database at the head revision)
    s = Store.open(db_url)
    try:
        old = s.delivery("msg_old")
        assert old is not None and old.kind == "digest" and old.status == "delivered"
        [m] = s.matches()
        assert m.title == "old" and s.match_snapshots([m.id]) == {}  # none before 0007
        assert s.record_state(CatalystState("w", "reported", T0), T0) is not None
    finally:
        s.close()
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert current_revision(engine) == "0006"
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM deliveries")).scalar() == 1
    engine.dispose()


def draft(n: int, key: str, *, confirming: int = 1, state: str = "reported", **kw) -> AlertDraft:
    return AlertDraft(
        digest_id="daily",
        watch_id="w",
        story_key=key,
        confirming_sources=confirming,
        state=state,
        delivery_id=f"msg_{n}",
        body="{}",
        **{"not_before": T0, **kw},
    )


def test_queue_alerts_dedups_caps_and_holds(store: Store) -> None:  # noqa: F811
    later = T0 + timedelta(hours=9)
    got = store.queue_alerts(
        [
            draft(1, "t1", story_ref="e5"),  # a state change, its story logged with it
            draft(2, "e5"),  # the same story as an event: already told
            draft(3, "e5", confirming=2),  # a new confirming source
            draft(4, "t1", story_ref="e5"),  # the same transition again
            draft(5, "e6", not_before=later, match_count=3),
        ],
        T0,
    )
    assert got == ["queued", "duplicate", "queued", "duplicate", "queued"]
    queued = {d.id: d for d in store.queued_deliveries("daily")}
    assert set(queued) == {"msg_1", "msg_3", "msg_5"}
    assert all(d.kind == "alert" for d in queued.values())
    assert queued["msg_5"].next_attempt_at == later and queued["msg_5"].match_count == 3
    assert [d.id for d in store.due_deliveries(T0)] == ["msg_1"]
    # The cap counts this digest's alerts of the last hour, queued or sent.
    capped = store.queue_alerts(
        [draft(6, "e7", max_per_hour=4), draft(7, "e8", max_per_hour=4)], T0 + timedelta(minutes=5)
    )
    assert capped == ["queued", "capped"]
    assert store.queue_alerts([draft(8, "e8", max_per_hour=4)], T0 + timedelta(minutes=61)) == [
        "queued"
    ]
    # A disabled digest records its alert without a due time.
    assert store.queue_alerts([draft(9, "e9", status="disabled")], T0) == ["queued"]
    off = store.delivery("msg_9")
    assert off is not None and off.status == "disabled" and off.next_attempt_at is None


def test_item_matches_reads_what_matches_reads(store: Store) -> None:  # noqa: F811
    """item_matches selects columns (no ORM rows); every field must equal the ORM path's."""
    later = T0 + timedelta(minutes=7)
    store.ingest(
        update(
            "a",
            incoming(
                "g1",
                "http://x/1",
                [
                    MatchResult("api", ("Muse", "API"), "…Muse API…", 3, "plan", "why", False),
                    MatchResult("ads", ("Meta",), stance="denial"),
                ],
                title="Muse API",
                summary="Meta opens it",
                source="Reuters",
                published=T0 - timedelta(hours=2),
            ),
            incoming("g2", None, [MatchResult("api", ("Muse",))], title="No link"),
        )
    )
    store.ingest(
        update("b", incoming("g3", "http://x/3", [MatchResult("api", ("API",))]), at=later)
    )
    got = store.item_matches(["api", "ads", "none"])
    assert got["none"] == []
    for wid in ("api", "ads"):
        assert got[wid] == list(reversed(store.matches(watch_id=wid)))
    assert len(got["api"]) == 3 and got["api"][0].matched_terms == ("Muse", "API")
    assert got["api"][0].published == T0 - timedelta(hours=2)
    assert got["api"][-1].first_seen == later
