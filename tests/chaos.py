"""Fault-injection harness shared by the reliability tests and ``bench/`` campaigns.

Real parts only: a feed server and a webhook receiver (``ThreadingHTTPServer`` on 127.0.0.1)
whose behaviour the test changes while ``monitor run`` runs as a subprocess against a real
SQLite file. The servers can be slow, drip, time out, reset connections, answer 5xx / 429,
or go down and come back on the same port; the daemon can be SIGKILLed at chosen moments
(:func:`crash_campaign`), and :func:`verify` checks afterwards that nothing was lost or sent
twice.

Feeds keep every entry they ever carried (newest first), so an entry that appeared while
the daemon was dead is still there on its next poll: "recorded exactly once" is checkable.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.support import SECRET, write_watchlist

MONITOR = [sys.executable, "-m", "monitor"]

# Titles cycle through these; {g} makes each entry's text unique. Watch items are those of
# tests.support.write_watchlist: "api-broadening" and "glasses-rollout".
TITLES = [
    ("Meta opens the Muse Spark API to partners {g}", {"api-broadening"}),
    ("Weather on the coast {g}", set()),
    ("Ray-Ban Meta glasses get Muse {g}", {"glasses-rollout"}),
    (
        "Muse Spark API comes to Ray-Ban Meta glasses with Muse {g}",
        {"api-broadening", "glasses-rollout"},
    ),
    ("Quarterly results of an unrelated company {g}", set()),
    ("Muse API stays in private preview {g}", set()),  # excluded by none: [private preview]
]


def title_for(n: int, guid: str) -> tuple[str, set[str]]:
    text, watch = TITLES[n % len(TITLES)]
    return text.format(g=guid), watch


# --- servers ----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client (the daemon) killed mid-request: expected here, not news


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0) instead of a response."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


class _Base:
    """A restartable HTTP server on a fixed port (``down()`` / ``up()``)."""

    def __init__(self) -> None:
        self.port = 0
        self._srv: _Server | None = None
        self.inflight = 0
        self.lock = threading.Lock()
        self.up()

    def handle(self, h: BaseHTTPRequestHandler) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def up(self) -> None:
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _go(self) -> None:
                with outer.lock:
                    outer.inflight += 1
                try:
                    outer.handle(self)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True
                finally:
                    with outer.lock:
                        outer.inflight -= 1

            do_GET = do_POST = _go

        self._srv = _Server(("127.0.0.1", self.port), H)
        self.port = self._srv.server_address[1]
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections are refused until :meth:`up`."""
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None

    close = down

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class Feed:
    id: str
    entries: list[tuple[str, str]] = field(default_factory=list)  # (guid, title), oldest first
    mode: str = "ok"  # ok | timeout | reset | 500 | 503 | 410 | slow
    served: int = 0  # 200 responses


