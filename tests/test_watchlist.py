"""Loading watchlist.yaml, and `monitor check` on broken files: file:line:column, non-zero exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import ConfigError
from monitor.watchlist import load_watchlist, parse_duration, resolve_database_url

VALID = """\
version: 1
settings:
  database: data/monitor.db
  timezone: Europe/Berlin
  poll_interval: 10m
  alert_max_age: 3d
feeds:
  - id: news
    url: http://127.0.0.1:9/feed.xml
    interval: 5m
    tags: [press]
watch:
  - id: api-broadening
    name: API broadening
    look_for: Access beyond the private preview.
    why: Platform revenue.
    match:
      any: ["Muse Spark API", "Muse API"]
      none: [band]
    priority: high
digests:
  - id: daily
    schedule: "0 8 * * 1-5"
    webhook:
      url: ${HOOK_URL:-http://127.0.0.1:9/hook}
      format: json
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    watch: [api-broadening]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "watchlist.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_watchlist(write(tmp_path, text))
    return [str(p) for p in exc.value.problems]


def test_valid_file_loads(tmp_path: Path) -> None:
    wl = load_watchlist(write(tmp_path, VALID))
    cfg = wl.config
    assert cfg.settings.poll_interval == timedelta(minutes=10)
    assert cfg.settings.alert_max_age == timedelta(days=3)
    assert cfg.feeds[0].interval == timedelta(minutes=5)
    assert cfg.digests[0].webhook.url == "http://127.0.0.1:9/hook"
    # A relative SQLite path resolves beside the watchlist, not the working directory.
    assert wl.database_url == f"sqlite:///{(tmp_path / 'data' / 'monitor.db').resolve()}"
    assert len(wl.revision) == 12 and wl.warnings == ()


def test_revision_changes_with_the_text(tmp_path: Path) -> None:
    a = load_watchlist(write(tmp_path, VALID)).revision
    b = load_watchlist(write(tmp_path, VALID.replace("10m", "11m"))).revision
    assert a != b


def test_env_var_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", "http://127.0.0.1:1/from-env")
    wl = load_watchlist(write(tmp_path, VALID))
    assert wl.config.digests[0].webhook.url == "http://127.0.0.1:1/from-env"


def test_database_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert load_watchlist(write(tmp_path, VALID)).database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("monitor.db", "sqlite:////base/monitor.db"),
        ("/abs/m.db", "sqlite:////abs/m.db"),
        ("sqlite:///rel.db", "sqlite:////base/rel.db"),
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
    ],
)
def test_database_url_resolution(
    value: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    assert resolve_database_url(value, Path("/base")) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        (" 5 m ", 300),
        (90, 90),
    ],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["15", "1y", "m5", "-5m", "1.5h", "", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


# Each broken file: (edit applied to VALID, expected "line:column: message" fragment).
BROKEN = [
    pytest.param(
        ("feeds:", "feeds: ["),
        "8:3: YAML syntax error: while parsing a flow node",
        id="yaml-syntax",
    ),
    pytest.param(
        ("    interval: 5m", "    intreval: 5m"),
        "10:5: unknown key 'intreval' in feeds.0 (did you mean 'interval'?)",
        id="unknown-key",
    ),
    pytest.param(
        ("  - id: news\n", "  - url2: x\n"), "8:5: unknown key 'url2'", id="unknown-key-2"
    ),
    pytest.param(
        ("  - id: api-broadening\n    name", "  - name"),
        "13:5: watch.0: missing required key 'id'",
        id="missing-id",
    ),
    pytest.param(
        ("    tags: [press]\n", "    tags: [press]\n  - id: news\n    url: http://x/y\n"),
        "12:9: duplicate feeds id 'news'",
        id="duplicate-id",
    ),
    pytest.param(
        ('"0 8 * * 1-5"', '"0 8 * *"'),
        "23:15: digest 'daily': invalid cron schedule '0 8 * *': expected 5 fields",
        id="cron-fields",
    ),
    pytest.param(
        ('"0 8 * * 1-5"', '"61 8 * * *"'),
        "23:15: digest 'daily': invalid cron schedule '61 8 * * *'",
        id="cron-range",
    ),
    pytest.param(
        ("Europe/Berlin", "Europe/Berlinn"),
        "4:13: settings.timezone: unknown timezone 'Europe/Berlinn'",
        id="timezone",
    ),
    pytest.param(
        ("${HOOK_URL:-http://127.0.0.1:9/hook}", "${NO_SUCH_VAR_FOR_TEST}"),
        "25:12: environment variable NO_SUCH_VAR_FOR_TEST is not set",
        id="env-var",
    ),
    pytest.param(
        ("poll_interval: 10m", "poll_interval: 10 minutes"),
        "5:18: settings.poll_interval: invalid duration '10 minutes'",
        id="duration",
    ),
    pytest.param(
        ("priority: high", "priority: urgent"),
        "20:15: watch.0.priority: Input should be 'normal' or 'high'",
        id="enum",
    ),
    pytest.param(
        ("watch: [api-broadening]", "watch: [api-broadenin]"),
        "28:13: digest 'daily' names unknown watch item 'api-broadenin' (did you mean 'api-broadening'?)",
        id="unknown-watch-ref",
    ),
    pytest.param(
        ('any: ["Muse Spark API", "Muse API"]', 'any: ["Muse Spark API", "*"]'),
        "18:31: term '*' has no letters or digits",
        id="empty-term",
    ),
    pytest.param(
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not-a-secret"),
        "27:15: digests.0.webhook.secret: secret must be 'whsec_'",
        id="secret",
    ),
    pytest.param(
        ("url: http://127.0.0.1:9/feed.xml", "url: feed.xml"),
        "9:10: feeds.0.url: feed url must start with http",
        id="feed-url",
    ),
    pytest.param(("version: 1", "version: 2"), "1:10: version: Input should be 1", id="version"),
]


@pytest.mark.parametrize(("edit", "expected"), BROKEN)
def test_check_reports_file_line_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{path}:{expected}" in out, out


def test_check_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        VALID.replace("Europe/Berlin", "Mars/Base")
        .replace("    interval: 5m", "    intreval: 5m")
        .replace('"0 8 * * 1-5"', '"nope"')
    )
    found = problems(tmp_path, text)
    assert len(found) == 3, found
    assert [p.split(":")[1] for p in found] == ["4", "10", "23"]  # sorted by line


def test_empty_webhook_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.replace("${HOOK_URL:-http://127.0.0.1:9/hook}", "${HOOK_URL:-}"))
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:25:12: warning: digest 'daily': webhook url is empty" in out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml:1:1: cannot read watchlist" in capsys.readouterr().out


def test_check_console_script_and_module(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("Europe/Berlin", "Nowhere/City"))
    for cmd in (["monitor"], [sys.executable, "-m", "monitor"]):
        exe = cmd if cmd[0] != "monitor" else [str(Path(sys.executable).with_name("monitor"))]
        proc = subprocess.run(
            [*exe, "check", "--config", str(path)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 1
        assert f"{path}:4:13: settings.timezone: unknown timezone 'Nowhere/City'" in proc.stdout


def test_other_commands_report_config_errors_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.replace("Europe/Berlin", "Nowhere/City"))
    assert main(["poll", "--config", str(path)]) == 2
    assert "unknown timezone" in capsys.readouterr().err
