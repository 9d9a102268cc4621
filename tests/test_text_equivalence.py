"""html_to_text against the implementation it replaced (issue 5): the same text, always.

Until issue 5, html_to_text rewrote the markup with a linear regex (``_defuse``) and ran
stdlib ``html.parser`` over the result. The one-pass reader that replaced it must give the
same text for every input: checked here over every text of the feed corpus and over
generated markup soup. The old implementation is kept below, verbatim, as the oracle.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import feedparser
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.text import _BLOCK, _LINE, _SKIP, _SPACED, clean_text, html_to_text

# --- the implementation before issue 5 (the oracle) ------------------------------


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


def old_html_to_text(html: str) -> str:
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return clean_text(html)
    parser = _TextExtractor()
    parser.feed(_defuse(html))
    parser.close()
    return clean_text("".join(parser.parts))


TOKENS = [
    "<", ">", "</", "/>", "<p>", "</p>", "<script>", "</script>", "</SCRIPT >", "<style>",
    "</style>", "<!--", "-->", "<!x>", "<?x?>", "&", "&amp", "&amp;", "&lt;", "&#6", "&#x41;",
    ";", " ", "\n", "\t", "\r\n", "\xa0", "\u3000", "\u2028", "\x85", "\x1c", "\x0b", "a",
    "b c", "<br/>", "<td>", "</td>", "<div class='x>'>", '<a href="x">', "</a>", "<head>",
    "</head>", "<svg>", "</svg>", "<script/>", "</script_x>", "<li>", "é", "\u200b", "'", '"',
    "=", "<b", "</b", "<x-y>", "<1>", "…", "...",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_same_text_as_before_on_markup_soup(tokens: list[str]) -> None:
    html = "".join(tokens)
    assert html_to_text(html) == old_html_to_text(html)


def _corpus_texts(feeds: Path) -> list[str]:
    texts = []
    for path in sorted(p for p in feeds.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        texts.append(raw.decode("utf-8", "replace"))
        try:
            d = feedparser.parse(io.BytesIO(raw), sanitize_html=False, resolve_relative_uris=False)
        except Exception:
            continue
        for e in d.entries:
            texts += [v for k in ("title", "summary") if isinstance(v := e.get(k), str)]
            texts += [c["value"] for c in e.get("content") or () if isinstance(c.get("value"), str)]
    return texts


def test_same_text_as_before_on_the_feed_corpus(shared_dir: Path) -> None:
    texts = _corpus_texts(shared_dir / "feeds")
    assert len(texts) > 1000
    assert [html_to_text(t) for t in texts] == [old_html_to_text(t) for t in texts]
