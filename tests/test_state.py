"""monitor/state.py: catalyst state transitions, table-driven, with a controllable clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.state import catalyst_state, deadline, host_matches, stories_of
from monitor.types import Match

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LAUNCH = "Meta opens Muse Spark API to all developers"
OTHER = "Meta signs nuclear power agreement for Ohio datacenter"


def m(
    i: int,
    stance: str,
    link: str,
    *,
    title: str = LAUNCH,
    hours: float = 0,
    source: str | None = None,
    published_hours: float | None = None,
) -> Match:
    at = T0 + timedelta(hours=hours)
    pub = T0 + timedelta(hours=published_hours) if published_hours is not None else None
    return Match(
        id=i,
        entry_id=100 + i,
        watch_id="w",
        title=title,
        link=link,
        guid=link,
        feed_id="f",
        source=source,
        published=pub,
        first_seen=at,
        matched_terms=("Muse",),
        snippet="",
        revision="r",
        alert=True,
        created_at=at,
        stance=stance,
    )


RT = "https://www.reuters.com/tech/muse-api"
FT = "https://www.ft.com/content/muse-api"
GN = "https://news.google.com/rss/articles/CBMiabc"
FB = "https://about.fb.com/news/2026/11/muse-spark-api/"
VERGE = "https://www.theverge.com/muse"

CASES = [
    # (name, matches, kwargs, state, since_hours, reason fragment)
    ("nothing", [], {}, "no_signal", None, "no event or plan"),
    ("restatement only", [m(1, "restatement", RT)], {}, "no_signal", None, "no event"),
    ("a plan", [m(1, "plan", RT, title="Meta plans Muse API")], {}, "expected", 0, "plan"),
    ("one outlet", [m(1, "event", RT)], {}, "reported", 0, "1 outlet (reuters.com)"),
    (
        "a syndicated copy counts once",
        [
            m(1, "event", RT),
            m(2, "event", GN, source="Reuters", title=f"{LAUNCH} - Reuters", hours=1),
        ],
        {},
        "reported",
        0,
        "1 outlet (reuters.com)",
    ),
    (
        "two outlets confirm",
        [m(1, "event", RT), m(2, "event", FT, hours=2)],
        {},
        "confirmed",
        2,
        "2 independent outlets (reuters.com, ft.com)",
    ),
    (
        "confirm_sources 3",
        [m(1, "event", RT), m(2, "event", FT, hours=2)],
        {"confirm_sources": 3},
        "reported",
        0,
        "3 needed",
    ),
    (
        "three outlets with confirm_sources 3",
        [m(1, "event", RT), m(2, "event", FT, hours=2), m(3, "event", VERGE, hours=3)],
        {"confirm_sources": 3},
        "confirmed",
        3,
        "3 independent outlets",
    ),
    (
        "a primary source",
        [m(1, "event", FB, hours=1)],
        {},
        "confirmed",
        1,
        "primary source about.fb.com",
    ),
    (
        "a look-alike host is not primary",
        [m(1, "event", "https://notsec.gov/x")],
        {"primary_sources": ["sec.gov"]},
        "reported",
        0,
        "1 outlet",
    ),
    (
        "a plan from a second outlet does not confirm",
        [m(1, "event", RT), m(2, "plan", FT, hours=1)],
        {},
        "reported",
        0,
        "1 outlet",
    ),
    (
        "two stories of one outlet each",
        [m(1, "event", RT), m(2, "event", FT, title=OTHER, hours=1)],
        {},
        "reported",
        0,
        "1 outlet",
    ),
    (
        "a newer denial",
        [m(1, "event", RT), m(2, "denial", VERGE, title="Meta denies Muse API report", hours=3)],
        {},
        "denied",
        3,
        "denial newer than the evidence",
    ),
    (
        "an older denial",
        [m(1, "denial", VERGE, title="Meta denies Muse API report"), m(2, "event", RT, hours=3)],
        {},
        "reported",
        3,
        "1 outlet",
    ),
    (
        "a newer delay after a denial",
        [
            m(1, "event", RT),
            m(2, "denial", VERGE, title="Meta denies Muse API report", hours=2),
            m(3, "delay", FT, title="Muse API pushed to 2027", hours=4),
        ],
        {},
        "delayed",
        4,
        "delay newer",
    ),
    (
        "publication time decides newer, not first seen",
        [
            m(1, "event", RT, hours=5, published_hours=4),
            m(2, "delay", FT, title="Muse API pushed to 2027", hours=6, published_hours=1),
        ],
        {},
        "reported",
        5,
        "1 outlet",
    ),
    (
        "a delay alone",
        [m(1, "delay", FT, title="Muse API pushed to 2027")],
        {},
        "delayed",
        0,
        "delay",
    ),
]


@pytest.mark.parametrize(
    ("name", "matches", "kw", "state", "since_hours", "reason"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_state_table(name, matches, kw, state, since_hours, reason) -> None:
    got = catalyst_state("w", matches, now=T0 + timedelta(days=1), **kw)
    assert got.state == state, got.reason
    expect_since = None if since_hours is None else T0 + timedelta(hours=since_hours)
    assert got.since == expect_since
    assert reason in got.reason
    assert got.watch_id == "w"


def test_evidence_is_the_deciding_story() -> None:
    ms = [m(1, "event", RT), m(2, "event", FT, hours=2), m(3, "event", VERGE, title=OTHER)]
    assert catalyst_state("w", ms, now=T0).evidence_match_ids == (1, 2)
    ms = [m(1, "event", RT), m(2, "denial", VERGE, title="Meta denies Muse API report", hours=3)]
    assert catalyst_state("w", ms, now=T0).evidence_match_ids == (2,)


def test_order_of_matches_does_not_matter() -> None:
    ms = [
        m(1, "event", RT),
        m(2, "event", GN, source="Reuters", title=f"{LAUNCH} - Reuters", hours=1),
        m(3, "event", FT, hours=2),
        m(4, "plan", VERGE, title="Meta plans Muse API", hours=3),
    ]
    a = catalyst_state("w", ms, now=T0)
    b = catalyst_state("w", list(reversed(ms)), now=T0)
    assert a == b and a.state == "confirmed"


# --- deadlines, with a controllable clock ----------------------------------------------------

NY = "America/New_York"
DUE = date(2026, 12, 31)
END_NY = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)  # midnight in New York (EST, UTC-5)

DEADLINE_CASES = [
    # (matches, now, tz, state, reason fragment)
    ([], END_NY - timedelta(seconds=1), NY, "no_signal", "no event"),
    ([], END_NY, NY, "overdue", "not happened by 2026-12-31; no_signal"),
    ([m(1, "plan", RT, title="Meta plans Muse API")], END_NY, NY, "overdue", "; expected"),
    ([m(1, "event", RT)], END_NY, NY, "overdue", "; reported: 1 outlet"),
    ([m(1, "delay", FT, title="Muse API pushed")], END_NY, NY, "overdue", "; delayed"),
    ([m(1, "event", RT), m(2, "event", FT)], END_NY, NY, "confirmed", "2 independent"),
    (
        [m(1, "event", RT), m(2, "denial", FT, title="Meta denies Muse API report", hours=1)],
        END_NY,
        NY,
        "denied",
        "denial",
    ),
    # The same instant is already past the end of the day in UTC.
    ([], datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "UTC", "overdue", "2026-12-31"),
    ([], datetime(2027, 1, 1, 0, 0, tzinfo=UTC), NY, "no_signal", "no event"),
]


@pytest.mark.parametrize(("matches", "now", "tz", "state", "reason"), DEADLINE_CASES)
def test_deadline_table(matches, now, tz, state, reason) -> None:
    got = catalyst_state("w", matches, expected_by=DUE, tz=tz, now=now)
    assert got.state == state, got.reason
    assert reason in got.reason
    if state == "overdue":
        assert got.since == deadline(DUE, tz)


def test_deadline_is_the_end_of_the_day_in_the_zone() -> None:
    assert deadline(DUE, NY) == END_NY
    assert deadline(date(2026, 7, 1), NY) == datetime(2026, 7, 2, 4, 0, tzinfo=UTC)  # EDT
    assert deadline(DUE, "UTC") == datetime(2027, 1, 1, tzinfo=UTC)


def test_host_suffix_match() -> None:
    assert host_matches("www.sec.gov", ["sec.gov"]) == "sec.gov"
    assert host_matches("SEC.GOV.", ["sec.gov"]) == "sec.gov"
    assert host_matches("notsec.gov", ["sec.gov"]) is None
    assert host_matches("about.fb.com", ["investor.atmeta.com", "about.fb.com"]) == "about.fb.com"
    assert host_matches("fb.com", ["about.fb.com"]) is None


def test_story_keys_are_stable_as_a_story_grows() -> None:
    one = stories_of([m(1, "event", RT)])
    two = stories_of([m(1, "event", RT), m(2, "event", FT, hours=1)])
    assert [s.key for s in one] == [s.key for s in two] == ["e101"]
    assert two[0].confirming == ("reuters.com", "ft.com")
    assert two[0].stances == ("event",)
