"""The outbox use cases of storage/deliveries.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from monitor.errors import StorageError
from monitor.types import AttemptOutcome, MatchResult
from storage.store import Store
from tests.test_store import T0, _build, incoming, store, update  # noqa: F401


def make(store: Store, n: int) -> list[str]:  # noqa: F811
    ids = []
    for i in range(n):
        now = T0 + timedelta(minutes=i + 1)
        store.ingest(
            update("a", incoming(str(i), f"http://x/{i}", [MatchResult("w", ("t",))]), at=now)
        )
        d = store.run_digest("daily", ["w"], now, _build("daily", now))
        assert d is not None
        ids.append(d.id)
    return ids


def test_list_newest_first_with_filters(store: Store) -> None:  # noqa: F811
    first, second, third = make(store, 3)
    store.record_attempt(second, AttemptOutcome(False, 400, "HTTP 400", retryable=False), T0, None)
    store.record_attempt(third, AttemptOutcome(True, 200), T0, None)
    assert [d.id for d in store.deliveries()] == [third, second, first]
    assert [d.id for d in store.deliveries(status="failed")] == [second]
    assert [d.id for d in store.deliveries(limit=1)] == [third]
    assert store.deliveries(digest_id="weekly") == []
    failed = store.delivery(second)
    assert failed is not None and (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "HTTP 400",
    )
    assert store.delivery("msg_nope") is None


def test_requeue_a_failed_delivery_and_refuse_a_delivered_one(store: Store) -> None:  # noqa: F811
    failed, delivered = make(store, 2)
    store.record_attempt(failed, AttemptOutcome(False, 400, "HTTP 400", retryable=False), T0, None)
    store.record_attempt(delivered, AttemptOutcome(True, 200), T0, None)
    later = T0 + timedelta(days=5)
    again = store.requeue_delivery(failed, later)
    assert (again.status, again.next_attempt_at, again.attempts) == ("pending", later, 1)
    assert [d.id for d in store.due_deliveries(later)] == [failed]
    with pytest.raises(StorageError, match="was delivered"):
        store.requeue_delivery(delivered, later)
    with pytest.raises(StorageError, match="no delivery 'msg_nope'"):
        store.requeue_delivery("msg_nope", later)


def test_parts_sent_is_kept(store: Store) -> None:  # noqa: F811
    [d] = make(store, 1)
    assert store.delivery(d).parts_sent == 0  # type: ignore[union-attr]
    store.record_parts_sent(d, 2)
    assert store.delivery(d).parts_sent == 2  # type: ignore[union-attr]
    assert store.queued_deliveries()[0].parts_sent == 2


def test_migration_0006_upgrades_a_0001_database_with_deliveries(db_url: str) -> None:
    from alembic import command

    from storage.engine import (
        _alembic_config,
        current_revision,
        head_revision,
        make_engine,
        upgrade,
    )

    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO deliveries (id, digest_id, created_at, status, attempts, match_count,"
                " window_since, window_until, body) VALUES ('msg_old', 'daily', :t, 'pending', 0,"
                " 1, :t, :t, '{}')"
            ),
            {"t": T0.replace(tzinfo=None)},
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    s = Store.open(db_url)
    try:
        old = s.delivery("msg_old")
        assert old is not None and old.parts_sent == 0 and old.status == "pending"
    finally:
        s.close()
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert current_revision(engine) == "0001"
    engine.dispose()
