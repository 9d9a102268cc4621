"""One refresh at a time through the real pipeline (fetch -> parse -> match -> store) against
real servers on 127.0.0.1 and a real database: the HTTP semantics of scheduling (410, 404,
301/308 also on errors, temporary redirects, Cache-Control, Retry-After), the feed's own
rhythm, the per-poll entry cap, keep-alive for 304s, and ``monitor feeds enable``."""

from __future__ import annotations

import asyncio
import http.server
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.fetch import FetchLimits, build_client
from monitor.pipeline import Context, PollReport, refresh_feed, sync_watchlist
from monitor.prepare import LazyProcessPool, parse_executor
from monitor.types import FeedState
from monitor.watchlist import LoadedWatchlist, load_watchlist
from storage.store import Store
from tests.support import Item, rss, write_watchlist

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


class Harness:
    """A watchlist of feeds, a database, and refresh_feed with a fixed clock and no jitter."""

    def __init__(self, tmp_path: Path, db_url: str, feeds: list[tuple[str, str]], **kw: str):
        config = write_watchlist(tmp_path / "watchlist.yaml", feeds, database=db_url, **kw)
        self.config = config
        self.wl: LoadedWatchlist = load_watchlist(config)
        self.store = Store.open(db_url)
        self.now = NOW
        sync_watchlist(self.store, self.wl, self.now)

    def state(self, feed_id: str) -> FeedState:
        state = self.store.feed_state(feed_id)
        assert state is not None
        return state

    def refresh(self, feed_id: str) -> PollReport:
        limits = FetchLimits(total_timeout=20)

        async def go() -> PollReport:
            async with build_client(limits, "test") as client:
                ctx = Context(
                    self.store, client, self.wl, limits, clock=lambda: self.now, jitter=lambda: 0.0
                )
                return await refresh_feed(ctx, self.state(feed_id))

        return asyncio.run(go())

    def due(self) -> list[str]:
        got = self.store.due_feeds(self.now, owner="t", lease=timedelta(seconds=1), limit=100)
        self.store.release_leases("t")
        return [f.id for f in got]


@pytest.fixture
def harness(tmp_path: Path, db_url: str, httpserver: HTTPServer) -> Iterator[Harness]:
    h = Harness(tmp_path, db_url, [("f", httpserver.url_for("/feed.xml"))])
    yield h
    h.store.close()


FEED = rss([Item(f"g{i}", f"Story {i}") for i in range(3)])


def test_410_disables_until_reenabled(
    harness: Harness, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data("gone", status=410)
    report = harness.refresh("f")
    assert report.error and "410" in report.error
    state = harness.state("f")
    assert state.gone_at == NOW and state.error_count == 1
    harness.now = NOW + timedelta(days=30)
    assert harness.due() == []  # never polled again by itself...
    assert main(["status", "--config", str(harness.config)]) == 0
    assert "GONE since" in capsys.readouterr().out  # ...and the user sees why
    assert main(["feeds", "enable", "f", "--config", str(harness.config)]) == 0
    state = harness.state("f")
    assert state.gone_at is None and state.error_count == 0
    assert harness.due() == ["f"]


def test_410_is_cleared_when_the_watchlist_gives_a_new_url(
    harness: Harness, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data("gone", status=410)
    harness.refresh("f")
    assert harness.state("f").gone_at is not None
    text = harness.config.read_text().replace("/feed.xml", "/new.xml")
    harness.config.write_text(text)
    harness.wl = load_watchlist(harness.config)
    sync_watchlist(harness.store, harness.wl, harness.now)
    assert harness.state("f").gone_at is None and harness.due() == ["f"]


def test_404_backs_off_exponentially_and_keeps_trying(
    harness: Harness, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data("no", status=404)
    delays = []
    for _ in range(4):
        harness.refresh("f")
        state = harness.state("f")
        assert state.next_check_at is not None and state.gone_at is None
        delays.append(state.next_check_at - harness.now)
        harness.now = state.next_check_at
    assert delays == [15 * M, 30 * M, 60 * M, 120 * M]
    assert harness.state("f").error_count == 4


def test_permanent_redirect_to_an_error_still_updates_the_url(
    harness: Harness, httpserver: HTTPServer
) -> None:
    new = httpserver.url_for("/moved.xml")
    httpserver.expect_request("/feed.xml").respond_with_data(
        "", status=301, headers={"Location": new}
    )
    httpserver.expect_request("/moved.xml").respond_with_data("down", status=503)
    report = harness.refresh("f")
    assert report.error and "503" in report.error
    assert harness.state("f").url == new


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_is_followed_not_stored(
    harness: Harness, httpserver: HTTPServer, status: int
) -> None:
    old = harness.state("f").url
    httpserver.expect_request("/feed.xml").respond_with_data(
        "", status=status, headers={"Location": httpserver.url_for("/tmp.xml")}
    )
    httpserver.expect_request("/tmp.xml").respond_with_data(
        FEED, content_type="application/rss+xml"
    )
    report = harness.refresh("f")
    assert report.error is None and report.new_entries == 3
    assert harness.state("f").url == old


def test_redirect_loop_is_a_recorded_error(harness: Harness, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/b")}
    )
    httpserver.expect_request("/b").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/feed.xml")}
    )
    report = harness.refresh("f")
    assert report.error and "redirect loop" in report.error
    assert harness.state("f").error_count == 1


def test_cache_control_max_age_delays_the_next_poll(
    harness: Harness, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"Cache-Control": "max-age=7200"}
    )
    harness.refresh("f")
    assert harness.state("f").next_check_at == NOW + 2 * H


def test_retry_after_on_429(harness: Harness, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "5400"}
    )
    harness.refresh("f")
    assert harness.state("f").next_check_at == NOW + 90 * M


