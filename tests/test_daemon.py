"""`monitor run` as a real subprocess against real feed and webhook servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.support import FeedFile, Item, Receiver, write_watchlist

MONITOR = [sys.executable, "-m", "monitor"]


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        fh = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*MONITOR, "run", "--config", str(self.config), "--tick", "0.2"],
            stdout=fh,
            stderr=fh,
            env=env,
            start_new_session=True,  # its own process group, as under systemd or a terminal
        )
        fh.close()
        return self

    def wait_log(self, needle: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log.read_text().count(needle) >= count:
                return
            assert self.proc and self.proc.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(
            f"{needle!r} x{count} not logged within {timeout}s:\n{self.log.read_text()}"
        )

    def stop(
        self,
        sig: int = signal.SIGTERM,
        timeout: float = 10,
        *,
        group: bool = False,
        twice: bool = False,
    ) -> int:
        """Signal the daemon (or, like Ctrl-C and systemd, its whole process group); ``twice``
        repeats the signal while it drains, as `timeout` and an impatient Ctrl-C do."""
        assert self.proc is not None
        started = time.time()
        for _ in range(2 if twice else 1):
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
            time.sleep(0.2)
        code = self.proc.wait(timeout=timeout)
        assert time.time() - started < timeout
        return code


def schedule_at(when: datetime) -> str:
    """A 6-field cron (seconds first) that fires once a day at ``when`` (UTC)."""
    return f"{when.second} {when.minute} {when.hour} * * *"


@pytest.fixture
def setup(httpserver: HTTPServer, tmp_path: Path):
    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = [
        Item("w1", "Meta opens the Muse Spark API to all developers", "General availability.")
    ]
    receiver = Receiver()
    hook = receiver.install(httpserver)
    return feed, receiver, hook, httpserver.url_for("/wire.xml")


def test_daemon_sends_on_schedule_stops_on_sigterm_and_does_not_resend(
    setup, tmp_path: Path
) -> None:
    _feed, receiver, hook, url = setup
    # Every 3 seconds: the first run after the poll carries the match; later runs have
    # nothing new and send nothing (an empty digest is not sent).
    config = write_watchlist(
        tmp_path / "watchlist.yaml", [("wire", url)], hook_url=hook, schedule="*/3 * * * * *"
    )
    d = Daemon(config, tmp_path / "daemon.log").start()
    try:
        d.wait_log("poll feed=wire outcome=ok")
        # A second daemon on the same SQLite database refuses to start.
        second = subprocess.run(
            [*MONITOR, "run", "--config", str(config)], capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 2
        assert "already using" in second.stderr
        (req,) = receiver.wait(1, timeout=30)
        payload = req.verify()
        assert payload["match_count"] == 1
        time.sleep(4)  # at least one more scheduled run: nothing new, nothing sent
        assert len(receiver.received) == 1
    finally:
        assert d.stop() == 0
    assert "daemon.stop" in d.log.read_text()

    # Restarted: it picks up where it left off and does not resend.
    d2 = Daemon(config, tmp_path / "daemon2.log").start()
    try:
        d2.wait_log("daemon.start")
        time.sleep(4)
        assert len(receiver.received) == 1
    finally:
        # Ctrl-C reaches the whole process group, parse workers included: a clean stop.
        assert d2.stop(signal.SIGINT, group=True) == 0
    assert "daemon.stop" in d2.log.read_text()
    assert "Traceback" not in d2.log.read_text()


def test_missed_digest_is_sent_once_on_start(setup, tmp_path: Path) -> None:
    _feed, receiver, hook, url = setup
    fire = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    config = write_watchlist(
        tmp_path / "watchlist.yaml", [("wire", url)], hook_url=hook, schedule=schedule_at(fire)
    )
    d = Daemon(config, tmp_path / "a.log").start()
    d.wait_log("poll feed=wire outcome=ok")
    assert d.stop() == 0
    assert receiver.received == []
    # The daemon was down when the digest came due: move the stored time into the past
    # (what a stopped clock looks like to the database) instead of sleeping until it.
    db = sqlite3.connect(tmp_path / "monitor.db")
    (due,) = db.execute("SELECT next_run_at FROM digests WHERE id = 'daily'").fetchone()
    assert datetime.fromisoformat(due).replace(tzinfo=UTC) > datetime.now(UTC)
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat(" ")
    db.execute("UPDATE digests SET next_run_at = ? WHERE id = 'daily'", (past,))
    db.commit()
    db.close()

    d = Daemon(config, tmp_path / "b.log").start()
    try:
        (req,) = receiver.wait(1, timeout=30)
        assert req.verify()["match_count"] == 1
        time.sleep(2)
        assert len(receiver.received) == 1  # once, not once per missed tick
    finally:
        d.stop()
    db = sqlite3.connect(tmp_path / "monitor.db")
    (due,) = db.execute("SELECT next_run_at FROM digests WHERE id = 'daily'").fetchone()
    # The next run is computed from now, so the missed run is not repeated.
    assert datetime.fromisoformat(due).replace(tzinfo=UTC) > datetime.now(UTC)


def test_daemon_keeps_running_through_a_broken_feed_and_a_down_webhook(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    good = FeedFile(httpserver, "/good.xml")
    good.items = [Item("g1", "Ray-Ban Meta glasses get Muse", "Muse on Ray-Ban Meta.")]
    httpserver.expect_request("/bad.xml").respond_with_data("nope", status=503)
    receiver = Receiver(statuses=[500] * 100)
    hook = receiver.install(httpserver, "/services/T0/B0/SECRETPATH")
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("bad", httpserver.url_for("/bad.xml")), ("good", httpserver.url_for("/good.xml"))],
        hook_url=hook,
        schedule="*/2 * * * * *",  # every 2 seconds
    )
    d = Daemon(config, tmp_path / "d.log").start()
    try:
        d.wait_log("poll feed=good outcome=ok")
        d.wait_log("poll feed=bad outcome=error")
        receiver.wait(1)
        d.wait_log("delivery digest=daily")
        assert d.proc and d.proc.poll() is None  # still running
    finally:
        # A second SIGTERM while it drains must not kill it mid-shutdown.
        assert d.stop(group=True, twice=True) == 0
    assert "daemon.stop" in d.log.read_text()
    log = d.log.read_text()
    assert "outcome=pending" in log and "status=500" in log
    assert "SECRETPATH" not in log and "whsec_" not in log  # no webhook URL path or key in logs


# --- the search index is kept current by the daemon ------------------------------------------


def searchable(store, word: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.title for h in store.search_entries([(word, False)], 50).hits]


def test_an_index_step_adds_at_most_its_limit(db_url: str) -> None:
    from monitor.backtest import update_index
    from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry
    from storage.store import Store

    now = datetime.now(UTC).replace(microsecond=0)
    store = Store.open(db_url)
    try:
        store.sync_config([FeedSpec("wire", "http://127.0.0.1:9/x")], {}, "r", "t", now)
        entries = tuple(
            IncomingEntry(
                EntryData(
                    guid=f"g{i}",
                    link=f"https://news.example.com/{i}",
                    title=f"Story number{i} about walruses",
                    summary="",
                    published=now,
                ),
                f"https://news.example.com/{i}",
                (),
            )
            for i in range(7)
        )
        store.ingest(FeedUpdate("wire", now, now, status=200, entries=entries))
        assert store.unindexed() == 7
        assert [update_index(store, limit=3) for _ in range(4)] == [3, 3, 1, 0]
        assert store.unindexed() == 0
        assert len(searchable(store, "walruses")) == 7
        assert searchable(store, "number6") == ["Story number6 about walruses"]
    finally:
        store.close()


def test_daemon_keeps_the_search_index_current(httpserver: HTTPServer, tmp_path: Path) -> None:
    """New entries become searchable while the daemon runs, with no page visited (the
    daemon serves no pages here): it indexes them after its poll cycle."""
    from storage.store import Store

    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = [Item("w1", "Walrus colony spotted near Svalbard", "Marine biology.")]
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml"))],
        poll_interval="1s",
        settings_extra="  max_poll_interval: 1s\n",
    )
    d = Daemon(config, tmp_path / "d.log").start()
    store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    try:
        d.wait_log("poll feed=wire outcome=ok")
        d.wait_log("search.index outcome=current")
        assert searchable(store, "svalbard") == ["Walrus colony spotted near Svalbard"]
        # More entries on a later poll: searchable after that cycle too.
        feed.items += [
            Item(f"n{i}", f"Narwhal sighting {i} in Greenland", "Arctic.") for i in range(3)
        ]
        deadline = time.time() + 30
        while time.time() < deadline and len(searchable(store, "narwhal")) < 3:
            time.sleep(0.1)
        assert len(searchable(store, "narwhal")) == 3, d.log.read_text()
        assert store.unindexed() == 0
    finally:
        store.close()
        assert d.stop() == 0
    assert "Traceback" not in d.log.read_text()


def test_index_step_shares_the_pages_index_lock(tmp_path: Path) -> None:
    """With the pages served, the daemon's step and the editor's catch-up take one lock
    (both would add the same FTS5 rowids): a step finds it held and yields."""
    from monitor.scheduler import Daemon as Service
    from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry
    from monitor.ui.context import UIContext
    from monitor.ui.editor import engine
    from monitor.watchlist import load_watchlist
    from storage.store import Store

    now = datetime.now(UTC).replace(microsecond=0)
    config = write_watchlist(tmp_path / "watchlist.yaml", [])
    wl = load_watchlist(config)
    store = Store.open(wl.database_url)
    try:
        store.sync_config([FeedSpec("wire", "http://127.0.0.1:9/x")], {}, "r", "t", now)
        entry = EntryData(guid="g", link="https://n.example/1", title="Walrus", published=now)
        store.ingest(
            FeedUpdate(
                "wire",
                now,
                now,
                status=200,
                entries=(IncomingEntry(entry, "https://n.example/1", ()),),
            )
        )
        service = Service(wl, store)
        service._ui = UIContext.start(store, wl, token="t")
        lock = engine(store).index_lock
        with lock:
            assert service._index_in_thread() is None  # the page is indexing: skipped
        assert store.unindexed() == 1
        assert service._index_in_thread() == 1
        assert searchable(store, "walrus") == ["Walrus"]
    finally:
        store.close()
