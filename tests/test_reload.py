"""Hot reload: a real file edit while `monitor run` runs (valid, invalid, valid), and SIGHUP."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.support import FeedFile, Item, write_watchlist
from tests.test_daemon import Daemon

NEW_ITEM = """\
  - id: voice
    name: Muse voice
    look_for: Muse Spark voice features in Meta's apps.
    why: Voice is how Muse reaches people who do not type.
    match: 'NEAR/3(@muse, voice) -Bellamy'
"""
ALIASES = 'aliases:\n  muse: ["Muse Spark", "Muse model*"]\n'


def save(path: Path, text: str) -> None:
    """Write as editors do: a new file renamed over the old one (never half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def test_edits_apply_while_running_and_a_bad_edit_keeps_the_old_criteria(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = [Item("w1", "Meta opens the Muse Spark API to all developers", "GA.")]
    url = httpserver.url_for("/wire.xml")
    config = tmp_path / "watchlist.yaml"
    write_watchlist(config, [("wire", url)], poll_interval="1s")
    original = config.read_text()
    d = Daemon(config, tmp_path / "daemon.log").start()
    try:
        d.wait_log("poll feed=wire outcome=ok")
        d.wait_log("daemon.start")

        # 1. Invalid edit: rejected with check's error and caret, old criteria stay.
        save(config, original.replace('any: ["Muse Spark API", "Muse API"]', "any: oops: ["))
        d.wait_log("watchlist.rejected")
        save(
            config,
            ALIASES
            + original.replace("watch:\n", "watch:\n" + NEW_ITEM.replace("voice)", "voice"), 1),
        )
        d.wait_log("watchlist.rejected", count=2)
        log = d.log.read_text()
        assert "missing ')' to close NEAR" in log and "^" in log
        assert d.proc and d.proc.poll() is None

        # 2. Valid edit: a new watch item applies to entries fetched from then on.
        save(config, ALIASES + original.replace("watch:\n", "watch:\n" + NEW_ITEM, 1))
        d.wait_log("watchlist.reloaded")
        feed.items = [
            *feed.items,
            Item("w2", "Muse Spark gets a voice in WhatsApp", "Talk to Muse Spark."),
        ]
        d.wait_log(" matches=1 ", count=2, timeout=30)

        # 3. SIGHUP reloads (here: the same file, so nothing changes) and does not kill it.
        assert d.proc is not None
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("watchlist.unchanged reason=SIGHUP")
        time.sleep(0.5)
        assert d.proc.poll() is None

        # 4. Invalid again, then valid again: still running, still reloading.
        save(config, "version: 1\nwatch: []\n")
        d.wait_log("watchlist.rejected", count=3)
        save(config, original)
        d.wait_log("watchlist.reloaded", count=2)
    finally:
        assert d.stop() == 0
