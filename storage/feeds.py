"""Store use cases for managing feeds by hand (``monitor feeds ...``): a mixin of ``Store``.

Owns: re-enabling a feed that answered 410 Gone (or resetting one that keeps failing) so
it is polled at once, with its error count cleared; recording many refreshes in one
transaction (a warm cycle of 1,000 unchanged feeds is 1,000 small state updates: one
transaction each cost more than the HTTP round trips).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.types import FeedUpdate, IngestResult
from storage.models import FeedRow


class FeedAdminMixin:
    _run: Callable[..., Any]
    _ingest_batch: Callable[[Session, Sequence[FeedUpdate]], list[IngestResult]]

    def ingest_many(self, updates: Sequence[FeedUpdate]) -> list[IngestResult]:
        """``ingest`` of each update, all in one transaction (all or nothing)."""

        def fn(s: Session) -> list[IngestResult]:
            return self._ingest_batch(s, updates)  # storage/store.py, storage/ingest.py

        return self._run(f"recording {len(updates)} feeds", fn, retries=3)

    def reenable_feed(self, feed_id: str, now: datetime) -> None:
        """Clear a feed's 410 Gone mark and errors; it is due at ``now``."""

        def fn(s: Session) -> None:
            row = s.get(FeedRow, feed_id)
            if row is None:
                raise StorageError(f"feed {feed_id!r} is not in the database")
            row.gone_at = None
            row.error_count, row.last_error = 0, None
            row.next_check_at = now
            row.lease_owner = row.lease_until = None

        self._run(f"re-enabling feed {feed_id}", fn)
