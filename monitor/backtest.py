"""Backtest: run a watch item (or a draft query) over stored entries and compare.

Owns the comparison (would match / newly match / stop matching against what was
recorded) and precision/recall against analyst labels. Talks to storage through the
``BacktestPort`` protocol; the search index there is only a prefilter, so the results
equal what the live matcher gives on the same entries (tests/test_backtest.py checks it).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from monitor.match import (
    And,
    CompiledItem,
    Doc,
    Hit,
    Matcher,
    Near,
    Node,
    Not,
    Or,
    Term,
    evaluate,
    item_accepts,
    required_tokens,
    tokenize,
)
from monitor.types import EntryData, MatchResult

INDEX_BATCH = 2000
MATCH_BATCH = 1000


class BacktestPort(Protocol):
    def index_watermark(self) -> int: ...
    def entries_after(self, after_id: int, limit: int) -> list[tuple[int, str, EntryData]]: ...
    def add_to_index(self, rows: Sequence[tuple[int, str, str]]) -> None: ...
    def candidate_ids(self, tokens: Iterable[str] | None, since: datetime | None) -> list[int]: ...
    def entries_by_id(self, ids: Sequence[int]) -> list[tuple[int, str, EntryData]]: ...
    def preview_entries(
        self, ids: Sequence[int]
    ) -> list[tuple[int, str, EntryData, str | None]]: ...
    def recorded_matches(self, watch_id: str, since: datetime | None) -> dict[int, int]: ...
    def labels(self, watch_id: str) -> dict[int, str]: ...


def entry_fields(entry: EntryData, feed_id: str | None) -> dict[str, list[str]]:
    """The entry's folded tokens per field, exactly as ``Doc.from_entry`` computes them."""
    return {k: tokenize(v) for k, v in Doc.raw_fields(entry, feed_id).items()}


# ``entry_fields`` as one string (``entry_tokens.fields``): "name\x1etok tok\x1fname\x1e...".
# Tokens are runs of word characters: never a space or a control character.
_FIELD, _NAME = "\x1f", "\x1e"


def encode_fields(fields: Mapping[str, Sequence[str]]) -> str:
    return _FIELD.join(f"{k}{_NAME}{' '.join(v)}" for k, v in fields.items())


