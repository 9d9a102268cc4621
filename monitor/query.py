"""The watch-item query language: text -> the query tree of ``match.py``.

Owns the grammar, alias expansion and error messages positioned inside the query string.
Does not own matching (``match.evaluate``) or where a query sits in ``watchlist.yaml``
(``watchlist.py`` turns a ``QueryError`` offset into file:line:column).

Grammar (operators in capitals; ``and``/``or``/``not`` in lower case are plain words)::

    query    := or
    or       := and ( "OR" and )*
    and      := unary ( ["AND"] unary )*          # juxtaposition is AND
    unary    := ("NOT" | "-") unary | primary
    primary  := "(" or ")" | near | FIELD ":" (atom | "(" or ")") | atom
    near     := "NEAR/" INT "(" group "," group ")"
    group    := atom | "(" atom ( "OR" atom )* ")"  # words, phrases, prefixes, @aliases
    atom     := WORD | WORD* | "a phrase" | "a phrase"* | @alias | /regex/
    FIELD    := title | summary | category | source | link

A WORD written with a hyphen or apostrophe is a phrase of its parts ("Ray-Ban" =
"ray ban"), exactly as in the ``any/all/none`` lists.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.errors import ConfigError, ConfigProblem
from monitor.match import (
    SCOPES,
    And,
    Domain,
    Near,
    Node,
    Not,
    Or,
    Regex,
    Term,
    compile_regex,
    tokenize,
)

MAX_NEAR = 100
_HOST_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_WORD_STOP = set(' \t\r\n()",')
OPERATORS = ("AND", "OR", "NOT")


class QueryError(ConfigError):
    """A query that cannot be parsed; ``offset``/``length`` point into the query text."""

    def __init__(self, message: str, offset: int, length: int = 1, text: str = "") -> None:
        self.message = message
        self.offset = offset
        self.length = max(1, length)
        self.text = text
        super().__init__([ConfigProblem("<query>", 1, offset + 1, message)])


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # ( ) , WORD PHRASE REGEX ALIAS FIELD NEAR AND OR NOT MINUS END
    value: str
    start: int
    end: int
    prefix: bool = False


def lex(text: str) -> list[Tok]:
    out: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            out.append(Tok(c, c, i, i + 1))
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise QueryError("unterminated phrase: add the closing '\"'", i, n - i, text)
            end = j + 1
            prefix = end < n and text[end] == "*"
            if prefix:
                end += 1
            body = text[i + 1 : j]
            if body.rstrip().endswith("*"):
                prefix = True
                body = body.rstrip().rstrip("*")
            out.append(Tok("PHRASE", body, i, end, prefix))
            i = end
        elif c == "/":
            j = i + 1
            while j < n and text[j] != "/":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise QueryError(
                    "unterminated regular expression: add the closing '/'", i, n - i, text
                )
            out.append(Tok("REGEX", text[i + 1 : j], i, j + 1))
            i = j + 1
        elif c == "@":
            m = re.compile(r"@([A-Za-z0-9_][A-Za-z0-9_.-]*)").match(text, i)
            if not m:
                raise QueryError("'@' must be followed by an alias name, e.g. @muse", i, 1, text)
            out.append(Tok("ALIAS", m.group(1), i, m.end()))
            i = m.end()
        elif c == "-" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] not in "),":
            out.append(Tok("MINUS", "-", i, i + 1))
            i += 1
        else:
            m = re.compile(r"NEAR/(\d*)").match(text, i)
            if m and (m.end() >= n or text[m.end()] in " (\t\n"):
                if not m.group(1):
                    raise QueryError(
                        "NEAR needs a distance: NEAR/5(a, b) = a and b at most 5 words apart",
                        i,
                        m.end() - i,
                        text,
                    )
                out.append(Tok("NEAR", m.group(1), i, m.end()))
                i = m.end()
                continue
            m = re.compile(r"([A-Za-z]+):(?=\s|$)").match(text, i)
            if m and m.group(1).lower() in SCOPES:
                raise QueryError(
                    f"{m.group(0)} needs a term right after it (no space), e.g. title:Muse",
                    i,
                    m.end() - i,
                    text,
                )
            m = re.compile(r"([A-Za-z]+):(?=[^\s:])").match(text, i)
            if m:
                out.append(Tok("FIELD", m.group(1).lower(), i, m.end()))
                i = m.end()
                continue
            j = i
            while j < n and text[j] not in _WORD_STOP:
                j += 1
            word = text[i:j]
            kind = word if word in OPERATORS else "WORD"
            out.append(Tok(kind, word, i, j))
            i = j
    out.append(Tok("END", "", n, n))
    return out


class Parser:
    def __init__(self, text: str, aliases: Mapping[str, Node] | None) -> None:
        self.text = text
        self.aliases = aliases or {}
        self.toks = lex(text)
        self.i = 0

    def error(self, message: str, tok: Tok | None = None) -> QueryError:
        tok = tok or self.toks[self.i]
        return QueryError(message, tok.start, tok.end - tok.start, self.text)

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise self.error("the query is empty")
        node = self.parse_or(None)
        if isinstance(node, Not) or (
            isinstance(node, And) and all(isinstance(c, Not) for c in node.children)
        ):
            raise QueryError(
                "a query cannot be only NOT: say what to look for, then what to leave out",
                0,
                len(self.text),
                self.text,
            )
        if self.tok.kind == ",":
            raise self.error("',' only separates the two arguments of NEAR/n(a, b)")
        if self.tok.kind == ")":
            raise self.error("unbalanced ')': no '(' opens it")
        if self.tok.kind != "END":  # pragma: no cover - parse_or consumes until ) or END
            raise self.error(f"unexpected {self.tok.value!r}")
        return node

    def parse_or(self, scope: str | None) -> Node:
        parts = [self.parse_and(scope)]
        while self.tok.kind == "OR":
            self.take()
            parts.append(self.parse_and(scope))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and(self, scope: str | None) -> Node:
        parts = [self.parse_unary(scope)]
        while self.tok.kind not in ("OR", ")", "END", ","):
            if self.tok.kind == "AND":
                self.take()
            parts.append(self.parse_unary(scope))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self, scope: str | None) -> Node:
        t = self.tok
        if t.kind in ("NOT", "MINUS"):
            self.take()
            if self.tok.kind in ("END", ")", "OR", "AND", ","):
                raise self.error(f"{t.value} must be followed by what to leave out", t)
            return Not(self.parse_unary(scope))
        return self.parse_primary(scope)

    def parse_primary(self, scope: str | None) -> Node:
        t = self.tok
        if t.kind == "(":
            self.take()
            if self.tok.kind == ")":
                raise self.error("empty parentheses", t)
            node = self.parse_or(scope)
            if self.tok.kind != ")":
                raise self.error("missing ')' for this '('", t)
            self.take()
            return node
        if t.kind == "NEAR":
            return self.parse_near(scope)
        if t.kind == "FIELD":
            return self.parse_field(scope)
        if t.kind in ("AND", "OR"):
            raise self.error(f"{t.value} needs a term on each side")
        if t.kind == ")":
            raise self.error("unbalanced ')': no '(' opens it")
        if t.kind == "END":
            raise self.error("the query ends where a term was expected")
        if t.kind == ",":
            raise self.error("',' only separates the two arguments of NEAR/n(a, b)")
        return self.parse_atom(scope)

    def parse_field(self, scope: str | None) -> Node:
        t = self.take()
        name = t.value
        if name not in SCOPES:
            hint = difflib.get_close_matches(name, SCOPES, n=1)
            extra = (
                f" (did you mean {hint[0]}:?)"
                if hint
                else f" (fields: {', '.join(s + ':' for s in SCOPES)})"
            )
            raise self.error(
                f"unknown field {name + ':'!r}{extra}; quote the text to search it literally", t
            )
        if scope is not None and scope != name:
            raise self.error(f"{name}: inside {scope}: can never match", t)
        if name == "link":
            return self.parse_link()
        if self.tok.kind == "(":
            return self.parse_primary(name)
        if self.tok.kind in ("NOT", "MINUS", "FIELD", "NEAR"):
            raise self.error(f"put {name}: before a term or a parenthesised group", t)
        return self.parse_atom(name)

    def parse_link(self) -> Node:
        if self.tok.kind == "(":
            open_ = self.take()
            hosts = [self.parse_host()]
            while self.tok.kind == "OR":
                self.take()
                hosts.append(self.parse_host())
            if self.tok.kind != ")":
                raise self.error("link:( ... ) takes domains joined by OR", open_)
            self.take()
            return hosts[0] if len(hosts) == 1 else Or(tuple(hosts))
        return self.parse_host()

    def parse_host(self) -> Node:
        t = self.take()
        host = t.value.lower().strip()
        if host.startswith(("http://", "https://")):
            host = host.split("://", 1)[1]
        host = host.split("/", 1)[0].removeprefix("www.").rstrip(".")
        if t.kind != "WORD" or not _HOST_RE.match(host):
            raise self.error("link: takes a domain such as reuters.com", t)
        return Domain(host)

    def parse_near(self, scope: str | None) -> Node:
        t = self.take()
        distance = int(t.value)
        if distance > MAX_NEAR:
            raise self.error(f"NEAR distance {distance} is too large (at most {MAX_NEAR})", t)
        if self.tok.kind != "(":
            raise self.error("NEAR/n is written NEAR/n(a, b)", t)
        open_ = self.take()
        left = self.parse_group(scope)
        if self.tok.kind != ",":
            raise self.error("NEAR/n(a, b) takes two arguments separated by ','")
        self.take()
        right = self.parse_group(scope)
        if self.tok.kind != ")":
            raise self.error("missing ')' to close NEAR/n(", open_)
        close = self.take()
        return Near(left, right, distance, self.text[t.start : close.end])

    def parse_group(self, scope: str | None) -> tuple[Term, ...]:
        start = self.tok
        if start.kind == "(":
            self.take()
            nodes = [self.parse_atom(scope)]
            while self.tok.kind == "OR":
                self.take()
                nodes.append(self.parse_atom(scope))
            if self.tok.kind != ")":
                raise self.error("inside NEAR, a group is (a OR b OR ...)", start)
            self.take()
        elif start.kind in ("WORD", "PHRASE", "ALIAS"):
            nodes = [self.parse_atom(scope)]
        else:
            raise self.error("NEAR takes words, phrases, prefixes, @aliases or (a OR b)")
        terms: list[Term] = []
        for node in nodes:
            flat = _terms_of(node)
            if flat is None:
                raise self.error(
                    "NEAR takes words, phrases, prefixes or aliases made of them", start
                )
            terms.extend(flat)
        return tuple(terms)

    def parse_atom(self, scope: str | None) -> Node:
        t = self.take()
        if t.kind == "ALIAS":
            node = self.aliases.get(t.value)
            if node is None:
                known = sorted(self.aliases)
                hint = difflib.get_close_matches(t.value, known, n=1)
                extra = f" (did you mean @{hint[0]}?)" if hint else ""
                if not known:
                    extra = " (define it under the top-level 'aliases:')"
                raise self.error(f"unknown alias @{t.value}{extra}", t)
            return with_scope(node, scope) if scope else node
        if t.kind == "REGEX":
            if not t.value:
                raise self.error("empty regular expression", t)
            try:
                rx = compile_regex(t.value)
            except ValueError as exc:
                raise self.error(f"invalid regular expression /{t.value}/: {exc}", t) from None
            if rx.search("") is not None:
                raise self.error(
                    f"regular expression /{t.value}/ matches empty text, so it matches everything",
                    t,
                )
            return Regex(t.value, scope)
        if t.kind == "PHRASE":
            if not tokenize(t.value):
                raise self.error(f"phrase {t.value!r} has no letters or digits to match", t)
            raw = t.value.strip() + ("*" if t.prefix else "")
            return Term.parse(raw, scope)
        if t.kind == "WORD":
            word = t.value
            if "*" in word.rstrip("*"):
                raise self.error("'*' is only allowed at the end of a word (prefix search)", t)
            if not tokenize(word.rstrip("*")):
                raise self.error(f"{word!r} has no letters or digits to match", t)
            return Term.parse(word, scope)
        raise self.error(f"unexpected {t.value!r}", t)  # pragma: no cover


def _terms_of(node: Node) -> list[Term] | None:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Or):
        out: list[Term] = []
        for child in node.children:
            sub = _terms_of(child)
            if sub is None:
                return None
            out.extend(sub)
        return out
    return None


def with_scope(node: Node, scope: str) -> Node:
    """``node`` with every unscoped term and regex limited to ``scope``."""
    if isinstance(node, Term):
        return node if node.scope else Term(node.text, node.tokens, node.prefix, scope)
    if isinstance(node, Regex):
        return node if node.scope else Regex(node.pattern, scope)
    if isinstance(node, And):
        return And(tuple(with_scope(c, scope) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(with_scope(c, scope) for c in node.children))
    if isinstance(node, Not):
        return Not(with_scope(node.child, scope))
    if isinstance(node, Near):
        return Near(
            tuple(with_scope(t, scope) for t in node.left),  # type: ignore[misc]
            tuple(with_scope(t, scope) for t in node.right),  # type: ignore[misc]
            node.distance,
            node.text,
        )
    return node


def parse_query(text: str, aliases: Mapping[str, Node] | None = None) -> Node:
    """The query tree of ``text``; raises QueryError (a ConfigError) positioned inside it."""
    return Parser(text, aliases).parse()


def parse_term_list(terms: Sequence[str], aliases: Mapping[str, Node] | None = None) -> list[Node]:
    """The elements of an ``any/all/none`` or alias list: each a phrase, or a whole ``@alias``."""
    out: list[Node] = []
    for t in terms:
        s = t.strip()
        if s.startswith("@"):
            out.append(parse_query(s, aliases))
        else:
            out.append(Term.parse(s))
    return out


def quote_term(term: str) -> str:
    """A list element written as query text that means the same (for ``expand_mapping``)."""
    s = term.strip()
    if s.startswith("@"):
        return s
    prefix = s.endswith("*")
    body = s.rstrip("*").replace('"', " ")
    return f'"{body}"' + ("*" if prefix else "")


def expand_mapping(any_: Sequence[str], all_: Sequence[str], none: Sequence[str]) -> str:
    """The query text an ``any/all/none`` mapping means."""
    parts: list[str] = []
    if any_:
        parts.append("(" + " OR ".join(quote_term(t) for t in any_) + ")")
    parts.extend(quote_term(t) for t in all_)
    if none:
        parts.append("NOT (" + " OR ".join(quote_term(t) for t in none) + ")")
    return " AND ".join(parts)


def never_matches(node: Node) -> str | None:
    """Why ``node`` can never match anything (a conjunction with its own negation), or None."""
    if isinstance(node, And):
        kids = node.children
        for c in kids:
            if isinstance(c, Not) and (c.child in kids):
                return f"it requires and excludes the same thing ({_show(c.child)})"
        for c in kids:
            why = never_matches(c)
            if why:
                return why
    if isinstance(node, Or) and all(never_matches(c) for c in node.children):
        return never_matches(node.children[0])
    return None


def _show(node: Node) -> str:
    if isinstance(node, Term | Near | Regex | Domain):
        return node.text
    return type(node).__name__
