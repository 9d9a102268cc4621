"""Matched words of feed text as (text, is_hit) segments, for ``<mark>`` in templates.

Feed text is hostile: templates escape every segment and wrap the hits in ``<mark>``
themselves (never ``|safe``). Words are found with the matcher's own tokenizer
(``monitor.match``: folding, possessives), so "Méta's" is marked for a search of "meta".
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.match import Hit, _end_of, _token_spans
from monitor.match import segments as _cut

Segments = list[tuple[str, bool]]


def words(text: str, query: Sequence[tuple[str, bool]]) -> Segments:
    """``text`` with every word of a search (``(token, is_prefix)``) marked."""
    exact = {t for t, p in query if not p}
    prefixes = tuple(t for t, p in query if p)
    spans = []
    for tok, start in _token_spans(text):
        if tok in exact or (prefixes and tok.startswith(prefixes)):
            spans.append((start, _end_of(text, start)))
    return _cut(text, spans)


def hits(text: str, field: str, found: Sequence[Hit]) -> Segments:
    """``text`` (the entry's ``field``) with the matcher's hits in that field marked."""
    spans = _token_spans(text)
    marks = []
    for _, fname, start, end in found:
        if fname != field or start < 0 or end > len(spans) or start >= end:
            continue
        marks.append((spans[start][1], _end_of(text, spans[end - 1][1])))
    return _cut(text, marks)


def safe_link(link: str | None) -> str | None:
    """A feed's link if it is http(s); anything else (``javascript:``...) is not linked."""
    if link and link.strip().lower().startswith(("http://", "https://")):
        return link.strip()
    return None
