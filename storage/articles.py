"""What ``fetch_full_text`` asks before fetching an article: has this entry been seen?"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import EntryRow, SightingRow

T = TypeVar("T")
_CHUNK = 500  # bound the number of bind parameters per IN (...)


def _sha256(text: str) -> str:  # the hashes storage.store keys sightings and entries by
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ArticleMixin:
    """Part of :class:`storage.store.Store`."""

    if TYPE_CHECKING:

        def _run(self, what: str, fn: Callable[[Session], T]) -> T: ...

    def seen_entries(self, feed_id: str, candidates: Sequence[tuple[str, str | None]]) -> set[str]:
        """The GUIDs among ``candidates`` ((guid, canonical link) pairs) that are not new:
        ``feed_id`` carried the GUID before, or an entry with that canonical link is
        stored (another feed brought the same article). Their articles are not fetched."""
        if not candidates:
            return set()
        by_guid = {_sha256(g): g for g, _ in candidates}
        by_link: dict[str, list[str]] = {}
        for g, link in candidates:
            if link:
                by_link.setdefault(_sha256(link), []).append(g)

        def fn(s: Session) -> set[str]:
            seen: set[str] = set()
            hashes = list(by_guid)
            for i in range(0, len(hashes), _CHUNK):
                chunk = hashes[i : i + _CHUNK]
                seen.update(
                    by_guid[h]
                    for h in s.scalars(
                        select(SightingRow.guid_hash).where(
                            SightingRow.feed_id == feed_id, SightingRow.guid_hash.in_(chunk)
                        )
                    )
                )
            links = list(by_link)
            for i in range(0, len(links), _CHUNK):
                chunk = links[i : i + _CHUNK]
                for h in s.scalars(select(EntryRow.link_hash).where(EntryRow.link_hash.in_(chunk))):
                    if h is not None:
                        seen.update(by_link[h])
            return seen

        return self._run(f"reading seen entries of feed {feed_id}", fn)
