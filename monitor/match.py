"""Matching entries against watch items: a pure function of (entry, compiled watchlist).

Owns text folding (case-, accent- and width-insensitive), tokenisation on Unicode word
boundaries, the query tree a watch item compiles to (terms, phrases, ``prefix*``,
``NEAR/n``, field scopes, linear-time regular expressions, link domains), scoring, and the
explanation of each match. Does not own parsing query text (``query.py``), reading the
watchlist (``watchlist.py``), stance cues (``stance.py``) or storing matches (``storage``).

A watch item's ``match: {any: [...], all: [...], none: [...]}`` compiles to::

    And(Or(any...), all[0], all[1], ..., Not(Or(none...)))

Unscoped terms are matched on whole words over the entry's title, summary/content and
categories, each field on its own (a phrase never spans two fields). ``source:`` terms
look at the publisher's name and the feed id, ``link:`` at the domain of the entry's link.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from monitor.types import EntryData, MatchResult

# Combining marks of the BMP (accents, cedillas, ...), removed after NFKD decomposition so
# "Méta" folds to "meta". NFKD also maps full-width and compatibility forms to their plain
# counterparts ("Ｍｅｔａ" -> "Meta", "ﬁ" -> "fi").
_STRIP_COMBINING = {cp: None for cp in range(0x10000) if unicodedata.combining(chr(cp))}
_TOKEN_RE = re.compile(r"\w+")
# English possessive ("Meta's glasses" -> "Meta glasses"), so phrases match across it.
_POSSESSIVE_RE = re.compile(r"(?<=\w)['’]s\b")

FIELDS = ("title", "summary", "categories")
# Up to this many distinct needed tokens, Matcher tries substring search before tokenising.
_PREFILTER_MAX = 64
# Field scopes a query may name (``title:Muse``) and the Doc fields each one covers.
SCOPES = ("title", "summary", "category", "source", "link")
# Weight of a hit per field for ``min_score``: a title hit says more than a summary hit.
FIELD_WEIGHT = {"title": 3, "summary": 1}


def _char_class(cps: Iterable[int]) -> str:
    """A regex character class of these code points, as ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(cps):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(
        re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges
    )


# The same marks as a regex: searching for one is much cheaper than ``str.translate`` over
# every character of a mostly-ASCII text (one curly quote makes a whole summary non-ASCII).
_COMBINING_RE = re.compile(f"[{_char_class(_STRIP_COMBINING)}]+")


def fold(text: str) -> str:
    """Fold text for matching: compatibility-decompose, drop accents, case-fold."""
    if text.isascii():
        return text.lower()
    # As normalize("NFKD").translate(_STRIP_COMBINING).casefold(), skipping the passes
    # that would change nothing (the quick checks run in C).
    if not unicodedata.is_normalized("NFKD", text):
        text = unicodedata.normalize("NFKD", text)
    if _COMBINING_RE.search(text) is not None:
        text = _COMBINING_RE.sub("", text)
    return text.casefold()


def tokenize(text: str) -> list[str]:
    """Folded word tokens of ``text`` (Unicode word boundaries, possessives dropped)."""
    return _tokens(fold(text))


def _tokens(folded: str) -> list[str]:
    """``tokenize`` of text already folded."""
    if "'" in folded or "’" in folded:  # most text has no apostrophe: skip that pass
        folded = _POSSESSIVE_RE.sub("", folded)
    return _TOKEN_RE.findall(folded)


def _in_scope(field_name: str, scope: str | None) -> bool:
    if scope is None:
        return field_name in ("title", "summary") or field_name.startswith("categories.")
    if scope == "category":
        return field_name.startswith("categories.")
    if scope == "source":
        return field_name.startswith("source.")
    return field_name == scope


# --- terms and the query tree -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """One term: a word, a phrase of several words, or either with a trailing ``*``."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool = False
    scope: str | None = None

    @classmethod
    def parse(cls, text: str, scope: str | None = None) -> Term:
        raw = text.strip()
        prefix = raw.endswith("*")
        tokens = tuple(tokenize(raw.rstrip("*")))
        if not tokens:
            raise ValueError(f"term {text!r} has no words to match")
        return cls(text=raw, tokens=tokens, prefix=prefix, scope=scope)