def test_the_feeds_own_rhythm_sets_the_interval(harness: Harness, httpserver: HTTPServer) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    weekly = [
        Item(f"w{i}", f"Weekly {i}", published=base - timedelta(days=3.5 * i)) for i in range(5)
    ]
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(weekly), content_type="application/rss+xml"
    )
    harness.refresh("f")
    state = harness.state("f")
    assert state.update_gap == 3.5 * 86400
    assert state.next_check_at == NOW + 4 * H  # max_poll_interval, the default ceiling
    # The rhythm is kept: an unchanged (304-like: same bytes) poll still uses it.
    harness.now = NOW + 4 * H
    harness.refresh("f")
    assert harness.state("f").next_check_at == harness.now + 4 * H


def test_hourly_feed_is_checked_every_half_hour(harness: Harness, httpserver: HTTPServer) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    hourly = [Item(f"h{i}", f"Hourly {i}", published=base - timedelta(hours=i)) for i in range(6)]
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(hourly), content_type="application/rss+xml"
    )
    harness.refresh("f")
    assert harness.state("f").next_check_at == NOW + 30 * M


def test_max_entries_per_poll(tmp_path: Path, httpserver: HTTPServer) -> None:
    items = [Item(f"g{i}", f"Story {i}") for i in range(30)]
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    h = Harness(
        tmp_path, f"sqlite:///{tmp_path / 'm.db'}", [("f", httpserver.url_for("/feed.xml"))]
    )
    text = h.config.read_text().replace("settings:\n", "settings:\n  max_entries_per_poll: 10\n")
    h.config.write_text(text)
    h.wl = load_watchlist(h.config)
    assert h.refresh("f").new_entries == 10
    h.store.close()


# --- keep-alive ------------------------------------------------------------------------------


