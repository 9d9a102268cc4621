"""Catalyst state: what a watch item's matches say about its catalyst. Pure.

A watch item's matches are clustered into stories (``monitor.stories.cluster``), so the
copies of one report on aggregators and syndication partners count once. Then:

- ``confirmed``: a story with an ``event`` match from a primary source (a host equal to
  or under one of ``settings.primary_sources``), or whose ``event`` matches come from at
  least ``settings.confirm_sources`` distinct outlets (publisher domains);
- ``reported``: otherwise, any story with an ``event`` match;
- ``expected``: otherwise, any ``plan`` match;
- ``no_signal``: none of these;
- ``denied`` / ``delayed``: the newest ``denial`` / ``delay`` match is newer than the
  newest ``event`` or ``plan`` evidence (the newer of the two wins); ``restatement``
  matches count for nothing;
- ``overdue``: ``expected_by`` has passed (the end of that day in ``settings.timezone``)
  and the state is neither ``confirmed`` nor ``denied``; the reason keeps the underlying
  state ("overdue; reported: ...").

"Newer" compares publication times (first seen when a feed gives none). ``since`` is when
the evidence that decided the state was first seen by us; for ``overdue``, the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from monitor.stories import Story, StoryItem, cluster, publisher_domain
from monitor.types import CatalystState, Match

DEFAULT_PRIMARY_SOURCES = (
    "about.fb.com",
    "about.meta.com",
    "investor.atmeta.com",
    "ai.meta.com",
    "sec.gov",
)
DEFAULT_CONFIRM_SOURCES = 2
POSITIVE = ("event", "plan")
NEGATIVE = ("denial", "delay")


@dataclass(frozen=True, slots=True)
class EventStory:
    """A story of a watch item's matches, as the state engine and alerts see it.

    ``key`` is stable while the story grows (the entry id of its earliest member).
    ``confirming`` are the distinct outlets of its ``event`` matches, in first-seen order;
    ``primary`` the primary-source hosts among them.
    """

    key: str
    story: Story
    matches: tuple[Match, ...]  # in the order of story.members
    outlets: tuple[str, ...]  # per member: its outlet, aggregator copies mapped
    confirming: tuple[str, ...]
    primary: tuple[str, ...]

    @property
    def stances(self) -> tuple[str, ...]:
        seen: list[str] = []
        for m in self.matches:
            if m.stance not in seen:
                seen.append(m.stance)
        return tuple(seen)

    @property
    def is_event(self) -> bool:
        return any(m.stance == "event" for m in self.matches)


def deadline(expected_by: date, tz: str | ZoneInfo) -> datetime:
    """The end of ``expected_by`` in ``tz`` (the first instant of the next day), in UTC."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    end = datetime.combine(expected_by + timedelta(days=1), time(0), tzinfo=zone)
    return end.astimezone(ZoneInfo("UTC"))


def host_matches(host: str, domains: Iterable[str]) -> str | None:
    """The first of ``domains`` that ``host`` is or is under (``ir.sec.gov`` under
    ``sec.gov``; ``notsec.gov`` is not), or None."""
    h = host.lower().rstrip(".")
    for d in domains:
        d = d.lower().strip().strip(".")
        if d and (h == d or h.endswith("." + d)):
            return d
    return None


def _primary(m: Match, domains: Sequence[str]) -> str | None:
    host = urlsplit(m.link).hostname if m.link else None
    if host:
        hit = host_matches(host, domains)
        if hit:
            return hit
    return None


def _item(m: Match) -> StoryItem:
    return StoryItem(m.id, m.title, m.snippet, m.link, m.source, m.first_seen)


def _when(m: Match) -> datetime:
    return m.published or m.first_seen


def evidence_matches(matches: Sequence[Match]) -> list[Match]:
    """The matches a verdict can rest on: restatements count for nothing, so they are not
    clustered either (a state update then clusters fewer entries)."""
    return [m for m in matches if m.stance != "restatement"]


def stories_of(
    matches: Sequence[Match], primary_sources: Sequence[str] = DEFAULT_PRIMARY_SOURCES
) -> list[EventStory]:
    """The matches of one watch item as stories, earliest first."""
    by_id = {m.id: m for m in matches}
    out = []
    for story in cluster([_item(m) for m in by_id.values()]):
        members = tuple(by_id[int(it.key)] for it in story.members)
        # An aggregator copy names its publisher ("reuters"): count it as "reuters.com"
        # when another member links there (as Story.outlets does).
        canon = {o.split(".")[0]: o for o in story.outlets if "." in o}
        outlets = tuple(
            (canon.get(d, d) if "." not in d else d)
            for d in (publisher_domain(it) for it in story.members)
        )
        confirming: list[str] = []
        primary: list[str] = []
        for m, outlet in zip(members, outlets, strict=True):
            if m.stance != "event":
                continue
            if outlet not in confirming:
                confirming.append(outlet)
            p = _primary(m, primary_sources)
            if p and p not in primary:
                primary.append(p)
        out.append(
            EventStory(
                key=f"e{members[0].entry_id}",
                story=story,
                matches=members,
                outlets=outlets,
                confirming=tuple(confirming),
                primary=tuple(primary),
            )
        )
    return out


