"""html_to_text and clean_text: tables of hostile and ordinary inputs, and time bounds."""

from __future__ import annotations

import time

import pytest

from monitor.text import clean_text, html_to_text

HTML_CASES: list[tuple[str, str]] = [
    ("", ""),
    ("plain words", "plain words"),
    ("<p>one</p><p>two</p>", "one\n\ntwo"),
    ("one<br>two", "one\ntwo"),
    ("one<br/>two", "one\ntwo"),
    ("<div>a</div><div>b</div>", "a\n\nb"),
    ("<ul><li>first</li><li>second</li></ul>", "first\nsecond"),
    ("<h1>Title</h1>body", "Title\nbody"),
    ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
    ("<table><tr><td>a</td></tr><tr><td>b</td></tr></table>", "a\nb"),
    ("<dl><dt>term</dt><dd>definition</dd></dl>", "term\ndefinition"),
    ("<b>bold</b> and <i>italic</i>", "bold and italic"),
    ("<b>glued</b><i>inline</i>", "gluedinline"),  # inline elements do not separate words
    ("<script>alert('x')</script>visible", "visible"),
    ("<SCRIPT type='text/javascript'>var a = 1 < 2;</SCRIPT>ok", "ok"),
    ("<style>p { color: red }</style>text", "text"),
    ("<head><title>Page</title></head><body>Body</body>", "Body"),
    ("<noscript>enable JS</noscript>shown", "shown"),
    ("<!DOCTYPE html><html><body>x</body></html>", "x"),
    ("a<!-- hidden -->b", "ab"),
    ("a<!-- unterminated comment swallows the rest", "a"),
    ("<![CDATA[gone]]>kept", "kept"),
    ("<?php echo 1; ?>after", "after"),
    ("AT&amp;T &lt;tag&gt; &quot;q&quot; &#39;s&#x27;", "AT&T <tag> \"q\" 's'"),
    ("caf&eacute; &euro;5 &hellip;", "café €5 …"),
    ("a&nbsp;&nbsp;b", "a b"),
    ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
    ("I <3 feeds", "I <3 feeds"),
    ('<a href="https://example.com/?a=1&b=2" title="x>y">link</a>', "link"),
    ('<img src="x.png" alt="picture">caption', "caption"),
    ("<p>unclosed paragraph", "unclosed paragraph"),
    ("<p>a<p>b", "a\nb"),
    ("  lots   of\t\tspace \n\n\n\n here ", "lots of space\n\nhere"),
    ("<pre>  code  block  </pre>", "code block"),
    ("x\u202egnp.exe", "xgnp.exe"),  # bidi override removed (Trojan Source)
    ("Ap\u200bple", "Apple"),  # zero-width space cannot split a watched word
    ("<p>a</p>\r\n<p>b</p>", "a\n\nb"),
    ("&#0;&#1;text", "\ufffdtext"),  # NUL → U+FFFD (HTML5), never a raw control
]


@pytest.mark.parametrize(("html", "expected"), HTML_CASES)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


CLEAN_CASES: list[tuple[str, str]] = [
    ("", ""),
    ("simple", "simple"),
    ("  padded  ", "padded"),
    ("a\x00b\x01c\x07d\x1be\x7ff", "abcdef"),
    ("c1\x80\x85\x9fcontrols", "c1\ncontrols"),  # NEL (U+0085) is a line break
    ("tab\there", "tab here"),
    ("line1\nline2", "line1\nline2"),
    ("crlf\r\nline", "crlf\nline"),
    ("cr\rline", "cr\nline"),
    ("sep\u2028line\u2029para", "sep\nline\npara"),
    ("many\n\n\n\n\nblank", "many\n\nblank"),
    ("  spaces around \n newline  ", "spaces around\nnewline"),
    ("nbsp\u00a0and\u3000ideographic", "nbsp and ideographic"),
    ("\u202aLRE\u202bRLE\u202cPDF\u202dLRO\u202eRLO", "LRERLEPDFLRORLO"),
    ("\u2066LRI\u2067RLI\u2068FSI\u2069PDI", "LRIRLIFSIPDI"),
    ("zero\u200bwidth\u200cnon\u200djoiner\u2060wj\ufeffbom", "zerowidthnonjoinerwjbom"),
    ("soft\u00adhyphen", "softhyphen"),
    ("lone\ud800surrogate\udfff", "lonesurrogate"),
    ("rtl \u200fmark\u200e kept", "rtl \u200fmark\u200e kept"),
    ("Nihon \u65e5\u672c \u0627\u0644\u0639\u0631\u0628\u064a\u0629", "Nihon 日本 العربية"),
    ("emoji 🙂 stays", "emoji 🙂 stays"),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_CASES)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "max_len", "expected"),
    [
        ("abcdef", 10, "abcdef"),
        ("abcdef", 6, "abcdef"),
        ("abcdefgh", 6, "abcde…"),
        ("abc   defgh", 6, "abc d…"),  # collapsed before it is cut
        ("abcd efgh", 6, "abcd…"),  # no dangling space before the ellipsis
        ("abc", 0, ""),
        ("abc", -5, ""),
    ],
)
def test_clean_text_truncates(raw: str, max_len: int, expected: str) -> None:
    out = clean_text(raw, max_len)
    assert out == expected
    assert len(out) <= max(max_len, 0)


def test_clean_text_result_is_utf8_encodable() -> None:
    hostile = "".join(chr(c) for c in range(0, 0x3000)) + "\ud83d\ude00"
    clean_text(hostile).encode("utf-8")  # raises UnicodeEncodeError on a lone surrogate


# Each pattern, repeated to 1 MB, made CPython 3.11.7's html.parser take quadratic time
# (CVE-2025-6069 and its quote-scanning cousin: 200 KB of '<a b="x>"' took 99 s).
@pytest.mark.parametrize(
    "pattern",
    [
        "<a",
        "</",
        "<!",
        "<?",
        "<![",
        "<![CDATA[x>",
        '<a b="x>"',
        "<a b='x>'",
        '<a b="',
        "&#",
        "<!--",
    ],
)
def test_html_to_text_is_linear_on_hostile_markup(pattern: str) -> None:
    html = (pattern * (1_000_000 // len(pattern) + 1))[:1_000_000]
    start = time.perf_counter()
    html_to_text(html)
    assert time.perf_counter() - start < 5.0
