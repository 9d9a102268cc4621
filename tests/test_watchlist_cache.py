"""The watchlist parse cache: a file read before is not parsed again, and never read stale.

Every test points ``MONITOR_CACHE_DIR`` at its own directory and counts the YAML parses
(``monitor.watchlist._yaml``), so "served from the cache" is observed, not assumed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from monitor import watchlist
from monitor.errors import ConfigError
from monitor.watchlist import LoadedWatchlist, load_watchlist, load_watchlist_text

ROOT = Path(__file__).resolve().parent.parent

RICH = """\
version: 1
settings:
  database: data/monitor.db
  timezone: Europe/Berlin
  poll_interval: 10m
feeds:
  - id: news
    url: "http://${FEED_HOST:-127.0.0.1:9}/feed.xml"   # a comment
    interval: 5m
    tags: [press, 'quoted']
  - &tmpl
    id: other
    url: http://127.0.0.1:9/other.xml
    enabled: false
watch:
  - id: api-broadening
    name: API broadening
    look_for: >
      Access beyond the
      private preview.
    why: |
      Platform revenue.
    match:
      any: ["Muse Spark API", "Muse API"]
      none: &not_band [band]
    priority: high
  - id: glasses
    name: Glasses
    match:
      any: [Meta AI glasses]
      none: *not_band
digests:
  - id: daily
    schedule: "0 8 * * 1-5"
    webhook:
      url: http://127.0.0.1:9/hook
      format: json
"""


class Parses:
    """Counts ruamel parses made by ``monitor.watchlist``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = watchlist._yaml

        def counting() -> Any:
            self.count += 1
            return real()

        monkeypatch.setattr(watchlist, "_yaml", counting)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(where))
    return where


def entries(where: Path) -> list[Path]:
    return sorted(where.glob("watchlist-*.marshal")) if where.exists() else []


def same(a: LoadedWatchlist, b: LoadedWatchlist) -> None:
    assert a.config == b.config
    assert a.warnings == b.warnings
    assert a.matcher == b.matcher
    assert (a.revision, a.database_url, a.text, a.path) == (
        b.revision,
        b.database_url,
        b.text,
        b.path,
    )


