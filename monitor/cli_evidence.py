"""``monitor evidence WATCH_ID``: a catalyst's history for a research note, and the
catalysts table of ``monitor status``.

Everything comes from stored data: the recorded transitions, the recorded matches with
the text snapshot each was decided on (title, summary, sha256, fetch time), so the export
survives link rot and later rule edits. Stories are the matches clustered as the state
engine clusters them (``monitor.state.stories_of``).

A composition root like ``cli.py`` (it opens the Store).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.table import Table

from monitor.digest import iso
from monitor.errors import MonitorError
from monitor.state import EventStory, deadline, stories_of
from monitor.types import CatalystState, MatchSnapshot, Transition
from monitor.watchlist import LoadedWatchlist, config_path, load_watchlist
from storage.store import Store

CSV_COLUMNS = (
    "record",
    "watch_id",
    "at",
    "from_state",
    "to_state",
    "reason",
    "story",
    "story_title",
    "outlet",
    "stance",
    "title",
    "link",
    "first_seen",
    "published",
    "matched_terms",
    "match_id",
    "text_sha256",
    "fetched_at",
)


def _local(dt: datetime | None, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


def catalysts_table(store: Store, wl: LoadedWatchlist) -> Table:
    """State, since, deadline, stories and outlets, and reason of every watch item."""
    settings = wl.config.settings
    tz = ZoneInfo(settings.timezone)
    states = store.catalyst_states()
    matches = store.item_matches([w.id for w in wl.config.watch])
    t = Table(title=f"Catalysts (times in {tz.key}; `monitor evidence ID` for the trail)")
    for col in ("catalyst", "state", "since", "deadline", "stories / outlets", "reason"):
        t.add_column(col, overflow="fold")
    for w in wl.config.watch:
        st = states.get(w.id)
        stories = stories_of(matches.get(w.id, []), settings.primary_sources)
        outlets = {o for s in stories for o in s.story.outlets}
        due = "-"
        if w.expected_by is not None:
            due = w.expected_by.isoformat()
            if st is not None and st.state == "overdue":
                due += " (passed)"
        t.add_row(
            w.id + (" (high)" if w.priority == "high" else ""),
            st.state if st else "no_signal",
            _local(st.since, tz) if st else "-",
            due,
            f"{len(stories)} / {len(outlets)}",
            (st.reason if st else "not evaluated yet")[:200],
        )
    return t


def _md(text: str) -> str:
    """Feed text inside a Markdown table cell: no pipes, no newlines, no HTML."""
    return (
        " ".join(text.split())
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def render_markdown(
    watch_id: str,
    name: str,
    state: CatalystState | None,
    expected_by: str | None,
    transitions: Sequence[Transition],
    stories: Sequence[EventStory],
    snapshots: dict[int, MatchSnapshot],
    tz: ZoneInfo,
) -> str:
    out = [f"# Evidence: {_md(name)} (`{watch_id}`)", ""]
    if state:
        out.append(
            f"State **{state.state}** since {_local(state.since, tz)} ({tz.key}): "
            f"{_md(state.reason)}"
        )
    else:
        out.append("State **no_signal** (never evaluated).")
    if expected_by:
        out.append(f"Expected by {expected_by}.")
    out += ["", "## State history", ""]
    if transitions:
        out += ["| at | change | reason |", "|---|---|---|"]
        for t in transitions:
            out.append(f"| {_local(t.at, tz)} | {t.from_state} → {t.to_state} | {_md(t.reason)} |")
    else:
        out.append("No state changes recorded.")
    out += ["", f"## Stories ({len(stories)})", ""]
    for s in stories:
        out.append(f"### {_md(s.story.title)}")
        out.append(
            f"First seen {_local(s.story.first_seen, tz)} · {s.story.source_count} reports · "
            f"outlets: {', '.join(s.story.outlets)} · stances: {', '.join(s.stances)}"
        )
        out += [
            "",
            "| first seen | outlet | stance | title | link | sha256 |",
            "|---|---|---|---|---|---|",
        ]
        for m, outlet in zip(s.matches, s.outlets, strict=True):
            snap = snapshots.get(m.id)
            out.append(
                f"| {_local(m.first_seen, tz)} | {_md(outlet)} | {m.stance} | "
                f"{_md(snap.title if snap else m.title)} | {_md(m.link or '')} | "
                f"{snap.text_sha256[:16] if snap else '(none)'} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_csv(
    watch_id: str,
    transitions: Sequence[Transition],
    stories: Sequence[EventStory],
    snapshots: dict[int, MatchSnapshot],
) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for t in transitions:
        w.writerow(
            {
                "record": "transition",
                "watch_id": watch_id,
                "at": iso(t.at),
                "from_state": t.from_state,
                "to_state": t.to_state,
                "reason": t.reason,
            }
        )
    for s in stories:
        for m, outlet in zip(s.matches, s.outlets, strict=True):
            snap = snapshots.get(m.id)
            w.writerow(
                {
                    "record": "match",
                    "watch_id": watch_id,
                    "at": iso(m.created_at),
                    "story": s.key,
                    "story_title": s.story.title,
                    "outlet": outlet,
                    "stance": m.stance,
                    "title": snap.title if snap else m.title,
                    "link": m.link or "",
                    "first_seen": iso(m.first_seen),
                    "published": iso(m.published) or "",
                    "matched_terms": "; ".join(m.matched_terms),
                    "match_id": m.id,
                    "text_sha256": snap.text_sha256 if snap else "",
                    "fetched_at": iso(snap.fetched_at) if snap else "",
                }
            )
    return buf.getvalue()


def cmd_evidence(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    settings = wl.config.settings
    tz = ZoneInfo(settings.timezone)
    item = next((w for w in wl.config.watch if w.id == args.watch_id), None)
    store = Store.open(wl.database_url)
    try:
        matches = store.item_matches([args.watch_id])[args.watch_id]
        transitions = store.transitions([args.watch_id])
        state = store.catalyst_states().get(args.watch_id)
        if item is None and not matches and not transitions:
            known = ", ".join(w.id for w in wl.config.watch)
            raise MonitorError(
                f"no watch item {args.watch_id!r} in {wl.path} and nothing recorded for it "
                f"(watch items: {known})"
            )
        snapshots = store.match_snapshots([m.id for m in matches])
    finally:
        store.close()
    stories = stories_of(matches, settings.primary_sources)
    if args.format == "csv":
        sys.stdout.write(render_csv(args.watch_id, transitions, stories, snapshots))
        return 0
    expected = None
    if item is not None and item.expected_by is not None:
        expected = (
            f"{item.expected_by.isoformat()} (end of day {tz.key}, "
            f"{_local(deadline(item.expected_by, tz), tz)})"
        )
    name = item.name if item else f"{args.watch_id} (no longer in the watchlist)"
    sys.stdout.write(
        render_markdown(args.watch_id, name, state, expected, transitions, stories, snapshots, tz)
    )
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "evidence",
        parents=[common],
        help="export a catalyst's state history and stories (from stored snapshots)",
    )
    p.add_argument("watch_id", metavar="WATCH_ID")
    p.add_argument("--format", choices=["md", "csv"], default="md")
    p.set_defaults(fn=cmd_evidence)
