"""The web pages in a real headless browser, against a real daemon.

``monitor run --http`` (a subprocess) polls a feed served on 127.0.0.1 into SQLite; Debian's
Chromium (/usr/bin/chromium), driven by Playwright through ``executable_path`` (no browser
is ever downloaded), logs in with the token through the form, opens the board, drills
into a catalyst, opens its rule editor, edits the rule, sees the live preview's counts
change, saves, and sees the daemon apply the new rule: an entry that only the new rule
matches shows up on the catalyst page after the next poll.

Without Chromium (or Playwright) the tests skip, naming the Debian packages; under
``CI=true`` they fail instead (``.ci/run`` installs them).

``UPDATE_SCREENSHOTS=1`` also writes docs/screenshots/<page>-desktop.png (1280 px wide)
and <page>-phone.png (390 px) of every page (README, "Web pages").
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.support import FeedFile, Item, Receiver, write_watchlist

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TOKEN = "browser-token"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NEW_TERM = "developer platform"
MONITOR = [sys.executable, "-m", "monitor"]
RECEIVERS: dict[Path, Receiver] = {}  # the webhook receiver of each world's digest

pytestmark = pytest.mark.timeout(300)


def _unavailable(problem: str) -> None:
    message = f"{problem}: install Debian's browser with `apt-get install chromium chromium-driver`"
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests must run in CI; {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"no {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=120_000)
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """``monitor run --http 127.0.0.1:PORT`` over a temp watchlist and SQLite file."""

    def __init__(self, config: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"  # --http takes it without http://
        self.log = config.parent / "daemon.log"
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_WEB_TOKEN"}
        env["PYTHONUNBUFFERED"] = "1"
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(
            [*MONITOR, "run", "--config", str(config), "--http", self.base[7:], "--tick", "0.2"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"daemon not ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)

    def wait_for(self, path: str, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        body = ""
        while time.monotonic() < deadline:
            r = self.get(path)
            body = r.text
            if r.status_code == 200 and text in body:
                return body
            time.sleep(0.3)
        log = [ln for ln in self.log.read_text().splitlines() if "outcome=unchanged" not in ln]
        raise AssertionError(
            f"{text!r} not on {path} within {timeout}s; daemon log (unchanged polls left out):\n"
            + "\n".join(log[-40:])
            + f"\npage:\n{body[-2000:]}"
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def world(httpserver: HTTPServer, tmp_path: Path) -> Iterator[tuple[Daemon, FeedFile, Path]]:
    feed = FeedFile(httpserver, "/wire.xml", title="Test wire")
    receiver = Receiver()
    hook = receiver.install(httpserver)
    now = datetime.now(UTC).replace(microsecond=0)
    feed.items = [
        Item(
            "g1",
            "Meta opens Muse Spark API to all developers",
            "The Muse Spark API leaves its waitlist; pricing per million tokens.",
            published=now - timedelta(hours=3),
        ),
        Item(
            "g2",
            "Meta's Muse Spark API comes to Europe",
            "Developers in the EU can call the Muse Spark API from today.",
            published=now - timedelta(hours=2),
        ),
        Item(
            "g3",
            "Muse developer platform reaches general availability",
            "Meta's developer platform for Muse opens to every company.",
            published=now - timedelta(hours=1),
        ),
        Item(
            "g4",
            "Oakley Meta glasses get Muse for live translation",
            "Ray-Ban Meta and Oakley Meta owners get Muse on the glasses this week.",
            published=now - timedelta(hours=1),
        ),
    ]
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [("wire", httpserver.url_for("/wire.xml"))],
        hook_url=hook,
        poll_interval="1s",
        # Poll every second whatever the feed's own pace (it publishes hourly).
        settings_extra=f"  max_poll_interval: 1s\n  http:\n    token: {TOKEN}\n",
    )
    daemon = Daemon(config)
    try:
        # The first poll stored the entries (g3 matches nothing yet).
        daemon.wait_for("/metrics", 'catalyst_monitor_matches{watch_item="api-broadening"} 2.0')
        RECEIVERS[config] = receiver
        yield daemon, feed, config
    finally:
        daemon.stop()


def _shot(page: Any, name: str, *, full_page: bool = False) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=full_page)
    page.set_viewport_size(DESKTOP)


def test_login_board_catalyst_edit_preview_save_and_the_daemon_applies_it(
    browser: Any, world: tuple[Daemon, FeedFile, Path]
) -> None:
    daemon, feed, config = world
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(30_000)

    # Token login through the form: a wrong token is refused, the right one lets in.
    page.goto(daemon.base + "/")
    assert page.url.startswith(daemon.base + "/login")
    _shot(page, "login")
    page.fill("#token", "wrong")
    page.click("#login")
    assert "Wrong token" in page.inner_text("main")
    page.fill("#token", TOKEN)
    page.click("#login")
    page.wait_for_url(daemon.base + "/")

    # The board: one card per watch item; drill into API broadening.
    page.wait_for_selector("#card-api-broadening")
    assert page.locator("article.card").count() == 2
    _shot(page, "board")
    page.click("#card-api-broadening a.drill")
    page.wait_for_url(daemon.base + "/catalysts/api-broadening")
    stories = page.inner_text("#stories")
    assert "Meta opens Muse Spark API to all developers" in stories
    assert "developer platform" not in stories
    assert page.locator("#stories mark").count() > 0
    _shot(page, "catalyst", full_page=True)

    # The editor, YAML mode: add a term; the live preview counts the entry it adds.
    page.click("#edit-rule")
    page.wait_for_url(re.compile(r".*/catalysts/api-broadening/edit.*"))
    if page.locator("#rule-yaml").count() == 0:
        page.goto(daemon.base + "/catalysts/api-broadening/edit?mode=yaml")
    yaml_box = page.locator("#rule-yaml")
    before_yaml = yaml_box.input_value()
    assert '"Muse API"' in before_yaml
    page.wait_for_selector("#count-matches")
    before = int(page.inner_text("#count-matches"))
    edited = before_yaml.replace('"Muse API"]', f'"Muse API", "{NEW_TERM}"]')
    assert edited != before_yaml
    yaml_box.fill(edited)
    yaml_box.dispatch_event("input")
    page.wait_for_function(
        "n => document.querySelector('#count-matches') && "
        "Number(document.querySelector('#count-matches').textContent) > n",
        arg=before,
    )
    assert int(page.inner_text("#count-adds")) == 1
    assert int(page.inner_text("#count-drops")) == 0
    assert "Muse developer platform reaches general availability" in page.inner_text("#preview")
    _shot(page, "editor", full_page=True)

    # Save: the file is written, the daemon reloads, and the next poll applies the rule.
    page.click("#save")
    page.wait_for_url(re.compile(r".*/catalysts/api-broadening\?flash=.*"))
    assert NEW_TERM in config.read_text()
    feed.items.append(
        Item(
            "g5",
            "Meta widens its developer platform to startups",
            "A new tier of the developer platform for Muse opens to small companies.",
        )
    )
    # Its title is split by the <mark> around the new term, so wait for the words before it.
    daemon.wait_for("/catalysts/api-broadening", "Meta widens its")
    page.reload()
    stories = page.text_content("#stories") or ""
    assert "Meta widens its developer platform to startups" in stories
    assert page.locator("#stories mark", has_text=NEW_TERM).count() >= 1

    # The other pages, for the screenshots (and that they render in a browser).
    page.goto(daemon.base + "/search?q=Muse")
    page.wait_for_selector("#results")
    assert "Muse" in page.inner_text("#results")
    _shot(page, "search")
    page.goto(daemon.base + "/feeds")
    page.wait_for_selector("#feed-wire")
    _shot(page, "feeds")
    context.close()


def test_digests_page_previews_each_format_and_resends_in_the_browser(
    browser: Any, world: tuple[Daemon, FeedFile, Path]
) -> None:
    daemon, feed, config = world
    receiver = RECEIVERS[config]
    # One digest delivered (`monitor digest`, as cron would run it), then a new match
    # for the next one.
    sent = subprocess.run(
        [*MONITOR, "digest", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    # (The running daemon may post the same queued delivery too: same webhook-id.)
    first = receiver.wait(1)[0]
    feed.items.append(
        Item("g6", "Ray-Ban Meta glasses get Muse in Japan", "Muse comes to Ray-Ban Meta.")
    )
    daemon.wait_for("/metrics", 'catalyst_monitor_matches{watch_item="glasses-rollout"} 2.0')

    context = browser.new_context(viewport=DESKTOP)
    context.set_extra_http_headers({"Authorization": f"Bearer {TOKEN}"})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(daemon.base + "/digests")
    section = page.locator("#digest-daily")
    assert "0 8 * * *" in section.inner_text()
    assert "Ray-Ban Meta glasses get Muse in Japan" in page.inner_text("#digest-preview-daily")
    assert "Meta opens Muse Spark API" not in page.inner_text("#digest-preview-daily")
    # htmx swaps the preview in place: Slack's body, then the Markdown text.
    section.get_by_role("link", name="slack").click()
    page.wait_for_selector("#digest-preview-daily[data-format='slack']")
    assert '"blocks"' in page.inner_text("#digest-preview-daily pre")
    assert page.url == daemon.base + "/digests"  # swapped, not navigated
    section.get_by_role("link", name="text").click()
    page.wait_for_selector("#digest-preview-daily[data-format='text']")
    assert "# Catalyst digest daily" in page.inner_text("#digest-preview-daily pre")
    # The delivered digest, resent: a copy under a new id reaches the receiver.
    delivered_id = first.headers["Webhook-Id"]
    row = page.locator(f"#delivery-{delivered_id}")
    assert "delivered" in row.inner_text().lower()
    row.locator("button.resend").click()
    page.wait_for_selector("#deliveries .banner.ok")
    message = page.inner_text("#deliveries .banner.ok")
    assert f"{delivered_id} was delivered; a copy was queued as" in message
    assert "; delivered (attempt 1)." in message
    deadline = time.monotonic() + 30
    while not [r for r in receiver.received if r.headers["Webhook-Id"] != delivered_id]:
        assert time.monotonic() < deadline, "the copy never reached the receiver"
        time.sleep(0.1)
    [copy] = [r for r in receiver.received if r.headers["Webhook-Id"] != delivered_id]
    assert copy.verify()["delivery_id"] == copy.headers["Webhook-Id"]
    assert page.locator("#deliveries tbody tr").count() == 2
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "digests", full_page=True)
    context.close()


def test_without_chromium_the_tests_skip_naming_the_package_but_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install chromium chromium-driver"):
        _unavailable("no /usr/bin/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"must run in CI.*apt-get install chromium"):
        _unavailable("no /usr/bin/chromium")
