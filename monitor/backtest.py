"""Backtest: run a watch item (or a draft query) over stored entries and compare.

Owns the comparison (would match / newly match / stop matching against what was
recorded) and precision/recall against analyst labels. Talks to storage through the
``BacktestPort`` protocol; the search index there is only a prefilter, so the results
equal what the live matcher gives on the same entries (tests/test_backtest.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitor.match import (
    And,
    CompiledItem,
    Matcher,
    Near,
    Node,
    Or,
    Term,
    required_tokens,
    tokenize,
)
from monitor.types import EntryData, MatchResult

INDEX_BATCH = 2000
MATCH_BATCH = 1000


class BacktestPort(Protocol):
    def index_watermark(self) -> int: ...
    def entries_after(self, after_id: int, limit: int) -> list[tuple[int, str, EntryData]]: ...
    def add_to_index(self, rows: Sequence[tuple[int, str]]) -> None: ...
    def candidate_ids(self, tokens: Iterable[str] | None, since: datetime | None) -> list[int]: ...
    def entries_by_id(self, ids: Sequence[int]) -> list[tuple[int, str, EntryData]]: ...
    def recorded_matches(self, watch_id: str, since: datetime | None) -> dict[int, int]: ...
    def labels(self, watch_id: str) -> dict[int, str]: ...


def index_text(entry: EntryData, feed_id: str) -> str:
    """What the search index holds for an entry: every token any unscoped or scoped term reads."""
    parts = [entry.title, entry.summary, *entry.categories, entry.source or "", feed_id]
    return " ".join(tok for p in parts for tok in tokenize(p))


# A prefilter over the index: a token, ("prefix", token), or ("and" | "or", (sub, ...)).
IndexQuery = str | tuple[str, Any]


def index_query(node: Node) -> IndexQuery | None:
    """What an entry's indexed tokens must satisfy to match ``node`` (None: nothing known).

    Finer than ``required_tokens`` (which keeps one OR-set): every word of a phrase, every
    branch of an AND, so the rule editor's preview loads few more entries than match.
    NOT, regexes and domains constrain nothing; an OR with such a branch neither.
    """
    if isinstance(node, Term):
        toks = node.tokens
        parts: list[IndexQuery] = list(toks[:-1] if node.prefix else toks)
        if node.prefix:
            parts.append(("prefix", toks[-1]))
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))
    if isinstance(node, Near):
        sides = []
        for terms in (node.left, node.right):
            subs = [index_query(t) for t in terms]
            if any(x is None for x in subs):
                continue
            sides.append(subs[0] if len(subs) == 1 else ("or", tuple(subs)))
        return None if not sides else sides[0] if len(sides) == 1 else ("and", tuple(sides))
    if isinstance(node, Or):
        subs = [index_query(c) for c in node.children]
        if any(x is None for x in subs):
            return None
        return subs[0] if len(subs) == 1 else ("or", tuple(subs))
    if isinstance(node, And):
        known = [x for x in (index_query(c) for c in node.children) if x is not None]
        return None if not known else known[0] if len(known) == 1 else ("and", tuple(known))
    return None


def update_index(store: BacktestPort, progress: Callable[[int], None] | None = None) -> int:
    """Index every entry not yet in the search index; the number indexed."""
    done = 0
    after = store.index_watermark()
    while True:
        batch = store.entries_after(after, INDEX_BATCH)
        if not batch:
            return done
        store.add_to_index([(i, index_text(e, f)) for i, f, e in batch])
        after = batch[-1][0]
        done += len(batch)
        if progress:
            progress(len(batch))


@dataclass
class Outcome:
    watch_id: str
    scanned: int = 0
    candidates: int = 0
    prefiltered: bool = True
    hits: dict[int, tuple[EntryData, MatchResult]] = field(default_factory=dict)
    recorded: dict[int, int] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)

    @property
    def events(self) -> set[int]:
        return {i for i, (_, r) in self.hits.items() if r.stance == "event"}

    @property
    def new(self) -> list[int]:
        return sorted(set(self.hits) - set(self.recorded))

    @property
    def dropped(self) -> list[int]:
        return sorted(set(self.recorded) - set(self.hits))

    def precision_recall(self) -> tuple[float | None, float | None]:
        """Of the labelled entries: precision and recall of the event matches."""
        relevant = {i for i, v in self.labels.items() if v == "relevant"}
        labelled_hits = self.events & set(self.labels)
        p = len(self.events & relevant) / len(labelled_hits) if labelled_hits else None
        r = len(self.events & relevant) / len(relevant) if relevant else None
        return p, r


def run_backtest(
    store: BacktestPort,
    item: CompiledItem,
    matcher: Matcher,
    since: datetime | None,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Match ``item`` over the stored entries (since ``since``), through the index prefilter."""
    need = required_tokens(item.query)
    ids = store.candidate_ids(need, since)
    out = Outcome(item.watch_id, candidates=len(ids), prefiltered=need is not None)
    one = Matcher((item,), matcher.stance, matcher.aliases)
    for k in range(0, len(ids), MATCH_BATCH):
        chunk = ids[k : k + MATCH_BATCH]
        for entry_id, feed_id, entry in store.entries_by_id(chunk):
            results = one.match(entry, feed_id)
            if results:
                out.hits[entry_id] = (entry, results[0])
        out.scanned += len(chunk)
        if progress:
            progress(out.scanned, len(ids))
    out.recorded = store.recorded_matches(item.watch_id, since)
    out.labels = store.labels(item.watch_id)
    return out
