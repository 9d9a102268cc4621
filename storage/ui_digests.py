"""What the digests page reads and writes: past deliveries paged (without their bodies),
digest schedules, and a copy of a delivered delivery queued to be sent again.

A mixin of ``Store`` (``storage/store.py``); it uses the Store's session runner and row
mapping, and never returns ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from monitor.errors import StorageError
from monitor.types import Delivery
from storage.models import (
    CatalystStateRow,
    CatalystTransitionRow,
    DeliveryRow,
    DigestRow,
    LabelRow,
    MatchRow,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """One page of deliveries, newest first, and how many there are in all."""

    deliveries: tuple[Delivery, ...]
    total: int
    offset: int
    limit: int


class DigestQueries:
    """Deliveries for the digests page (mixed into ``Store``)."""

    # Provided by Store.
    def _run(self, what: str, fn: Callable[[Session], T]) -> T:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _delivery(r: DeliveryRow, *, with_body: bool = True) -> Delivery:  # pragma: no cover
        raise NotImplementedError

    def delivery_page(
        self, *, offset: int = 0, limit: int = 25, digest_id: str | None = None
    ) -> DeliveryPage:
        """Deliveries of every kind (digests and alerts), newest first, without bodies."""

        def fn(s: Session) -> DeliveryPage:
            count = select(func.count()).select_from(DeliveryRow)
            q = (
                select(DeliveryRow)
                .options(defer(DeliveryRow.body))
                .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
            )
            if digest_id:
                count = count.where(DeliveryRow.digest_id == digest_id)
                q = q.where(DeliveryRow.digest_id == digest_id)
            total = int(s.scalar(count) or 0)
            rows = s.scalars(q.offset(offset).limit(limit)).all()
            return DeliveryPage(
                tuple(self._delivery(r, with_body=False) for r in rows), total, offset, limit
            )

        return self._run("listing deliveries", fn)

    def digest_fingerprint(self, digest_id: str) -> tuple[object, ...]:
        """What a digest preview is built from, in a few index lookups: the newest match,
        catalyst state update and transition, the digest's row and its deliveries, and the
        story mutes (count, newest, sum of ids: a mute adds rows, an unmute deletes them).
        Equal fingerprints (and the same watchlist) build the same digest but for its
        times."""

        def fn(s: Session) -> tuple[object, ...]:
            deliveries = s.execute(
                select(func.count(), func.max(DeliveryRow.created_at)).where(
                    DeliveryRow.digest_id == digest_id
                )
            ).one()
            mutes = s.execute(
                select(func.count(), func.max(LabelRow.created_at), func.sum(LabelRow.id)).where(
                    LabelRow.verdict == "mute"
                )
            ).one()
            return (
                s.scalar(select(func.max(MatchRow.id))),
                s.scalar(select(func.max(CatalystTransitionRow.id))),
                s.scalar(select(func.max(CatalystStateRow.updated_at))),
                s.scalar(select(DigestRow.created_at).where(DigestRow.id == digest_id)),
                *deliveries,
                *mutes,
            )

        return self._run(f"reading what digest {digest_id} is built from", fn)

    def queue_copy(self, delivery_id: str, new_id: str, body: str, now: datetime) -> Delivery:
        """Queue a new pending delivery (``new_id``, ``body``) that sends a delivered one
        again: same digest, kind, window and match count, due now. It carries no
        delivery_matches (its matches went out with the original) and, created now, it
        queues behind the digest's older pending deliveries like any new one."""

        def fn(s: Session) -> Delivery:
            old = s.get(DeliveryRow, delivery_id)
            if old is None:
                raise StorageError(f"no delivery {delivery_id!r} in the database")
            row = DeliveryRow(
                id=new_id,
                digest_id=old.digest_id,
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                match_count=old.match_count,
                window_since=old.window_since,
                window_until=old.window_until,
                body=body,
                parts_sent=0,
                kind=old.kind or "digest",
            )
            s.add(row)
            s.flush()
            return self._delivery(row)

        return self._run(f"queueing a copy of delivery {delivery_id}", fn)
