"""Feed text to plain text: HTML stripping and hostile-character cleaning.

Owns: :func:`html_to_text` (HTML fragment → readable plain text, stdlib ``html.parser``
only) and :func:`clean_text` (removes characters that hide or reorder text, collapses
whitespace, bounds the length). Both are pure and never raise on any ``str`` input.

Does not own: escaping text for a target format (Slack, Discord, Markdown); the digest
stage does that. Text here is *plain*, not safe for any markup language.

Feed text is hostile (DESIGN.md principle 10): bidi overrides can make "evil.com/moc.elppa"
read as "apple.com/..." (CVE-2021-42574, "Trojan Source"), and zero-width characters can
split a watched word ("Ap\u200bple") so a keyword matcher misses it. Both are removed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["clean_text", "html_to_text"]

# Elements whose content is never text a reader sees.
_SKIP = frozenset({"script", "style", "head", "template", "noscript", "svg", "math"})
# Elements that start a new line when rendered: words on either side must not glue.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "center",
        "details", "dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
        "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "tfoot", "thead", "ul", "body", "html", "iframe", "img", "video",
        "audio", "object", "embed", "picture",
    }
)  # fmt: skip
# Elements that start a line but do not end a paragraph: list items, rows, line breaks.
_LINE = frozenset({"br", "li", "tr", "dt", "dd", "option"})
# Table cells and similar inline-ish boxes: separated by a space, not a line break.
_SPACED = frozenset({"td", "th", "label", "button", "input", "textarea"})


class _TextExtractor(HTMLParser):
    """Collects text nodes; block boundaries become newlines, cells become spaces."""

    def __init__(self) -> None:
        # convert_charrefs=True: entities in text are unescaped by the parser, including
        # ones split across feed() calls.
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag in _BLOCK or tag in _LINE:
            self.parts.append("\n")
        elif tag in _SPACED:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <script/>: a self-closed skip element has no content to skip.
        if tag in _BLOCK or tag in _LINE:
            self.parts.append("\n")
        elif tag in _SPACED:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if self.skip_depth:
                self.skip_depth -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag in _SPACED:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML fragment as plain text.

    Tags are dropped; the content of ``script``/``style``/``head`` (and similar) is
    dropped; block elements (``p``, ``div``, ``br``, ``li``, headings ...) become line
    breaks and table cells become spaces, so words in adjacent blocks never glue
    together; entities are unescaped; the result goes through :func:`clean_text` with no
    length bound beyond the default.
    """
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return clean_text(html)
    parser = _TextExtractor()
    parser.feed(_defuse(html))
    parser.close()
    return clean_text("".join(parser.parts))


# html.parser before CPython 3.11.13/3.12.11/3.13.5 takes quadratic time on markup with
# many unterminated constructs (CVE-2025-6069: "<a<a<a...", "</</...", "<?<?..."), and its
# quote-aware attribute scanning is quadratic on '<a b="x>"' repeated. Measured here on
# 3.11.7: 200 KB of "<a" took 29 s, 200 KB of '<a b="x>"' 99 s. _defuse rewrites the input
# in linear time (possessive regexes that never scan past the next "<") so that the
# parser only ever sees attribute-free tags, "&lt;" and text:
#   - comments are removed (an unterminated one swallows the rest, as in browsers);
#   - declarations, processing instructions and CDATA markers ("<!...>", "<?...>") are
#     removed;
#   - a tag is re-emitted as "<name>", "</name>" or "<name/>" without its attributes
#     (we never read attributes);
#   - any other "<" is escaped as "&lt;" and so stays visible as text.
_MARKUP_RE = re.compile(
    r"""
    (?P<comment> <!--(?s:.*?)(?:-->|\Z) )
  | (?P<decl> <[!?][^<>]*+> )
  | <(?P<close>/?)(?P<name>[A-Za-z][^\s/<>]*+)
       (?P<attrs>(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+)>
  | (?P<lt> < )
    """,
    re.VERBOSE,
)
_NAME_RE = re.compile(r"[a-z][a-z0-9-]*")


def _normalise(m: re.Match[str]) -> str:
    if m.group("comment") is not None or m.group("decl") is not None:
        return ""
    if m.group("lt") is not None:
        return "&lt;"
    named = _NAME_RE.match(m.group("name").lower())
    name = named.group(0) if named else "x"
    if m.group("close"):
        return f"</{name}>"
    return f"<{name}/>" if m.group("attrs").endswith("/") else f"<{name}>"


def _defuse(html: str) -> str:
    return _MARKUP_RE.sub(_normalise, html)


# Characters removed outright (besides categories Cc/Cs handled below):
#   U+202A-U+202E  LRE RLE PDF LRO RLO   bidi embeddings/overrides (Trojan Source)
#   U+2066-U+2069  LRI RLI FSI PDI       bidi isolates (Trojan Source)
#   U+200B-U+200D  ZWSP ZWNJ ZWJ         zero-width; split words invisibly
#   U+2060-U+2064  WJ and invisible math operators
#   U+FEFF         BOM / zero-width no-break space
#   U+180E         Mongolian vowel separator (zero width since Unicode 6.3)
#   U+00AD         soft hyphen (invisible unless a line breaks there)
#   U+FFFE U+FFFF  noncharacters
# Kept on purpose: U+200E/U+200F (LRM/RLM) marks, which right-to-left text (e.g. BBC Urdu)
# needs for correct display and which cannot reorder text the way overrides can.
_REMOVE_RE = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060-\u2064\ufeff\u180e\u00ad\ufffe\uffff]"
)
_LINE_BREAKS_RE = re.compile("\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
_HSPACE_RE = re.compile(r"[^\S\n]+")  # any whitespace except newline
_SPACE_AROUND_NL_RE = re.compile(r" *\n *")
_MANY_NL_RE = re.compile(r"\n{3,}")


# C0/C1 controls except tab and newline (category Cc), and lone surrogates (category Cs),
# which cannot be encoded as UTF-8 and would make the database write fail.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(s: str, max_len: int = 20000) -> str:
    """Return ``s`` without hostile or invisible characters, whitespace collapsed.

    Removes control characters except newline and tab, bidi override/isolate characters,
    zero-width characters and lone surrogates; turns CR, CRLF and Unicode line/paragraph
    separators into newlines; collapses runs of other whitespace (tab, NBSP, ideographic
    space ...) to one space; keeps at most one blank line in a row; strips both ends.
    When the result is longer than ``max_len`` characters it is cut and ends with "…",
    so the length never exceeds ``max_len``.
    """
    if not s:
        return ""
    if s.isascii():  # the common case: skip the passes that only non-ASCII can trigger
        if "\r" in s or "\x0b" in s or "\x0c" in s:
            s = _LINE_BREAKS_RE.sub("\n", s)
        s = _ASCII_CONTROL_RE.sub("", s)
    else:
        s = _LINE_BREAKS_RE.sub("\n", s)
        s = _REMOVE_RE.sub("", s)
        s = _CONTROL_RE.sub("", s)
    s = _HSPACE_RE.sub(" ", s)
    s = _SPACE_AROUND_NL_RE.sub("\n", s)
    s = _MANY_NL_RE.sub("\n\n", s).strip()
    if max_len <= 0:
        return ""
    if len(s) > max_len:
        s = s[: max_len - 1].rstrip() + "…"
    return s
