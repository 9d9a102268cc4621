"""The web pages' token gate, login cookie, and where the pages are served (daemon, web)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitor.ui.auth import COOKIE, safe_next, session_value
from tests.support import write_watchlist
from tests.ui_support import client, serve, ui_app

TOKEN = "s3cret-token"


def test_without_a_token_the_pages_are_open(tmp_path: Path) -> None:
    ui = ui_app(tmp_path)
    r = client(ui.app).get("/")
    assert r.status_code == 200
    assert "API broadening" in r.text
    assert "Log out" not in r.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
    ],
)
def test_bearer_token(tmp_path: Path, headers: dict[str, str], status: int) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    r = client(ui.app).get("/", headers=headers)
    assert r.status_code == status
    if status == 401:
        assert "API broadening" not in r.text
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_browser_is_sent_to_login_and_back(tmp_path: Path) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    c = client(ui.app, follow_redirects=False)
    r = c.get("/catalysts/api-broadening?x=1", headers={"Accept": "text/html"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fcatalysts%2Fapi-broadening%3Fx%3D1"
    login = c.get(r.headers["location"])
    assert login.status_code == 200 and 'name="token"' in login.text
    bad = c.post("/login", data={"token": "nope", "next": "/"})
    assert bad.status_code == 401 and "Wrong token" in bad.text
    assert COOKIE not in c.cookies
    ok = c.post("/login", data={"token": TOKEN, "next": "/feeds"})
    assert ok.status_code == 303 and ok.headers["location"] == "/feeds"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKEN not in cookie  # the cookie carries an HMAC, not the token
    assert c.get("/").status_code == 200
    out = c.post("/logout")
    assert out.status_code == 303
    assert c.get("/", headers={"Accept": "text/html"}).status_code == 303


def test_a_forged_cookie_is_refused(tmp_path: Path) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    c = client(ui.app)
    c.cookies.set(COOKIE, session_value("another-token"))
    assert c.get("/").status_code == 401
    c.cookies.set(COOKIE, session_value(TOKEN))
    assert c.get("/").status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/feeds", "/feeds"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_login_only_returns_to_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_static_files_and_health_stay_open(tmp_path: Path) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    c = client(ui.app)
    r = c.get("/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:2000]
    assert c.get("/static/style.css").status_code == 200


def test_a_broken_watchlist_edit_shows_a_banner_and_keeps_the_last_good(tmp_path: Path) -> None:
    ui = ui_app(tmp_path)
    c = client(ui.app)
    text = ui.watchlist_path.read_text()
    ui.watchlist_path.write_text(
        text.replace("  - id: glasses-rollout", "  - id: glasses-rollout\n    bogus_key: 1")
    )
    r = c.get("/")
    assert r.status_code == 200
    assert "watchlist.yaml has errors" in r.text
    assert "bogus_key" in r.text
    assert "API broadening" in r.text  # the last good version still drives the page


def test_the_real_server_serves_the_pages(tmp_path: Path) -> None:
    ui = ui_app(tmp_path, token=TOKEN)
    with serve(ui.app) as base:
        assert httpx.get(base + "/").status_code == 401
        r = httpx.get(base + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "API broadening" in r.text


def _wait_http(url: str, proc: subprocess.Popen[str], **kw: object) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=2, **kw)  # type: ignore[arg-type]
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _out, err = proc.communicate(timeout=5)
                raise AssertionError(f"server not up: {err[-2000:]}") from None
            time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _monitor(
    *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    merged = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**merged, **(env or {})},
    )


def test_monitor_web_serves_the_pages_with_the_env_token(tmp_path: Path) -> None:
    path = write_watchlist(tmp_path / "watchlist.yaml", [])
    port = _free_port()
    proc = _monitor(
        "web",
        "--config",
        str(path),
        "--listen",
        f"127.0.0.1:{port}",
        env={"MONITOR_WEB_TOKEN": TOKEN},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_http(base + "/", proc).status_code == 401
        r = httpx.get(base + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "Glasses rollout" in r.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_monitor_web_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    path = write_watchlist(tmp_path / "watchlist.yaml", [])
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_WEB_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "web", "--config", str(path), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert "need a token" in r.stderr and "MONITOR_WEB_TOKEN" in r.stderr


def test_the_daemon_serves_pages_on_its_http_port_behind_the_settings_token(
    tmp_path: Path,
) -> None:
    path = write_watchlist(
        tmp_path / "watchlist.yaml", [], settings_extra=f"  http:\n    token: {TOKEN}\n"
    )
    port = _free_port()
    proc = _monitor(
        "run", "--config", str(path), "--http", f"127.0.0.1:{port}", unset=("MONITOR_WEB_TOKEN",)
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_http(base + "/healthz", proc).status_code in (200, 503)
        assert httpx.get(base + "/").status_code == 401
        r = httpx.get(base + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "API broadening" in r.text
    finally:
        proc.terminate()
        proc.wait(20)


def test_the_daemon_keeps_pages_off_a_public_address_without_a_token(tmp_path: Path) -> None:
    path = write_watchlist(tmp_path / "watchlist.yaml", [])
    port = _free_port()
    proc = _monitor(
        "run", "--config", str(path), "--http", f"0.0.0.0:{port}", unset=("MONITOR_WEB_TOKEN",)
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_http(base + "/healthz", proc).status_code in (200, 503)
        assert httpx.get(base + "/").status_code == 404
        assert httpx.get(base + "/metrics").status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "web.disabled" in err and "no token" in err
