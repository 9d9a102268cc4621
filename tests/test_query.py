"""Table tests of the query language (``monitor/query.py``) and its matching semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError
from monitor.match import CompiledItem, Matcher, Node, Term, compile_match
from monitor.query import QueryError, expand_mapping, parse_query, parse_term_list
from monitor.types import EntryData
from monitor.watchlist import load_watchlist_text

ALIASES: dict[str, Node] = {
    "muse": parse_query('"Muse Spark" OR "Muse model*" OR Avocado'),
    "glasses": parse_query('"Ray-Ban Meta" OR "Oakley Meta" OR "smart glasses"'),
}


def entry(
    title: str = "",
    summary: str = "",
    categories: tuple[str, ...] = (),
    link: str = "https://news.example/x",
    source: str | None = None,
) -> EntryData:
    return EntryData(
        guid="g", link=link, title=title, summary=summary, categories=categories, source=source
    )


def hit(query: str, e: EntryData, feed_id: str | None = "feed-1") -> bool:
    m = Matcher((CompiledItem("w", parse_query(query, ALIASES)),))
    return bool(m.match(e, feed_id))


# (query, entry, matches?)
MATCH_CASES = [
    # implicit AND, AND, OR, NOT, -, parentheses
    ("Muse WhatsApp", entry("Muse comes to WhatsApp"), True),
    ("Muse WhatsApp", entry("Muse comes to Instagram"), False),
    ("Muse AND WhatsApp", entry("WhatsApp", "Muse"), True),
    ("WhatsApp OR Instagram", entry("Instagram news"), True),
    ("WhatsApp OR Instagram", entry("Threads news"), False),
    ("Muse NOT Bellamy", entry("Muse by Bellamy"), False),
    ("Muse -Bellamy", entry("Muse Spark"), True),
    ("Muse -Bellamy", entry("Muse", "Matt Bellamy sings"), False),
    ("Muse (WhatsApp OR Instagram)", entry("Muse on Instagram"), True),
    ("Muse (WhatsApp OR Instagram)", entry("Muse on Threads"), False),
    ("a OR b c", entry("a"), True),  # AND binds tighter than OR
    ("(a OR b) c", entry("a"), False),
    ("Muse and WhatsApp", entry("Muse WhatsApp and more"), True),  # lower-case: a word
    ("Muse and WhatsApp", entry("Muse WhatsApp"), False),
    # phrases and prefixes
    ('"Muse Spark"', entry("Meta's Muse Spark"), True),
    ('"Muse Spark"', entry("Spark Muse"), False),
    ('"Muse model"*', entry("new Muse models"), True),
    ('"Muse model*"', entry("new Muse models"), True),
    ("conversion*", entry("conversions up"), True),
    ("Ray-Ban", entry("Ray Ban glasses"), True),
    # NEAR
    ("NEAR/3(Muse, WhatsApp)", entry("Muse is coming to WhatsApp"), True),  # 3 words between
    ("NEAR/2(Muse, WhatsApp)", entry("Muse is coming to WhatsApp"), False),
    ("NEAR/3(WhatsApp, Muse)", entry("Muse is coming to WhatsApp"), True),  # either order
    ("NEAR/0(Muse, Spark)", entry("Muse Spark"), True),
    ("NEAR/5(Muse, WhatsApp)", entry("Muse", "WhatsApp"), False),  # never across fields
    ("NEAR/2(@muse, (WhatsApp OR Instagram))", entry("Avocado on Instagram"), True),
    ('NEAR/1("Muse Spark", app*)', entry("Muse Spark apps"), True),
    # field scopes
    ("title:Muse", entry("Muse", "x"), True),
    ("title:Muse", entry("x", "Muse"), False),
    ("summary:Muse", entry("x", "Muse"), True),
    ("summary:Muse", entry("Muse", "x"), False),
    ("category:Meta", entry("x", "", ("Meta",)), True),
    ("category:Meta", entry("Meta"), False),
    ("title:(Muse OR Avocado)", entry("Avocado ships"), True),
    ("title:@muse", entry("Muse Spark", ""), True),
    ("title:@muse", entry("x", "Muse Spark"), False),
    ("source:heise Muse", entry("Muse", source="heise online"), True),
    ("source:heise Muse", entry("Muse", source="Le Monde"), False),
    ("source:feed-1 Muse", entry("Muse"), True),  # the feed id counts as a source
    ('source:"Le Monde" Muse', entry("Muse", source="Le Monde"), True),
    ("source:Muse", entry("Muse"), False),  # source: never looks at the text
    ("link:reuters.com", entry("x", link="https://www.reuters.com/tech/a"), True),
    ("link:reuters.com", entry("x", link="https://uk.reuters.com/a"), True),
    ("link:reuters.com", entry("x", link="https://notreuters.com/a"), False),
    ("link:(reuters.com OR ft.com)", entry("x", link="https://ft.com/a"), True),
    ("link:reuters.com", entry("x", link=""), False),
    # regex (RE2 on folded text)
    ("/muse\\s+\\d/", entry("Muse 2 is coming"), True),
    ("/muse\\s+\\d/", entry("Muse Spark"), False),
    ("/gigawat+s?/", entry("Two GIGAWATTS"), True),
    ("title:/spark/", entry("x", "spark"), False),
    ("/oculos/", entry("Óculos novos"), True),  # regexes see folded text
    # aliases and folding, other languages
    ("@muse WhatsApp", entry("Muse models reach WhatsApp"), True),
    ("@glasses", entry("Les lunettes Ray-Ban Meta"), True),
    ('"centre de données"', entry("Un centre de donnees"), True),
    ("Rechenzentr*", entry("Neue KI-Rechenzentren"), True),
    ('"óculos inteligentes"', entry("Novos OCULOS INTELIGENTES"), True),
    ("desarrolladores", entry("API para DESARROLLADORES"), True),
    ("Ｍｕｓｅ", entry("muse"), True),
]


@pytest.mark.parametrize(("query", "e", "expected"), MATCH_CASES)
def test_query_matching(query: str, e: EntryData, expected: bool) -> None:
    assert hit(query, e) is expected


# (query, message fragment, offset of the error in the query)
ERROR_CASES = [
    ("", "the query is empty", 0),
    ("Muse AND", "ends where a term was expected", 8),
    ("AND Muse", "AND needs a term on each side", 0),
    ("Muse OR OR x", "OR needs a term on each side", 8),
    ("(Muse", "missing ')' for this '('", 0),
    ("Muse)", "unbalanced ')'", 4),
    ("()", "empty parentheses", 0),
    ('"Muse Spark', "unterminated phrase", 0),
    ('x "!!"', "no letters or digits", 2),
    ("x !!", "no letters or digits", 2),
    ("a*b", "only allowed at the end", 0),
    ("tilte:Muse", "did you mean title:?", 0),
    ("foo:bar", "unknown field 'foo:'", 0),
    ("title:NOT x", "put title: before a term", 0),
    ("title:(summary:x)", "summary: inside title: can never match", 7),
    ("@mus", "unknown alias @mus (did you mean @muse?)", 0),
    ("x @", "'@' must be followed by an alias name", 2),
    ("/(a/", "invalid regular expression /(a/: missing )", 0),
    ("/(a)\\1/", "invalid regular expression", 0),
    ("/a*/", "matches empty text", 0),
    ("/abc", "unterminated regular expression", 0),
    ("NEAR/(a, b)", "NEAR needs a distance", 0),
    ("NEAR/500(a, b)", "too large", 0),
    ("NEAR/3 a", "NEAR/n is written NEAR/n(a, b)", 0),
    ("NEAR/3(a b)", "two arguments separated by ','", 9),
    ("NEAR/3(a, b", "missing ')' to close NEAR", 6),
    ("NEAR/3((a AND b), c)", "inside NEAR, a group is (a OR b", 7),
    ("x , y", "',' only separates", 2),
    ("NOT x", "cannot be only NOT", 0),
    ("-x -y", "cannot be only NOT", 0),
    ("x NOT", "NOT must be followed", 2),
    ("link:", "needs a term right after it", 0),
    ("title: Muse", "needs a term right after it", 0),
    ("link:not_a_host!", "link: takes a domain", 5),
]


@pytest.mark.parametrize(("query", "message", "offset"), ERROR_CASES)
def test_query_errors(query: str, message: str, offset: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query, ALIASES)
    assert message in info.value.message
    assert info.value.offset == offset
    assert isinstance(info.value, ConfigError)


# --- properties -------------------------------------------------------------------------------

QUERY_ALPHABET = st.sampled_from(
    [*'abmsuMuse "()*/-@:,\\', "AND", "OR", "NOT", "NEAR/2", "title:", "link:", "@muse"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_ALPHABET, max_size=14).map(" ".join) | st.text(max_size=30))
def test_parser_raises_only_config_errors(text: str) -> None:
    try:
        node = parse_query(text, ALIASES)
    except ConfigError as exc:  # anything else fails the test
        assert exc.problems and exc.problems[0].column >= 1
    else:
        assert node is not None


WORDS = ["Muse", "Spark", "WhatsApp", "Meta", "Bellamy", "glasses", "Ray-Ban", "model*"]
TEXTS = st.lists(st.sampled_from([*WORDS, "the", "models", "Ray", "Ban", "Musee"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS), max_size=3),
    st.lists(st.sampled_from(WORDS), max_size=2),
    st.lists(st.sampled_from(WORDS), max_size=2),
    TEXTS.map(" ".join),
    TEXTS.map(" ".join),
)
def test_mapping_equals_its_query_expansion(any_, all_, none, title, summary) -> None:
    if not any_ and not all_:
        return
    e = entry(title, summary)
    a = Matcher((CompiledItem("w", compile_match(any_, all_, none)),)).match(e)
    b = Matcher((CompiledItem("w", parse_query(expand_mapping(any_, all_, none))),)).match(e)
    assert bool(a) == bool(b)
    if a:
        assert set(a[0].matched_terms) == set(b[0].matched_terms)


@settings(max_examples=200, deadline=None)
@given(TEXTS.map(" ".join))
def test_alias_equals_its_expansion(title: str) -> None:
    e = entry(title)
    via_alias = hit("@muse OR Bellamy", e)
    spelled = hit('("Muse Spark" OR "Muse model*" OR Avocado) OR Bellamy', e)
    assert via_alias == spelled


def test_term_list_elements_are_phrases_or_aliases() -> None:
    nodes = parse_term_list(["Muse Spark", "@muse"], ALIASES)
    assert nodes[0] == Term.parse("Muse Spark")
    assert nodes[1] == ALIASES["muse"]


# --- in the watchlist: positions, aliases, noise controls -----------------------------------

BASE = """\
version: 1
aliases:
  muse: ["Muse Spark", "Muse model*", Avocado]
  apps: "WhatsApp OR Instagram OR Messenger"
  both: "@muse @apps"
