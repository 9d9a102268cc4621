"""The tokens kept per indexed entry (``entry_tokens``, migration 0008): what the rule
editor's preview reads instead of folding and tokenizing every candidate entry again.

They must give exactly the ``Doc`` that tokenizing gives (or the preview's counts would
differ from the live matcher's), be written with the search index on both backends, be
dropped with a pruned entry's text, and come back after an upgrade (0008 empties the index
so that every entry is indexed again with its tokens).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from monitor.backtest import (
    PreviewDoc,
    decode_fields,
    encode_fields,
    entry_fields,
    index_text,
    update_index,
)
from monitor.match import Doc
from monitor.types import EntryData
from storage.store import Store
from tests.test_backtest import corpus
from tests.ui_edit_support import entry, seed


def _same_doc(a: Doc, b: Doc) -> None:
    """The same words per field (names in order), text, link and positions (a PreviewDoc
    keeps them as tuples, a Doc as lists)."""
    assert [(k, list(v)) for k, v in b.fields.items()] == [
        (k, list(v)) for k, v in a.fields.items()
    ]
    assert b.raw == a.raw and b.link == a.link and b.vocabulary == a.vocabulary
    for tok in [*sorted(a.vocabulary), "absent"]:
        assert list(b.positions.get(tok, ())) == list(a.positions.get(tok, ()))


def test_stored_tokens_give_the_doc_that_tokenizing_gives() -> None:
    for feed, e in corpus(300, seed=11):
        stored = encode_fields(entry_fields(e, feed))
        _same_doc(Doc.from_entry(e, feed), PreviewDoc.from_tokens(stored, e, feed))
        assert index_text(e, feed) == " ".join(
            t for ts in decode_fields(stored).values() for t in ts
        )


TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=60
)  # any text: control characters, combining marks, other scripts, apostrophes


@settings(max_examples=300, deadline=None)
@given(
    TEXT, TEXT, st.lists(TEXT, max_size=3), st.one_of(st.none(), TEXT), st.sampled_from(["a", ""])
)
def test_stored_tokens_round_trip_any_text(
    title: str, summary: str, cats: list[str], source: str | None, feed: str
) -> None:
    e = EntryData("g", "https://example.org/x", title, summary, tuple(cats), source=source)
    fields = entry_fields(e, feed or None)
    assert decode_fields(encode_fields(fields)) == fields
    _same_doc(
        Doc.from_entry(e, feed or None),
        PreviewDoc.from_tokens(encode_fields(fields), e, feed or None),
    )


def _store(db_url: str) -> Store:
    s = Store.open(db_url)
    seed(
        s,
        [
            entry(1, "Méta opens the Muse API", "Developers get access."),
            entry(2, "Muse Spark arrives on WhatsApp", "Meta's assistant, in India."),
            entry(3, "Unrelated", "Nothing here."),
        ],
    )
    return s


def test_the_index_keeps_each_entrys_tokens_and_pruning_drops_them(db_url: str) -> None:
    s = _store(db_url)
    try:
        ids = s.candidate_ids_for(None)
        assert [t for *_, t in s.preview_entries(ids)] == [None] * 3  # not indexed yet
        assert update_index(s) == 3
        rows = s.preview_entries(ids)
        assert [r[0] for r in rows] == ids
        for _, feed_id, e, tokens in rows:
            assert tokens is not None and decode_fields(tokens) == entry_fields(e, feed_id)
        # Indexing again (a second process catching up) keeps one row per entry, unchanged.
        s.add_to_index([(i, "x", encode_fields({"title": ["x"]})) for i in ids])
        assert s.preview_entries(ids) == rows
        s.prune_entries(datetime(2100, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        pruned = {i for i, _, e, _ in s.preview_entries(ids) if e.title == ""}
        assert pruned  # (the seeded entries matched nothing: retention empties them)
        assert all(t is None for i, _, _, t in s.preview_entries(ids) if i in pruned)
    finally:
        s.close()


def test_migration_0008_indexes_a_0007_database_again_with_tokens(db_url: str) -> None:
    from alembic import command

    from storage.engine import _alembic_config, current_revision, make_engine, upgrade

    s = _store(db_url)
    update_index(s)
    s.close()
    engine = make_engine(db_url)
    cfg = _alembic_config()
    with engine.begin() as conn:  # as a 0007 database: indexed, no tokens kept
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert current_revision(engine) == "0007"
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM search_index")).scalar() == 3
    upgrade(engine)
    engine.dispose()
    s = Store.open(db_url)
    try:
        assert s.index_watermark() == 0 and s.unindexed() == 3  # emptied: indexed again
        assert update_index(s) == 3
        for _, feed_id, e, tokens in s.preview_entries(s.candidate_ids_for(None)):
            assert tokens is not None and decode_fields(tokens) == entry_fields(e, feed_id)
        assert s.candidate_ids_for("muse") == s.candidate_ids_for(None)[:2]
    finally:
        s.close()


@pytest.mark.parametrize("missing", [True, False])
def test_the_preview_reads_stored_tokens_and_tokenizes_an_entry_without_them(
    tmp_path, missing: bool
) -> None:
    """The editor's engine builds its docs from the stored tokens; an entry indexed before
    they were kept (no row) is tokenized instead: the same matches either way."""
    from monitor.match import CompiledItem
    from monitor.query import parse_query
    from monitor.ui.editor import Engine

    s = _store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        update_index(s)
        ids = s.candidate_ids_for(None)
        if missing:
            with s.engine.begin() as conn:
                conn.execute(text("DELETE FROM entry_tokens WHERE entry_id = :i"), {"i": ids[1]})
        eng = Engine(s)
        run = eng.run(CompiledItem("w", parse_query('muse AND (api OR "meta assistant")')))
        assert sorted(run.hits) == ids[:2]
        assert run.hits[ids[1]] == (("muse", "title", 0, 1), ("meta assistant", "summary", 0, 2))
        feed_id, e, doc = eng.docs[ids[1]]
        _same_doc(Doc.from_entry(e, feed_id), doc)
    finally:
        s.close()


def test_a_backtest_over_stored_tokens_gives_what_tokenizing_gives(tmp_path) -> None:
    """``run_backtest`` builds its docs from the stored tokens (an entry without them is
    tokenized): the same matches, stances, snippets and explanations either way, for every
    watch item of the default watchlist (with its stance rules) over a mixed corpus."""
    from pathlib import Path

    from monitor.backtest import run_backtest
    from monitor.watchlist import load_watchlist

    wl = load_watchlist(Path(__file__).resolve().parents[1] / "watchlist.yaml")
    s = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        seed(s, [e for _, e in corpus(400, seed=5)])
        update_index(s)
        with_tokens = {i.watch_id: run_backtest(s, i, wl.matcher, None) for i in wl.matcher.items}
        with s.engine.begin() as conn:
            conn.execute(text("DELETE FROM entry_tokens"))
        assert {t for *_, t in s.preview_entries(s.candidate_ids_for(None))} == {None}
        tokenized = {i.watch_id: run_backtest(s, i, wl.matcher, None) for i in wl.matcher.items}
        assert sum(len(o.hits) for o in with_tokens.values()) > 50  # (the corpus matches)
        for wid, out in with_tokens.items():
            assert out.hits == tokenized[wid].hits, wid
    finally:
        s.close()
