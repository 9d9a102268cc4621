"""Watchlist keys of catalyst state and immediate alerts: defaults, values, file:line:col."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.state import DEFAULT_PRIMARY_SOURCES
from monitor.watchlist import load_watchlist, parse_quiet_hours
from tests.test_watchlist import VALID, write

FULL = (
    VALID.replace(
        "  alert_max_age: 3d\n",
        "  alert_max_age: 3d\n  primary_sources: [SEC.gov, about.fb.com.]\n  confirm_sources: 3\n",
    )
    .replace("    priority: high\n", "    priority: high\n    expected_by: 2026-12-31\n")
    .replace(
        "    watch: [api-broadening]\n",
        "    watch: [api-broadening]\n    immediate: false\n    quiet_hours: 22:30-07:00\n"
        "    max_alerts_per_hour: 4\n",
    )
)


def test_defaults(tmp_path: Path) -> None:
    cfg = load_watchlist(write(tmp_path, VALID)).config
    assert cfg.settings.primary_sources == list(DEFAULT_PRIMARY_SOURCES)
    assert "about.meta.com" in cfg.settings.primary_sources
    assert cfg.settings.confirm_sources == 2
    assert cfg.watch[0].expected_by is None
    d = cfg.digests[0]
    assert (d.immediate, d.quiet_hours, d.max_alerts_per_hour) == (True, None, None)


def test_values(tmp_path: Path) -> None:
    cfg = load_watchlist(write(tmp_path, FULL)).config
    assert cfg.settings.primary_sources == ["sec.gov", "about.fb.com"]
    assert cfg.settings.confirm_sources == 3
    assert cfg.watch[0].expected_by == date(2026, 12, 31)
    d = cfg.digests[0]
    assert (d.immediate, d.quiet_hours, d.max_alerts_per_hour) == (False, "22:30-07:00", 4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("22:00-07:00", (time(22), time(7))),
        ("9:15 - 17:45", (time(9, 15), time(17, 45))),
        ("00:00-23:59", (time(0), time(23, 59))),
    ],
)
def test_quiet_hours_parse(value: str, expected: tuple[time, time]) -> None:
    assert parse_quiet_hours(value) == expected


@pytest.mark.parametrize("bad", ["22-07", "24:00-07:00", "22:00-07:60", "22:00", "07:00-07:00"])
def test_quiet_hours_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="quiet_hours"):
        parse_quiet_hours(bad)


BROKEN = [
    pytest.param(
        (
            "    priority: high\n    expected_by: 2026-12-31",
            "    priority: high\n    expected_by: 2026-13-01",
        ),
        "23:18: watch.0.expected_by: Input should be a valid date",
        id="impossible-date",
    ),
    pytest.param(
        ("expected_by: 2026-12-31", "expected_by: next year"),
        "23:18: watch.0.expected_by: Input should be a valid date",
        id="not-a-date",
    ),
    pytest.param(
        ("[SEC.gov, about.fb.com.]", "[SEC.gov, https://about.fb.com/news]"),
        "7:30: settings.primary_sources.1: 'https://about.fb.com/news' is not a host name",
        id="primary-url",
    ),
    pytest.param(
        ("confirm_sources: 3", "confirm_sources: 0"),
        "8:20: settings.confirm_sources: Input should be greater than or equal to 1",
        id="confirm-zero",
    ),
    pytest.param(
        ("quiet_hours: 22:30-07:00", "quiet_hours: 10pm-7am"),
        "33:18: digests.0.quiet_hours: quiet_hours '10pm-7am' must be HH:MM-HH:MM",
        id="quiet-format",
    ),
    pytest.param(
        ("max_alerts_per_hour: 4", "max_alerts_per_hour: -1"),
        "34:26: digests.0.max_alerts_per_hour: Input should be greater than or equal to 0",
        id="cap-negative",
    ),
    pytest.param(
        ("immediate: false", "immediate: sometimes"),
        "32:16: digests.0.immediate: Input should be a valid boolean",
        id="immediate-bool",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), BROKEN)
def test_check_reports_file_line_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in FULL
    path = write(tmp_path, FULL.replace(old, new, 1))
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{path}:{expected}" in out, out
