"""Building a digest: a pure function of the pending matches and the watch items.

Owns the generic JSON payload (``catalyst-monitor/digest@1``, documented in README.md) and
delivery ids. Does not own choosing the matches (``Store.run_digest``) or sending
(``deliver.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.types import Digest, Match

SCHEMA = "catalyst-monitor/digest@1"


@dataclass(frozen=True, slots=True)
class WatchInfo:
    """What a digest says about a watch item besides its matches."""

    id: str
    name: str
    why: str


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
) -> Digest | None:
    """The digest of ``matches`` grouped by watch item (in watchlist order), or None if empty.

    Matches of watch items that are not in ``watch_items`` are left out.
    """
    known = {w.id for w in watch_items}
    kept = [m for m in matches if m.watch_id in known]
    if not kept:
        return None
    groups: list[dict[str, Any]] = []
    for w in watch_items:
        mine = sorted(
            (m for m in kept if m.watch_id == w.id),
            key=lambda m: (m.published or m.first_seen, m.id),
        )
        if mine:
            groups.append(
                {
                    "id": w.id,
                    "name": w.name,
                    "why": w.why,
                    "matches": [_match_json(m) for m in mine],
                }
            )
    payload = {
        "schema": SCHEMA,
        "digest": digest_id,
        "delivery_id": delivery_id,
        "generated_at": iso(until),
        "window": {"since": iso(since), "until": iso(until)},
        "match_count": len(kept),
        "watch_items": groups,
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
