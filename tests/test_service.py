"""Health, readiness and metrics over real HTTP; JSON logs; `monitor healthcheck`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.watchlist import parse_listen
from monitor.web import HttpService, bind, probe_url
from tests.support import SECRET, FeedFile, Item, Receiver, write_watchlist

MONITOR = [sys.executable, "-m", "monitor"]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)$"
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            return float(m.group(1))
    return None


def test_daemon_serves_health_readiness_and_metrics(httpserver: HTTPServer, tmp_path: Path) -> None:
    good = FeedFile(httpserver, "/good.xml")
    good.items = [Item("g1", "Meta opens the Muse Spark API to all developers", "GA.")]
    httpserver.expect_request("/bad.xml").respond_with_data("nope", status=503)
    receiver = Receiver()
    hook = receiver.install(httpserver, "/services/T0/B0/SECRETPATH")
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("bad", httpserver.url_for("/bad.xml")), ("good", httpserver.url_for("/good.xml"))],
        hook_url=hook,
        # Every 3 s rather than once at launch + N s: start-up takes seconds on a loaded
        # machine. Runs before the good feed is recorded are empty and send nothing.
        schedule="*/3 * * * * *",
    )
    log = tmp_path / "d.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [*MONITOR, "run", "--config", str(config), "--tick", "0.2", "--http", "0",
             "--log-format", "json"],
            stdout=fh,
            stderr=fh,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        deadline = time.time() + 30
        port = None
        while port is None and time.time() < deadline:
            for line in log.read_text().splitlines():
                rec = json.loads(line)
                if rec.get("event") == "daemon.start":
                    port = int(rec["http"].rsplit(":", 1)[1])
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert port, log.read_text()
        base = f"http://127.0.0.1:{port}"
        receiver.wait(1, timeout=30)
        deadline = time.time() + 15
        while time.time() < deadline:  # the delivery is recorded just after the POST
            status, text = get(base + "/metrics")
            if metric(text, "catalyst_monitor_deliveries_total", outcome="delivered") == 1:
                break
            time.sleep(0.1)

        status, body = get(base + "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = get(base + "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        status, text = get(base + "/metrics")
        assert status == 200
        assert metric(text, "catalyst_monitor_polls_total", outcome="ok") >= 1
        assert metric(text, "catalyst_monitor_polls_total", outcome="error") >= 1
        assert metric(text, "catalyst_monitor_feed_consecutive_errors", feed="bad") >= 1
        assert metric(text, "catalyst_monitor_feed_consecutive_errors", feed="good") == 0
        assert metric(text, "catalyst_monitor_matches", watch_item="api-broadening") == 1
        assert metric(text, "catalyst_monitor_entries_total") == 1
        assert metric(text, "catalyst_monitor_fetch_bytes_total") > 100
        assert metric(text, "catalyst_monitor_fetch_duration_seconds_count") >= 2
        assert metric(text, "catalyst_monitor_deliveries_total", outcome="delivered") == 1
        assert metric(text, "catalyst_monitor_outbox_depth") == 0
        assert metric(text, "catalyst_monitor_oldest_undelivered_digest_age_seconds") == 0
        assert "process_resident_memory_bytes" in text  # the library's process collector

        ok = subprocess.run(
            [*MONITOR, "healthcheck", "--url", base + "/healthz"], capture_output=True, timeout=30
        )
        assert ok.returncode == 0
        # $MONITOR_HTTP is what the container healthcheck uses (no watchlist needed).
        env = {**os.environ, "MONITOR_HTTP": f"0.0.0.0:{port}", "MONITOR_CONFIG": "/nonexistent"}
        ok = subprocess.run([*MONITOR, "healthcheck"], capture_output=True, timeout=30, env=env)
        assert ok.returncode == 0, ok.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    down = subprocess.run(
        [*MONITOR, "healthcheck", "--url", base + "/healthz"], capture_output=True, timeout=30
    )
    assert down.returncode == 1 and b"refused" in down.stderr

    # JSON logs: every line one object, poll and delivery events with their ids, no secrets.
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    polls = [r for r in records if r.get("event") == "poll"]
    assert {r["feed"] for r in polls} >= {"good", "bad"}
    assert all(isinstance(r["new"], int) for r in polls)
    deliveries = [r for r in records if r.get("event") == "delivery"]
    assert deliveries and all(r["digest"] == "daily" and r["delivery"] for r in deliveries)
    assert "SECRETPATH" not in text and SECRET not in text and "whsec_" not in text


class _Probe:
    def __init__(self, tick_age: float | None, db_error: str | None) -> None:
        self.tick_age, self.db_error = tick_age, db_error

    def last_tick_age(self) -> float | None:
        return self.tick_age

    def stale_after(self) -> float:
        return 30.0

    def watchlist_loaded(self) -> bool:
        return True

    def ping_database(self) -> None:
        if self.db_error:
            raise RuntimeError(self.db_error)

    def health_figures(self):
        raise RuntimeError(self.db_error or "unused")


@pytest.mark.parametrize(
    ("tick_age", "db_error", "health", "ready"),
    [
        (0.5, None, 200, 200),
        (None, None, 503, 200),  # the scheduler never ticked
        (45.0, None, 503, 200),  # a wedged scheduler: last tick too long ago
        (0.5, "connection refused", 200, 503),  # database down: alive but not ready
    ],
)
def test_health_and_readiness_answers(tick_age, db_error, health, ready) -> None:
    async def main() -> tuple[int, str, int, str, int, str]:
        svc = HttpService(_Probe(tick_age, db_error), bind("127.0.0.1", 0))
        svc.start()
        base = f"http://127.0.0.1:{svc.address[1]}"
        try:
            for _ in range(100):
                try:
                    await asyncio.to_thread(get, base + "/healthz")
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            h = await asyncio.to_thread(get, base + "/healthz")
            r = await asyncio.to_thread(get, base + "/readyz")
            m = await asyncio.to_thread(get, base + "/metrics")
        finally:
            await svc.stop()
        return (*h, *r, *m)

    hs, _hb, rs, rb, ms, mb = asyncio.run(main())
    assert (hs, rs) == (health, ready)
    if db_error:
        assert db_error in json.loads(rb)["problems"][0]
    # /metrics still answers (process metrics) when the database figures cannot be read.
    assert ms == 200 and "catalyst_monitor_polls_total" in mb


def test_busy_port_is_a_clear_startup_error(tmp_path: Path) -> None:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = write_watchlist(tmp_path / "watchlist.yaml", [])
    try:
        r = subprocess.run(
            [*MONITOR, "run", "--config", str(config), "--http", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        sock.close()
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8787", ("127.0.0.1", 8787)),
        ("0.0.0.0:8787", ("0.0.0.0", 8787)),
        ("[::1]:9000", ("::1", 9000)),
        ("monitor:80", ("monitor", 80)),
    ],
)
def test_listen_addresses(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["", "x", "99999", "1.2.3.4:", "http://a:1"])
def test_bad_listen_addresses(value: str) -> None:
    with pytest.raises(ValueError, match="invalid listen address"):
        parse_listen(value)


def test_probe_url_uses_loopback_for_wildcards() -> None:
    assert probe_url("0.0.0.0", 8787) == "http://127.0.0.1:8787/healthz"
    assert probe_url("::", 1) == "http://[::1]:1/healthz"
    assert probe_url("10.0.0.5", 2, "/readyz") == "http://10.0.0.5:2/readyz"


def test_http_listen_in_the_watchlist_is_validated(tmp_path: Path) -> None:
    config = write_watchlist(tmp_path / "watchlist.yaml", [])
    text = config.read_text().replace(
        "  timezone: UTC\n", "  timezone: UTC\n  http:\n    listen: nope\n"
    )
    config.write_text(text)
    r = subprocess.run([*MONITOR, "check", "--config", str(config)], capture_output=True, text=True)
    assert r.returncode == 1
    assert re.search(
        r"watchlist.yaml:6:13: settings.http.listen: invalid listen address 'nope'", r.stdout
    ), r.stdout


def test_daemon_prunes_at_start_and_a_pruned_entry_never_comes_back(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry, MatchResult
    from storage.store import Store

    feed = FeedFile(httpserver, "/wire.xml")
    old = datetime.now(UTC) - timedelta(days=200)
    feed.items = [Item("old-1", "Markets close mixed", published=old)]
    url = httpserver.url_for("/wire.xml")
    config = write_watchlist(tmp_path / "watchlist.yaml", [("wire", url)])
    config.write_text(
        config.read_text().replace(
            "  timezone: UTC\n", "  timezone: UTC\n  retention:\n    entries: 180d\n"
        )
    )
    store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    try:
        store.sync_config([FeedSpec("wire", url)], {}, "r0", "", old)
        match = MatchResult("api-broadening", ("Muse Spark API",), "s")
        store.ingest(
            FeedUpdate(
                "wire",
                old,
                old,
                status=200,
                revision="r0",
                entries=(
                    IncomingEntry(
                        EntryData("old-1", "https://news.example.com/old-1", "Markets close mixed"),
                        "https://news.example.com/old-1",
                        (),
                        False,
                    ),
                    IncomingEntry(
                        EntryData("old-2", "https://news.example.com/old-2", "Muse Spark API"),
                        "https://news.example.com/old-2",
                        (match,),
                        False,
                    ),
                ),
            )
        )
    finally:
        store.close()
    log = tmp_path / "d.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [*MONITOR, "run", "--config", str(config), "--tick", "0.2"],
            stdout=fh,
            stderr=fh,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            text = log.read_text()
            if "retention pruned=1" in text and "poll feed=wire" in text:
                break
            assert proc.poll() is None, text
            time.sleep(0.1)
        assert "retention pruned=1 older_than=180d" in text, text
        # The server still carries the pruned entry: it is not new.
        assert "poll feed=wire outcome=ok status=200 new=0 matches=0" in text, text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    r = subprocess.run(
        [*MONITOR, "db", "stats", "--format", "json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    stats = json.loads(r.stdout)
    assert stats["pruned_entries"] == 1 and stats["rows"]["entries"] == 2
    assert stats["rows"]["matches"] == 1