@dataclass(frozen=True, slots=True)
class Near:
    """Some term of ``left`` within ``distance`` words of some term of ``right`` (either order)."""

    left: tuple[Term, ...]
    right: tuple[Term, ...]
    distance: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression (RE2: linear time) searched in the folded text of each field."""

    pattern: str
    scope: str | None = None

    @property
    def text(self) -> str:
        return f"/{self.pattern}/"


@dataclass(frozen=True, slots=True)
class Domain:
    """The entry's link is on ``host`` or one of its subdomains."""

    host: str

    @property
    def text(self) -> str:
        return f"link:{self.host}"


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Term | Near | Regex | Domain | And | Or | Not
Leaf = Term | Near | Regex | Domain


def compile_match(
    any_: Sequence[str] = (), all_: Sequence[str] = (), none: Sequence[str] = ()
) -> Node:
    """The query tree of an ``any/all/none`` mapping. Raises ValueError on an empty term."""
    parts: list[Node] = []
    if any_:
        parts.append(Or(tuple(Term.parse(t) for t in any_)))
    parts.extend(Term.parse(t) for t in all_)
    if none:
        parts.append(Not(Or(tuple(Term.parse(t) for t in none))))
    if not any_ and not all_:
        raise ValueError("a match needs at least one 'any' or 'all' term")
    return parts[0] if len(parts) == 1 else And(tuple(parts))


@lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> Any:
    """An RE2 pattern, case-insensitive; raises ValueError with RE2's message."""
    import re2

    opts = re2.Options()
    opts.case_sensitive = False
    opts.log_errors = False
    try:
        return re2.compile(pattern, opts)
    except re2.error as exc:
        msg = exc.args[0] if exc.args else str(exc)
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8", "replace")
        raise ValueError(str(msg)) from None


# --- documents ------------------------------------------------------------------------------

Hit = tuple[str, str, int, int]  # (term text, field, first token, last token + 1)


