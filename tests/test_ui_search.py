"""Search over every stored entry (both backends), the preview's index prefilter, and the
/search page: marked words, escaping, paging, the missed-entry flag, the token."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from monitor.backtest import index_query, update_index
from monitor.match import CompiledItem, Matcher
from monitor.query import parse_query
from monitor.ui.highlight import words
from monitor.ui.search import parse_words
from storage.store import Store
from tests.test_backtest import corpus
from tests.ui_edit_support import edit_app, entry, seed
from tests.ui_support import client

TOKEN = "search-token"


def _store(db_url: str, n: int = 0) -> Store:
    s = Store.open(db_url)
    seed(
        s,
        [
            entry(1, "Méta opens the Muse API", "Developers get access."),
            entry(2, "Muse Spark arrives on WhatsApp", "Meta's assistant, in India."),
            entry(3, "Quarterly results", "Revenue grew; Muse was not mentioned in the title."),
            entry(4, "Unrelated", "Nothing here."),
            *[entry(10 + i, f"Filler story {i} about muse", "") for i in range(n)],
        ],
    )
    return s


def test_search_finds_every_word_newest_first_on_both_backends(db_url: str) -> None:
    s = _store(db_url, n=45)
    try:
        assert s.unindexed() == 49
        update_index(s)
        assert s.unindexed() == 0
        page = s.search_entries(parse_words("muse"), 20, 0)
        assert page.total == 48
        ids = [h.entry_id for h in page.hits]
        assert ids == sorted(ids, reverse=True) and len(ids) == 20
        third = s.search_entries(parse_words("muse"), 20, 40)
        everything = [h.entry_id for h in s.search_entries(parse_words("muse"), 100, 0).hits]
        assert [h.entry_id for h in third.hits] == everything[40:] and len(third.hits) == 8
        assert {h.title for h in s.search_entries(parse_words("META muse"), 20, 0).hits} == {
            "Méta opens the Muse API",
            "Muse Spark arrives on WhatsApp",  # "Meta's" in the summary
        }
        assert [h.entry_id for h in s.search_entries(parse_words("whats*"), 20, 0).hits] == [2]
        assert s.search_entries(parse_words("revenue muse"), 20, 0).total == 1
        assert s.search_entries(parse_words("muse nowhere"), 20, 0).total == 0
        assert s.search_entries([], 20, 0).total == 0
        hit = s.search_entries(parse_words("opens"), 20, 0).hits[0]
        assert hit.first_seen.tzinfo is not None and hit.published is not None
    finally:
        s.close()


def test_the_index_catches_up_a_bounded_step_at_a_time_and_never_twice(db_url: str) -> None:
    """``update_index(store, limit=N)`` (what the daemon calls after a poll cycle) indexes
    at most N entries, oldest first; indexing an entry again changes nothing (the daemon
    and ``monitor web`` may both catch up at once)."""
    from monitor.backtest import encode_fields, entry_fields, index_text

    s = _store(db_url, n=45)
    try:
        assert update_index(s, limit=10) == 10
        assert s.unindexed() == 39 and s.index_watermark() == s.candidate_ids_for(None)[9]
        assert update_index(s, limit=0) == 0
        steps = []
        while s.unindexed():
            steps.append(update_index(s, limit=15))
        assert steps == [15, 15, 9] and update_index(s, limit=15) == 0
        assert s.search_entries(parse_words("muse"), 20, 0).total == 48
        again = s.entries_by_id(s.candidate_ids_for(None))
        s.add_to_index(  # a second process
            [(i, index_text(e, f), encode_fields(entry_fields(e, f))) for i, f, e in again]
        )
        assert s.search_entries(parse_words("muse"), 100, 0).total == 48
        ids = [h.entry_id for h in s.search_entries(parse_words("muse"), 100, 0).hits]
        assert len(ids) == len(set(ids)) == 48
    finally:
        s.close()


def test_pruned_entries_are_not_found(db_url: str) -> None:
    from datetime import UTC, datetime

    s = _store(db_url)
    try:
        update_index(s)
        assert s.search_entries(parse_words("unrelated"), 20, 0).total == 1
        s.prune_entries(datetime(2100, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        assert s.search_entries(parse_words("unrelated"), 20, 0).total == 0
    finally:
        s.close()


QUERIES = [
    '"Muse Spark" AND (WhatsApp OR Instagram)',
    "Muse AND NOT Bellamy",
    "NEAR/3(Muse, developers)",
    "Ray-Ban AND (glasses OR Óculos)",
    "Muse* AND data",
    "Straße OR ﬁnance",
    "/muse/ OR WhatsApp",
    'title:Muse AND "data center"',
    '"data cent*" OR "Meta glasses"',
    '"Muse Spark" AND NOT "Spark Muse"',
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_preview_prefilter_never_loses_a_match(db_url: str, query: str) -> None:
    """index_query's candidates hold every entry the live matcher matches (both backends)."""
    s = Store.open(db_url)
    try:
        from datetime import UTC, datetime, timedelta

        from monitor.types import FeedSpec, FeedUpdate, IncomingEntry

        t0 = datetime(2026, 11, 1, tzinfo=UTC)
        s.sync_config([FeedSpec("a", "http://a")], {}, "r", "", t0)
        docs = [e for _, e in corpus(200, seed=random.Random(query).randint(0, 99))]
        s.ingest(
            FeedUpdate(
                "a",
                t0,
                t0 + timedelta(minutes=1),
                200,
                entries=tuple(IncomingEntry(e, None, ()) for e in docs),
            )
        )
        update_index(s)
        item = CompiledItem("q", parse_query(query))
        m = Matcher((item,))
        everything = s.entries_by_id(s.candidate_ids_for(None))
        live = {i for i, feed, e in everything if m.match(e, feed)}
        cands = set(s.candidate_ids_for(index_query(item.query)))
        assert live <= cands
        assert live  # the corpus has matches for every query above
    finally:
        s.close()