class _Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with _Counting.lock:
            _Counting.connections += 1

    def do_GET(self) -> None:
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        body = FEED.encode()
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_304s_reuse_one_connection(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        feeds = [(f"f{i}", f"{base}/f{i}.xml") for i in range(5)]
        h = Harness(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", feeds)
        for fid, _ in feeds:  # cold: 200s
            report = h.refresh(fid)
            assert report.status == 200 and report.error is None
        _Counting.connections = 0

        async def warm() -> list[PollReport]:
            limits = FetchLimits()
            async with build_client(limits, "test") as client:
                ctx = Context(h.store, client, h.wl, limits, clock=lambda: NOW, jitter=lambda: 0.0)
                return [await refresh_feed(ctx, h.state(fid)) for fid, _ in feeds]

        reports = asyncio.run(warm())
        assert [r.status for r in reports] == [304] * 5
        assert _Counting.connections == 1  # one TCP connection for the five 304s
        h.store.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_cycle_of_304s_starts_no_parse_worker(tmp_path: Path) -> None:
    """The parse pool is built and its worker started with the first body to parse: a
    warm cycle of 304s never pays for spawning processes and importing lxml there."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        feeds = [(f"f{i}", f"{base}/f{i}.xml") for i in range(3)]
        h = Harness(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", feeds)
        for fid, _ in feeds:  # cold: 200s, parsed in a thread (no executor given)
            assert h.refresh(fid).status == 200

        async def cycle(states: list[FeedState]) -> tuple[list[PollReport], int, bool]:
            limits = FetchLimits()
            executor = parse_executor(1)
            assert isinstance(executor, LazyProcessPool)
            try:
                async with build_client(limits, "test") as client:
                    ctx = Context(
                        h.store, client, h.wl, limits, executor, clock=lambda: NOW,
                        jitter=lambda: 0.0,
                    )  # fmt: skip
                    reports = [await refresh_feed(ctx, s) for s in states]
                    workers = len(multiprocessing.active_children())
                    return reports, workers, executor.started
            finally:
                executor.shutdown(wait=True)

        reports, workers, built = asyncio.run(cycle([h.state(fid) for fid, _ in feeds]))
        assert [r.status for r in reports] == [304] * 3 and all(r.unchanged for r in reports)
        assert workers == 0
        assert not built  # not even the pool (its queues start a resource tracker process)
        # Control: a body to parse (validators and hash forgotten) starts the worker.
        fresh = replace(h.state("f0"), etag=None, content_hash=None)
        reports, workers, built = asyncio.run(cycle([fresh]))
        assert reports[0].status == 200 and reports[0].error is None
        assert workers == 1 and built
        h.store.close()
    finally:
        server.shutdown()
        server.server_close()


def test_console_script_poll_writes_everything_before_its_quick_exit(tmp_path: Path) -> None:
    """``monitor poll`` as a program ends without the interpreter's teardown: every
    per-feed line (stdout, a pipe) and the totals (stderr) must still come out, with
    the exit status, and every refresh must be in the database."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        feeds = [(f"f{i}", f"{base}/f{i}.xml") for i in range(4)]
        db = tmp_path / "m.db"
        config = write_watchlist(tmp_path / "watchlist.yaml", feeds, database=f"sqlite:///{db}")
        root = Path(__file__).resolve().parent.parent
        outs = []
        for _ in range(2):  # cold (200s), then warm (304s)
            proc = subprocess.run(
                [sys.executable, "-m", "monitor", "poll", "--config", str(config)],
                capture_output=True, text=True, cwd=root, timeout=120,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            outs.append(proc)
        assert outs[1].stdout.splitlines() == [f"f{i}: unchanged" for i in range(4)]
        assert "polled 4 feeds: 0 new entries, 0 new matches, 4 unchanged, 0 errors" in (
            outs[1].stderr
        )
        with sqlite3.connect(db) as conn:
            assert conn.execute(
                "SELECT last_status, count(*) FROM feeds GROUP BY 1"
            ).fetchall() == [(304, 4)]
    finally:
        server.shutdown()
        server.server_close()


# --- the tricky corpus through a real poll --------------------------------------------------


def test_every_tricky_file_gives_sane_entries_or_a_recorded_error(
    httpserver: HTTPServer, tmp_path: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from werkzeug import Response

    files = sorted((shared_dir / "feeds" / "tricky").iterdir())
    assert len(files) > 100
    feeds = []
    for i, path in enumerate(files):
        ctype = {".json": "application/feed+json", ".html": "text/html"}.get(
            path.suffix, "application/xml"
        )
        httpserver.expect_request(f"/t/{path.name}").respond_with_response(
            Response(path.read_bytes(), content_type=ctype)
        )
        feeds.append((f"t{i:03d}", httpserver.url_for(f"/t/{path.name}")))
    config = write_watchlist(tmp_path / "watchlist.yaml", feeds)
    assert main(["poll", "--config", str(config)]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert len(lines) == len(files)
    store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    try:
        states = {s.id: s for s in store.feed_states()}
        for fid, _ in feeds:
            s = states[fid]
            if lines[fid].startswith("error: "):
                assert s.error_count == 1 and s.last_error, fid  # recorded, with a reason
                assert s.last_error.startswith(f"feed {fid} ("), s.last_error
            else:
                assert s.error_count == 0 and s.last_success_at is not None, fid
    finally:
        store.close()
    errors = [f for f, line in lines.items() if line.startswith("error: ")]
    assert len(errors) < len(files) // 4, errors  # most tricky files are readable feeds
    import sqlite3

    db = sqlite3.connect(tmp_path / "monitor.db")
    for title, link, published in db.execute("SELECT title, link, published FROM entries"):
        assert isinstance(title, str) and "\x00" not in title
        assert link is None or link.startswith(("http://", "https://"))
        assert published is None or "1995" <= published[:4] <= "2100"