class Doc:
    """An entry tokenised once for matching against every watch item."""

    __slots__ = (
        "_folded",
        "_host",
        "_positions",
        "_sorted_vocab",
        "fields",
        "link",
        "raw",
        "vocabulary",
    )

    def __init__(
        self,
        fields: Mapping[str, Sequence[str]],
        raw: dict[str, str] | None = None,
        link: str = "",
    ) -> None:
        self.fields = fields
        self.raw = raw or {}
        self.link = link
        self._host: str | None = None
        self._folded: dict[str, str] = {}
        self._positions: Mapping[str, Sequence[tuple[str, int]]] | None = None
        self._sorted_vocab: list[str] | None = None
        # Every token of every field: the prefilter needs only this, so most entries (that
        # no watch item can match) never pay for the position index below.
        self.vocabulary: set[str] = set().union(*fields.values())

    @property
    def positions(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        """token -> [(field, position)], built on first use; a phrase check starts here."""
        if self._positions is None:
            positions: dict[str, list[tuple[str, int]]] = {}
            for name, tokens in self.fields.items():
                for i, tok in enumerate(tokens):
                    positions.setdefault(tok, []).append((name, i))
            self._positions = positions
        return self._positions

    @staticmethod
    def raw_fields(entry: EntryData, feed_id: str | None = None) -> dict[str, str]:
        """The entry's text fields by name; one field per category, so a phrase never
        spans two of them."""
        raw = {"title": entry.title, "summary": entry.summary}
        raw.update({f"categories.{i}": c for i, c in enumerate(entry.categories)})
        if entry.source:
            raw["source.name"] = entry.source
        if feed_id:
            raw["source.feed"] = feed_id
        return raw

    @classmethod
    def from_entry(
        cls,
        entry: EntryData,
        feed_id: str | None = None,
        *,
        folded: dict[str, str] | None = None,
    ) -> Doc:
        """The entry's Doc; ``folded``: ``fold`` of each of its ``raw_fields``, if known."""
        raw = cls.raw_fields(entry, feed_id)
        if folded is None:
            folded = {k: fold(v) for k, v in raw.items()}
        doc = cls({k: _tokens(v) for k, v in folded.items()}, raw, entry.link or "")
        doc._folded.update(folded)
        return doc

    @property
    def host(self) -> str:
        """The link's host name, lower-case (parsed only when a link: term asks)."""
        if self._host is None:
            try:
                self._host = (urlsplit(self.link.strip()).hostname or "").lower().rstrip(".")
            except ValueError:
                self._host = ""
        return self._host

    def folded(self, field_name: str) -> str:
        text = self._folded.get(field_name)
        if text is None:
            text = self._folded[field_name] = fold(self.raw.get(field_name, ""))
        return text

    def _starts(self, token: str, prefix: bool) -> Iterable[tuple[str, int]]:
        if not prefix:
            return self.positions.get(token, ())
        return [p for tok in self.with_prefix(token) for p in self.positions[tok]]

    def with_prefix(self, prefix: str) -> list[str]:
        """The entry's tokens that start with ``prefix``: a bisect in the sorted vocabulary,
        not a scan of every token (prefix terms are common in watch items)."""
        if self._sorted_vocab is None:
            self._sorted_vocab = sorted(self.vocabulary)
        vocab = self._sorted_vocab
        out = []
        for i in range(bisect.bisect_left(vocab, prefix), len(vocab)):
            if not vocab[i].startswith(prefix):
                break
            out.append(vocab[i])
        return out

    def occurrences(self, term: Term, first: bool = False) -> list[Hit]:
        """Where ``term`` occurs, as (text, field, start, end) in token positions."""
        toks = term.tokens
        last = len(toks) - 1
        if not (term.prefix and last == 0) and toks[0] not in self.vocabulary:
            return []  # the common case: the word is not in the entry at all
        out: list[Hit] = []
        for fname, pos in self._starts(toks[0], term.prefix and last == 0):
            if not _in_scope(fname, term.scope):
                continue
            seq = self.fields[fname]
            if pos + last >= len(seq):
                continue
            ok = True
            for k in range(1, last + 1):
                tok = seq[pos + k]
                want = toks[k]
                if not (tok == want or (term.prefix and k == last and tok.startswith(want))):
                    ok = False
                    break
            if ok:
                out.append((term.text, fname, pos, pos + last + 1))
                if first:
                    break
        return out

    def find(self, term: Term) -> tuple[str, int] | None:
        """The first (field, position) where ``term`` occurs, or None."""
        hits = self.occurrences(term, first=True)
        return (hits[0][1], hits[0][2]) if hits else None


def _near(node: Near, doc: Doc, hits: list[Hit]) -> bool:
    lefts = [h for t in node.left for h in doc.occurrences(t)]
    if not lefts:
        return False
    rights = [h for t in node.right for h in doc.occurrences(t)]
    found = False
    for a in lefts:
        for b in rights:
            if a[1] != b[1]:
                continue
            gap = b[2] - a[3] if b[2] >= a[3] else a[2] - b[3]
            if gap <= node.distance and not (a[2] == b[2] and a[0] == b[0]):
                # The two terms, and the clause over the span they cover (for explanations
                # and for known facts, whose span must cover what lies between).
                hits.extend((a, b, (node.text, a[1], min(a[2], b[2]), max(a[3], b[3]))))
                found = True
    return found


def _regex(node: Regex, doc: Doc, hits: list[Hit]) -> bool:
    rx = compile_regex(node.pattern)
    for fname in doc.raw:
        if _in_scope(fname, node.scope):
            m = rx.search(doc.folded(fname))
            if m is not None:
                hits.append((node.text, fname, -1, -1))
                return True
    return False


def evaluate(node: Node, doc: Doc, hits: list[Hit]) -> bool:
    """Whether ``doc`` satisfies ``node``; appends the positive hits that fired to ``hits``."""
    if isinstance(node, Term):
        if node.tokens[0] not in doc.vocabulary and not node.prefix:
            return False
        found = doc.occurrences(node)
        if found:
            hits.extend(found)
            return True
        return False
    if isinstance(node, And):
        mark = len(hits)
        for child in node.children:
            if not evaluate(child, doc, hits):
                del hits[mark:]
                return False
        return True
    if isinstance(node, Or):
        # Evaluate every branch so the explanation lists all the terms that fired.
        any_found = False
        for child in node.children:
            any_found = evaluate(child, doc, hits) or any_found
        return any_found
    if isinstance(node, Not):
        # The terms under a NOT never count as hits.
        return not evaluate(node.child, doc, [])
    if isinstance(node, Near):
        return _near(node, doc, hits)
    if isinstance(node, Regex):
        return _regex(node, doc, hits)
    # Domain
    host = doc.host
    if host.startswith("www."):
        host = host[4:]
    if host == node.host or host.endswith("." + node.host):
        hits.append((node.text, "link", -1, -1))
        return True
    return False


def leaves(node: Node) -> Iterable[Leaf]:
    """Every leaf of ``node``, in query order."""
    if isinstance(node, And | Or):
        for child in node.children:
            yield from leaves(child)
    elif isinstance(node, Not):
        yield from leaves(node.child)
    else:
        yield node


def positive_leaves(node: Node, negated: bool = False) -> Iterable[tuple[Leaf, bool]]:
    """Every leaf with whether it sits under an odd number of NOTs."""
    if isinstance(node, And | Or):
        for child in node.children:
            yield from positive_leaves(child, negated)
    elif isinstance(node, Not):
        yield from positive_leaves(node.child, not negated)
    else:
        yield node, negated


# --- the compiled watchlist -----------------------------------------------------------------


class StanceRules:
    """What ``Matcher`` needs from ``stance.py`` (kept abstract here to avoid an import cycle)."""

    def classify(
        self, doc: Doc, hits: Sequence[Hit], known: Sequence[Hit], published: datetime | None
    ) -> tuple[str, str]:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class CompiledItem:
    watch_id: str
    query: Node
    exclude: Node | None = None
    sources_allow: tuple[str, ...] = ()
    sources_deny: tuple[str, ...] = ()
    min_score: int = 0
    alert_max_age: timedelta | None = None
    known_facts: Node | None = None

    def source_allowed(self, entry: EntryData, feed_id: str | None) -> bool:
        names = [n for n in (feed_id, entry.source) if n]
        folded = [fold(n) for n in names]

        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatchcase(n, fold(p)) for p in patterns for n in folded)

        if self.sources_deny and hit(self.sources_deny):
            return False
        return not self.sources_allow or hit(self.sources_allow)


