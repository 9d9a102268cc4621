"""Catalyst state use cases: the current state of each watch item, its transitions, the
text snapshots of matches, and the immediate-alert log.

A mixin of ``Store`` (``storage/store.py``); it uses the Store's session runner and never
returns ORM objects. The verdict itself is computed by the pure ``monitor.state``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.types import AlertDraft, CatalystState, Match, MatchSnapshot, Transition
from storage.models import (
    AlertLogRow,
    CatalystStateRow,
    CatalystTransitionRow,
    DeliveryRow,
    EntryRow,
    LabelRow,
    MatchRow,
    MatchSnapshotRow,
)

T = TypeVar("T")

_CHUNK = 500
# Match's fields as labelled columns (storage.store.Store._to_match reads the same from
# ORM rows).
_MATCH_COLUMNS = (
    MatchRow.id.label("id"),
    EntryRow.id.label("entry_id"),
    MatchRow.watch_id.label("watch_id"),
    EntryRow.title.label("title"),
    EntryRow.link.label("link"),
    EntryRow.guid.label("guid"),
    EntryRow.feed_id.label("feed_id"),
    EntryRow.source.label("source"),
    EntryRow.published.label("published"),
    EntryRow.first_seen.label("first_seen"),
    MatchRow.matched_terms.label("matched_terms"),
    MatchRow.snippet.label("snippet"),
    MatchRow.revision.label("revision"),
    MatchRow.alert.label("alert"),
    MatchRow.created_at.label("created_at"),
    MatchRow.stance.label("stance"),
    MatchRow.score.label("score"),
    MatchRow.explanation.label("explanation"),
)


class CatalystStore:
    """Catalyst states and transitions (mixed into ``Store``)."""

    # Provided by Store.
    def _run(
        self, what: str, fn: Callable[[Session], T], *, retries: int = 0
    ) -> T:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _match_query() -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _to_match(m: MatchRow, e: EntryRow) -> Match:  # pragma: no cover
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

    def watch_ids_of_matches(self, match_ids: Sequence[int]) -> list[str]:
        """The distinct watch items of these matches, sorted."""
        ids = list(match_ids)

        def fn(s: Session) -> list[str]:
            out: set[str] = set()
            for i in range(0, len(ids), _CHUNK):
                q = select(MatchRow.watch_id).where(MatchRow.id.in_(ids[i : i + _CHUNK]))
                out.update(s.scalars(q.distinct()))
            return sorted(out)

        return self._run("reading the watch items of new matches", fn)

    def item_matches(self, watch_ids: Sequence[str]) -> dict[str, list[Match]]:
        """Every recorded match of these watch items (the state engine's input), oldest
        first; items without matches map to []."""
        wanted = list(watch_ids)

        def fn(s: Session) -> dict[str, list[Match]]:
            out: dict[str, list[Match]] = {w: [] for w in wanted}
            # The Match fields as columns, not ORM rows: no entry summaries, no identity
            # map (a cold cycle reads all of an item's matches in every update).
            q = (
                select(*_MATCH_COLUMNS)
                .join(EntryRow, EntryRow.id == MatchRow.entry_id)
                .where(MatchRow.watch_id.in_(wanted))
                .order_by(MatchRow.created_at, MatchRow.id)
            )
            for row in s.execute(q):
                fields = row._asdict()
                fields["matched_terms"] = tuple(fields["matched_terms"])
                out[row.watch_id].append(Match(**fields))
            return out

        return self._run("reading the matches of watch items", fn)

    def queue_alerts(self, drafts: Sequence[AlertDraft], now: datetime) -> list[str]:
        """Put immediate alerts into the outbox (deliveries kind='alert'), in one
        transaction; per draft its outcome:

        - ``duplicate``: its alert-log key was queued before (nothing written);
        - ``capped``: the digest already has ``max_per_hour`` alerts created in the last
          hour (nothing written: the item stays in the scheduled digest);
        - ``muted``: an event alert about a story the analyst muted (nothing written or
          logged, so it alerts once unmuted);
        - ``queued``: logged and written, due at ``not_before``.

        An alert carries no delivery_matches rows, so it never takes a match out of the
        next scheduled digest.
        """

        def fn(s: Session) -> list[str]:
            def logged(d: AlertDraft, key: str) -> bool:
                """Was this alert (digest, item, story key, sources, state) queued before?"""
                return (
                    s.scalar(
                        select(AlertLogRow.id).where(
                            AlertLogRow.digest_id == d.digest_id,
                            AlertLogRow.watch_id == d.watch_id,
                            AlertLogRow.story_key == key,
                            AlertLogRow.confirming_sources == d.confirming_sources,
                            AlertLogRow.state == d.state,
                        )
                    )
                    is not None
                )

            def log(d: AlertDraft, key: str) -> None:
                s.add(
                    AlertLogRow(
                        digest_id=d.digest_id,
                        watch_id=d.watch_id,
                        story_key=key,
                        confirming_sources=d.confirming_sources,
                        state=d.state,
                        delivery_id=d.delivery_id,
                        sent_at=now,
                    )
                )

            def muted(d: AlertDraft) -> bool:
                """Is the story of this event alert muted (one of its entries)?"""
                for i in range(0, len(d.story_entries), _CHUNK):
                    q = select(LabelRow.id).where(
                        LabelRow.watch_id == d.watch_id,
                        LabelRow.verdict == "mute",
                        LabelRow.entry_id.in_(d.story_entries[i : i + _CHUNK]),
                    )
                    if s.scalar(q.limit(1)) is not None:
                        return True
                return False

            out = []
            hour_ago = now - timedelta(hours=1)
            counts: dict[str, int] = {}
            for d in drafts:
                if muted(d):
                    out.append("muted")
                    continue
                if logged(d, d.story_key):
                    out.append("duplicate")
                    continue
                if d.max_per_hour is not None:
                    if d.digest_id not in counts:
                        counts[d.digest_id] = (
                            s.scalar(
                                select(func.count())
                                .select_from(DeliveryRow)
                                .where(
                                    DeliveryRow.digest_id == d.digest_id,
                                    DeliveryRow.kind == "alert",
                                    DeliveryRow.created_at > hour_ago,
                                )
                            )
                            or 0
                        )
                    if counts[d.digest_id] >= d.max_per_hour:
                        out.append("capped")
                        continue
                counts[d.digest_id] = counts.get(d.digest_id, 0) + 1
                log(d, d.story_key)
                s.add(
                    DeliveryRow(
                        id=d.delivery_id,
                        digest_id=d.digest_id,
                        kind="alert",
                        created_at=now,
                        status=d.status,
                        attempts=0,
                        next_attempt_at=d.not_before if d.status == "pending" else None,
                        match_count=d.match_count,
                        window_since=now,
                        window_until=now,
                        body=d.body,
                    )
                )
                if d.story_ref is not None and d.story_ref != d.story_key:
                    s.flush()
                    if not logged(d, d.story_ref):
                        log(d, d.story_ref)
                s.flush()
                out.append("queued")
            return out

        return self._run("queueing immediate alerts", fn, retries=3)
