"""`monitor digest` beside a running daemon: each delivery is posted exactly once.

The command claims every attempt (``Store.claim_delivery``) as the daemon's outbox does,
and a held claim is never taken, even by a caller whose copy of the row is current. The
race runs for real: a `monitor run` subprocess and several `monitor digest` subprocesses
on one SQLite database, against a slow webhook receiver on 127.0.0.1 that counts the
requests per ``webhook-id``.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.digest import build_digest, new_delivery_id
from monitor.types import AttemptOutcome, FeedSpec
from storage.store import Store
from tests.support import Receiver, write_watchlist
from tests.test_daemon import MONITOR, Daemon

NOW = datetime.now(UTC).replace(microsecond=0)


def queue_heartbeat(store: Store, at: datetime) -> str:
    delivery_id = new_delivery_id()
    built = build_digest(
        "daily", [], [], since=at, until=at, delivery_id=delivery_id, send_empty=True
    )
    store.run_digest("daily", [], at, lambda pending, since: built)
    return delivery_id


def test_a_held_claim_is_not_taken_and_requeue_leaves_it_in_flight(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        store.sync_config(
            [FeedSpec("wire", "http://127.0.0.1:9/x")],
            {"daily": ("0 8 * * *", NOW + timedelta(hours=3))},
            "r",
            "text",
            NOW - timedelta(days=1),
        )
        delivery_id = queue_heartbeat(store, NOW)
        [queued] = store.queued_deliveries("daily")
        hold = timedelta(minutes=5)
        assert store.claim_delivery(queued, NOW, hold, "daemon:1")
        held = store.delivery(delivery_id)
        assert held is not None and held.next_attempt_at == NOW + hold
        # A second process with the current row (not due: a command sending now) is refused.
        assert not store.claim_delivery(held, NOW + timedelta(seconds=1), hold, "cli:2")
        # Requeueing it (the page's resend, `monitor deliveries retry`) keeps the claim.
        again = store.requeue_delivery(delivery_id, NOW + timedelta(seconds=2))
        assert again.next_attempt_at == NOW + hold
        assert not store.claim_delivery(again, NOW + timedelta(seconds=2), hold, "cli:2")
        # Once the hold is over (its holder died mid-POST), the claim can be taken.
        assert store.claim_delivery(again, NOW + hold, hold, "cli:2")
        # After the attempt is recorded, a failed delivery is claimable again when due.
        failed = store.record_attempt(
            delivery_id, AttemptOutcome(False, status=500, error="x"), NOW + hold, NOW + hold
        )
        assert store.claim_delivery(failed, NOW + hold, hold, "daemon:1")
    finally:
        store.close()


class SlowReceiver(Receiver):
    """Answers each POST after ``delay`` seconds, so a delivery stays in flight a while."""

    delay = 0.4

    def _handle(self, request: Request) -> Response:
        time.sleep(self.delay)
        return super()._handle(request)


def digest_now(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MONITOR, "digest", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_monitor_digest_and_a_running_daemon_send_each_delivery_once(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    receiver = SlowReceiver()
    hook = receiver.install(httpserver)
    # A heartbeat on every `monitor digest` (send_empty): each run queues a delivery due
    # now, which the daemon's outbox (ticking every 0.2 s) also sees as due.
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [],
        hook_url=hook,
        digest_extra="    immediate: false\n    send_empty: true\n",
    )
    daemon = Daemon(config, tmp_path / "daemon.log").start()
    results: list[subprocess.CompletedProcess[str]] = []
    try:
        daemon.wait_log("daemon.start")
        for _ in range(3):
            runs = [threading.Thread(target=lambda: results.append(digest_now(config)))]
            runs.append(threading.Thread(target=lambda: results.append(digest_now(config))))
            for t in runs:
                t.start()
            for t in runs:
                t.join()
        store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                made = store.deliveries(digest_id="daily", limit=100)
                if made and all(d.status == "delivered" for d in made):
                    break
                time.sleep(0.1)
            time.sleep(1)  # any late duplicate would have arrived by now
            made = store.deliveries(digest_id="daily", limit=100)
        finally:
            store.close()
    finally:
        assert daemon.stop() == 0
    for r in results:
        assert r.returncode == 0, r.stdout + r.stderr
    assert len(made) == 6 and all(d.status == "delivered" for d in made)
    per_id = Counter(r.headers["Webhook-Id"] for r in receiver.received)
    assert per_id == {d.id: 1 for d in made}
    assert all(d.attempts == 1 for d in made)


def test_two_runs_of_one_digest_at_once_never_queue_a_match_twice(db_url: str) -> None:
    """A run on demand that starts while a scheduled run of the same digest is building
    waits for it, then sees its deliveries: each match is queued once (PostgreSQL, where
    transactions do not serialize by themselves, and SQLite)."""
    from monitor.types import Digest, EntryData, FeedUpdate, IncomingEntry, MatchResult

    store = Store.open(db_url)
    try:
        store.sync_config(
            [FeedSpec("wire", "http://127.0.0.1:9/x")],
            {"daily": ("0 8 * * *", NOW + timedelta(hours=3))},
            "r",
            "text",
            NOW - timedelta(days=1),
        )
        entry = EntryData(guid="g", link="https://n.example/1", title="Muse Spark API")
        store.ingest(
            FeedUpdate(
                "wire",
                NOW,
                NOW,
                status=200,
                entries=(
                    IncomingEntry(
                        entry,
                        "https://n.example/1",
                        (MatchResult("api", ("Muse Spark API",), "x"),),
                    ),
                ),
            )
        )
        first_building = threading.Event()
        release_first = threading.Event()
        second_built = threading.Event()
        seen: dict[str, list[int]] = {}

        def builder(name: str, hold: bool):  # type: ignore[no-untyped-def]
            def build(pending, since):  # type: ignore[no-untyped-def]
                seen[name] = [m.id for m in pending]
                if hold:
                    first_building.set()
                    assert release_first.wait(30)
                else:
                    second_built.set()
                if not pending:
                    return None
                return Digest(
                    digest_id="daily",
                    delivery_id=new_delivery_id(),
                    generated_at=NOW,
                    since=since,
                    until=NOW,
                    match_ids=tuple(m.id for m in pending),
                    body="{}",
                )

            return build

        results: dict[str, object] = {}
        a = threading.Thread(
            target=lambda: results.__setitem__(
                "a",
                store.run_digest(
                    "daily",
                    ["api"],
                    NOW,
                    builder("a", True),
                    claim=(NOW + timedelta(hours=3), NOW + timedelta(days=1)),
                ),
            )
        )
        a.start()
        assert first_building.wait(30)
        b = threading.Thread(
            target=lambda: results.__setitem__(
                "b", store.run_digest("daily", ["api"], NOW, builder("b", False))
            )
        )
        b.start()
        # While the first run holds the digest, the second does not get to build.
        assert not second_built.wait(1.0)
        release_first.set()
        a.join(30)
        b.join(30)
        assert len(seen["a"]) == 1 and seen["b"] == []
        assert results["a"] is not None and results["b"] is None
    finally:
        store.close()
