"""Backtest over a stored corpus on both backends: the index prefilter never changes results."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.backtest import (
    PreviewDoc,
    RuleResults,
    index_query,
    run_backtest,
    update_index,
)
from monitor.cli import main
from monitor.errors import ConfigError
from monitor.match import CompiledItem, Doc, Matcher, item_hits
from monitor.query import parse_query
from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry
from storage.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WORDS = [
    "Muse", "Spark", "Meta's", "WhatsApp", "Instagram", "Ray-Ban", "glasses", "Óculos",
    "Rechenzentren", "launches", "denies", "API", "developers", "Bellamy", "models",
    "MUSE", "Straße", "ﬁnance", "snake_case", "Ｍｅｔａ", "the", "and", "data", "center",
]  # fmt: skip


def corpus(n: int, seed: int = 3) -> list[tuple[str, EntryData]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        title = " ".join(rng.choices(WORDS, k=rng.randint(1, 7)))
        summary = " ".join(rng.choices(WORDS, k=rng.randint(0, 12)))
        cats = tuple(rng.sample(WORDS, rng.randint(0, 2)))
        link = rng.choice(["https://www.reuters.com/a", "https://example.org/b", None])
        source = rng.choice(["heise online", "Le Monde", None])
        out.append(
            (
                rng.choice(["a", "b"]),
                EntryData(f"g{i}", link and f"{link}{i}", title, summary, cats, source=source),
            )
        )
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """One corpus per backend, built once for the module (hypothesis reuses it)."""
    from tests.conftest import _pg_available, private_pg_schema

    urls = [f"sqlite:///{tmp_path_factory.mktemp('bt')}/bt.db"]
    schemas = contextlib.ExitStack()
    if _pg_available() is None:
        urls.append(schemas.enter_context(private_pg_schema()))
    stores = []
    docs = corpus(300)
    for url in urls:
        s = Store.open(url)
        s.sync_config([FeedSpec("a", "http://a"), FeedSpec("b", "http://b")], {}, "r1", "", T0)
        for feed in ("a", "b"):
            entries = tuple(IncomingEntry(e, None, ()) for f, e in docs if f == feed)
            s.ingest(FeedUpdate(feed, T0, T0 + timedelta(minutes=15), 200, entries=entries))
        update_index(s)
        stores.append(s)
    yield stores
    for s in stores:
        s.close()
    schemas.close()


def live(store: Store, item: CompiledItem) -> set[int]:
    m = Matcher((item,))
    everything = store.entries_by_id(store.candidate_ids(None, None))
    return {i for i, feed, e in everything if m.match(e, feed)}


PARTS = st.sampled_from(
    ["Muse", "spark", '"Muse Spark"', "model*", "Meta", "-Bellamy", "oculos", "title:API",
     "NEAR/2(Muse, (WhatsApp OR API))", "OR", "Rechenzentr*", "strasse", "finance",
     "snake_case", "source:heise", "link:reuters.com", "/dev[a-z]+s/", "glasses", "AND",
     '"data center"', '"data cent*"', '"Meta glasses"', "NOT"]
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(PARTS, min_size=1, max_size=5).map(" ".join))
def test_backtest_equals_the_live_matcher(stored, query: str) -> None:
    try:
        item = CompiledItem("w", parse_query(query))
    except ConfigError:
        return
    for store in stored:
        out = run_backtest(store, item, Matcher(()), None)
        assert set(out.hits) == live(store, item), (store.url, query)


def _item(query: str, k: int) -> CompiledItem | None:
    try:
        q = parse_query(query)
        exclude = parse_query("Bellamy OR title:snake_case") if k % 3 == 1 else None
    except ConfigError:
        return None
    return CompiledItem(
        "w", q, exclude=exclude, min_score=k % 4, sources_deny=("b",) * (k % 5 == 2)
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(PARTS, min_size=1, max_size=5).map(" ".join), min_size=1, max_size=6))
def test_preview_rule_results_equal_the_live_matcher_across_drafts(
    stored, queries: list[str]
) -> None:
    """The rule editor's evaluator (one ``RuleResults`` kept across a run of drafts, as
    between keystrokes; each draft over its own index candidates) gives every draft the
    hits ``item_hits`` gives, in the same order, and the entries the live matcher matches."""
    for store in stored:
        results = RuleResults(max_nodes=12)  # small: evicting nodes must not change results
        # The docs as the editor builds them: from the tokens the index keeps per entry.
        docs = {i: (f, e, PreviewDoc.from_tokens(t, e, f)) for i, f, e, t in store.preview_entries(
            store.candidate_ids_for(None))}  # fmt: skip
        for k, query in enumerate(queries):
            item = _item(query, k)
            if item is None:
                continue
            ids = frozenset(store.candidate_ids_for(index_query(item.query)))
            got = results.run(item, ids, docs)
            want = {}
            for i, (f, e, _) in docs.items():
                hits = item_hits(item, Doc.from_entry(e, f), e, f)
                if hits is not None:
                    want[i] = hits
            assert {i: list(h) for i, h in got.items()} == want, (store.url, query, k)
            assert set(got) == live(store, item)


def test_preview_docs_find_what_docs_find() -> None:
    """``PreviewDoc`` builds a word's positions when asked: the same as ``Doc``'s."""
    for feed, e in corpus(200, seed=9):
        a, b = Doc.from_entry(e, feed), PreviewDoc.from_entry(e, feed)
        for tok in [*sorted(a.vocabulary), "absent"]:
            assert list(b.positions.get(tok, ())) == list(a.positions.get(tok, ()))
        assert {t: list(p) for t, p in b.positions.items() if p} == a.positions


def test_both_backends_are_checked_when_postgres_runs(stored) -> None:
    from tests.conftest import _pg_available

    assert len(stored) == (1 if _pg_available() else 2)


WATCHLIST = """\
version: 1
settings:
  database: {db}