watch:
{items}
"""


def load(items: str):
    return load_watchlist_text(BASE.format(items=items), Path("w.yaml"))


def problems(items: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(items)
    return [str(p) for p in info.value.problems]


def test_query_error_points_inside_a_plain_scalar() -> None:
    (p,) = problems("  - id: a\n    name: A\n    match: Muse AND (WhatsApp\n")
    # "match: " starts at column 5; the '(' is 9 characters into the query.
    assert p.startswith("w.yaml:9:21:") and "missing ')'" in p


def test_query_error_points_inside_a_quoted_scalar() -> None:
    (p,) = problems('  - id: a\n    name: A\n    match: "Muse @mus"\n')
    assert p.startswith("w.yaml:9:18:") and "did you mean @muse?" in p


def test_query_error_points_inside_a_block_scalar() -> None:
    (p,) = problems("  - id: a\n    name: A\n    match: >-\n      Muse AND\n      tilte:x\n")
    assert p.startswith("w.yaml:11:7:") and "did you mean title:?" in p


def test_every_problem_at_once() -> None:
    ps = problems(
        "  - id: a\n    name: A\n    match: (Muse\n"
        "  - id: b\n    name: B\n    match: {any: ['@nope']}\n    exclude: /(/\n"
    )
    assert len(ps) == 3, ps
    assert any("unknown alias @nope" in p for p in ps)
    assert any("invalid regular expression" in p for p in ps)


def test_alias_cycle_is_an_error() -> None:
    text = "version: 1\naliases:\n  a: '@b x'\n  b: '@a y'\nwatch:\n  - {id: w, name: W, match: '@a'}\n"
    with pytest.raises(ConfigError, match="refers to itself"):
        load_watchlist_text(text, Path("w.yaml"))


def test_never_matching_query_is_a_warning() -> None:
    wl = load("  - id: a\n    name: A\n    match: Muse AND NOT Muse\n")
    assert any("can never match" in p.message for p in wl.warnings)


def test_unknown_key_in_match_mapping_has_did_you_mean() -> None:
    (p,) = problems("  - id: a\n    name: A\n    match: {anyy: [Muse]}\n")
    assert "did you mean 'any'" in p


def test_aliases_in_watch_items_and_noise_controls() -> None:
    wl = load(
        "  - id: apps\n    name: A\n    match: '@both'\n    exclude: Bellamy\n"
        "    sources: {deny: [spam-*]}\n"
        "  - id: strict\n    name: S\n    match: '@muse OR WhatsApp'\n    min_score: 4\n"
        "  - id: mapping\n    name: M\n    match: {any: ['@apps'], all: ['@muse']}\n"
    )
    m = wl.matcher
    e = entry("Muse Spark reaches WhatsApp")
    assert [r.watch_id for r in m.match(e, "feed-1")] == ["apps", "strict", "mapping"]
    assert [r.watch_id for r in m.match(e, "spam-feed")] == ["strict", "mapping"]
    vetoed = entry("Muse Spark reaches WhatsApp", "Bellamy")
    assert [r.watch_id for r in m.match(vetoed, "feed-1")] == ["strict", "mapping"]
    # Summary-only hits score 1 per term: below strict's min_score of 4.
    weak = entry("News", "Muse Spark reaches WhatsApp")
    assert [r.watch_id for r in m.match(weak, "feed-1")] == ["apps", "mapping"]
    (r,) = [r for r in m.match(e, "feed-1") if r.watch_id == "strict"]
    assert r.score == 6 and "score 6" in r.explanation


# --- monitor check and monitor schema -------------------------------------------------------


def test_check_prints_caret_under_the_error_inside_the_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main

    path = tmp_path / "w.yaml"
    path.write_text(
        BASE.format(
            items="  - id: a\n    name: A\n    match: Muse AND tilte:x\n"
            "  - id: b\n    name: B\n    match: Muse NOT Muse\n"
        ),
        encoding="utf-8",
    )
    assert main(["check", "--config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(out) if "did you mean title:?" in line)
    assert out[i].startswith(f"{path}:9:21: watch.0.match: unknown field 'tilte:'")
    assert out[i + 1] == "    9 |     match: Muse AND tilte:x"
    assert out[i + 2] == "      |                     ^^^^^^"
    assert any("warning: watch item 'b' can never match" in line for line in out)


def test_schema_describes_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from monitor.cli import main

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    item = schema["$defs"]["WatchItem"]["properties"]
    for key in ("match", "exclude", "sources", "min_score", "alert_max_age", "known_facts"):
        assert key in item
    assert {"aliases", "stance_cues", "watch", "feeds", "settings"} <= set(schema["properties"])
    assert "thesis_date" in schema["$defs"]["Settings"]["properties"]
    assert schema["$defs"]["WatchItem"]["additionalProperties"] is False


# --- the multi-pattern prefilter never changes a result -------------------------------------

QUERY_PARTS = st.sampled_from(
    [
        "Muse",
        "Spark",
        "model*",
        '"Muse Spark"',
        "WhatsApp",
        "Meta",
        "-Bellamy",
        "glass*",
        "title:Muse",
        "NEAR/2(Muse, WhatsApp)",
        "/spar+k/",
        "link:example.com",
        "OR",
        "Ray-Ban",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(QUERY_PARTS, min_size=1, max_size=5).map(" ".join), max_size=6), TEXTS)
def test_prefilter_equals_trying_every_item(queries: list[str], words: list[str]) -> None:
    from monitor.match import Doc, evaluate

    items = []
    for i, q in enumerate(queries):
        try:
            items.append(CompiledItem(f"w{i}", parse_query(q)))
        except ConfigError:
            continue
    e = entry(" ".join(words), " ".join(reversed(words)), link="https://www.example.com/a")
    doc = Doc.from_entry(e, "feed")
    brute = [it.watch_id for it in items if evaluate(it.query, doc, [])]
    assert [r.watch_id for r in Matcher(tuple(items)).match(e, "feed")] == brute
