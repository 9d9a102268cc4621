"""Round-trip edits of watchlist.yaml keep comments and ${VAR} references, and never write an invalid file."""

from __future__ import annotations

import itertools
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


# --- one watch item as text (the rule editor) ----------------------------------------------


def test_every_item_of_the_default_watchlist_splices_back_to_the_same_file() -> None:
    from monitor.watchlist_edit import find_block, form_block, splice_item, watch_blocks

    text = (Path(__file__).resolve().parent.parent / "watchlist.yaml").read_text()
    blocks = watch_blocks(text)
    assert len(blocks) >= 5
    for b in blocks:
        assert b.watch_id is not None
        body = b.text(text)
        assert body.startswith(f"  - id: {b.watch_id}\n")
        assert splice_item(text, b.watch_id, body)[0] == text
        # An unchanged form gives the block back byte for byte.
        from ruamel.yaml import YAML

        from monitor.watchlist_edit import form_of

        node = next(w for w in YAML(typ="rt").load(text)["watch"] if w["id"] == b.watch_id)
        assert form_block(text, b.watch_id, form_of(node)) == body
        found = find_block(text, b.watch_id)
        assert found == b
    # Blocks tile the list: nothing but blank lines and headings between them.
    for a, b in itertools.pairwise(blocks):
        gap = text[a.end : b.start]
        assert all(ln.strip() == "" or ln.strip().startswith("#") for ln in gap.splitlines())


def test_write_watchlist_text_refuses_a_stale_revision(tmp_path: Path) -> None:
    from monitor.watchlist_edit import WatchlistConflict, revision_of, write_watchlist_text

    path = tmp_path / "watchlist.yaml"
    path.write_text(VALID)
    stale = revision_of(VALID)
    path.write_text(VALID + "# edited elsewhere\n")
    with pytest.raises(WatchlistConflict, match="changed since"):
        write_watchlist_text(path, VALID.replace("news", "news2", 1), stale)
    assert path.read_text() == VALID + "# edited elsewhere\n"
    with pytest.raises(ConfigError):
        write_watchlist_text(path, "version: 1\nwatch: []\n", None)
    assert path.read_text() == VALID + "# edited elsewhere\n"
