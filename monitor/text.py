"""Feed text to plain text: HTML stripping and hostile-character cleaning.

Owns: :func:`html_to_text` (HTML fragment → readable plain text, one pass of a
linear regex, stdlib only) and :func:`clean_text` (removes characters that hide or reorder text, collapses
whitespace, bounds the length). Both are pure and never raise on any ``str`` input.

Does not own: escaping text for a target format (Slack, Discord, Markdown); the digest
stage does that. Text here is *plain*, not safe for any markup language.

Feed text is hostile (DESIGN.md principle 10): bidi overrides can make "evil.com/moc.elppa"
read as "apple.com/..." (CVE-2021-42574, "Trojan Source"), and zero-width characters can
split a watched word ("Ap\u200bple") so a keyword matcher misses it. Both are removed.
"""

from __future__ import annotations

import re
from html import unescape as _unescape

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
    return clean_text("".join(_text_parts(html)))


# One linear pass of a possessive regex over the markup; see _text_parts.
#   - comments are removed (an unterminated one swallows the rest, as in browsers);
#   - declarations, processing instructions and CDATA markers ("<!...>", "<?...>") are
#     removed;
#   - a tag is reduced to its lowercased name (we never read attributes);
#   - any other "<" is text (escaped as "&lt;" before unescaping, as the rewrite did).
# Why not html.parser: before CPython 3.11.13/3.12.11/3.13.5 it takes quadratic time on
# markup with many unterminated constructs (CVE-2025-6069: "<a<a<a...", "</</...",
# "<?<?..."), and its quote-aware attribute scanning is quadratic on '<a b="x>"' repeated
# (measured on 3.11.7: 200 KB of "<a" took 29 s, 200 KB of '<a b="x>"' 99 s). Until
# issue 5 this module rewrote the markup with the regex below and then ran html.parser
# over the result; reading the regex's matches directly gives the same text (checked
# against that implementation in tests/test_text.py) at about a third of the cost, which
# mattered: converting feed HTML was the largest cost of a cold poll cycle.
_MARKUP_RE = re.compile(
    r"""
    <(?:  # one literal "<" first: search() then skips to each "<" at C speed
        (?P<comment> !--(?s:.*?)(?:-->|\Z) )
      | (?P<decl> [!?][^<>]*+> )
      | (?P<close>/?)(?P<name>[A-Za-z][^\s/<>]*+)
          (?P<attrs>(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+)>
    )
    """,
    re.VERBOSE,
)
_NAME_RE = re.compile(r"[a-z][a-z0-9-]*")
# Elements whose content is raw text up to their end tag (html.parser's CDATA elements):
# markup inside them is not markup.
_RAW_TEXT = frozenset({"script", "style"})


def _text_parts(html: str) -> list[str]:
    """The text pieces of ``html``: data (unescaped), "\n" for block and line boundaries,
    " " around table cells; content of _SKIP elements dropped."""
    parts: list[str] = []
    data: list[str] = []  # raw text since the last tag, unescaped when a tag ends it
    skip_depth = 0
    raw_text: str | None = None  # inside <script>/<style>: everything up to its end tag
    pos = 0  # end of the last markup read
    search = _MARKUP_RE.search
    # search() tries the alternatives at each "<" in C, so a run of "<" that starts no
    # markup ("<a<a<a...") costs no Python step per "<"; possessive quantifiers that never
    # pass the next "<" keep each attempt, and so the whole scan, linear.
    while (m := search(html, pos)) is not None:
        start, end = m.start(), m.end()
        if raw_text is not None:
            pos = end
            if m.group("close") and _tag_name(m) == raw_text:
                raw_text = None
                if skip_depth:
                    skip_depth -= 1
            continue
        if start > pos:
            data.append(html[pos:start].replace("<", "&lt;"))
        pos = end
        if m.group("name") is None:
            continue  # a comment or declaration: gone, the text around it joins
        if data:
            if not skip_depth:
                text = "".join(data)
                parts.append(_unescape(text) if "&" in text else text)
            data.clear()
        name = _tag_name(m)
        if m.group("close"):  # end tag
            if name in _SKIP:
                if skip_depth:
                    skip_depth -= 1
            elif name in _BLOCK:
                parts.append("\n")
            elif name in _SPACED:
                parts.append(" ")
        elif m.group("attrs").endswith("/"):  # <br/>, <script/>: nothing to skip
            if name in _BLOCK or name in _LINE:
                parts.append("\n")
            elif name in _SPACED:
                parts.append(" ")
        elif name in _SKIP:
            skip_depth += 1
            if name in _RAW_TEXT:
                raw_text = name
        elif name in _BLOCK or name in _LINE:
            parts.append("\n")
        elif name in _SPACED:
            parts.append(" ")
    if raw_text is None:
        if pos < len(html):
            data.append(html[pos:].replace("<", "&lt;"))
        if data and not skip_depth:
            text = "".join(data)
            parts.append(_unescape(text) if "&" in text else text)
    return parts


def _tag_name(m: re.Match[str]) -> str:
    named = _NAME_RE.match(m.group("name").lower())
    return named.group(0) if named else "x"


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
    # Whitespace other than newline collapses to one space, lines lose their leading and
    # trailing spaces, at most one blank line in a row, both ends stripped. What is left
    # here that str.split() splits on is exactly what the regex \s matches (both use
    # Py_UNICODE_ISSPACE), minus the newline handled per line.
    if "\n" not in s:
        s = " ".join(s.split())
    else:
        s = "\n".join([" ".join(line.split()) for line in s.split("\n")])
        if "\n\n\n" in s:
            s = _MANY_NL_RE.sub("\n\n", s)
        s = s.strip()
    if max_len <= 0:
        return ""
    if len(s) > max_len:
        s = s[: max_len - 1].rstrip() + "…"
    return s