def required_tokens(node: Node) -> frozenset[str] | None:
    """Tokens of which an entry must contain at least one to match ``node`` (None: unknown).

    The multi-pattern prefilter: a word or phrase needs its first word (as a whole token,
    or — for a one-word prefix — nothing we can index); OR needs one of its branches'; AND
    needs what its most selective child needs; NOT, regexes and domains need nothing known.
    """
    if isinstance(node, Term):
        if node.prefix and len(node.tokens) == 1:
            return None
        return frozenset((node.tokens[0],))
    if isinstance(node, Near):
        sets = [required_tokens(t) for t in node.left]
        if any(s is None for s in sets):
            return None
        return frozenset().union(*(s for s in sets if s is not None))
    if isinstance(node, Or):
        out: set[str] = set()
        for child in node.children:
            sub = required_tokens(child)
            if sub is None:
                return None
            out |= sub
        return frozenset(out)
    if isinstance(node, And):
        known = [s for s in (required_tokens(c) for c in node.children) if s is not None]
        return min(known, key=len) if known else None
    return None


def score(hits: Sequence[Hit]) -> int:
    """Sum over the distinct terms that fired of their best field weight (title 3, else 1)."""
    best: dict[str, int] = {}
    for text, fname, _, _ in hits:
        if text.startswith("NEAR/"):
            continue  # its two terms count, not the clause again
        w = FIELD_WEIGHT.get(fname, 1)
        if w > best.get(text, 0):
            best[text] = w
    return sum(best.values())


def item_hits(
    item: CompiledItem, doc: Doc, entry: EntryData, feed_id: str | None
) -> list[Hit] | None:
    """The hits that make ``doc`` a match of ``item`` (query, exclude, sources, min_score),
    or None when it is not one. ``Matcher.match`` and the rule editor's preview share it."""
    hits: list[Hit] = []
    if not evaluate(item.query, doc, hits):
        return None
    return hits if item_accepts(item, doc, entry, feed_id, hits) else None


def item_accepts(
    item: CompiledItem, doc: Doc, entry: EntryData, feed_id: str | None, hits: Sequence[Hit]
) -> bool:
    """Whether ``doc``, whose query fired with ``hits``, is a match of ``item``: not
    excluded, from an allowed source, scoring at least ``min_score`` (the rule editor's
    preview evaluates queries itself, over many entries at once, then asks this)."""
    if item.exclude is not None and evaluate(item.exclude, doc, []):
        return False
    if (item.sources_allow or item.sources_deny) and not item.source_allowed(entry, feed_id):
        return False
    return score(hits) >= item.min_score


