"""What a digest run reads besides its pending matches: where its window starts, which
of a state change's evidence matches were recorded too old to be sent, and the matches of
the stories an analyst muted (``monitor.digest.muted_story_matches`` decides what they
silence).

A mixin of ``Store`` (``storage/store.py``); it uses the Store's session runner and never
returns ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.types import Match
from storage.models import DeliveryRow, DigestRow, EntryRow, LabelRow, MatchRow

T = TypeVar("T")
MUTE = "mute"  # the label verdict of a muted story (storage/ui_board.py writes it)


class DigestStore:
    """Digest-window reads (mixed into ``Store``)."""

    # Provided by Store.
    def _run(self, what: str, fn: Callable[[Session], T]) -> T:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _to_match(m: MatchRow, e: EntryRow) -> Match:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _match_query() -> Any:  # pragma: no cover
        raise NotImplementedError

    def muted_matches(self, watch_ids: Sequence[str]) -> list[Match]:
        """The matches of ``watch_ids`` whose entry carries a ``mute`` label for that item
        (a story muted on the stories page, ``BoardQueries.mute_entries``), oldest first."""
        ids = list(watch_ids)
        if not ids:
            return []

        def fn(s: Session) -> list[Match]:
            q = (
                self._match_query()
                .join(
                    LabelRow,
                    (LabelRow.entry_id == MatchRow.entry_id)
                    & (LabelRow.watch_id == MatchRow.watch_id),
                )
                .where(MatchRow.watch_id.in_(ids), LabelRow.verdict == MUTE)
                .order_by(MatchRow.created_at, MatchRow.id)
            )
            return [self._to_match(m, e) for m, e in s.execute(q)]

        return self._run("reading muted stories", fn)

    def digest_window_start(self, digest_id: str) -> datetime | None:
        """Where the next run of ``digest_id`` starts its window: the end of its last
        digest (alerts never move it), or when the digest was configured; None if unknown."""

        def fn(s: Session) -> datetime | None:
            last = s.scalar(
                select(func.max(DeliveryRow.window_until)).where(
                    DeliveryRow.digest_id == digest_id, DeliveryRow.kind == "digest"
                )
            )
            if last is not None:
                return last
            return s.scalar(select(DigestRow.created_at).where(DigestRow.id == digest_id))

        return self._run(f"reading the window of digest {digest_id}", fn)

    def quiet_matches(self, match_ids: Sequence[int]) -> set[int]:
        """Those of ``match_ids`` recorded but not to be sent (older than alert_max_age)."""
        ids = sorted(set(match_ids))
        if not ids:
            return set()

        def fn(s: Session) -> set[int]:
            out: set[int] = set()
            for i in range(0, len(ids), 500):
                q = select(MatchRow.id).where(
                    MatchRow.id.in_(ids[i : i + 500]), MatchRow.alert.is_(False)
                )
                out.update(s.scalars(q))
            return out

        return self._run("reading matches not to be sent", fn)
