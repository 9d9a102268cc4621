"""Round-trip edits of watchlist.yaml keep comments and ${VAR} references, and never write an invalid file."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.watchlist_edit import add_feeds, edit_watchlist
from tests.test_watchlist import VALID


def test_add_feed_keeps_comments_and_env_references(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("# my thesis\n" + VALID.replace("feeds:\n", "feeds: # where news comes from\n"))
    loaded, added = add_feeds(
        path, [{"id": "extra", "url": "https://example.com/feed.xml", "tags": ["new"]}]
    )
    text = path.read_text()
    assert added == ["extra"]
    assert text.startswith("# my thesis\n")
    assert "# where news comes from" in text
    assert "${HOOK_URL:-http://127.0.0.1:9/hook}" in text  # not substituted
    assert [f.id for f in loaded.config.feeds] == ["news", "extra"]
    assert (tmp_path / "watchlist.yaml.bak").read_text() == "# my thesis\n" + VALID.replace(
        "feeds:\n", "feeds: # where news comes from\n"
    )


def test_same_url_is_not_added_twice(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(VALID)
    _, added = add_feeds(path, [{"id": "dup", "url": "http://127.0.0.1:9/feed.xml"}])
    assert added == []


def test_invalid_edit_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(VALID)
    with pytest.raises(ConfigError, match="feed url must start with http"):
        add_feeds(path, [{"id": "bad", "url": "ftp://nope"}])
    with pytest.raises(ConfigError, match="already exists"):
        add_feeds(path, [{"id": "news", "url": "https://other.example/feed"}])

    def break_it(tree):  # type: ignore[no-untyped-def]
        tree["settings"]["timezone"] = "Nowhere/City"

    with pytest.raises(ConfigError, match="unknown timezone"):
        edit_watchlist(path, break_it)
    assert path.read_text() == VALID
    assert not list(tmp_path.glob(".watchlist.yaml.*"))  # no temp file left behind
