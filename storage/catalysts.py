"""Catalyst state use cases: the current state of each watch item, its transitions, the
text snapshots of matches, and the immediate-alert log.

A mixin of ``Store`` (``storage/store.py``); it uses the Store's session runner and never
returns ORM objects. The verdict itself is computed by the pure ``monitor.state``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.types import CatalystState, MatchSnapshot, Transition
from storage.models import CatalystStateRow, CatalystTransitionRow, MatchSnapshotRow

T = TypeVar("T")

_CHUNK = 500


class CatalystStore:
    """Catalyst states and transitions (mixed into ``Store``)."""

    # Provided by Store.
    def _run(
        self, what: str, fn: Callable[[Session], T], *, retries: int = 0
    ) -> T:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _state(r: CatalystStateRow) -> CatalystState:
        return CatalystState(
            watch_id=r.watch_id,
            state=r.state,
            since=r.since,
            reason=r.reason or "",
            evidence_match_ids=tuple(r.evidence or ()),
            updated_at=r.updated_at,
        )

    @staticmethod
    def _transition(r: CatalystTransitionRow) -> Transition:
        return Transition(
            id=r.id,
            watch_id=r.watch_id,
            from_state=r.from_state,
            to_state=r.to_state,
            at=r.at,
            reason=r.reason or "",
            evidence_match_ids=tuple(r.evidence or ()),
        )

    def catalyst_states(self) -> dict[str, CatalystState]:
        """The stored state of every watch item that has one (others are ``no_signal``)."""

        def fn(s: Session) -> dict[str, CatalystState]:
            q = select(CatalystStateRow).order_by(CatalystStateRow.watch_id)
            return {r.watch_id: self._state(r) for r in s.scalars(q)}

        return self._run("reading catalyst states", fn)

    def transitions(
        self,
        watch_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Transition]:
        """Recorded state changes, ordered by (at, id); ``since`` inclusive, ``until``
        exclusive, so consecutive windows never show one change twice."""

        def fn(s: Session) -> list[Transition]:
            q = select(CatalystTransitionRow).order_by(
                CatalystTransitionRow.at, CatalystTransitionRow.id
            )
            if watch_ids is not None:
                q = q.where(CatalystTransitionRow.watch_id.in_(list(watch_ids)))
            if since is not None:
                q = q.where(CatalystTransitionRow.at >= since)
            if until is not None:
                q = q.where(CatalystTransitionRow.at < until)
            return [self._transition(r) for r in s.scalars(q)]

        return self._run("reading catalyst transitions", fn)

    def record_state(self, state: CatalystState, now: datetime) -> Transition | None:
        """Store a watch item's verdict; compare and set in one transaction.

        Returns the transition when the state changed (a missing row counts as
        ``no_signal``), else None; a verdict in the same state only refreshes its
        evidence, reason and since.
        """

        def fn(s: Session) -> Transition | None:
            row = s.get(CatalystStateRow, state.watch_id, with_for_update=True)
            evidence = list(state.evidence_match_ids)
            before = row.state if row is not None else "no_signal"
            if row is None:
                s.add(
                    CatalystStateRow(
                        watch_id=state.watch_id,
                        state=state.state,
                        since=state.since,
                        reason=state.reason,
                        evidence=evidence,
                        updated_at=now,
                    )
                )
            else:
                row.state, row.since, row.reason = state.state, state.since, state.reason
                row.evidence, row.updated_at = evidence, now
            if before == state.state:
                return None
            t = CatalystTransitionRow(
                watch_id=state.watch_id,
                from_state=before,
                to_state=state.state,
                at=now,
                reason=state.reason,
                evidence=evidence,
            )
            s.add(t)
            s.flush()
            return self._transition(t)

        return self._run(f"recording the state of {state.watch_id}", fn, retries=3)

    def match_snapshots(self, match_ids: Sequence[int]) -> dict[int, MatchSnapshot]:
        """The stored text snapshots of these matches (those recorded since 0007)."""
        ids = list(match_ids)

        def fn(s: Session) -> dict[int, MatchSnapshot]:
            out: dict[int, MatchSnapshot] = {}
            for i in range(0, len(ids), _CHUNK):
                q = select(MatchSnapshotRow).where(
                    MatchSnapshotRow.match_id.in_(ids[i : i + _CHUNK])
                )
                for r in s.scalars(q):
                    out[r.match_id] = MatchSnapshot(
                        r.match_id, r.title, r.summary, r.text_sha256, r.fetched_at
                    )
            return out

        return self._run("reading match snapshots", fn)
