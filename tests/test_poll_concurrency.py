"""How many requests a poll has in flight, against real slow servers on the loopback: the
per-host bound (an aggregator is never hit by more than ``--per-host`` requests at once),
the global bound over all hosts (``--concurrency``), and that the global slots are held
for the request only, not while a refresh waits for its write."""

from __future__ import annotations

import asyncio
import http.server
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.fetch import FetchLimits, build_client
from monitor.pipeline import Context, refresh_feed, sync_watchlist, utcnow
from monitor.watchlist import load_watchlist
from storage.store import Store
from tests.support import Item, rss, write_watchlist

BODY = rss([Item("g1", "Meta opens the Muse Spark API", "https://example.com/a")]).encode()


class Gauge:
    """Requests in flight, per Host header and in all, with their peaks and arrival times;
    one gauge may count for several servers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.arrivals: list[float] = []
        self.total_now = 0
        self.total_peak = 0


class SlowFeeds:
    """A threaded feed server that answers every path after ``delay`` seconds, counted on
    ``gauge``."""

    def __init__(self, host: str, delay: float, gauge: Gauge | None = None) -> None:
        self.delay = delay
        self.gauge = gauge or Gauge()
        outer = self
        g = self.gauge

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                with g.lock:
                    g.arrivals.append(time.monotonic())
                    g.now[host] += 1
                    g.total_now += 1
                    g.peak[host] = max(g.peak[host], g.now[host])
                    g.total_peak = max(g.total_peak, g.total_now)
                try:
                    time.sleep(outer.delay)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY)
                finally:
                    with g.lock:
                        g.now[host] -= 1
                        g.total_now -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[list[SlowFeeds]]:
    made: list[SlowFeeds] = []
    yield made
    for s in made:
        s.close()


def _poll(config: Path, *args: str) -> None:
    assert main(["poll", "-q", "--workers", "0", "--config", str(config), *args]) == 0


def test_one_host_never_gets_more_than_per_host_requests_at_once(
    tmp_path: Path, servers: list[SlowFeeds]
) -> None:
    srv = SlowFeeds("127.0.0.1", 0.15)
    servers.append(srv)
    feeds = [(f"f{i}", srv.url(f"/f{i}.xml")) for i in range(12)]
    config = write_watchlist(tmp_path / "watchlist.yaml", feeds)
    _poll(config, "--per-host", "3", "--concurrency", "20")
    assert len(srv.gauge.arrivals) == 12
    assert srv.gauge.peak["127.0.0.1"] == 3  # reached, never passed


def test_all_hosts_together_never_get_more_than_concurrency_requests(
    tmp_path: Path, servers: list[SlowFeeds]
) -> None:
    g = Gauge()
    a = SlowFeeds("127.0.0.1", 0.15, g)
    b = SlowFeeds("127.0.0.2", 0.15, g)  # another loopback address: another host
    servers += [a, b]
    feeds = [(f"a{i}", a.url(f"/a{i}.xml")) for i in range(8)]
    feeds += [(f"b{i}", b.url(f"/b{i}.xml")) for i in range(8)]
    config = write_watchlist(tmp_path / "watchlist.yaml", feeds)
    _poll(config, "--per-host", "4", "--concurrency", "5")
    assert len(g.arrivals) == 16
    assert g.peak["127.0.0.1"] <= 4 and g.peak["127.0.0.2"] <= 4
    assert g.total_peak == 5  # reached (more than one host's 4), never passed


def test_a_refresh_waiting_for_its_write_holds_no_request_slot(
    tmp_path: Path, servers: list[SlowFeeds]
) -> None:
    """With one request slot in all, three feeds are fetched while the database is locked
    by someone else: each refresh waits for its write after its request, slot released."""
    srv = SlowFeeds("127.0.0.1", 0.0)
    servers.append(srv)
    db = tmp_path / "monitor.db"
    feeds = [(f"f{i}", srv.url(f"/f{i}.xml")) for i in range(3)]
    config = write_watchlist(tmp_path / "watchlist.yaml", feeds, database=f"sqlite:///{db}")
    wl = load_watchlist(config)
    store = Store.open(f"sqlite:///{db}")
    try:
        sync_watchlist(store, wl, utcnow())
        states = [s for s in store.feed_states() if s.enabled]
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # the write lock: every write of ours waits
        released: list[float] = []

        def release() -> None:
            time.sleep(1.5)
            released.append(time.monotonic())
            other.execute("COMMIT")

        t = threading.Thread(target=release)
        t.start()
        limits = FetchLimits(total_timeout=20)

        async def go() -> list[str | None]:
            async with build_client(limits, "test") as client:
                ctx = Context(store, client, wl, limits, max_requests=1)
                reports = await asyncio.gather(*(refresh_feed(ctx, s) for s in states))
                return [r.error for r in reports]

        errors = asyncio.run(go())
        t.join()
        other.close()
        assert errors == [None, None, None]
        assert len(srv.gauge.arrivals) == 3
        assert max(srv.gauge.arrivals) < released[0]  # all three requested while the lock held
        assert {f.id: f.last_status for f in store.feed_states()} == {
            "f0": 200,
            "f1": 200,
            "f2": 200,
        }
    finally:
        store.close()
