"""storage/digests.py: a digest's window start and the matches not to be sent, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from monitor.types import MatchResult
from storage.store import Store
from tests.test_store import T0, _build, incoming, store, update  # noqa: F401


def test_window_starts_at_configuration_then_at_the_last_digest(store: Store) -> None:  # noqa: F811
    assert store.digest_window_start("daily") == T0 - timedelta(days=1)  # configured then
    assert store.digest_window_start("nope") is None
    store.ingest(update("a", incoming("1", "http://x/1", [MatchResult("w", ("t",))])))
    now = T0 + timedelta(hours=2)
    d = store.run_digest("daily", ["w"], now, _build("daily", now))
    assert d is not None
    assert store.digest_window_start("daily") == now


def test_quiet_matches_are_the_ones_recorded_too_old_to_send(store: Store) -> None:  # noqa: F811
    res = store.ingest(
        update(
            "a",
            incoming("1", "http://x/1", [MatchResult("w", ("t",))]),
            incoming("2", "http://x/2", [MatchResult("w", ("t",))], alert=False),
        )
    )
    sent, old = res.new_match_ids
    assert store.quiet_matches([sent, old, 999_999]) == {old}
    assert store.quiet_matches([]) == set()
    # Many ids at once (chunked queries).
    assert store.quiet_matches([sent, *range(10_000, 11_200), old]) == {old}
