"""Immediate alerts: which alerts a catalyst update calls for, and their ``alert@1`` bodies.
Pure.

An alert goes to every digest whose watch list includes the item, unless the digest says
``immediate: false``:

- every state change (``kind: "state"``), with the story behind the new state if any;
- on ``priority: high`` items, each other story that got a new ``event`` match
  (``kind: "event"``).

Each alert carries its alert-log key: a state change its transition (every change alerts,
also back to a state seen before), an event (digest, watch item, story key, confirming
sources, state). The store queues it only if that key is new, so a story alerts again only
when it gains a confirming source or the catalyst changes state; a state-change alert logs
its story's key too. Quiet hours set ``not_before``;
the hourly cap is applied by the store, which knows what was queued, and so is a story
mute (an event alert carries its story's entries; the store, which holds the labels,
drops it while the story is muted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.digest import _match_json, iso
from monitor.state import EventStory
from monitor.types import AlertDraft, CatalystState, Transition
from monitor.watchlist import parse_quiet_hours

SCHEMA = "catalyst-monitor/alert@1"
MAX_MATCHES = 20  # matches[] of one alert: a story's first members


@dataclass(frozen=True, slots=True)
class AlertItem:
    """What an alert says about its watch item."""

    id: str
    name: str
    why: str = ""
    priority: str = "normal"
    expected_by: date | None = None


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """A digest that takes immediate alerts for the item."""

    digest_id: str
    quiet_hours: str | None = None
    max_per_hour: int | None = None
    enabled: bool = True  # False: no webhook URL (recorded as 'disabled')


def quiet_until(now: datetime, quiet_hours: str | None, tz: str | ZoneInfo) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (UTC), or None outside them."""
    if not quiet_hours:
        return None
    start, end = parse_quiet_hours(quiet_hours)
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        day = local.date()
    else:  # crosses midnight: 22:00-07:00
        inside = t >= start or t < end
        day = local.date() + timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _story_json(s: EventStory) -> dict[str, Any]:
    terms: list[str] = []
    for m in s.matches:
        for t in m.matched_terms:
            if t not in terms:
                terms.append(t)
    return {
        "title": s.story.title,
        "link": s.story.lead.link,
        "outlets": list(s.story.outlets),
        "source_count": s.story.source_count,
        "first_seen": iso(s.story.first_seen),
        "matched_terms": terms,
        "stances": list(s.stances),
    }


def build_alert(
    digest_id: str,
    delivery_id: str,
    *,
    kind: str,
    item: AlertItem,
    state: CatalystState,
    transition: Transition | None,
    story: EventStory | None,
    now: datetime,
) -> str:
    """The ``catalyst-monitor/alert@1`` JSON body (compact, UTF-8 text)."""
    body = {
        "schema": SCHEMA,
        "digest": digest_id,
        "delivery_id": delivery_id,
        "generated_at": iso(now),
        "kind": kind,
        "watch_item": {
            "id": item.id,
            "name": item.name,
            "why": item.why,
            "priority": item.priority,
            "state": state.state,
            "state_since": iso(state.since),
            "expected_by": item.expected_by.isoformat() if item.expected_by else None,
        },
        "state_changed": (
            {
                "from": transition.from_state,
                "to": transition.to_state,
                "at": iso(transition.at),
                "reason": transition.reason,
            }
            if transition
            else None
        ),
        "story": _story_json(story) if story else None,
        "matches": [_match_json(m) for m in (story.matches[:MAX_MATCHES] if story else ())],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def plan_alerts(
    item: AlertItem,
    state: CatalystState,
    transition: Transition | None,
    stories: Sequence[EventStory],
    new_match_ids: Collection[int],
    targets: Sequence[AlertTarget],
    *,
    now: datetime,
    tz: str | ZoneInfo,
    new_id: Callable[[], str],
) -> list[AlertDraft]:
    """The alerts one catalyst update calls for, one draft per (alert, digest)."""
    if not targets:
        return []
    new = set(new_match_ids)
    wanted: list[tuple[str, EventStory | None]] = []  # (kind, story)
    told: EventStory | None = None
    if transition is not None:
        evidence = set(transition.evidence_match_ids)
        told = next((s for s in stories if evidence & {m.id for m in s.matches}), None)
        backing = [m for s in stories for m in s.matches if m.id in evidence]
        # A change resting only on a feed's old backlog (matches older than alert_max_age,
        # recorded but never sent) is not news: no alert, as the digest does not list it
        # on its own. Overdue is always news.
        if transition.to_state == "overdue" or not backing or any(m.alert for m in backing):
            wanted.append(("state", told))
        else:
            told = None
    if item.priority == "high":
        for s in stories:
            if s is not told and any(
                m.id in new and m.stance == "event" and m.alert for m in s.matches
            ):
                wanted.append(("event", s))
    drafts = []
    for kind, story in wanted:
        state_change = transition if kind == "state" else None
        key = f"t{state_change.id}" if state_change else story.key if story else "-"
        confirming = len(story.confirming) if story else 0
        for t in targets:
            delivery_id = new_id()
            drafts.append(
                AlertDraft(
                    digest_id=t.digest_id,
                    watch_id=item.id,
                    story_key=key,
                    confirming_sources=confirming,
                    state=state.state,
                    delivery_id=delivery_id,
                    body=build_alert(
                        t.digest_id,
                        delivery_id,
                        kind=kind,
                        item=item,
                        state=state,
                        transition=state_change,
                        story=story,
                        now=now,
                    ),
                    not_before=quiet_until(now, t.quiet_hours, tz) or now,
                    match_count=len(story.matches) if story else 0,
                    max_per_hour=t.max_per_hour,
                    status="pending" if t.enabled else "disabled",
                    story_ref=story.key if state_change and story else None,
                    story_entries=(
                        tuple(sorted({m.entry_id for m in story.matches}))
                        if kind == "event" and story
                        else ()
                    ),
                )
            )
    return drafts