def _confirmed_at(es: EventStory, need: int, primary_sources: Sequence[str]) -> datetime | None:
    """When ``es`` became confirmed (first seen of the deciding member), or None."""
    outlets: set[str] = set()
    for m, outlet in zip(es.matches, es.outlets, strict=True):
        if m.stance != "event":
            continue
        outlets.add(outlet)
        if _primary(m, primary_sources) or len(outlets) >= need:
            return m.first_seen
    return None


def _outlets(es: EventStory) -> str:
    return ", ".join(es.confirming) or "unknown outlet"


def catalyst_state(
    watch_id: str,
    matches: Sequence[Match],
    *,
    primary_sources: Sequence[str] = DEFAULT_PRIMARY_SOURCES,
    confirm_sources: int = DEFAULT_CONFIRM_SOURCES,
    expected_by: date | None = None,
    tz: str | ZoneInfo = "UTC",
    now: datetime,
    stories: Sequence[EventStory] | None = None,
) -> CatalystState:
    """The verdict for one watch item from all of its recorded matches (``stories``: their
    ``stories_of``, when the caller has it already)."""
    if stories is None:
        stories = stories_of(evidence_matches(matches), primary_sources)
    need = max(1, confirm_sources)
    state, since, reason = "no_signal", None, "no event or plan matches"
    evidence: tuple[int, ...] = ()
    events = [s for s in stories if s.is_event]
    confirmed = [
        (at, s) for s in events if (at := _confirmed_at(s, need, primary_sources)) is not None
    ]
    if confirmed:
        at, s = min(confirmed, key=lambda x: (x[0], x[1].key))
        state, since = "confirmed", at
        if s.primary:
            reason = f"primary source {', '.join(s.primary)}: {s.story.title}"
        else:
            reason = f"{len(s.confirming)} independent outlets ({_outlets(s)}): {s.story.title}"
        evidence = tuple(m.id for m in s.matches if m.stance == "event")
    elif events:
        s = max(events, key=lambda x: (len(x.confirming), x.story.first_seen))
        state = "reported"
        since = min(m.first_seen for e in events for m in e.matches if m.stance == "event")
        reason = (
            f"{len(s.confirming)} outlet{'s' if len(s.confirming) != 1 else ''} "
            f"({_outlets(s)}), {need} needed to confirm: {s.story.title}"
        )
        evidence = tuple(m.id for m in s.matches if m.stance == "event")
    else:
        plans = [m for m in matches if m.stance == "plan"]
        if plans:
            first = min(plans, key=lambda m: (m.first_seen, m.id))
            state, since = "expected", first.first_seen
            reason = f"plan reported ({len(plans)} match{'es' if len(plans) != 1 else ''}): {first.title}"
            evidence = tuple(sorted(m.id for m in plans))

    positive = [m for m in matches if m.stance in POSITIVE]
    newest_positive = max((_when(m) for m in positive), default=None)
    negative = [
        m
        for m in matches
        if m.stance in NEGATIVE and (newest_positive is None or _when(m) > newest_positive)
    ]
    if negative:
        m = max(negative, key=lambda x: (_when(x), x.id))
        state = "denied" if m.stance == "denial" else "delayed"
        since = m.first_seen
        reason = f"{m.stance} newer than the evidence: {m.title}"
        evidence = (m.id,)

    if expected_by is not None and state not in ("confirmed", "denied"):
        due = deadline(expected_by, tz)
        if now >= due:
            reason = f"overdue: not happened by {expected_by.isoformat()}; {state}: {reason}"
            state, since = "overdue", due
    return CatalystState(watch_id, state, since, reason, tuple(evidence))


def evaluate(
    items: Mapping[str, Sequence[Match]],
    *,
    primary_sources: Sequence[str] = DEFAULT_PRIMARY_SOURCES,
    confirm_sources: int = DEFAULT_CONFIRM_SOURCES,
    expected_by: Mapping[str, date | None] | None = None,
    tz: str | ZoneInfo = "UTC",
    now: datetime,
) -> dict[str, CatalystState]:
    """``catalyst_state`` of several watch items (``items`` maps watch id -> its matches)."""
    dates = expected_by or {}
    return {
        wid: catalyst_state(
            wid,
            ms,
            primary_sources=primary_sources,
            confirm_sources=confirm_sources,
            expected_by=dates.get(wid),
            tz=tz,
            now=now,
        )
        for wid, ms in items.items()
    }