@pytest.mark.parametrize("source", ["rich", "repo", "many"])
def test_a_cached_load_is_what_a_fresh_parse_gives(
    source: str, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if source == "rich":
        text = RICH
    elif source == "repo":
        text = (ROOT / "watchlist.yaml").read_text()
    else:  # the shape of the 1,000-feed benchmark file
        feeds = "".join(
            f'  - id: f{i:05d}\n    url: "http://127.0.0.1:9/feeds/feed-{i:04d}.rss"\n'
            for i in range(300)
        )
        text = (
            "version: 1\nsettings:\n  database: monitor.db\nfeeds:\n"
            + feeds
            + "watch:\n  - id: w1\n    name: x\n    match:\n      any: [Muse Spark API]\n"
        )
    path = tmp_path / "watchlist.yaml"
    path.write_text(text)
    fresh = load_watchlist_text(text, path)  # no cache involved
    parses = Parses(monkeypatch)
    first = load_watchlist(path)
    assert parses.count == 1 and len(entries(cache)) == 1
    second = load_watchlist(path)
    assert parses.count == 1, "the second load parsed the file again"
    same(first, fresh)
    same(second, fresh)


def test_any_edit_is_read_at_once_even_with_the_same_size_and_mtime(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(RICH)
    stamp = (1_700_000_000, 1_700_000_000)
    os.utime(path, stamp)
    assert load_watchlist(path).config.feeds[1].url == "http://127.0.0.1:9/other.xml"
    edited = RICH.replace("other.xml", "0ther.xml")
    assert len(edited) == len(RICH)
    path.write_text(edited)
    os.utime(path, stamp)
    parses = Parses(monkeypatch)
    loaded = load_watchlist(path)
    assert parses.count == 1
    assert loaded.config.feeds[1].url == "http://127.0.0.1:9/0ther.xml"
    same(loaded, load_watchlist_text(edited, path))
    path.write_text(RICH)  # back to the first text: its entry is still good
    back = load_watchlist(path)
    assert parses.count == 2  # the edited text's load and the fresh parse to compare with
    same(back, load_watchlist_text(RICH, path))
    assert len(entries(cache)) == 2


def test_the_environment_is_substituted_on_every_load(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = RICH.replace("${FEED_HOST:-127.0.0.1:9}", "${FEED_HOST}")
    path = tmp_path / "watchlist.yaml"
    path.write_text(text)
    monkeypatch.setenv("FEED_HOST", "a.example")
    assert load_watchlist(path).config.feeds[0].url == "http://a.example/feed.xml"
    parses = Parses(monkeypatch)
    monkeypatch.setenv("FEED_HOST", "b.example")
    assert load_watchlist(path).config.feeds[0].url == "http://b.example/feed.xml"
    monkeypatch.delenv("FEED_HOST")
    with pytest.raises(ConfigError) as cached:
        load_watchlist(path)
    assert parses.count == 0
    with pytest.raises(ConfigError) as fresh:
        load_watchlist_text(text, path)
    assert cached.value.problems == fresh.value.problems
    first = cached.value.problems[0]
    assert ((first.line, first.column), "FEED_HOST is not set" in first.message) == ((8, 10), True)


def test_a_damaged_entry_is_a_miss_and_is_written_again(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(RICH)
    load_watchlist(path)
    (entry,) = entries(cache)
    good = entry.read_bytes()
    parses = Parses(monkeypatch)
    for damage in (good[: len(good) // 2], b"", b"\x00garbage", good[:-1]):
        entry.write_bytes(damage)
        same(load_watchlist(path), load_watchlist_text(RICH, path))
    assert parses.count == 4 + 4  # each load parsed, and so did each fresh comparison
    assert entry.read_bytes() == good


def test_another_code_version_does_not_read_the_entry(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(RICH)
    load_watchlist(path)
    parses = Parses(monkeypatch)
    monkeypatch.setattr(watchlist, "_code_key", b"another version of monitor/watchlist.py")
    load_watchlist(path)
    assert parses.count == 1
    assert len(entries(cache)) == 2


def test_errors_are_not_cached(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("version: 1\nfeeds: [\n")
    parses = Parses(monkeypatch)
    for _ in range(2):
        with pytest.raises(ConfigError, match="YAML syntax error"):
            load_watchlist(path)
    assert parses.count == 2
    assert entries(cache) == []


def test_values_marshal_cannot_keep_exactly_are_parsed_every_time(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ruamel keeps "1.50" as a float that remembers how it was written: not plain data.
    text = RICH.replace("    interval: 5m\n", "    interval: 5m\n    weight: 1.50\n")
    path = tmp_path / "watchlist.yaml"
    path.write_text(text)
    parses = Parses(monkeypatch)
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(load_watchlist(path).config)
        except ConfigError as exc:
            outcomes.append(exc.problems)
    assert parses.count == 2
    assert entries(cache) == []
    assert outcomes[0] == outcomes[1]


def test_cache_off_or_unusable_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(RICH)
    expected = load_watchlist_text(RICH, path)
    monkeypatch.setenv("MONITOR_CACHE_DIR", "none")
    same(load_watchlist(path), expected)
    assert not any(tmp_path.rglob("watchlist-*.marshal"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(blocker / "cache"))
    same(load_watchlist(path), expected)
    same(load_watchlist(path), expected)


def test_default_location_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "watchlist.yaml"
    path.write_text(RICH)
    load_watchlist(path)
    assert len(entries(tmp_path / "xdg" / "catalyst-monitor")) == 1


def test_old_entries_are_removed(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    for i in range(watchlist._CACHE_KEEP + 4):
        path.write_text(RICH.replace("poll_interval: 10m", f"poll_interval: {i + 1}m"))
        assert load_watchlist(path).config.settings.poll_interval.total_seconds() == 60 * (i + 1)
    assert len(entries(cache)) == watchlist._CACHE_KEEP


def test_the_editor_drafts_are_not_cached(tmp_path: Path, cache: Path) -> None:
    load_watchlist_text(RICH, tmp_path / "watchlist.yaml")
    assert entries(cache) == []


def test_no_known_home_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # as when HOME cannot be found
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "watchlist.yaml"
    path.write_text(RICH)
    same(load_watchlist(path), load_watchlist_text(RICH, path))
    assert watchlist.cache_dir() is None
    assert not (tmp_path / "~").exists()