class FeedServer(_Base):
    """Feeds at ``/feed/<id>.xml`` that gain entries while :meth:`grow` runs.

    ``delay`` is the most a response waits before its headers; ``drip`` splits the body in
    two with a pause between (so a kill can land in the middle of a body). ``max_entries``
    bounds a document (newest first), like a real feed's window; 0 keeps all.
    """

    def __init__(
        self,
        n_feeds: int,
        *,
        delay: float = 0.0,
        drip: float = 0.0,
        seed: int = 0,
        summary_bytes: int = 200,
        max_entries: int = 0,
    ) -> None:
        self.feeds = {f"f{i:03d}": Feed(f"f{i:03d}") for i in range(n_feeds)}
        self.delay, self.drip = delay, drip
        self.rng = random.Random(seed)
        self.summary = "x" * summary_bytes
        self.max_entries = max_entries
        self.requests: Counter[str] = Counter()
        self.request_times: dict[str, list[float]] = {}
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self._n = 0
        self._stop = threading.Event()
        self._grower: threading.Thread | None = None
        super().__init__()

    def add_entry(self, feed_id: str) -> str:
        with self.lock:
            self._n += 1
            guid = f"{feed_id}-{self._n}"
            title, _ = title_for(self._n, guid)
            self.feeds[feed_id].entries.append((guid, title))
            return guid

    def grow(self, every: float, per_step: int = 1) -> None:
        """Add ``per_step`` entries to random feeds every ``every`` seconds until :meth:`stop_growing`."""
        self._stop.clear()

        def run() -> None:
            ids = list(self.feeds)
            while not self._stop.wait(every):
                for _ in range(per_step):
                    self.add_entry(self.rng.choice(ids))

        self._grower = threading.Thread(target=run, daemon=True)
        self._grower.start()

    def stop_growing(self) -> None:
        self._stop.set()
        if self._grower:
            self._grower.join()

    def expected_matches(self) -> set[tuple[str, str]]:
        """(guid, watch id) for every entry any feed carried that a watch item matches."""
        out = set()
        for f in self.feeds.values():
            for guid, _title in f.entries:
                n = int(guid.rsplit("-", 1)[1])
                for w in title_for(n, guid)[1]:
                    out.add((guid, w))
        return out

    def document(self, feed: Feed) -> bytes:
        with self.lock:
            entries = list(reversed(feed.entries))
        if self.max_entries:
            entries = entries[: self.max_entries]
        pub = format_datetime(datetime.now(UTC) - timedelta(minutes=5))
        items = "".join(
            f'<item><guid isPermaLink="false">{g}</guid><title>{escape(t)}</title>'
            f"<link>https://news.example.com/{g}</link>"
            f"<description>{self.summary}</description><pubDate>{pub}</pubDate></item>"
            for g, t in entries
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Wire {feed.id}</title><link>https://news.example.com/</link>"
            f"<description>t</description>{items}</channel></rss>"
        ).encode()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        with self.lock:
            self.requests[path] += 1
            self.request_times.setdefault(path, []).append(time.time())
        if path in self.routes:
            self.routes[path](h)
            return
        fid = path.removeprefix("/feed/").removesuffix(".xml")
        feed = self.feeds.get(fid)
        if feed is None:
            h.send_error(404)
            return
        mode = feed.mode
        if mode == "timeout":
            time.sleep(90)  # past the daemon's read timeout
            _reset(h)
            return
        if mode == "reset":
            _reset(h)
            return
        if mode.isdigit():
            body = b"unavailable"
            h.send_response(int(mode))
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if self.delay:
            time.sleep(self.rng.uniform(0, self.delay))
        body = self.document(feed)
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if self.drip or mode == "slow":
            half = len(body) // 2
            h.wfile.write(body[:half])
            h.wfile.flush()
            time.sleep(self.rng.uniform(0, self.drip or 1.0))
            h.wfile.write(body[half:])
        else:
            h.wfile.write(body)
        with self.lock:
            feed.served += 1


@dataclass
class Hit:
    id: str
    body: bytes
    at: float
    status: int


class Receiver(_Base):
    """A webhook endpoint. ``mode``: ok | 500 | 429 | timeout | reset; ``delay`` before answering.

    Records every request that reached it (``hits``), with the status it answered.
    """

    def __init__(self, *, delay: float = 0.0, seed: int = 0) -> None:
        self.mode = "ok"
        self.retry_after = 1
        self.delay = delay
        self.rng = random.Random(seed)
        self.hits: list[Hit] = []
        self.arrived: set[str] = set()  # webhook-ids seen (even if the answer never went out)
        self.truncated = 0  # requests whose body was cut short
        super().__init__()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length)
        wid = h.headers.get("webhook-id", "")
        if len(body) < length:  # the sender died mid-request: no receiver would accept it
            with self.lock:
                self.truncated += 1
            h.close_connection = True
            return
        with self.lock:
            self.arrived.add(wid)
        mode = self.mode
        if mode == "reset":
            self._hit(wid, body, 0)
            _reset(h)
            return
        if mode == "timeout":
            self._hit(wid, body, 0)
            time.sleep(35)  # past the daemon's 30 s POST timeout
            _reset(h)
            return
        if self.delay:
            time.sleep(self.rng.uniform(0, self.delay))
        status = {"ok": 200, "500": 500, "429": 429}[mode]
        self._hit(wid, body, status)
        h.send_response(status)
        if status == 429:
            h.send_header("Retry-After", str(self.retry_after))
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")

    def _hit(self, wid: str, body: bytes, status: int) -> None:
        with self.lock:
            self.hits.append(Hit(wid, body, time.time(), status))

    def accepted(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.status == 200]


