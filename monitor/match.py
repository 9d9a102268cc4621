"""Matching entries against watch items: a pure function of (entry, compiled watchlist).

Owns text folding (case-, accent- and width-insensitive), tokenisation on Unicode word
boundaries, the term forms (word, phrase, ``prefix*``) and the query tree that a watch
item's ``match`` compiles to. Does not own reading the watchlist (``watchlist.py``) or
storing matches (``storage``).

A watch item's ``match: {any: [...], all: [...], none: [...]}`` compiles to::

    And(Or(any...), all[0], all[1], ..., Not(Or(none...)))

Terms are matched on whole words over the entry's title, summary/content and
categories, each field on its own (a phrase never spans two fields).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.types import EntryData, MatchResult

# Combining marks of the BMP (accents, cedillas, ...), removed after NFKD decomposition so
# "Méta" folds to "meta". NFKD also maps full-width and compatibility forms to their plain
# counterparts ("Ｍｅｔａ" -> "Meta", "ﬁ" -> "fi").
_STRIP_COMBINING = {cp: None for cp in range(0x10000) if unicodedata.combining(chr(cp))}
_TOKEN_RE = re.compile(r"\w+")
# English possessive ("Meta's glasses" -> "Meta glasses"), so phrases match across it.
_POSSESSIVE_RE = re.compile(r"(?<=\w)['’]s\b")

FIELDS = ("title", "summary", "categories")


def fold(text: str) -> str:
    """Fold text for matching: compatibility-decompose, drop accents, case-fold."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_STRIP_COMBINING).casefold()


def tokenize(text: str) -> list[str]:
    """Folded word tokens of ``text`` (Unicode word boundaries, possessives dropped)."""
    folded = fold(text)
    if "'" in folded or "’" in folded:
        folded = _POSSESSIVE_RE.sub("", folded)
    return _TOKEN_RE.findall(folded)


# --- terms and the query tree -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """One term: a word, a phrase of several words, or either with a trailing ``*``."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool = False

    @classmethod
    def parse(cls, text: str) -> Term:
        raw = text.strip()
        prefix = raw.endswith("*")
        tokens = tuple(tokenize(raw.rstrip("*")))
        if not tokens:
            raise ValueError(f"term {text!r} has no words to match")
        return cls(text=raw, tokens=tokens, prefix=prefix)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Term | And | Or | Not


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


# --- documents ------------------------------------------------------------------------------


class Doc:
    """An entry tokenised once for matching against every watch item."""

    __slots__ = ("fields", "positions", "vocabulary")

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        # token -> [(field, position)], built once; a phrase check starts from here.
        positions: dict[str, list[tuple[str, int]]] = {}
        for name, tokens in fields.items():
            for i, tok in enumerate(tokens):
                positions.setdefault(tok, []).append((name, i))
        self.positions = positions
        self.vocabulary = positions.keys()

    @classmethod
    def from_entry(cls, entry: EntryData) -> Doc:
        return cls(
            {
                "title": tokenize(entry.title),
                "summary": tokenize(entry.summary),
                # One field per category, so a phrase never spans two of them.
                **{f"categories.{i}": tokenize(c) for i, c in enumerate(entry.categories)},
            }
        )

    def _starts(self, token: str, prefix: bool) -> Iterable[tuple[str, int]]:
        if not prefix:
            return self.positions.get(token, ())
        return [p for tok, ps in self.positions.items() if tok.startswith(token) for p in ps]

    def find(self, term: Term) -> tuple[str, int] | None:
        """The first (field, position) where ``term`` occurs, or None."""
        toks = term.tokens
        last = len(toks) - 1
        for field, pos in self._starts(toks[0], term.prefix and last == 0):
            seq = self.fields[field]
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
                return field, pos
        return None


def evaluate(node: Node, doc: Doc, hits: list[Term]) -> bool:
    """Whether ``doc`` satisfies ``node``; appends the positive terms that fired to ``hits``."""
    if isinstance(node, Term):
        if doc.find(node) is not None:
            hits.append(node)
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
        found = False
        for child in node.children:
            found = evaluate(child, doc, hits) or found
        return found
    # Not: the terms under a NOT never count as hits.
    return not evaluate(node.child, doc, [])


# --- the compiled watchlist -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledItem:
    watch_id: str
    query: Node


@dataclass(frozen=True, slots=True)
class Matcher:
    """Every watch item's compiled query; picklable so it can travel to worker processes."""

    items: tuple[CompiledItem, ...]

    def match(self, entry: EntryData) -> tuple[MatchResult, ...]:
        """Every watch item ``entry`` matches, with the terms that fired and a snippet."""
        doc = Doc.from_entry(entry)
        results: list[MatchResult] = []
        for item in self.items:
            hits: list[Term] = []
            if evaluate(item.query, doc, hits):
                terms = tuple(dict.fromkeys(t.text for t in hits))
                results.append(MatchResult(item.watch_id, terms, make_snippet(entry, hits)))
        return tuple(results)


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


def make_snippet(entry: EntryData, hits: Sequence[Term], width: int = 240) -> str:
    """About ``width`` characters of the summary around the first hit found in it."""
    text = entry.summary or entry.title
    if len(text) <= width:
        return text
    start = 0
    spans = _token_spans(text)
    for term in hits:
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
