"""Round-trip edits of watchlist.yaml keep comments and ${VAR} references, and never write an invalid file."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.watchlist_edit import add_feeds, edit_watchlist, splice_item, watch_blocks
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


# --- one item checked alone (the editor's keystroke) gives monitor check's messages ---------


def test_one_item_checked_alone_reports_what_the_whole_file_check_reports(tmp_path: Path) -> None:
    from monitor.errors import ConfigError
    from monitor.watchlist import check_watch_item, load_watchlist_text
    from monitor.watchlist_edit import anchors

    path = tmp_path / "watchlist.yaml"
    text = (Path(__file__).resolve().parent.parent / "watchlist.yaml").read_text()
    current = load_watchlist_text(text, path)
    blocks = watch_blocks(text)
    edits = {
        "name": lambda b: b.replace("    name: ", "    name: x ", 1),
        "bad query": lambda b: b.replace("    name:", "    exclude: 'a AND (b'\n    name:", 1),
        "unknown alias": lambda b: b.replace(
            "    name:", "    exclude: '@nope OR x'\n    name:", 1
        ),
        "negative min_score": lambda b: b.replace("    name:", "    min_score: -1\n    name:", 1),
        "unknown key": lambda b: b.replace("    name:", "    nmae: x\n    name:", 1),
        "unset variable": lambda b: b.replace("    name: ", "    name: ${NOPE_UNSET_X} ", 1),
    }
    alone = 0
    for i, blk in enumerate(blocks):
        old = blk.text(text)
        for kind, edit in edits.items():
            new_block = edit(old)
            new, line = splice_item(text, blk.watch_id, new_block)
            try:
                whole = ("ok", [str(p) for p in load_watchlist_text(new, path).warnings])
            except ConfigError as exc:
                whole = ("error", [str(p) for p in exc.problems if p.severity == "error"])
            try:
                got = check_watch_item(
                    current, new, new_block, line, i, blk.indent, old, anchors(text)
                )
            except ConfigError as exc:
                assert ("error", [str(p) for p in exc.problems]) == whole, (blk.watch_id, kind)
                alone += 1
                continue
            if got is not None:
                assert whole[0] == "ok", (blk.watch_id, kind, whole)
                assert {str(p) for p in got.warnings} <= set(whole[1])
                alone += 1
    # Every edit is decided alone (anchors and aliases included) except an added exclude
    # in an item that has one: a duplicate key, a YAML error, left to the whole check.
    has_exclude = sum("\n    exclude:" in b.text(text) for b in blocks)
    assert alone == len(blocks) * len(edits) - 2 * has_exclude


def test_the_form_block_of_the_items_lines_alone_equals_the_whole_files(tmp_path: Path) -> None:
    import dataclasses

    from monitor.watchlist_edit import _form_block_alone, _form_block_whole, item_forms

    text = (Path(__file__).resolve().parent.parent / "watchlist.yaml").read_text()
    forms = item_forms(text)
    for blk in watch_blocks(text):
        f = forms[str(blk.watch_id)]
        for g in (
            f,
            dataclasses.replace(f, name="x " + f.name),
            dataclasses.replace(f, min_score="2", priority="high"),
            dataclasses.replace(f, expected_by="2027-01-31"),
            dataclasses.replace(f, match_kind="query", match="Muse AND launch*"),
        ):
            alone = _form_block_alone(text, blk.watch_id, g)
            whole = _form_block_whole(text, blk.watch_id, g)
            assert alone is not None
            # The whole file's round trip may move the blank line that follows the item
            # in front of a key added last; the item's lines alone keep it after the item.
            assert (
                alone == whole
                or alone.replace("\n\n", "\n").rstrip() == whole.replace("\n\n", "\n").rstrip()
            ), (blk.watch_id, g)