# --- the daemon -------------------------------------------------------------------------------


class DaemonProc:
    """``monitor run`` as a subprocess; every start appends to one log file."""

    def __init__(self, config: Path, log: Path, *, tick: float = 0.2, env: dict | None = None):
        self.config, self.log = config, log
        self.tick = tick
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> DaemonProc:
        with open(self.log, "ab") as fh:
            fh.write(f"--- start {self.starts} at {time.time():.3f}\n".encode())
            fh.flush()
            self.proc = subprocess.Popen(
                [*MONITOR, "run", "--config", str(self.config), "--tick", str(self.tick)],
                stdout=fh,
                stderr=fh,
                env=self.env,
            )
        self.starts += 1
        return self

    def wait_started(self, timeout: float = 90) -> DaemonProc:
        """Wait until this start logged ``daemon.start`` (schema ready, loop running).

        Start-up takes seconds on a loaded machine; a test that reads the database or
        counts on timing from the launch waits here first instead of guessing a delay.
        """
        mark = f"--- start {self.starts - 1} at "
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log.read_text(errors="replace")
            if "daemon.start" in text[text.rfind(mark) :]:
                return self
            assert self.alive(), text[-3000:]
            time.sleep(0.05)
        raise AssertionError(f"the daemon did not start within {timeout} s:\n{self.text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def rss_kib(self) -> int:
        """Resident memory of the daemon (VmRSS), 0 when it is not running."""
        if not self.alive():
            return 0
        assert self.proc is not None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return 0
        return 0

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.text().count(needle) >= count:
                return
            assert self.alive(), self.text()[-4000:]
            time.sleep(0.05)
        raise AssertionError(
            f"{needle!r} x{count} not logged in {timeout}s:\n{self.text()[-4000:]}"
        )


# --- database probes (plain sqlite3: the harness must not share the daemon's code) ------------


def db_writing(db: Path) -> bool:
    """True when another connection holds the write lock (the daemon is inside a write)."""
    if not db.exists():
        return False
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def read_db(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def pending_unsent(db: Path, arrived: set[str]) -> bool:
    """A delivery is in the outbox that the receiver has not seen yet."""
    try:
        rows = read_db(db, "SELECT id FROM deliveries WHERE status = 'pending'")
    except sqlite3.OperationalError:
        return False
    return any(r[0] not in arrived for r in rows)


# --- the crash campaign -----------------------------------------------------------------------

MOMENTS = ("fetch", "db-write", "outbox-before-post", "post", "any")


@dataclass
class Kill:
    target: str  # the moment aimed at
    landed: list[str]  # what was going on at the kill (several may hold at once)
    after: float  # seconds since that daemon's start


@dataclass
class CampaignReport:
    kills: list[Kill]
    problems: list[str]
    expected_matches: int
    recorded_matches: int
    entries: int
    deliveries: int
    posts: int
    repeats: int
    integrity: str
    elapsed: float
    landed: Counter[str]


def build_world(
    tmp: Path,
    n_feeds: int,
    *,
    schedule: str = "*/2 * * * * *",
    poll_interval: str = "1s",
    hook: Receiver | None = None,
    **feed_options: Any,
) -> tuple[FeedServer, Receiver, Path, Path]:
    """Feeds that each have an entry, a webhook receiver and a watchlist polling them."""
    feeds = FeedServer(n_feeds, **feed_options)
    for fid in feeds.feeds:
        feeds.add_entry(fid)
    hook = hook or Receiver()
    db = tmp / "monitor.db"
    config = write_watchlist(
        tmp / "watchlist.yaml",
        [(fid, feeds.url(f"/feed/{fid}.xml")) for fid in feeds.feeds],
        hook_url=hook.url("/hook"),
        schedule=schedule,
        database=str(db),
        poll_interval=poll_interval,
    )
    return feeds, hook, config, db


def _state(feeds: FeedServer, hook: Receiver, db: Path) -> list[str]:
    now = []
    if feeds.inflight:
        now.append("fetch")
    if db_writing(db):
        now.append("db-write")
    if hook.inflight:
        now.append("post")
    if pending_unsent(db, set(hook.arrived)):
        now.append("outbox-before-post")
    return now


def crash_campaign(
    tmp: Path,
    *,
    kills: int = 20,
    seed: int = 1,
    n_feeds: int = 8,
    feed_delay: float = 0.4,
    drip: float = 0.3,
    hook_delay: float = 0.4,
    grow_every: float = 0.05,
    aim_timeout: float = 8.0,
    window: int = 0,
    settle_timeout: float = 90.0,
    env: dict | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> CampaignReport:
    """Kill ``monitor run`` with SIGKILL ``kills`` times at aimed moments, then verify.

    Each round starts the daemon, picks a moment from :data:`MOMENTS`, watches the servers
    and the database every ~2 ms and kills as soon as the moment holds (or at a random
    time if it does not come within ``aim_timeout``), recording what was going on. Then the
    feeds stop growing, the daemon runs undisturbed until everything has settled, is
    stopped with SIGTERM, and :func:`verify` compares the database and the receiver with
    what the feed server published. ``window`` > 0 makes each document carry only the
    newest entries (long campaigns: documents stay small; it must exceed what a feed gains
    while the daemon is down, or entries are missed by design).
    """
    started = time.time()
    rng = random.Random(seed)
    feeds, hook, config, db = build_world(
        tmp,
        n_feeds,
        hook=Receiver(delay=hook_delay, seed=seed),
        delay=feed_delay,
        drip=drip,
        seed=seed,
        summary_bytes=2000,
    )
    feeds.max_entries = window
    daemon = DaemonProc(config, tmp / "daemon.log", env=env)
    done: list[Kill] = []
    try:
        feeds.grow(grow_every)
        for i in range(kills):
            target = MOMENTS[i % len(MOMENTS)] if i < len(MOMENTS) else rng.choice(MOMENTS)
            daemon.start()
            t0 = time.time()
            # Let it get going (imports, schema, first tick) before aiming: on a loaded
            # machine the start alone can take seconds.
            daemon.wait_log("daemon.start", count=i + 1, timeout=120)
            time.sleep(rng.uniform(0.0, 0.5))
            deadline = time.time() + aim_timeout
            landed: list[str] = []
            while time.time() < deadline and daemon.alive():
                landed = _state(feeds, hook, db)
                if target == "any" and rng.random() < 0.01:
                    break
                if target in landed:
                    break
                time.sleep(0.002)
            if not daemon.alive():
                raise AssertionError(f"daemon died by itself:\n{daemon.text()[-4000:]}")
            daemon.kill()
            done.append(Kill(target, landed or ["idle"], time.time() - t0))
            log(f"kill {i + 1}/{kills}: aimed {target}, landed {landed or ['idle']}")
        feeds.stop_growing()
        expected = feeds.expected_matches()
        daemon.start()
        settle(daemon, db, hook, expected, timeout=settle_timeout)
        code = daemon.stop()
        if code != 0:
            raise AssertionError(f"daemon exited {code} on SIGTERM:\n{daemon.text()[-4000:]}")
        report = verify(db, feeds, hook)
    finally:
        feeds.stop_growing()
        if daemon.alive():
            daemon.kill()
        feeds.close()
        hook.close()
    report.kills = done
    report.landed = Counter(x for k in done for x in k.landed)
    report.elapsed = time.time() - started
    return report


def recorded(db: Path) -> list[tuple[str, str]]:
    return [
        (g, w)
        for g, w in read_db(
            db,
            "SELECT e.guid, m.watch_id FROM matches m JOIN entries e ON e.id = m.entry_id",
        )
    ]


def settle(daemon: DaemonProc, db: Path, hook: Receiver, expected: set, *, timeout: float) -> None:
    """Wait until every expected match is recorded, digested and delivered."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert daemon.alive(), daemon.text()[-4000:]
        try:
            have = set(recorded(db))
            undelivered = read_db(
                db,
                "SELECT count(*) FROM matches m WHERE m.alert AND NOT EXISTS "
                "(SELECT 1 FROM delivery_matches dm JOIN deliveries d ON d.id = dm.delivery_id "
                " WHERE dm.match_id = m.id AND d.status = 'delivered')",
            )[0][0]
        except sqlite3.OperationalError:
            time.sleep(0.2)
            continue
        if expected <= have and undelivered == 0:
            return
        time.sleep(0.2)
    missing = expected - set(recorded(db))
    raise AssertionError(
        f"not settled in {timeout}s: {len(missing)} match(es) missing "
        f"(e.g. {sorted(missing)[:5]}):\n{daemon.text()[-4000:]}"
    )


def verify(db: Path, feeds: FeedServer, hook: Receiver) -> CampaignReport:
    """Compare what was published, recorded and delivered; every broken promise is a problem."""
    problems = []
    expected = feeds.expected_matches()
    rows = recorded(db)
    counts = Counter(rows)
    dup = [k for k, n in counts.items() if n > 1]
    if dup:
        problems.append(f"{len(dup)} match(es) recorded more than once, e.g. {dup[:3]}")
    missing = expected - set(counts)
    if missing:
        problems.append(
            f"{len(missing)} expected match(es) not recorded, e.g. {sorted(missing)[:3]}"
        )
    extra = set(counts) - expected
    if extra:
        problems.append(
            f"{len(extra)} match(es) recorded that no watch item wants: {sorted(extra)[:3]}"
        )
    guids = Counter(g for (g,) in read_db(db, "SELECT guid FROM entries"))
    dup_entries = [g for g, n in guids.items() if n > 1]
    if dup_entries:
        problems.append(f"{len(dup_entries)} entries stored more than once: {dup_entries[:3]}")

    deliveries = read_db(db, "SELECT id, status, match_count FROM deliveries")
    not_delivered = [d for d in deliveries if d[1] != "delivered"]
    if not_delivered:
        problems.append(f"{len(not_delivered)} deliveries not delivered: {not_delivered[:3]}")
    hits = hook.accepted()
    by_id: dict[str, set[bytes]] = {}
    for h in hook.hits:
        by_id.setdefault(h.id, set()).add(h.body)
    changed = [i for i, bodies in by_id.items() if len(bodies) > 1]
    if changed:
        problems.append(f"{len(changed)} webhook-id(s) sent with different bodies: {changed[:3]}")
    got_ids = {h.id for h in hits}
    lost = [d[0] for d in deliveries if d[0] not in got_ids]
    if lost:
        problems.append(f"{len(lost)} deliveries never accepted by the receiver: {lost[:3]}")
    # Every alert-worthy match reached the receiver under exactly one webhook-id.
    carried: dict[tuple[str, str], set[str]] = {}
    for h in hits:
        payload = json.loads(h.body)
        for w in payload["watch_items"]:
            for m in w["matches"]:
                guid = m["link"].rsplit("/", 1)[1]
                carried.setdefault((guid, w["id"]), set()).add(h.id)
    twice = {k: v for k, v in carried.items() if len(v) > 1}
    if twice:
        problems.append(
            f"{len(twice)} match(es) sent under several webhook-ids: {list(twice.items())[:3]}"
        )
    unsent = expected - set(carried)
    if unsent:
        problems.append(f"{len(unsent)} match(es) never delivered, e.g. {sorted(unsent)[:3]}")
    integrity = read_db(db, "PRAGMA integrity_check")[0][0]
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    n_ids = Counter(h.id for h in hits)
    return CampaignReport(
        kills=[],
        problems=problems,
        expected_matches=len(expected),
        recorded_matches=len(rows),
        entries=sum(guids.values()),
        deliveries=len(deliveries),
        posts=len(hook.hits),
        repeats=sum(n - 1 for n in n_ids.values()),
        integrity=integrity,
        elapsed=0.0,
        landed=Counter(),
    )


# --- the soak run -----------------------------------------------------------------------------


@dataclass
class SoakReport:
    samples: list[tuple[float, int]]  # (seconds since start, daemon RSS KiB)
    report: CampaignReport
    problems: list[str]
    settle_seconds: float
    polls: int
    published: int

    def growth_mib(self) -> float:
        """Median RSS of the last third minus that of the first third, MiB."""
        import statistics

        third = max(1, len(self.samples) // 3)
        first = statistics.median(r for _, r in self.samples[:third])
        last = statistics.median(r for _, r in self.samples[-third:])
        return (last - first) / 1024


def soak(
    tmp: Path,
    *,
    n_feeds: int,
    seconds: float,
    interval: str = "5s",
    every: float = 0.02,
    window: int = 50,
    sample: float = 30,
    tick: float = 1.0,
    out: Callable[[str], None] = lambda s: None,
) -> SoakReport:
    """``n_feeds`` feeds gaining an entry every ``every`` s (on a random feed), polled every
    ``interval``, a digest every 10 s, for ``seconds``; RSS sampled every ``sample`` s."""
    feeds, hook, config, db = build_world(
        tmp,
        n_feeds,
        schedule="*/10 * * * * *",
        poll_interval=interval,
        max_entries=window,
        summary_bytes=300,
    )
    daemon = DaemonProc(config, tmp / "daemon.log", tick=tick).start().wait_started()
    samples: list[tuple[float, int]] = []
    started = time.time()
    out(
        f"| {'t (s)':>6} | {'RSS MiB':>8} | {'polls':>7} | {'entries':>8} | {'matches':>8} "
        f"| {'expected':>8} | {'delivered':>9} |"
    )
    out(f"|{'-' * 8}|{'-' * 10}|{'-' * 9}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 11}|")
    problems: list[str] = []
    try:
        feeds.grow(every)
        end = started + seconds
        while time.time() < end:
            time.sleep(min(sample, max(0.0, end - time.time())))
            assert daemon.alive(), daemon.text()[-3000:]
            rss = daemon.rss_kib()
            t = time.time() - started
            samples.append((t, rss))
            entries = read_db(db, "SELECT count(*) FROM entries")[0][0]
            matches = read_db(db, "SELECT count(*) FROM matches")[0][0]
            delivered = read_db(db, "SELECT count(*) FROM deliveries WHERE status='delivered'")[0][
                0
            ]
            out(
                f"| {t:6.0f} | {rss / 1024:8.1f} | {sum(feeds.requests.values()):7d} "
                f"| {entries:8d} | {matches:8d} | {len(feeds.expected_matches()):8d} "
                f"| {delivered:9d} |"
            )
        feeds.stop_growing()
        settle_started = time.time()
        try:
            settle(daemon, db, hook, feeds.expected_matches(), timeout=300)
        except AssertionError as exc:
            problems.append(str(exc).splitlines()[0])
        settle_s = time.time() - settle_started
        daemon.stop()
        report = verify(db, feeds, hook)
    finally:
        feeds.stop_growing()
        if daemon.alive():
            daemon.kill()
        feeds.close()
        hook.close()
    return SoakReport(
        samples,
        report,
        problems + report.problems,
        settle_s,
        sum(feeds.requests.values()),
        sum(len(f.entries) for f in feeds.feeds.values()),
    )


# --- a webhook outage -------------------------------------------------------------------------


@dataclass
class OutageReport:
    report: CampaignReport
    rss: list[int]  # KiB, sampled through the outage
    queued_peak: int  # pending deliveries at the end of the outage
    accepted: list[str]  # webhook-ids in the order the receiver accepted them
    in_db_order: list[str]  # delivery ids in outbox order
    statuses: Counter[int]  # answers given during the outage (0: reset / timeout)
    recovered_s: float  # from the receiver's recovery to the last delivery
    retry_gaps_after_429: list[float]


def webhook_outage(
    tmp: Path,
    phases: list[tuple[str, float]],
    *,
    n_feeds: int = 3,
    retry_base: float = 0.2,
    sample: float = 0.5,
    settle_timeout: float = 120,
    out: Callable[[str], None] = lambda s: None,
) -> OutageReport:
    """Run the daemon while the receiver goes through ``phases`` (mode, seconds): modes
    ``down`` (not listening), ``500``, ``429`` (Retry-After 1), ``reset``, ``timeout``
    (answers after the daemon's 30 s POST timeout). Feeds keep gaining entries and a digest
    is built every 2 s throughout. Then the receiver recovers and everything must arrive."""
    feeds, hook, config, db = build_world(tmp, n_feeds)
    daemon = DaemonProc(config, tmp / "d.log", env={"MONITOR_RETRY_BASE": str(retry_base)})
    daemon.start()
    rss: list[int] = []
    try:
        feeds.grow(0.3)
        daemon.wait_log("outcome=delivered", timeout=30)
        for mode, seconds in phases:
            out(f"receiver: {mode} for {seconds:g}s")
            if mode == "down":
                hook.down()
            else:
                hook.mode = mode
            # At least ``seconds``, and until the receiver answered at least once in this
            # mode (retry delays double, so a short phase could otherwise see no attempt).
            hits_before = len(hook.hits)
            end, cap = time.time() + seconds, time.time() + max(4 * seconds, 60)
            while time.time() < end or (
                mode != "down" and len(hook.hits) == hits_before and time.time() < cap
            ):
                time.sleep(sample)
                rss.append(daemon.rss_kib())
            if mode == "down":
                hook.up()
        queued = read_db(db, "SELECT count(*) FROM deliveries WHERE status = 'pending'")[0][0]
        hook.mode = "ok"
        recovered_at = time.time()
        feeds.stop_growing()
        settle(daemon, db, hook, feeds.expected_matches(), timeout=settle_timeout)
        recovered = max(h.at for h in hook.accepted()) - recovered_at
        code = daemon.stop()
        assert code == 0, daemon.text()[-3000:]
    finally:
        feeds.stop_growing()
        if daemon.alive():
            daemon.kill()
        feeds.close()
        hook.close()
    gaps = [
        b.at - a.at
        for a, b in zip(hook.hits, hook.hits[1:], strict=False)
        if a.status == 429 and b.id == a.id
    ]
    return OutageReport(
        report=verify(db, feeds, hook),
        rss=rss,
        queued_peak=queued,
        accepted=[h.id for h in hook.accepted()],
        in_db_order=[
            r[0] for r in read_db(db, "SELECT id FROM deliveries ORDER BY created_at, id")
        ],
        statuses=Counter(h.status for h in hook.hits if h.status != 200),
        recovered_s=recovered,
        retry_gaps_after_429=gaps,
    )


__all__ = [
    "SECRET",
    "CampaignReport",
    "DaemonProc",
    "FeedServer",
    "Receiver",
    "crash_campaign",
    "db_writing",
    "read_db",
    "verify",
]
