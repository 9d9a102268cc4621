"""Store queries of the web pages' search and rule editor (a mixin of ``Store``).

Full-text search and the rule editor's preview both read the backtest's search index
(``storage/backtest.py``: each entry's folded tokens, SQLite FTS5 or a PostgreSQL
``tsvector`` with a GIN index), so a word means the same to the search box, the
backtest and the live matcher. The index is filled incrementally by
``monitor.backtest.update_index``; ``unindexed`` says how far behind it is.

Queries arrive as folded tokens (the caller tokenizes with ``monitor.match``): a search
is every word (a trailing ``*`` a prefix); a preview prefilter is a tree of AND/OR over
tokens (``monitor.backtest.index_query``) that every entry a rule matches satisfies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from storage.models import EntryRow

# A prefilter: a token, ("prefix", token), ("phrase", (tokens, last is a prefix)), or
# ("and" | "or", (sub, ...)).
IndexQuery = str | tuple[str, Any]
MAX_WORDS = 16
COUNT_CAP = 10_000  # a search counts its results up to this ("more than 10,000")


@dataclass(frozen=True, slots=True)
class SearchHit:
    entry_id: int
    feed_id: str
    title: str
    summary: str
    link: str | None
    source: str | None
    published: datetime | None
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int  # COUNT_CAP + 1 means "more than COUNT_CAP"
    hits: tuple[SearchHit, ...]


class SearchQueries:
    """Full-text search over every stored entry, and the editor's index prefilter."""

    url: str
    _run: Callable[..., Any]

    def _is_pg(self) -> bool:
        return self.url.startswith("postgresql")

    def unindexed(self) -> int:
        """How many entries the search index has not seen yet (by id, as it fills)."""

        def fn(s: Session) -> int:
            top = s.scalar(select(func.coalesce(func.max(EntryRow.id), 0))) or 0
            sql = (
                "SELECT coalesce(max(entry_id), 0) FROM search_index"
                if self._is_pg()
                else "SELECT coalesce(max(rowid), 0) FROM search_index"
            )
            done = s.execute(text(sql)).scalar() or 0
            if top <= done:
                return 0
            return int(s.scalar(select(func.count()).where(EntryRow.id > done)) or 0)

        return int(self._run("reading the search index", fn))

    def _match_expr(self, q: IndexQuery) -> str:
        pg = self._is_pg()
        if isinstance(q, str):
            return f"'{q}'" if pg else f'"{q}"'
        op, arg = q
        if op == "prefix":
            return f"'{arg}':*" if pg else f'"{arg}"*'
        if op == "phrase":
            toks, prefix = arg
            if pg:  # every word: a tsvector keeps at most 256 positions of a word, so
                # a phrase (<->) could miss an occurrence; the matcher decides anyway
                parts = [f"'{t}'" for t in toks[:-1]] + [f"'{toks[-1]}'" + (":*" if prefix else "")]
                return "(" + " & ".join(parts) + ")"
            # FTS5: the words in this order, next to each other (the index holds each
            # field's tokens in order, so an entry with the phrase in a field has it here)
            return '"' + " ".join(toks) + '"' + ("*" if prefix else "")
        parts = [self._match_expr(x) for x in arg]
        if len(parts) == 1:
            return parts[0]
        sep = {"and": " & ", "or": " | "}[op] if pg else {"and": " AND ", "or": " OR "}[op]
        return "(" + sep.join(parts) + ")"

    def _from_where(self) -> str:
        if self._is_pg():
            return (
                "FROM search_index si JOIN entries e ON e.id = si.entry_id "
                "WHERE si.tsv @@ to_tsquery('simple', :q)"
            )
        return (
            "FROM search_index JOIN entries e ON e.id = search_index.rowid "
            "WHERE search_index MATCH :q"
        )

    def search_entries(
        self, words: Sequence[tuple[str, bool]], limit: int, offset: int = 0
    ) -> SearchPage:
        """Entries containing every word (``(token, is_prefix)``), newest first, one page."""
        words = [(t, p) for t, p in words if t][:MAX_WORDS]
        if not words:
            return SearchPage(0, ())
        q = self._match_expr(("and", tuple(("prefix", t) if p else t for t, p in words)))
        base = self._from_where()
        # The index's own id order (FTS5 walks rowids backwards; no sort of every hit).
        order = "si.entry_id" if self._is_pg() else "search_index.rowid"
        cols = "e.id, e.feed_id, e.title, e.summary, e.link, e.source, e.published, e.first_seen"

        def fn(s: Session) -> SearchPage:
            total = s.execute(
                text(
                    f"SELECT count(*) FROM (SELECT 1 {base} AND e.pruned_at IS NULL LIMIT :cap) c"
                ),
                {"q": q, "cap": COUNT_CAP + 1},
            ).scalar()
            rows = s.execute(
                text(
                    f"SELECT {cols} {base} AND e.pruned_at IS NULL "
                    f"ORDER BY {order} DESC LIMIT :n OFFSET :o"
                ),
                {"q": q, "n": limit, "o": offset},
            )
            hits = tuple(
                SearchHit(int(r[0]), r[1], r[2] or "", r[3] or "", r[4], r[5], _dt(r[6]), _dt(r[7]))
                for r in rows
            )
            return SearchPage(int(total or 0), hits)

        return self._run("searching entries", fn)

    def candidate_ids_for(self, q: IndexQuery | None) -> list[int]:
        """Ids of entries that satisfy the prefilter ``q`` (None: every entry), ascending."""

        def fn(s: Session) -> list[int]:
            if q is None:
                return list(s.scalars(select(EntryRow.id).order_by(EntryRow.id)))
            sql = f"SELECT e.id {self._from_where()}"
            return sorted(
                int(x) for x in s.execute(text(sql), {"q": self._match_expr(q)}).scalars()
            )

        return self._run("searching entries", fn)


def _dt(value: Any) -> Any:
    """A raw-SQL timestamp as the ORM gives it (UTC-aware); SQLite returns text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
