"""Store use case for the common refresh that brings nothing new: a mixin of ``Store``.

Owns: ``record_states``, writing many entry-less, error-free refreshes (a 304, or a 200
whose body hash was unchanged) as executemany UPDATEs of the ``feeds`` table. A warm
cycle of 1,000 feeds is 1,000 such refreshes; through the ORM (``ingest_many``: load each
row, set attributes, flush) they cost ~1 CPU-second, here a few tens of milliseconds.
The columns written are exactly those ``Store._ingest_in`` writes for such an update;
``tests/test_store_states.py`` compares the two row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.types import FeedUpdate, IngestResult
from storage.models import FeedRow

_T = cast(Table, FeedRow.__table__)
_C = _T.c


def _param(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


# Both statements: what _ingest_in writes for a plain update. The URL follows a permanent
# redirect (coalesce keeps the stored one when there was none).
_COMMON: dict[str, Any] = {
    "last_checked_at": _param("p_checked", _C.last_checked_at),
    "next_check_at": _param("p_next", _C.next_check_at),
    "last_status": _param("p_status", _C.last_status),
    "lease_owner": None,
    "lease_until": None,
    "url": func.coalesce(_param("p_url", _C.url), _C.url),
    "error_count": 0,
    "last_error": None,
    "last_success_at": _param("p_checked2", _C.last_success_at),
}
_WHERE = _C.id == bindparam("p_id", type_=_C.id.type)
# 304: the validators we hold stay (the fetcher already kept ours when the server sent none).
_NOT_MODIFIED = update(_T).where(_WHERE).values(**_COMMON)
# Any other status (a 200 with the same bytes as last time): validators are replaced.
_SAME_BODY = (
    update(_T)
    .where(_WHERE)
    .values(
        **_COMMON,
        etag=_param("p_etag", _C.etag),
        last_modified=_param("p_lm", _C.last_modified),
        content_hash=func.coalesce(_param("p_hash", _C.content_hash), _C.content_hash),
    )
)


class StateMixin:
    _run: Callable[..., Any]

    def record_states(self, updates: Sequence[FeedUpdate]) -> list[IngestResult]:
        """Record plain refreshes (``FeedUpdate.plain``) in one transaction: all or nothing.
        Raises StorageError when one of the feeds is not in the database."""
        bad = [u.feed_id for u in updates if not u.plain]
        if bad:
            raise ValueError(f"not a plain state update: {bad[:5]}")

        def fn(s: Session) -> list[IngestResult]:
            # In order, so that two refreshes of one feed in a batch end as the later one.
            groups: list[tuple[bool, list[dict[str, Any]]]] = []
            for u in updates:
                same_body = u.status != 304
                row: dict[str, Any] = {
                    "p_id": u.feed_id,
                    "p_checked": u.checked_at,
                    "p_checked2": u.checked_at,
                    "p_next": u.next_check_at,
                    "p_status": u.status,
                    "p_url": u.url or None,
                }
                if same_body:
                    row.update(p_etag=u.etag, p_lm=u.last_modified, p_hash=u.content_hash)
                if groups and groups[-1][0] == same_body:
                    groups[-1][1].append(row)
                else:
                    groups.append((same_body, [row]))
            changed = 0
            for same_body, rows in groups:
                changed += s.execute(_SAME_BODY if same_body else _NOT_MODIFIED, rows).rowcount  # type: ignore[attr-defined]
            # Each statement matches one row by primary key, so the driver's total tells
            # whether every feed exists (no SELECT per batch); a driver without a reliable
            # executemany count, or a shortfall, is checked by reading the ids.
            if changed != len(updates) or not s.get_bind().dialect.supports_sane_multi_rowcount:
                self._check_known(s, updates)
            return [IngestResult(u.feed_id) for u in updates]

        return self._run(f"recording {len(updates)} feeds", fn, retries=3)

    @staticmethod
    def _check_known(s: Session, updates: Sequence[FeedUpdate]) -> None:
        ids = list(dict.fromkeys(u.feed_id for u in updates))
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            found.update(s.scalars(select(_C.id).where(_C.id.in_(ids[i : i + 500]))))
        missing = [i for i in ids if i not in found]
        if missing:  # raised inside the transaction: nothing of the batch is written
            raise StorageError(f"feed {missing[0]!r} is not in the database")