feeds:
  - id: wire
    url: http://127.0.0.1:9/feed
watch:
  - id: api
    name: API
    match: {match}
"""


def test_backtest_and_label_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.db"
    cfg = tmp_path / "w.yaml"
    cfg.write_text(WATCHLIST.format(db=db, match="'\"Muse API\"'"))
    from monitor.watchlist import load_watchlist

    wl = load_watchlist(cfg)
    store = Store.open(wl.database_url)
    store.sync_config([FeedSpec("wire", "http://127.0.0.1:9/feed")], {}, "r1", "", T0)
    titles = [
        "Meta opens the Muse API to developers",  # matched and recorded
        "Muse Spark API leaves preview",  # not by 'Muse API' (phrase); by the draft
        "Muse the band tours",
    ]
    entries = tuple(
        IncomingEntry(
            EntryData(f"g{i}", None, t), None, wl.matcher.match(EntryData(f"g{i}", None, t))
        )
        for i, t in enumerate(titles)
    )
    res = store.ingest(FeedUpdate("wire", T0, T0, 200, entries=entries, revision="r1"))
    store.close()
    assert len(res.new_match_ids) == 1, (res, [e.matches for e in entries])
    (match_id,) = res.new_match_ids

    assert main(["label", str(match_id), "relevant", "--config", str(cfg)]) == 0
    assert main(["label", "--entry", "2", "--watch", "api", "relevant", "--config", str(cfg)]) == 0
    capsys.readouterr()

    code = main(
        ["backtest", "api", "--query", "Muse API", "--format", "json", "--config", str(cfg)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["entry_id"] for h in out["would_match"]] == [1, 2]
    assert out["newly_matched"] == [2] and out["no_longer_matched"] == []
    assert out["precision"] == 1.0 and out["recall"] == 1.0
    assert "«Muse» «API»" in out["would_match"][0]["explanation"]

    # The watch item as in the file: the phrase misses entry 2, which the analyst marked
    # relevant, so recall drops to 0.5.
    assert main(["backtest", "api", "--format", "json", "--config", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["entry_id"] for h in out["would_match"]] == [1]
    assert out["recall"] == 0.5

    # A draft with a syntax error points inside it; an unknown watch id is named.
    assert main(["backtest", "--query", "Muse AND (", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "the query ends where a term was expected" in err and "^" in err
    assert main(["backtest", "nope", "--config", str(cfg)]) == 1
    assert "unknown watch item 'nope'" in capsys.readouterr().err

    # Table output highlights the hits.
    assert main(["backtest", "--query", "Muse", "--config", str(cfg)]) == 0
    table = capsys.readouterr().out
    assert "«Muse»" in table and "would match 3" in table
