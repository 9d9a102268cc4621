"""Feed leases after a crash: who holds one, so a restarted daemon can take back a dead one's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import DeliveryRow, FeedRow

T = TypeVar("T")


class LeaseMixin:
    """Part of :class:`storage.store.Store`."""

    if TYPE_CHECKING:

        def _run(self, what: str, fn: Callable[[Session], T]) -> T: ...
        def release_leases(self, owner: str) -> None: ...

    def lease_owners(self) -> list[str]:
        """Every owner holding a feed lease or a delivery claim (expired or not)."""

        def fn(s: Session) -> list[str]:
            q = select(FeedRow.lease_owner).where(FeedRow.lease_owner.is_not(None)).distinct()
            d = select(DeliveryRow.claimed_by).where(DeliveryRow.claimed_by.is_not(None)).distinct()
            return sorted({o for o in [*s.scalars(q), *s.scalars(d)] if o})

        return self._run("reading feed leases", fn)
