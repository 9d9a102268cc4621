"""Outbox use cases for operators: list deliveries, find one, requeue a failed one, and
remember how many messages of a multi-message delivery went out.

A mixin of ``Store`` (``storage/store.py``); it uses the Store's session runner and row
mapping, and never returns ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.types import Delivery
from storage.models import DeliveryRow

T = TypeVar("T")

STATUSES = ("pending", "delivered", "failed", "disabled")


class DeliveryStore:
    """Delivery listing and manual retry (mixed into ``Store``)."""

    # Provided by Store.
    def _run(self, what: str, fn: Callable[[Session], T]) -> T:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _delivery(r: DeliveryRow, *, with_body: bool = True) -> Delivery:  # pragma: no cover
        raise NotImplementedError

    def deliveries(
        self, *, digest_id: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """Deliveries, newest first."""

        def fn(s: Session) -> list[Delivery]:
            q = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
            if digest_id:
                q = q.where(DeliveryRow.digest_id == digest_id)
            if status:
                q = q.where(DeliveryRow.status == status)
            return [self._delivery(r) for r in s.scalars(q.limit(limit))]

        return self._run("listing deliveries", fn)

    def delivery(self, delivery_id: str) -> Delivery | None:
        def fn(s: Session) -> Delivery | None:
            row = s.get(DeliveryRow, delivery_id)
            return self._delivery(row) if row else None

        return self._run(f"reading delivery {delivery_id}", fn)

    def requeue_delivery(self, delivery_id: str, now: datetime) -> Delivery:
        """Make a failed (or held) delivery pending again, due now. Its id, body and
        attempt history stay; a delivered one is refused (it would reach the receiver
        twice). A pending one that a process is posting right now (its claim held) is left
        as it is: that attempt is under way, and taking it again would post it twice."""

        def fn(s: Session) -> Delivery:
            row = s.get(DeliveryRow, delivery_id)
            if row is None:
                raise StorageError(f"no delivery {delivery_id!r} in the database")
            if row.status == "delivered":
                raise StorageError(
                    f"delivery {delivery_id} was delivered at {row.delivered_at}: not resent"
                )
            in_flight = (
                row.status == "pending"
                and row.claimed_by is not None
                and row.next_attempt_at is not None
                and row.next_attempt_at > now
            )
            row.status = "pending"
            if not in_flight:
                row.next_attempt_at = now
            return self._delivery(row)

        return self._run(f"requeueing delivery {delivery_id}", fn)

    def record_parts_sent(self, delivery_id: str, parts_sent: int) -> None:
        """Remember that the first ``parts_sent`` messages of a delivery were accepted."""

        def fn(s: Session) -> None:
            s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(parts_sent=parts_sent)
                .execution_options(synchronize_session=False)
            )

        self._run(f"recording progress of delivery {delivery_id}", fn)