def decode_fields(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in text.split(_FIELD):
        name, _, toks = part.partition(_NAME)
        out[name] = toks.split(" ") if toks else []
    return out


D = TypeVar("D", bound=Doc)


def doc_from_tokens(cls: type[D], tokens: str, entry: EntryData, feed_id: str | None) -> D:
    """The entry's ``cls`` (a Doc) from its stored tokens (``encode_fields``): the same as
    ``cls.from_entry`` without folding and tokenizing the text again."""
    return cls(decode_fields(tokens), Doc.raw_fields(entry, feed_id), entry.link or "")


def fields_text(fields: Mapping[str, Sequence[str]]) -> str:
    """What the search index holds for an entry: every token of every field (the ones any
    unscoped or scoped term reads: title, summary, categories, source, feed id)."""
    return " ".join(tok for toks in fields.values() for tok in toks)


def index_text(entry: EntryData, feed_id: str) -> str:
    """What the search index holds for an entry (``fields_text`` of its ``entry_fields``)."""
    return fields_text(entry_fields(entry, feed_id))


# A prefilter over the index: a token, ("prefix", token), ("phrase", (tokens, last is a
# prefix)) or ("and" | "or", (sub, ...)).
IndexQuery = str | tuple[str, Any]


def index_query(node: Node) -> IndexQuery | None:
    """What an entry's indexed tokens must satisfy to match ``node`` (None: nothing known).

    Finer than ``required_tokens`` (which keeps one OR-set): a phrase's words in order
    (the store may relax it to all of its words), every branch of an AND, so the rule
    editor's preview loads few more entries than match. NOT, regexes and domains
    constrain nothing; an OR with such a branch neither.
    """
    if isinstance(node, Term):
        toks = node.tokens
        if len(toks) > 1:
            return ("phrase", (toks, node.prefix))
        return ("prefix", toks[0]) if node.prefix else toks[0]
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


def update_index(
    store: BacktestPort, progress: Callable[[int], None] | None = None, *, limit: int | None = None
) -> int:
    """Index entries not yet in the search index, oldest first: every one, or at most
    ``limit`` (a catch-up step, e.g. after each poll cycle); the number indexed.

    Safe to run from several processes at once (the daemon and ``monitor web``): an
    entry already indexed is skipped by the store, never indexed twice.
    """
    done = 0
    after = store.index_watermark()
    while limit is None or done < limit:
        size = INDEX_BATCH if limit is None else min(INDEX_BATCH, limit - done)
        batch = store.entries_after(after, size)
        if not batch:
            break
        rows = []
        for i, f, e in batch:
            fields = entry_fields(e, f)
            rows.append((i, fields_text(fields), encode_fields(fields)))
        store.add_to_index(rows)
        after = batch[-1][0]
        done += len(batch)
        if progress:
            progress(len(batch))
    return done


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
        for entry_id, feed_id, entry, tokens in store.preview_entries(chunk):
            results = (
                one.match(entry, feed_id)
                if tokens is None  # (indexed before the tokens were kept)
                else one.match_doc(doc_from_tokens(Doc, tokens, entry, feed_id), entry, feed_id)
            )
            if results:
                out.hits[entry_id] = (entry, results[0])
        out.scanned += len(chunk)
        if progress:
            progress(out.scanned, len(ids))
    out.recorded = store.recorded_matches(item.watch_id, since)
    out.labels = store.labels(item.watch_id)
    return out


# --- the rule editor's preview: rules over many stored entries, kept between keystrokes ----


class _Positions(dict[str, tuple[tuple[str, int], ...]]):
    """``Doc.positions`` built one token at a time, when a term asks for it (the same
    (field, position) pairs, as tuples: fields in order, then positions): a stored entry's
    text is long (about 170 words here) and a rule reads a few of its words."""

    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, Sequence[str]]) -> None:
        super().__init__()
        self.fields = fields

    def __missing__(self, token: str) -> tuple[tuple[str, int], ...]:
        out: list[tuple[str, int]] = []
        for name, seq in self.fields.items():
            at = -1
            for _ in range(seq.count(token)):
                at = seq.index(token, at + 1)
                out.append((name, at))
        got = self[token] = tuple(out)
        return got

    def get(self, token: str, default: Any = None) -> Any:
        return self[token] or default


