"""What a digest run reads besides its pending matches: where its window starts, and which
of a state change's evidence matches were recorded too old to be sent.

A mixin of ``Store`` (``storage/store.py``); it uses the Store's session runner and never
returns ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import DeliveryRow, DigestRow, MatchRow

T = TypeVar("T")


class DigestStore:
    """Digest-window reads (mixed into ``Store``)."""

    # Provided by Store.
    def _run(self, what: str, fn: Callable[[Session], T]) -> T:  # pragma: no cover
        raise NotImplementedError

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