@dataclass(frozen=True, slots=True)
class Matcher:
    """Every watch item's compiled query; picklable so it can travel to worker processes."""

    items: tuple[CompiledItem, ...]
    stance: StanceRules | None = field(default=None, compare=False)
    # The watchlist's aliases, for draft queries (``monitor backtest --query``).
    aliases: dict[str, Node] = field(default_factory=dict, compare=False, repr=False)
    # token -> indexes of the items that need it; items with no known need are always tried.
    _index: dict[str, tuple[int, ...]] = field(init=False, compare=False, repr=False)
    _always: tuple[int, ...] = field(init=False, compare=False, repr=False)
    _prefilter: tuple[str, ...] | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, list[int]] = {}
        always = []
        for i, item in enumerate(self.items):
            need = required_tokens(item.query)
            if need is None:
                always.append(i)
            else:
                for tok in need:
                    index.setdefault(tok, []).append(i)
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})
        object.__setattr__(self, "_always", tuple(always))
        # A small watchlist whose every item needs a known token: an entry in whose folded
        # text none of those tokens occurs even as a substring can match nothing, and is
        # not tokenised at all (a few substring searches in C instead of a regex pass
        # building a list of every word). Most entries of most feeds are such entries.
        prefilter = tuple(sorted(index)) if not always and len(index) <= _PREFILTER_MAX else None
        object.__setattr__(self, "_prefilter", prefilter)

    def candidates(self, doc: Doc) -> list[int]:
        """Indexes (in watchlist order) of the items that can match ``doc``."""
        index = self._index
        found = set(self._always)
        if len(index) < len(doc.vocabulary):
            found.update(i for tok, ids in index.items() if tok in doc.vocabulary for i in ids)
        else:
            for tok in doc.vocabulary:
                ids = index.get(tok)
                if ids:
                    found.update(ids)
        return sorted(found)

    def match(self, entry: EntryData, feed_id: str | None = None) -> tuple[MatchResult, ...]:
        """Every watch item ``entry`` matches, with what fired, a snippet and the stance."""
        folded = {k: fold(v) for k, v in Doc.raw_fields(entry, feed_id).items()}
        prefilter = self._prefilter
        if prefilter is not None and not any(
            tok in text for text in folded.values() for tok in prefilter
        ):
            return ()  # no token any item needs occurs: no candidates (see __post_init__)
        return self.match_doc(Doc.from_entry(entry, feed_id, folded=folded), entry, feed_id)

    def match_doc(
        self, doc: Doc, entry: EntryData, feed_id: str | None = None
    ) -> tuple[MatchResult, ...]:
        """``match`` of an entry already tokenized (``doc``: a backtest builds it from the
        tokens the search index keeps)."""
        results: list[MatchResult] = []
        items = self.items
        for i in self.candidates(doc):
            item = items[i]
            hits = item_hits(item, doc, entry, feed_id)
            if hits is None:
                continue
            points = score(hits)
            known: list[Hit] = []
            if item.known_facts is not None:
                evaluate(item.known_facts, doc, known)
            stance, cue = (
                self.stance.classify(doc, hits, known, entry.published)
                if self.stance is not None
                else ("event", "")
            )
            terms = tuple(dict.fromkeys(h[0] for h in hits))
            snippet = make_snippet(entry, hits)
            results.append(
                MatchResult(
                    item.watch_id,
                    terms,
                    snippet,
                    score=points,
                    stance=stance,
                    explanation=explain(hits, points, stance, cue, known, snippet),
                )
            )
        return tuple(results)


def explain(
    hits: Sequence[Hit],
    points: int,
    stance: str,
    cue: str,
    known: Sequence[Hit],
    snippet: str,
) -> str:
    """One line a person can read: what fired where, the score, the stance and why, the text."""
    where: dict[str, list[str]] = {}
    for text, fname, _, _ in hits:
        f = fname.split(".")[0]
        if f not in where.setdefault(text, []):
            where[text].append(f)
    fired = ", ".join(f"{t} ({'+'.join(fs)})" for t, fs in where.items())
    parts = [
        f"matched {fired}",
        f"score {points}",
        f"stance {stance}" + (f" ({cue})" if cue else ""),
    ]
    if known:
        parts.append("known facts: " + ", ".join(dict.fromkeys(h[0] for h in known)))
    marked = mark(snippet, [t for t in where if not t.startswith(("/", "link:", "NEAR/"))])
    return "; ".join(parts) + (f" — {marked}" if marked else "")


def mark(text: str, terms: Sequence[str]) -> str:
    """``text`` with every occurrence of the given terms wrapped in «guillemets»."""
    spans = mark_spans(text, terms)
    if not spans:
        return text
    out, at = [], 0
    for s, e in spans:
        out.append(text[at:s] + "«" + text[s:e] + "»")
        at = e
    out.append(text[at:])
    return "".join(out)


