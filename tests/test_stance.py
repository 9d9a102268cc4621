"""Table tests of stance: event, plan, denial, delay, restatement, in five languages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from monitor.match import CompiledItem, Matcher
from monitor.query import parse_query
from monitor.stance import Stance
from monitor.types import EntryData

STANCE = Stance.build({"event": ["goes GA"]}, thesis_date=date(2026, 4, 8))
ITEM = CompiledItem(
    "api",
    parse_query('"Muse Spark" OR Muse'),
    known_facts=parse_query('"private preview" OR "262k"'),
)
MATCHER = Matcher((ITEM,), STANCE)


def stance_of(title: str, summary: str = "", published: datetime | None = None) -> str:
    e = EntryData(guid="g", link=None, title=title, summary=summary, published=published)
    (r,) = MATCHER.match(e)
    assert f"stance {r.stance}" in r.explanation
    return r.stance


CASES = [
    # English
    ("Meta rolls out Muse Spark on WhatsApp in India", "", "event"),
    ("Muse Spark now available to all developers", "", "event"),
    ("Meta plans to bring Muse Spark to WhatsApp", "", "plan"),
    ("Muse Spark is expected to reach Instagram later this year", "", "plan"),
    ("Meta reportedly preparing a larger Muse model", "", "plan"),
    ("Meta denies plans to open-source Muse Spark", "", "denial"),
    ("Meta has no plans to release Muse weights", "", "denial"),
    ("Meta delays Muse Spark rollout in Europe", "", "delay"),
    ("Muse Spark launch on Instagram pushed back to July", "", "delay"),
    ("Muse Spark: what it means for Meta", "", "restatement"),
    ("Muse Spark stays in private preview", "", "restatement"),  # a known fact only
    ("Muse Spark goes GA", "", "event"),  # an extra cue from the watchlist
    # German
    ("Meta startet Muse Spark in WhatsApp", "", "event"),
    ("Meta plant Muse Spark für Instagram", "", "plan"),
    ("Meta dementiert Open-Source-Pläne für Muse", "", "denial"),
    ("Muse Spark in Europa verschoben", "", "delay"),
    # French
    ("Meta déploie Muse Spark sur WhatsApp", "", "event"),
    ("Meta prévoit d'intégrer Muse Spark à Instagram", "", "plan"),
    ("Meta dément vouloir ouvrir Muse", "", "denial"),
    ("Le lancement de Muse Spark en Europe est reporté", "", "delay"),
    # Spanish
    ("Meta lanza Muse Spark en WhatsApp", "", "event"),
    ("Meta planea llevar Muse Spark a Instagram", "", "plan"),
    ("Meta niega que vaya a liberar Muse", "", "denial"),
    ("Meta retrasa Muse Spark en Europa", "", "delay"),
    # Portuguese
    ("Meta lança Muse Spark no WhatsApp", "", "event"),
    ("Meta planeja levar Muse Spark ao Instagram", "", "plan"),
    ("Meta nega planos de abrir o Muse", "", "denial"),
    ("Meta adia Muse Spark na Europa", "", "delay"),
]


@pytest.mark.parametrize(("title", "summary", "expected"), CASES)
def test_stance(title: str, summary: str, expected: str) -> None:
    assert stance_of(title, summary) == expected


def test_entries_dated_before_the_thesis_are_restatements() -> None:
    old = datetime(2026, 3, 1, tzinfo=UTC)
    assert stance_of("Meta launches Muse Spark", published=old) == "restatement"
    new = datetime(2026, 5, 1, tzinfo=UTC)
    assert stance_of("Meta launches Muse Spark", published=new) == "event"


def test_a_cue_far_from_the_hit_in_the_summary_does_not_count() -> None:
    filler = " ".join(["word"] * 20)
    assert stance_of("News", f"Muse Spark {filler} the band denies everything") == "event"
    assert stance_of("News", "Meta denies that Muse Spark will ship") == "denial"


def test_a_new_event_beside_a_known_fact_is_an_event() -> None:
    title = "Muse Spark leaves private preview"
    summary = "Muse Spark rolled out to every developer today."
    assert stance_of(title, summary) == "event"
