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

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.types import FeedUpdate, IngestResult
from storage.models import FeedRow


class FeedAdminMixin:
    _run: Callable[..., Any]
    _ingest_in: Callable[[Session, FeedUpdate], IngestResult]

    def ingest_many(self, updates: Sequence[FeedUpdate]) -> list[IngestResult]:
        """``ingest`` of each update, all in one transaction (all or nothing)."""

        def fn(s: Session) -> list[IngestResult]:
            # Load the feed rows with one SELECT per 500 (kept referenced: the session's
            # identity map is weak), so each ``_ingest_in`` finds its row without a query,
            # and the state changes of entry-less refreshes reach the database as one
            # executemany UPDATE at commit instead of a flush per feed.
            ids = list(dict.fromkeys(u.feed_id for u in updates))
            rows = [
                row
                for i in range(0, len(ids), 500)
                for row in s.scalars(select(FeedRow).where(FeedRow.id.in_(ids[i : i + 500])))
            ]
            results = [self._ingest_in(s, u) for u in updates]
            del rows
            return results

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