def mark_segments(text: str, terms: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is a matched term) segments, for pages that mark hits
    with HTML elements around escaped text (never markup built from feed text)."""
    return segments(text, mark_spans(text, terms))


def segments(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[str, bool]]:
    """``text`` cut at ``spans`` (start, end) into (piece, is inside a span) segments; an
    empty or overlapping span is skipped."""
    out: list[tuple[str, bool]] = []
    at = 0
    for s, e in sorted(set(spans)):
        if s < at or e <= s:
            continue
        if s > at:
            out.append((text[at:s], False))
        out.append((text[s:e], True))
        at = e
    if at < len(text) or not out:
        out.append((text[at:], False))
    return out


def mark_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) offsets in ``text`` of the occurrences of ``terms`` (folded as the
    matcher folds), sorted and not overlapping."""
    spans = _token_spans(text)
    ends = [_end_of(text, start) for _, start in spans]
    marks: list[tuple[int, int]] = []
    starts: dict[str, list[int]] = {}
    for i, (tok, _) in enumerate(spans):
        starts.setdefault(tok, []).append(i)
    for raw in terms:
        term = _parsed(raw)
        if term is None:
            continue
        toks, last = term.tokens, len(term.tokens) - 1
        if term.prefix and last == 0:
            cands = [i for tok, ids in starts.items() if tok.startswith(toks[0]) for i in ids]
        else:
            cands = starts.get(toks[0], [])
        for i in cands:
            if i + last < len(spans) and all(
                spans[i + k][0] == w
                or (term.prefix and k == last and spans[i + k][0].startswith(w))
                for k, w in enumerate(toks)
            ):
                marks.append((spans[i][1], ends[i + last]))
    out: list[tuple[int, int]] = []
    at = 0
    for s, e in sorted(set(marks), key=lambda m: (m[0], -m[1])):
        if s < at:
            continue
        out.append((s, e))
        at = e
    return out


@lru_cache(maxsize=8192)
def _parsed(raw: str) -> Term | None:
    try:
        return Term.parse(raw)
    except ValueError:
        return None


def _end_of(text: str, start: int) -> int:
    m = _TOKEN_RE.match(text, start)
    return m.end() if m else start


def _token_spans(text: str) -> list[tuple[str, int]]:
    """Folded tokens of ``text`` with their start offsets in the original text.

    Agrees with ``tokenize`` (same folding, possessives dropped) but keeps positions in the
    unfolded text, which folding would shift ("Straße" folds to six letters, "ﬁ" to two).
    """
    out: list[tuple[str, int]] = []
    for m in _TOKEN_RE.finditer(text):
        start = m.start()
        if (
            m.group() in ("s", "S")
            and start >= 2
            and text[start - 1] in "'’"
            and (text[start - 2].isalnum() or text[start - 2] == "_")
        ):
            continue  # possessive 's
        out.extend((tok, start) for tok in _TOKEN_RE.findall(fold(m.group())))
    return out


def _first_hit(spans: Sequence[tuple[str, int]], term: Term) -> int | None:
    toks, last = term.tokens, len(term.tokens) - 1
    for i in range(len(spans) - last):
        ok = True
        for k, want in enumerate(toks):
            tok = spans[i + k][0]
            if not (tok == want or (term.prefix and k == last and tok.startswith(want))):
                ok = False
                break
        if ok:
            return spans[i][1]
    return None


def make_snippet(entry: EntryData, hits: Sequence[Hit] | Sequence[Term], width: int = 240) -> str:
    """About ``width`` characters of the summary around the first hit found in it."""
    text = entry.summary or entry.title
    if len(text) <= width:
        return text
    start = 0
    spans = _token_spans(text)
    for h in hits:
        raw = h.text if isinstance(h, Term) else h[0]
        if raw.startswith(("/", "link:", "NEAR/")):
            continue
        term = h if isinstance(h, Term) else _parsed(raw)
        if term is None:
            continue
        at = _first_hit(spans, term)
        if at is not None:
            start = max(0, min(at - width // 3, len(text) - width))
            break
    cut = text[start : start + width]
    if start > 0:
        cut = "…" + cut[cut.find(" ") + 1 :] if " " in cut[:20] else "…" + cut
    if start + width < len(text):
        cut = cut.rsplit(" ", 1)[0] + "…"
    return cut
