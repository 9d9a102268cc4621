"""The catalyst stage: after a refresh records new matches (and when a deadline passes),
recompute the affected watch items' states, record them, and queue immediate alerts.

Runs in a worker thread (``asyncio.to_thread``): it reads the store, calls the pure
``monitor.state`` and ``monitor.alerts``, and writes through the store. Owns choosing
which items to re-evaluate and which digests take an item's alerts; does not own the
verdict (``state.py``), the alert bodies (``alerts.py``) or sending them (the outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitor import logs
from monitor.alerts import AlertItem, AlertTarget, plan_alerts
from monitor.digest import new_delivery_id
from monitor.state import catalyst_state, deadline, evidence_matches, stories_of
from monitor.types import AlertDraft, CatalystState, Match, Transition
from monitor.watchlist import LoadedWatchlist

SETTLED = ("confirmed", "denied", "overdue")  # states a passed deadline does not change


class CatalystPort(Protocol):
    """What this stage needs from storage (``storage.Store`` implements it)."""

    def watch_ids_of_matches(self, match_ids: Sequence[int]) -> list[str]: ...
    def item_matches(self, watch_ids: Sequence[str]) -> dict[str, list[Match]]: ...
    def catalyst_states(self) -> dict[str, CatalystState]: ...
    def record_state(self, state: CatalystState, now: datetime) -> Transition | None: ...
    def queue_alerts(self, drafts: Sequence[AlertDraft], now: datetime) -> list[str]: ...


@dataclass
class CatalystReport:
    """What one update did: the states computed, the transitions and alert outcomes."""

    states: dict[str, CatalystState] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)  # queued / duplicate / capped

    def add(self, other: CatalystReport) -> None:
        """Fold in the report of another update (of other items)."""
        self.states.update(other.states)
        self.transitions += other.transitions
        for outcome, n in other.alerts.items():
            self.alerts[outcome] = self.alerts.get(outcome, 0) + n


def alert_targets(wl: LoadedWatchlist, watch_id: str) -> list[AlertTarget]:
    """The digests that take ``watch_id``'s immediate alerts."""
    return [
        AlertTarget(
            d.id,
            d.quiet_hours,
            d.max_alerts_per_hour,
            enabled=bool(d.webhook.url.strip()),
        )
        for d in wl.config.digests
        if d.immediate and watch_id in wl.watch_ids_for(d)
    ]


def passed_deadlines(
    wl: LoadedWatchlist, states: Mapping[str, CatalystState], now: datetime
) -> list[str]:
    """Watch items whose ``expected_by`` has passed and whose stored state is not yet
    settled (confirmed, denied or overdue): they must be re-evaluated."""
    tz = wl.config.settings.timezone
    out = []
    for w in wl.config.watch:
        if w.expected_by is None or deadline(w.expected_by, tz) > now:
            continue
        st = states.get(w.id)
        if st is None or st.state not in SETTLED:
            out.append(w.id)
    return out


def update_catalysts(
    store: CatalystPort,
    wl: LoadedWatchlist,
    watch_ids: Collection[str],
    now: datetime,
    *,
    new_match_ids: Collection[int] = (),
    new_id: Callable[[], str] = new_delivery_id,
) -> CatalystReport:
    """Re-evaluate ``watch_ids`` from all their matches, record the states, queue alerts."""
    settings = wl.config.settings
    items = [w for w in wl.config.watch if w.id in set(watch_ids)]
    report = CatalystReport()
    if not items:
        return report
    matches = store.item_matches([w.id for w in items])
    drafts: list[AlertDraft] = []
    for w in items:
        ms = matches.get(w.id, [])
        stories = stories_of(evidence_matches(ms), settings.primary_sources)
        st = catalyst_state(
            w.id,
            ms,
            primary_sources=settings.primary_sources,
            confirm_sources=settings.confirm_sources,
            expected_by=w.expected_by,
            tz=settings.timezone,
            now=now,
            stories=stories,
        )
        report.states[w.id] = st
        t = store.record_state(st, now)
        if t is not None:
            report.transitions.append(t)
            logs.event(
                logging.INFO,
                "catalyst",
                watch=w.id,
                change=f"{t.from_state} -> {t.to_state}",
                reason=t.reason,
            )
        item = AlertItem(w.id, w.name, w.why, w.priority, w.expected_by)
        drafts += plan_alerts(
            item,
            st,
            t,
            stories,
            new_match_ids,
            alert_targets(wl, w.id),
            now=now,
            tz=settings.timezone,
            new_id=new_id,
        )
    if drafts:
        outcomes = store.queue_alerts(drafts, now)
        for d, outcome in zip(drafts, outcomes, strict=True):
            report.alerts[outcome] = report.alerts.get(outcome, 0) + 1
            logs.event(
                logging.WARNING if outcome == "capped" else logging.INFO,
                "alert",
                digest=d.digest_id,
                watch=d.watch_id,
                delivery=d.delivery_id if outcome == "queued" else None,
                state=d.state,
                outcome=outcome,
                not_before=(
                    d.not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
                    if outcome == "queued" and d.not_before > now
                    else None
                ),
            )
    return report


def after_ingest(
    store: CatalystPort,
    wl: LoadedWatchlist,
    new_match_ids: Sequence[int],
    now: datetime,
    *,
    new_id: Callable[[], str] = new_delivery_id,
) -> CatalystReport:
    """The items that got new matches, re-evaluated (the refresh hook)."""
    ids = store.watch_ids_of_matches(new_match_ids)
    return update_catalysts(store, wl, ids, now, new_match_ids=new_match_ids, new_id=new_id)


def check_deadlines(
    store: CatalystPort,
    wl: LoadedWatchlist,
    now: datetime,
    *,
    also: Collection[str] = (),
    new_id: Callable[[], str] = new_delivery_id,
) -> CatalystReport:
    """Items whose deadline passed (and ``also``: items whose last update failed),
    re-evaluated: this produces the ``overdue`` transition and its alert."""
    ids = set(passed_deadlines(wl, store.catalyst_states(), now)) | set(also)
    return update_catalysts(store, wl, ids, now, new_id=new_id)