class PreviewDoc(Doc):
    """A ``Doc`` kept in the rule editor's cache: its words are interned (each distinct
    word stored once for all entries, not once per occurrence), its folded text is not
    kept (a regex folds again), and its position index is built per word on demand.
    About half the memory of a ``Doc``, the same results.

    Its word sequences and positions are tuples, not lists: thousands of cached entries
    would otherwise be ~100,000 lists that every full garbage collection walks (a tuple
    of strings is untracked after the first one), ~200 ms per collection here."""

    __slots__ = ()

    def __init__(
        self,
        fields: Mapping[str, Sequence[str]],
        raw: dict[str, str] | None = None,
        link: str = "",
    ) -> None:
        super().__init__({k: tuple(map(sys.intern, v)) for k, v in fields.items()}, raw, link)

    @classmethod
    def from_entry(
        cls, entry: EntryData, feed_id: str | None = None, *, folded: dict[str, str] | None = None
    ) -> Doc:
        doc = super().from_entry(entry, feed_id, folded=folded)
        doc._folded.clear()
        return doc

    @classmethod
    def from_tokens(cls, tokens: str, entry: EntryData, feed_id: str | None = None) -> Doc:
        """The entry's Doc from its stored tokens (``encode_fields``): the same Doc as
        ``from_entry`` without folding and tokenizing the text again."""
        return doc_from_tokens(cls, tokens, entry, feed_id)

    @property
    def positions(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        if self._positions is None:
            self._positions = _Positions(self.fields)
        return self._positions


Hits = tuple[Hit, ...]


def _words(node: Node) -> frozenset[str]:
    """The whole words a term's entry must hold (not the last one of a ``prefix*``)."""
    if not isinstance(node, Term):
        return frozenset()
    return frozenset(node.tokens[:-1] if node.prefix else node.tokens)


def _cost(node: Node) -> int:
    """How many leaves ``node`` has (a NOT last: it rarely rules an entry out)."""
    if isinstance(node, And | Or):
        return sum(_cost(c) for c in node.children)
    if isinstance(node, Not):
        return 1000 + _cost(node.child)
    return 1


Prepared = tuple[str, EntryData, Doc]  # feed id, entry, parsed entry


@dataclass
class _Known:
    ids: frozenset[int]  # the entries this node was evaluated on
    true: dict[int, Hits]  # those it matched, with the hits (as ``evaluate`` appends them)


class RuleResults:
    """What each query node matched among stored entries, kept between the rule editor's
    keystrokes: a keystroke changes one branch of a rule, so only that branch is evaluated
    again (on the entries it was not evaluated on); the rest comes from here.

    Evaluates a node over a set of entries at once with the same meaning as
    ``match.evaluate`` (leaves are ``evaluate`` itself; AND/OR/NOT combine the entries'
    results and concatenate the hits in the order ``evaluate`` appends them), so the hits,
    the score and the decision are those of the live matcher. Bounded: at most
    ``max_nodes`` nodes and ``max_entries`` (node, matched entry) results (the least
    recently used nodes go first); a node's set of evaluated entries is shared by every
    node evaluated on the same entries.
    """

    def __init__(self, max_nodes: int = 1024, max_entries: int = 300_000) -> None:
        self.max_nodes, self.max_entries = max_nodes, max_entries
        self.memo: OrderedDict[Node, _Known] = OrderedDict()
        self.entries = 0  # how many (node, matched entry) results are kept
        self._unions: dict[tuple[int, int], tuple[frozenset[int], ...]] = {}
        # the vocabulary of each entry of this run's ``docs`` (a leaf's quick test)
        self._vocab: tuple[Mapping[int, Prepared], dict[int, set[str]]] | None = None
        self._hints: dict[Term, tuple[frozenset[int], list[int]]] = {}

    def clear(self) -> None:
        self.memo.clear()
        self.entries = 0
        self._unions.clear()

    def run(
        self, item: CompiledItem, ids: frozenset[int], docs: Mapping[int, Prepared]
    ) -> dict[int, Hits]:
        """entry id -> hits of every entry of ``ids`` that ``item`` matches, as
        ``match.item_hits`` gives them; ``docs`` holds every entry of ``ids``."""
        self._unions = {}
        try:
            found = self._node(item.query, ids, docs)
        finally:
            self._unions, self._vocab, self._hints = {}, None, {}
        out: dict[int, Hits] = {}
        for i in sorted(found):
            hits = found[i]  # (a tuple: thousands of kept lists would slow every full gc)
            feed_id, entry, doc = docs[i]
            if item_accepts(item, doc, entry, feed_id, hits):
                out[i] = hits
        while self.memo and (len(self.memo) > self.max_nodes or self.entries > self.max_entries):
            self.entries -= len(self.memo.popitem(last=False)[1].true)
        return out

    def _node(
        self, node: Node, ids: frozenset[int], docs: Mapping[int, Prepared]
    ) -> Mapping[int, Hits]:
        """entry id -> hits of the entries of ``ids`` that ``node`` matches (read only)."""
        known = self.memo.get(node)
        if known is None:
            got = self._compute(node, ids, docs)
            self.memo[node] = _Known(ids, got)
            self.entries += len(got)
            return got
        self.memo.move_to_end(node)
        if ids is not known.ids and not ids <= known.ids:
            more = self._compute(node, ids - known.ids, docs)
            known.true.update(more)
            self.entries += len(more)
            known.ids = self._union(known.ids, ids)
        true = known.true
        if ids is known.ids:
            return true
        if len(true) <= len(ids):
            return {i: h for i, h in true.items() if i in ids}
        return {i: true[i] for i in ids if i in true}

    def _union(self, a: frozenset[int], b: frozenset[int]) -> frozenset[int]:
        """``a | b``, one set for every node that had ``a`` and is now evaluated on ``b``."""
        if a <= b:
            return b
        key = (id(a), id(b))
        got = self._unions.get(key)
        if got is None:  # the key's sets are kept alive with it: their ids stay theirs
            got = self._unions[key] = (a | b, a, b)
        return got[0]

    def _vocabularies(
        self, ids: frozenset[int], docs: Mapping[int, Prepared]
    ) -> dict[int, set[str]]:
        """entry id -> its words (``Doc.vocabulary``), for this run's entries."""
        vocab = self._vocab
        if vocab is None or vocab[0] is not docs:
            vocab = self._vocab = (docs, {})
        known = vocab[1]
        if not ids <= known.keys():
            known.update((i, docs[i][2].vocabulary) for i in ids if i not in known)
        return known

    def _find_words(
        self, terms: Sequence[Term], ids: frozenset[int], docs: Mapping[int, Prepared]
    ) -> None:
        """For the terms of an OR (a list of words), the entries of ``ids`` holding every
        whole word of each: one set intersection per entry instead of one test per term
        and entry. Left in ``_hints`` for ``_compute``."""
        vocab = self._vocabularies(ids, docs)
        by_first: dict[str, list[Term]] = {}
        for t in terms:
            words = _words(t)
            if words:
                by_first.setdefault(min(words), []).append(t)
        firsts = frozenset(by_first)
        found: dict[Term, list[int]] = {t: [] for ts in by_first.values() for t in ts}
        for i in ids:
            for tok in firsts.intersection(vocab[i]):
                for t in by_first[tok]:
                    found[t].append(i)
        for t, got in found.items():
            words = _words(t)
            if len(words) > 1:
                got = [i for i in got if vocab[i].issuperset(words)]
            self._hints[t] = (ids, got)

    def _compute(
        self, node: Node, ids: frozenset[int], docs: Mapping[int, Prepared]
    ) -> dict[int, Hits]:
        if isinstance(node, And):
            # Each child on the entries that passed the children tried before it (as
            # ``evaluate`` stops at the first false child), the smallest children first;
            # the hits are concatenated in the children's order all the same.
            parts: list[Mapping[int, Hits]] = [{} for _ in node.children]
            alive = ids
            for k in sorted(range(len(node.children)), key=lambda k: _cost(node.children[k])):
                part = parts[k] = self._node(node.children[k], alive, docs)
                alive = frozenset(part.keys() & alive)
                if not alive:
                    return {}
            empty: Hits = ()
            both = dict.fromkeys(alive, empty)
            for p in parts:
                both = {i: h + p[i] for i, h in both.items()}
            return both
        if isinstance(node, Or):
            fresh = [c for c in node.children if isinstance(c, Term) and c not in self.memo]
            if len(fresh) > 1:
                self._find_words(fresh, ids, docs)
            parts = [self._node(c, ids, docs) for c in node.children]
            found: dict[int, Hits] = {}
            for p in parts:  # in the children's order: their hits in evaluate's order
                for i, h in p.items():
                    if i in ids:  # (a part may know more entries than ``ids``)
                        got = found.get(i)
                        found[i] = h if got is None else got + h
            return found
        if isinstance(node, Not):
            inner = self._node(node.child, ids, docs)
            return {i: () for i in ids if i not in inner}
        todo: Iterable[int] = ids
        words = _words(node)
        if words:
            hint = self._hints.pop(node, None)  # type: ignore[arg-type]
            if hint is not None and hint[0] is ids:
                todo = hint[1]
            else:
                vocab = self._vocabularies(ids, docs)
                todo = [i for i in ids if vocab[i].issuperset(words)]
        out: dict[int, Hits] = {}
        for i in todo:
            hits: list[Hit] = []
            if evaluate(node, docs[i][2], hits):
                out[i] = tuple(hits)
        return out