def test_word_marks_follow_the_matchers_folding() -> None:
    segs = words("Méta's MUSE-Spark, musé", parse_words("meta muse"))
    assert segs == [
        ("Méta", True),
        ("'s ", False),
        ("MUSE", True),
        ("-Spark, ", False),
        ("musé", True),
    ]
    assert words("nothing", parse_words("muse")) == [("nothing", False)]
    assert words("WhatsApp", parse_words("what*")) == [("WhatsApp", True)]


# --- the page -------------------------------------------------------------------------------


def test_search_page_marks_words_escapes_and_pages(tmp_path: Path) -> None:
    ui = edit_app(tmp_path, token=TOKEN)
    seed(
        ui.store,
        [
            entry(
                1,
                "<img src=x onerror=alert(1)> Muse opens",
                "<b>Muse</b> & friends",
                link="javascript:alert(1)",
            ),
            *[entry(10 + i, f"Muse filler {i}") for i in range(25)],
        ],
    )
    c = client(ui.app, headers={"Authorization": f"Bearer {TOKEN}"})
    r = c.get("/search?q=muse")
    assert r.status_code == 200
    assert 'id="results"' in r.text
    assert "26 entries" in r.text
    assert r.text.count('class="result"') == 20
    assert "<mark>Muse</mark> filler 24" in r.text
    assert 'rel="next" href="/search?q=muse&amp;page=2"' in r.text
    p2 = c.get("/search?q=muse&page=2")
    assert p2.text.count('class="result"') == 6
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>Muse</mark> opens" in p2.text
    assert "&lt;b&gt;<mark>Muse</mark>&lt;/b&gt; &amp; friends" in p2.text
    assert "<img" not in p2.text and "javascript:" not in p2.text
    # Flag a result as missed by a catalyst: the form helper A's /labels handles.
    form = re.search(
        r'<form method="post" action="/labels" class="missed">(.*?)</form>', p2.text, re.S
    )
    assert form
    assert 'name="entry_id" value="1"' in p2.text
    assert 'name="verdict" value="missed"' in form.group(1)
    assert '<option value="api-broadening">API broadening</option>' in form.group(1)
    assert 'rel="prev" href="/search?q=muse&amp;page=1"' in p2.text


def test_search_page_without_query_and_with_bad_input(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app)
    r = c.get("/search")
    assert r.status_code == 200 and 'id="q"' in r.text and 'id="results"' not in r.text
    r = c.get("/search?q=%21%21%21")
    assert r.status_code == 200 and "letters or digits" in r.text
    r = c.get("/search?q=muse&page=x")
    assert r.status_code == 400 and "page must be a number" in r.text
    r = c.get("/search?q=nothing")
    assert "0 entries" in r.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_search_needs_the_token(tmp_path: Path, headers: dict[str, str]) -> None:
    ui = edit_app(tmp_path, token=TOKEN)
    seed(ui.store, [entry(1, "Secret thesis Muse")])
    r = client(ui.app).get("/search?q=muse", headers=headers)
    assert r.status_code == 401 and "Secret" not in r.text
