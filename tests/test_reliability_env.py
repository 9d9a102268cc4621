"""Bad configuration and environment under a running daemon: a broken watchlist edit, the
database locked by another process, its filesystem read-only or full, PostgreSQL restarted.

Each: a clear error, no corruption (``PRAGMA integrity_check``), and recovery without a
manual step once the cause is gone. The disk tests mount a small tmpfs (the CI machine
runs as root); the PostgreSQL test starts a private cluster with ``initdb``/``pg_ctl`` on
another port, never the shared server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import MONITOR, DaemonProc, FeedServer, read_db
from tests.support import write_watchlist


def world(tmp: Path, db: str, n_feeds: int = 3, summary: int = 200) -> tuple[FeedServer, Path]:
    feeds = FeedServer(n_feeds, summary_bytes=summary)
    for fid in feeds.feeds:
        feeds.add_entry(fid)
    config = write_watchlist(
        tmp / "watchlist.yaml",
        [(fid, feeds.url(f"/feed/{fid}.xml")) for fid in feeds.feeds],
        database=db,
        poll_interval="1s",
    )
    return feeds, config


def guids(db: Path) -> set[str]:
    return {g for (g,) in read_db(db, "SELECT guid FROM entries")}


def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):
            if pred():
                return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s: {what}")


def assert_no_traceback(log: str) -> None:
    if "Traceback" in log:
        i = log.index("Traceback")
        raise AssertionError(log[max(0, i - 1500) : i + 4000])


def all_recorded(feeds: FeedServer, db: Path) -> bool:
    return {g for f in feeds.feeds.values() for g, _ in f.entries} <= guids(db)


# --- watchlist ------------------------------------------------------------------------------


def test_broken_watchlist_edit_keeps_the_running_daemon_and_a_restart_refuses_cleanly(
    tmp_path: Path,
) -> None:
    db = tmp_path / "monitor.db"
    feeds, config = world(tmp_path, str(db))
    daemon = DaemonProc(config, tmp_path / "d.log").start()
    try:
        wait_for(lambda: all_recorded(feeds, db), 30, "first poll")
        good = config.read_text()
        config.write_text(good.replace("  timezone: UTC", "  timezone: Mars/Olympus\n   bad: [1,"))
        feeds.add_entry("f000")
        wait_for(lambda: all_recorded(feeds, db), 30, "polling goes on after the broken edit")
        assert daemon.alive()
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()
        feeds.close()
    before = read_db(db, "SELECT count(*) FROM entries")[0][0]
    r = subprocess.run(
        [*MONITOR, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert f"{config}:" in r.stderr and "error" in r.stderr.lower(), r.stderr
    assert read_db(db, "PRAGMA integrity_check")[0][0] == "ok"
    assert read_db(db, "SELECT count(*) FROM entries")[0][0] == before


# --- database locked ----------------------------------------------------------------------------


@pytest.mark.timeout(200)
def test_database_locked_by_another_process_past_the_busy_timeout_then_released(
    tmp_path: Path,
) -> None:
    db = tmp_path / "monitor.db"
    feeds, config = world(tmp_path, str(db))
    daemon = DaemonProc(config, tmp_path / "d.log").start()
    try:
        wait_for(lambda: all_recorded(feeds, db), 30, "first poll")
        # Another process (a backup tool, a sqlite3 shell) takes the write lock for 34 s,
        # past the daemon's 30 s busy timeout.
        holder = subprocess.Popen(
            [
                "python3",
                "-c",
                "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
                " c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(34);"
                " c.execute('COMMIT')",
                str(db),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        locked_at = time.time()
        for f in feeds.feeds:
            feeds.add_entry(f)
        daemon.wait_log("database is locked", timeout=60)
        assert daemon.alive()
        holder.wait(timeout=60)
        released = time.time()
        wait_for(lambda: all_recorded(feeds, db), 90, "recovery after the lock is released")
        recovered = time.time() - released
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()
        feeds.close()
    log = daemon.text()
    assert_no_traceback(log)
    assert read_db(db, "PRAGMA integrity_check")[0][0] == "ok"
    print(f"locked {released - locked_at:.0f}s; recovered {recovered:.1f}s after release")
    assert recovered < 60  # not the 5-minute lease expiry


# --- filesystem read-only / full -----------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if r.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {r.stderr!r}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr!r}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)


@pytest.mark.timeout(200)
def test_disk_full_then_space_freed(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "600k") as disk:
        db = disk / "monitor.db"
        feeds, config = world(tmp_path, str(db), n_feeds=4, summary=3000)
        daemon = DaemonProc(config, tmp_path / "d.log").start()
        try:
            wait_for(lambda: all_recorded(feeds, db), 30, "first poll")
            feeds.grow(0.02, per_step=2)  # ~3 KB summaries: the disk fills in seconds
            daemon.wait_log("database or disk is full", timeout=60)
            assert daemon.alive()
            time.sleep(3)
            remount(disk, "size=64m")
            feeds.stop_growing()
            wait_for(lambda: all_recorded(feeds, db), 90, "recovery after space is freed")
            assert daemon.stop() == 0
        finally:
            feeds.stop_growing()
            if daemon.alive():
                daemon.kill()
            feeds.close()
        assert read_db(db, "PRAGMA integrity_check") == [("ok",)]
        assert_no_traceback(daemon.text())


@pytest.mark.timeout(200)
def test_database_on_a_read_only_filesystem_is_refused_clearly_then_works_once_writable(
    tmp_path: Path,
) -> None:
    """Linux refuses to remount a filesystem read-only while a process has files open for
    writing (EBUSY), so this is the restart case: the daemon stopped, the filesystem turned
    read-only (a full fsck, an ``errors=remount-ro`` ext4), the daemon started again."""
    with tmpfs(tmp_path / "disk", "64m") as disk:
        db = disk / "monitor.db"
        feeds, config = world(tmp_path, str(db))
        daemon = DaemonProc(config, tmp_path / "d.log").start()
        try:
            wait_for(lambda: all_recorded(feeds, db), 30, "first poll")
            assert daemon.stop() == 0
            remount(disk, "ro")
            r = subprocess.run(
                [*MONITOR, "run", "--config", str(config), "--tick", "0.2"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            print("read-only start:", r.returncode, r.stderr.strip()[-500:])
            assert r.returncode == 2, r.stderr
            assert "Traceback" not in r.stderr
            assert "read-only" in r.stderr.lower() or "readonly" in r.stderr.lower(), r.stderr
            remount(disk, "rw")
            for f in feeds.feeds:
                feeds.add_entry(f)
            daemon.start()
            wait_for(lambda: all_recorded(feeds, db), 60, "works once writable again")
            assert daemon.stop() == 0
        finally:
            if daemon.alive():
                daemon.kill()
            feeds.close()
        assert read_db(db, "PRAGMA integrity_check") == [("ok",)]


# --- PostgreSQL restarted under the daemon -------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[int, callable]]:
    """A throwaway PostgreSQL cluster on a free port, run as the ``postgres`` user if we are root."""
    pg = _pg_bin()
    if pg is None:
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql in CI")
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    # Not under pytest's tmp_path: the postgres user cannot traverse root's 0700 folders.
    base = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    data = base / "pgdata"
    port = _free_port()
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]

    def ctl(*args: str) -> None:
        subprocess.run(
            [*as_pg, str(pg / "pg_ctl"), "-D", str(data), "-l", str(base / "pg.log"), "-w", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    subprocess.run(
        [*as_pg, str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl("-o", opts, "start")
    try:
        yield port, lambda: ctl("-o", opts, "-m", "fast", "restart")
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            ctl("-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(200)
def test_postgresql_restarted_under_a_running_daemon(tmp_path: Path) -> None:
    import psycopg

    with private_cluster() as (port, restart):
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        feeds, config = world(tmp_path, url)

        def pg_guids() -> set[str]:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as c:
                return {g for (g,) in c.execute("SELECT guid FROM entries")}

        def recorded() -> bool:
            try:
                return {g for f in feeds.feeds.values() for g, _ in f.entries} <= pg_guids()
            except psycopg.Error:
                return False

        daemon = DaemonProc(config, tmp_path / "d.log").start()
        try:
            wait_for(recorded, 60, "first poll")
            stop = threading.Event()

            def keep_adding() -> None:
                while not stop.wait(0.2):
                    feeds.add_entry("f001")

            t = threading.Thread(target=keep_adding, daemon=True)
            t.start()
            restart()
            time.sleep(3)
            stop.set()
            t.join()
            wait_for(recorded, 90, "recovery after the restart")
            assert daemon.alive()
            assert daemon.stop() == 0
        finally:
            if daemon.alive():
                daemon.kill()
            feeds.close()
        log = daemon.text()
        assert_no_traceback(log)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as c:
            dup = c.execute(
                "SELECT guid, count(*) FROM entries GROUP BY guid HAVING count(*) > 1"
            ).fetchall()
        assert dup == []
