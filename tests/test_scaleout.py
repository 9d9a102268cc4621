"""Scale-out: three ``monitor run`` replicas share one PostgreSQL.

A local feed server serves 200 feeds whose items change every few seconds (stories shared
across feeds, some matching a watch item), a local receiver takes the digests. The test
counts, at the server, when each feed was requested; it checks every feed is polled once
per interval, no match or delivery is duplicated, and that when one replica is killed
with SIGKILL its leased feeds are polled by another within one lease period.

The figures (polls per feed per interval, duplicates, recovery time) are printed; run
with ``-s`` to see them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support import write_watchlist

MONITOR = [sys.executable, "-m", "monitor"]
FEEDS = 200
INTERVAL = 6.0  # seconds between polls of one feed
LEASE = 5.0  # seconds a replica holds a feed it is polling
ROUND = 4.0  # the server publishes a new item in every feed this often
KEEP = 5  # rounds an item stays in its feed
SLOW = range(10)  # feeds that take SLOW_DELAY to answer, so a replica holds leases on them
SLOW_DELAY = 2.5
STORIES = 50  # feed i carries story i % 50: four feeds share each story (same link)


def story(r: int, s: int) -> tuple[str, str]:
    """(link, title) of story ``s`` in round ``r``; every fifth story matches a watch item."""
    link = f"https://news.example.com/r{r}/s{s}"
    if s % 5 == 0:
        return link, f"Meta opens the Muse Spark API to developers (story {s}, round {r})"
    return link, f"Markets close mixed (story {s}, round {r})"


class Server(ThreadingHTTPServer):
    # A deep accept queue: with the default of 5, connections beyond it wait for a SYN
    # retry (1 s), which would show up here as polls arriving late.
    request_queue_size = 512
    daemon_threads = True


@dataclass
class FeedServer:
    """Serves /f/<i>.xml; records (time, feed) of every request and which links it served."""

    started: float = field(default_factory=time.time)
    frozen_round: int | None = None
    requests: list[tuple[float, int]] = field(default_factory=list)
    served: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def round(self) -> int:
        if self.frozen_round is not None:
            return self.frozen_round
        return int((time.time() - self.started) / ROUND)

    def body(self, i: int) -> tuple[bytes, list[str]]:
        r = self.round()
        items, links = [], []
        for k in range(max(0, r - KEEP + 1), r + 1):
            link, title = story(k, i % STORIES)
            links.append(link)
            pub = datetime.now(UTC) - timedelta(minutes=5)
            items.append(
                f"<item><guid>feed{i}-r{k}</guid><title>{title}</title><link>{link}</link>"
                f"<description>round {k}</description><pubDate>{format_datetime(pub)}</pubDate></item>"
            )
        doc = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {i}</title><link>https://news.example.com/</link>"
            f"<description>t</description>{''.join(items)}</channel></rss>"
        )
        return doc.encode(), links

    def serve(self) -> tuple[Server, str]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                i = int(name.split(".")[0])
                with outer.lock:
                    outer.requests.append((time.time(), i))
                if i in SLOW:
                    time.sleep(SLOW_DELAY)
                body, links = outer.body(i)
                with outer.lock:
                    outer.served.update(links)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The killed replica's connections go away mid-answer.
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@dataclass
class Receiver:
    received: list[tuple[str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> tuple[Server, str]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.received.append((self.headers["webhook-id"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/hook"


def polls_of(requests: list[tuple[float, int]], t0: float, t1: float) -> dict[int, list[float]]:
    out: dict[int, list[float]] = defaultdict(list)
    for t, i in requests:
        if t0 <= t <= t1:
            out[i].append(t)
    return out


def test_three_replicas_share_200_feeds_and_recover_a_dead_ones_leases(
    pg_url: str, tmp_path: Path
) -> None:
    feeds = FeedServer()
    fsrv, base = feeds.serve()
    receiver = Receiver()
    rsrv, hook = receiver.serve()
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [(f"f{i}", f"{base}/f/{i}.xml") for i in range(FEEDS)],
        hook_url=hook,
        poll_interval=f"{INTERVAL:g}s",
        schedule="*/5 * * * * *",
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_DATABASE_URL": pg_url}
    procs: list[subprocess.Popen[bytes]] = []
    for n in range(3):
        log = open(tmp_path / f"replica{n}.log", "wb")  # noqa: SIM115 - closed below
        procs.append(
            subprocess.Popen(
                [*MONITOR, "run", "--config", str(config), "--tick", "0.2", "--lease", "5s"],
                stdout=log,
                stderr=log,
                env=env,
            )
        )
        log.close()
    engine = create_engine(pg_url)

    def logs() -> str:
        return "\n".join(
            f"--- replica{n}\n" + (tmp_path / f"replica{n}.log").read_text()[-3000:]
            for n in range(3)
        )

    def wait(cond, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return
            for p in procs:
                assert p.poll() is None or p is victim, f"a replica exited\n{logs()}"
            time.sleep(0.1)
        raise AssertionError(f"{what} not within {timeout}s\n{logs()}")

    victim: subprocess.Popen[bytes] | None = None
    try:
        # Warm-up: every replica started, every feed polled at least once.
        wait(lambda: len({i for _, i in list(feeds.requests)}) == FEEDS, 60, "all feeds polled")
        for n in range(3):
            wait(
                lambda n=n: "daemon.start" in (tmp_path / f"replica{n}.log").read_text(),
                30,
                f"replica{n} started",
            )
        t0 = time.time() + INTERVAL  # steady state: one interval after the last start
        t1 = t0 + 3 * INTERVAL
        time.sleep(max(0.0, t1 - time.time()))

        # Kill a replica while it holds leases (it is waiting on a slow feed).
        victim = procs[0]
        owner = f"{socket.gethostname()}:{victim.pid}"
        held: list[tuple[str, datetime]] = []

        def holds_leases() -> bool:
            nonlocal held
            with engine.connect() as c:
                held = [
                    (r[0], r[1].replace(tzinfo=UTC))
                    for r in c.execute(
                        text(
                            "SELECT id, lease_until FROM feeds WHERE lease_owner = :o "
                            "AND lease_until > now() AT TIME ZONE 'UTC'"
                        ),
                        {"o": owner},
                    )
                ]
            return any(int(fid[1:]) in SLOW for fid, _ in held)

        wait(holds_leases, 30, "the victim holding a lease on a slow feed")
        victim.send_signal(signal.SIGKILL)
        t_kill = time.time()
        victim.wait(10)
        wait(
            lambda: all(
                any(t > t_kill and i == int(fid[1:]) for t, i in list(feeds.requests))
                for fid, _ in held
            ),
            LEASE + 15,
            "the dead replica's feeds polled again",
        )
        recovery, after_expiry = {}, {}
        for fid, until in held:
            first = min(t for t, i in feeds.requests if t > t_kill and i == int(fid[1:]))
            recovery[fid] = first - t_kill
            after_expiry[fid] = first - until.timestamp()
            # Nobody took the feed before its lease expired.
            assert first >= until.timestamp() - 0.5, (fid, first, until)
        t2 = time.time() + 2 * INTERVAL
        time.sleep(max(0.0, t2 - time.time()))
        t3 = time.time()

        # Freeze the feeds and let the last digests go out.
        feeds.frozen_round = feeds.round()
        time.sleep(INTERVAL + 2)

        def drained() -> bool:
            with engine.connect() as c:
                pending = c.scalar(
                    text(
                        "SELECT count(*) FROM matches m WHERE NOT EXISTS "
                        "(SELECT 1 FROM delivery_matches dm WHERE dm.match_id = m.id)"
                    )
                )
                queued = c.scalar(
                    text("SELECT count(*) FROM deliveries WHERE status <> 'delivered'")
                )
            return pending == 0 and queued == 0

        wait(drained, 30, "every match delivered")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(30) for p in procs]
        fsrv.shutdown()
        rsrv.shutdown()
    assert codes[1:] == [0, 0], logs()

    # 1. Every feed polled once per interval while all three ran...
    steady = polls_of(feeds.requests, t0, t1)
    assert set(steady) == set(range(FEEDS))
    gaps = [b - a for ts in steady.values() for a, b in itertools.pairwise(ts)]
    # Polls per feed per interval: the interval over the feed's mean gap between polls.
    per_interval = [INTERVAL * (len(ts) - 1) / (ts[-1] - ts[0]) for ts in steady.values()]
    assert min(gaps) >= INTERVAL * 0.75, "a feed was polled twice within one interval"
    assert max(gaps) <= INTERVAL + 4, "a feed missed its interval"
    # ... and by the two survivors after the kill.
    after = polls_of(feeds.requests, t3 - INTERVAL - 3, t3)
    assert set(after) == set(range(FEEDS))
    gaps2 = [
        b - a
        for ts in polls_of(feeds.requests, t_kill, t3).values()
        for a, b in itertools.pairwise(ts)
    ]
    assert min(gaps2) >= INTERVAL * 0.75

    # 2. No duplicate entries or matches: one entry per story served, one match per
    # matching story.
    with engine.connect() as c:
        links = {r[0] for r in c.execute(text("SELECT canonical_link FROM entries"))}
        n_matches = c.scalar(text("SELECT count(*) FROM matches"))
        deliveries = {r[0]: r[1] for r in c.execute(text("SELECT id, status FROM deliveries"))}
    engine.dispose()
    assert links == feeds.served
    matching = {link for link in feeds.served if "Muse Spark API" in story(*_parse(link))[1]}
    assert n_matches == len(matching)

    # 3. Every digest delivered exactly once; every match in exactly one digest.
    ids = Counter(i for i, _ in receiver.received)
    assert set(ids) == set(deliveries) and set(deliveries.values()) == {"delivered"}
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    carried = Counter(
        m["link"] for _, p in receiver.received for w in p["watch_items"] for m in w["matches"]
    )
    assert set(carried) == matching and max(carried.values()) == 1
    for _, p in receiver.received:
        assert p["digest"] == "daily"

    print(
        f"\nscale-out: {FEEDS} feeds, 3 replicas, interval {INTERVAL:g}s, lease {LEASE:g}s\n"
        f"  polls per feed per interval (3 replicas): min {min(per_interval):.2f} "
        f"median {statistics.median(per_interval):.2f} max {max(per_interval):.2f}; "
        f"gap between polls of a feed: min {min(gaps):.2f}s "
        f"median {statistics.median(gaps):.2f}s max {max(gaps):.2f}s\n"
        f"  after the kill (2 replicas): gap min {min(gaps2):.2f}s\n"
        f"  duplicates: entries 0/{len(links)}, matches 0/{n_matches}, deliveries "
        f"{sum(n - 1 for n in ids.values())}/{len(ids)}\n"
        f"  dead replica held {len(held)} lease(s); re-polled {min(recovery.values()):.2f}s"
        f"..{max(recovery.values()):.2f}s after the kill, "
        f"{max(after_expiry.values()):.2f}s at most after its lease expired"
    )
    assert max(recovery.values()) <= LEASE + 3


def _parse(link: str) -> tuple[int, int]:
    r, s = link.rsplit("/", 2)[-2:]
    return int(r[1:]), int(s[1:])
