"""Building a digest: a pure function of the pending matches and the watch items.

Owns the generic JSON payload (``catalyst-monitor/digest@1``, documented in README.md) and
delivery ids. Does not own choosing the matches (``Store.run_digest``) or sending
(``deliver.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from monitor.stories import Story, StoryItem, cluster
from monitor.types import CatalystState, Digest, Match, Transition

SCHEMA = "catalyst-monitor/digest@1"
NO_STATE: Mapping[str, CatalystState] = {}


@dataclass(frozen=True, slots=True)
class WatchInfo:
    """What a digest says about a watch item besides its matches."""

    id: str
    name: str
    why: str
    priority: str = "normal"  # "normal" | "high"
    expected_by: date | None = None


def new_delivery_id() -> str:
    """A fresh delivery id; it is the ``webhook-id`` on every attempt of that delivery."""
    return f"msg_{uuid.uuid4().hex}"


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, or None."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_digest(
    digest_id: str,
    watch_items: Sequence[WatchInfo],
    matches: Sequence[Match],
    *,
    since: datetime,
    until: datetime,
    delivery_id: str,
    states: Mapping[str, CatalystState] = NO_STATE,
    transitions: Sequence[Transition] = (),
    top_k: int | None = None,
    send_empty: bool = False,
    quiet_match_ids: Collection[int] = (),
    muted: Sequence[Match] = (),
) -> Digest | None:
    """The digest of ``matches`` grouped by watch item, or None when there is nothing to say.

    A watch item is listed when it has matches or when its catalyst state changed within
    the window (``since`` <= transition time < ``until``, as ``Store.transitions``: one
    change is never in two consecutive windows; a state change is news even
    without a new match, e.g. ``overdue``). Items are ordered: state changed first, then
    priority high, then corroboration (the most outlets of any of its stories), then
    watchlist order. Each item carries its stories (``stories.cluster`` over its matches,
    most outlets first, at most ``top_k`` of them with ``more_stories`` counting the rest)
    and its catalyst state from ``states`` (``no_signal`` when it has none). ``matches[]``
    is unchanged from the first version of digest@1 and always holds every match.

    A change whose evidence is only matches recorded but not to be sent
    (``quiet_match_ids``: older than ``alert_max_age``, e.g. a feed's backlog on its first
    poll) is history catching up, not news: it lists an item only alongside new matches.

    Matches of watch items that are not in ``watch_items`` are left out, and so is every
    match of a muted story (``muted_story_matches``: ``muted`` are the matches the analyst
    muted on the stories page); a muted story's matches are neither listed nor counted,
    and they stay pending, so they are sent once the story is unmuted. With
    ``send_empty`` an empty digest is a heartbeat (``match_count`` 0, no watch items)
    instead of None.
    """
    known = {w.id for w in watch_items}
    silenced = muted_story_matches(matches, muted)
    kept = [m for m in matches if m.watch_id in known and m.id not in silenced]
    changes: dict[str, list[Transition]] = {}
    for t in sorted(transitions, key=lambda t: (t.at, t.id)):
        if t.watch_id in known and since <= t.at < until:
            changes.setdefault(t.watch_id, []).append(t)
    ranked: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []
    for index, w in enumerate(watch_items):
        mine = sorted(
            (m for m in kept if m.watch_id == w.id),
            key=lambda m: (m.published or m.first_seen, m.id),
        )
        changed = changes.get(w.id, [])
        if not mine and all(_backlog(t, quiet_match_ids) for t in changed):
            continue
        stories = _stories(mine)
        shown = stories if top_k is None else stories[: max(0, top_k)]
        state = states.get(w.id)
        group = {
            "id": w.id,
            "name": w.name,
            "why": w.why,
            "priority": w.priority,
            "state": state.state if state else "no_signal",
            "state_since": iso(state.since) if state else None,
            "state_reason": state.reason if state else "",
            "state_changed": _change_json(changed),
            "expected_by": w.expected_by.isoformat() if w.expected_by else None,
            "matches": [_match_json(m) for m in mine],
            "stories": [_story_json(s, mine) for s in shown],
            "more_stories": len(stories) - len(shown),
        }
        corroboration = max((len(s.outlets) for s in stories), default=0)
        key = (0 if changed else 1, 0 if w.priority == "high" else 1, -corroboration, index)
        ranked.append((key, group))
    if not ranked and not send_empty:
        return None
    ranked.sort(key=lambda kg: kg[0])
    payload = {
        "schema": SCHEMA,
        "digest": digest_id,
        "delivery_id": delivery_id,
        "generated_at": iso(until),
        "window": {"since": iso(since), "until": iso(until)},
        "match_count": len(kept),
        "watch_items": [g for _, g in ranked],
    }
    return Digest(
        digest_id=digest_id,
        delivery_id=delivery_id,
        generated_at=until,
        since=since,
        until=until,
        match_ids=tuple(m.id for m in kept),
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
    )


def muted_story_matches(pending: Sequence[Match], muted: Sequence[Match]) -> set[int]:
    """Ids of the ``pending`` matches that belong to a muted story.

    A story is muted when any of its matches is muted (the stories page writes a ``mute``
    label on the entries of the story it mutes, and hides a story with any muted entry).
    A story grows after it was muted, so a new match is placed by clustering, per watch
    item, the pending matches together with the muted ones (``stories.cluster``, the
    clustering of the stories page): a pending match is muted when its story there holds
    a muted match. Pending matches of a muted story stay pending (they are not delivered),
    so a copy that joins the story only through an earlier, unsent copy is still caught.
    """
    if not muted:
        return set()
    silenced_ids = {m.id for m in muted}
    silenced = {m.id for m in pending if m.id in silenced_ids}
    by_item: dict[str, list[Match]] = {}
    for m in muted:
        by_item.setdefault(m.watch_id, []).append(m)
    for watch_id, muted_here in by_item.items():
        mine = [m for m in pending if m.watch_id == watch_id and m.id not in silenced_ids]
        if not mine:
            continue
        group = mine + muted_here
        for story in _stories(group):
            members = [group[int(it.key)] for it in story.members]
            if any(m.id in silenced_ids for m in members):
                silenced.update(m.id for m in members if m.id not in silenced_ids)
    return silenced


def _backlog(t: Transition, quiet: Collection[int]) -> bool:
    """A change that rests only on matches not to be sent. A passed deadline is news
    whatever evidence it keeps ("overdue; reported")."""
    if t.to_state == "overdue" or not t.evidence_match_ids:
        return False
    return all(i in quiet for i in t.evidence_match_ids)


def _change_json(changed: Sequence[Transition]) -> dict[str, Any] | None:
    """The window's state change of one item: from the first transition's ``from`` to the
    last one's ``to`` (with the last one's time and reason)."""
    if not changed:
        return None
    return {
        "from": changed[0].from_state,
        "to": changed[-1].to_state,
        "at": iso(changed[-1].at),
        "reason": changed[-1].reason,
    }


def _stories(matches: Sequence[Match]) -> list[Story]:
    """The item's matches as stories (keys are indexes into ``matches``), the most
    corroborated first (most outlets, then most reports, then earliest)."""
    items = [
        StoryItem(
            key=i,
            title=m.title or "",
            summary=m.snippet or "",
            link=m.link,
            source=m.source,
            first_seen=m.first_seen,
        )
        for i, m in enumerate(matches)
    ]
    stories = cluster(items)
    stories.sort(key=lambda s: (-len(s.outlets), -s.source_count, s.first_seen))
    return stories


def _story_json(story: Story, matches: Sequence[Match]) -> dict[str, Any]:
    indexes = sorted(int(m.key) for m in story.members)
    terms: list[str] = []
    stances: list[str] = []
    for member in story.members:
        m = matches[int(member.key)]
        terms += [t for t in m.matched_terms if t not in terms]
        if m.stance not in stances:
            stances.append(m.stance)
    return {
        "title": story.title,
        "link": story.lead.link,
        "outlets": list(story.outlets),
        "source_count": story.source_count,
        "first_seen": iso(story.first_seen),
        "matched_terms": terms,
        "stances": stances,
        "match_indexes": indexes,
    }


def _match_json(m: Match) -> dict[str, Any]:
    return {
        "title": m.title,
        "link": m.link,
        "source": m.source,
        "published": iso(m.published),
        "first_seen": iso(m.first_seen),
        "matched_terms": list(m.matched_terms),
        "snippet": m.snippet,
        "stance": m.stance,
        "explanation": m.explanation,
    }


def render_text(body: str) -> str:
    """A digest body as plain text, for ``monitor digest --preview`` and logs."""
    d = json.loads(body)
    lines = [
        f"Digest {d['digest']}: {d['match_count']} match(es), {d['window']['since']} .. {d['window']['until']}"
    ]
    for w in d["watch_items"]:
        lines.append("")
        lines.append(f"## {w['name']} ({w['id']})")
        if w["why"]:
            lines.append(f"   {w['why']}")
        if "state" in w:
            state = f"   state: {w['state']}"
            if w.get("state_since"):
                state += f" since {w['state_since']}"
            if w.get("state_reason"):
                state += f" ({w['state_reason']})"
            if w.get("expected_by"):
                state += f"; expected by {w['expected_by']}"
            lines.append(state)
        if change := w.get("state_changed"):
            lines.append(f"   changed: {change['from']} -> {change['to']} ({change['reason']})")
        if w.get("more_stories"):
            lines.append(
                f"   ({len(w['stories'])} stories shown in chat formats, {w['more_stories']} more)"
            )
        for m in w["matches"]:
            lines.append(
                f" - {m['title']}  [{m['source'] or '?'}; {m['published'] or m['first_seen']}]"
            )
            if m["link"]:
                lines.append(f"   {m['link']}")
            lines.append(f"   terms: {', '.join(m['matched_terms'])}")
            if m.get("explanation"):
                lines.append(f"   why: {m['explanation']}")
    return "\n".join(lines)
