"""Writing ``watchlist.yaml`` back: for commands that add feeds or edit rules.

Owns round-trip edits that keep the user's comments, ordering, quoting and ``${VAR}``
references intact (ruamel.yaml's round-trip mode works on the raw text, before any
substitution), checking the edited text with the same loader as ``monitor check`` before
anything is written, a backup of the previous version, and an atomic replace so a crash
never leaves half a file for the daemon's reload to read.

The rule editor edits one watch item as text: ``watch_blocks`` finds each item's lines,
``splice_item`` swaps one block (or appends a new one) leaving every other byte of the
file as it was, ``form_block`` turns the editor's form into a block, and
``write_watchlist_text`` writes a checked text unless the file changed meanwhile.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken

from monitor.errors import ConfigError, ConfigProblem
from monitor.watchlist import LoadedWatchlist, load_watchlist_text


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap the user's long lines (URLs)
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def edit_watchlist(
    path: str | os.PathLike[str], change: Callable[[CommentedMap], None]
) -> LoadedWatchlist:
    """Apply ``change`` to the file's round-trip tree, validate, back up, then replace atomically.

    Raises ConfigError (and writes nothing) when the file cannot be read or the edited
    text would not pass ``monitor check``.
    """
    path = Path(path)
    try:
        original = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), 1, 1, f"cannot read watchlist: {exc.strerror or exc}")]
        ) from exc
    y = _yaml()
    tree = y.load(original)
    if not isinstance(tree, CommentedMap):
        raise ConfigError([ConfigProblem(str(path), 1, 1, "the watchlist must be a mapping")])
    change(tree)
    buf = io.StringIO()
    y.dump(tree, buf)
    text = buf.getvalue()
    loaded = load_watchlist_text(text, path)  # raises ConfigError: nothing written
    _replace(path, text)
    return loaded


def _replace(path: Path, text: str) -> None:
    """Back up the file as ``<name>.bak``, then replace it atomically with ``text``."""
    backup = path.with_name(path.name + ".bak")
    shutil.copy2(path, backup)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_feeds(
    path: str | os.PathLike[str], feeds: Iterable[Mapping[str, Any]]
) -> tuple[LoadedWatchlist, list[str]]:
    """Append feeds (``{id, url, ...}``) to ``feeds:``, skipping URLs already listed.

    Returns the reloaded watchlist and the ids actually added.
    """
    added: list[str] = []

    def change(tree: CommentedMap) -> None:
        seq = tree.get("feeds")
        if not isinstance(seq, CommentedSeq):
            seq = CommentedSeq()
            tree["feeds"] = seq
        urls = {str(f.get("url")) for f in seq if isinstance(f, Mapping)}
        ids = {str(f.get("id")) for f in seq if isinstance(f, Mapping)}
        for feed in feeds:
            if str(feed["url"]) in urls:
                continue
            item = CommentedMap()
            for k, v in feed.items():
                item[k] = v
            if item["id"] in ids:
                raise ConfigError(f"a feed with id {item['id']!r} already exists")
            seq.append(item)
            urls.add(str(feed["url"]))
            ids.add(str(item["id"]))
            added.append(str(item["id"]))

    return edit_watchlist(path, change), added


# --- one watch item as text: the rule editor ------------------------------------------------


class WatchlistConflict(ConfigError):
    """The file changed since the editor read it: nothing was written."""


def revision_of(text: str) -> str:
    """The revision the loader gives this text (``LoadedWatchlist.revision``)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Block:
    """One watch item's lines in the file: ``text[start:end]``, from its ``-`` line on.

    Comments inside the item are part of it; blank lines and comments written at the
    list's own indentation after it belong to what follows (the next item's heading).
    """

    start: int
    end: int
    line: int  # 1-based line of the item's first line
    indent: int  # column (0-based) of the item's dash
    watch_id: str | None

    def text(self, source: str) -> str:
        return source[self.start : self.end]


def _rt_tree(text: str) -> CommentedMap:
    from monitor.watchlist import _yaml as _loader

    try:
        tree = _loader().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = ConfigProblem("watchlist.yaml", line, col, f"YAML error: {exc}")
        raise ConfigError([problem]) from exc
    if not isinstance(tree, CommentedMap):
        raise ConfigError(
            [ConfigProblem("watchlist.yaml", 1, 1, "the watchlist must be a mapping")]
        )
    return tree


def watch_blocks(text: str) -> list[Block]:
    """Every watch item's block, in file order. Raises ConfigError when the file cannot be
    parsed or ``watch:`` is not a block list (a flow list ``[...]`` has no per-item lines).

    Remembers the last few texts: the editor asks about the same file at every keystroke,
    and a round-trip parse of a long watchlist takes a good part of a second.
    """
    return list(_watch_blocks(text)[0])


def anchors(text: str) -> dict[str, Any]:
    """Every YAML anchor of the file (``&name``) as plain data, for checking one item alone
    (``watchlist.check_watch_item``); a name defined twice is left out."""
    return dict(_watch_blocks(text)[1])


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return str(node) if isinstance(node, str) else node


def _anchors_of(tree: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    twice: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        anchor = getattr(node, "anchor", None)
        name = getattr(anchor, "value", None) if anchor is not None else None
        if name:
            if name in found and found[name] is not node:
                twice.add(name)
            found[name] = node
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {k: _plain(v) for k, v in found.items() if k not in twice}


@functools.lru_cache(maxsize=8)
def _watch_blocks(text: str) -> tuple[tuple[Block, ...], dict[str, Any]]:
    tree = _rt_tree(text)
    seq = tree.get("watch")
    if not isinstance(seq, CommentedSeq) or not len(seq):
        raise ConfigError("the watchlist has no watch: list of items")
    if seq.fa.flow_style():
        raise ConfigError("watch: is written as a flow list [...]: edit it in a text editor")
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for one in lines:
        offsets.append(offsets[-1] + len(one))

    def dash_line(i: int) -> tuple[int, int]:
        first: int = seq.lc.item(i)[0]
        key_col: int = seq.lc.item(i)[1]
        for ln in range(min(first, len(lines) - 1), -1, -1):
            src = lines[ln]
            k = len(src) - len(src.lstrip(" "))
            if k < key_col and src[k : k + 1] == "-":
                return ln, k
        return first, max(0, key_col - 2)

    starts = [dash_line(i) for i in range(len(seq))]
    keys = list(tree)
    after = keys.index("watch") + 1
    seq_end: int = tree.lc.key(keys[after])[0] if after < len(keys) else len(lines)
    blocks = []
    for i, (ln, col) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else seq_end
        while end > ln + 1:
            src = lines[end - 1]
            stripped = src.strip()
            k = len(src) - len(src.lstrip(" "))
            if stripped == "" or (stripped.startswith("#") and k <= col):
                end -= 1
            else:
                break
        item = seq[i]
        wid = item.get("id") if isinstance(item, CommentedMap) else None
        blocks.append(
            Block(offsets[ln], offsets[end], ln + 1, col, str(wid) if wid is not None else None)
        )
    return tuple(blocks), _anchors_of(tree)


def find_block(text: str, watch_id: str) -> Block | None:
    return next((b for b in watch_blocks(text) if b.watch_id == watch_id), None)


def splice_item(text: str, watch_id: str | None, block: str) -> tuple[str, int]:
    """The file's text with ``watch_id``'s block replaced by ``block`` (None: appended after
    the last item), and the 1-based line where the block starts in the new text."""
    blocks = watch_blocks(text)
    if watch_id is None:
        start = end = blocks[-1].end
        block = "\n" + block.lstrip("\n")  # a blank line between items, as the file has
    else:
        found = next((b for b in blocks if b.watch_id == watch_id), None)
        if found is None:
            raise ConfigError(f"no watch item {watch_id!r} in the file")
        start, end = found.start, found.end
    block = block.replace("\r\n", "\n").replace("\r", "\n")
    if block and not block.endswith("\n") and (end < len(text) or text.endswith("\n")):
        block += "\n"
    if start > 0 and text[start - 1] != "\n":
        block = "\n" + block
    start_line = text.count("\n", 0, start) + 1 + (len(block) - len(block.lstrip("\n")))
    return text[:start] + block + text[end:], start_line


# Form fields of a watch item, in the order a new item is written.
SCALARS = ("id", "name", "look_for", "why", "priority", "expected_by", "min_score", "exclude")
DEFAULTS: dict[str, object] = {"priority": "normal", "min_score": 0}


@dataclass(frozen=True)
class ItemForm:
    """What the editor's form holds for one item (every value as typed)."""

    id: str = ""
    name: str = ""
    look_for: str = ""
    why: str = ""
    match_kind: str = "query"  # "query" | "lists"
    match: str = ""
    match_any: tuple[str, ...] = ()
    match_all: tuple[str, ...] = ()
    match_none: tuple[str, ...] = ()
    exclude: str = ""
    priority: str = "normal"
    expected_by: str = ""
    min_score: str = "0"
    sources_allow: tuple[str, ...] = ()
    sources_deny: tuple[str, ...] = ()


def form_of(item: Mapping[str, Any]) -> ItemForm:
    """The form's values for an item as the loader's raw data (or the round-trip tree) has it."""
    match = item.get("match")
    sources = item.get("sources") if isinstance(item.get("sources"), Mapping) else {}

    def terms(v: Any) -> tuple[str, ...]:
        return tuple(str(x) for x in v) if isinstance(v, list) else ()

    def s(v: Any) -> str:
        return "" if v is None else str(v)

    return ItemForm(
        id=s(item.get("id")),
        name=s(item.get("name")),
        look_for=s(item.get("look_for")),
        why=s(item.get("why")),
        match_kind="lists" if isinstance(match, Mapping) else "query",
        match=match if isinstance(match, str) else "",
        match_any=terms(match.get("any")) if isinstance(match, Mapping) else (),
        match_all=terms(match.get("all")) if isinstance(match, Mapping) else (),
        match_none=terms(match.get("none")) if isinstance(match, Mapping) else (),
        exclude=s(item.get("exclude")),
        priority=s(item.get("priority") or "normal"),
        expected_by=s(item.get("expected_by")),
        min_score=s(item.get("min_score", 0)),
        sources_allow=terms(sources.get("allow")),  # type: ignore[union-attr]
        sources_deny=terms(sources.get("deny")),  # type: ignore[union-attr]
    )


@functools.lru_cache(maxsize=4)
def item_forms(text: str) -> dict[str, ItemForm]:
    """Every watch item's form values as the file's text has them (``${VAR}`` unexpanded),
    remembered for the last few texts: the editor page asks at every load."""
    seq = _rt_tree(text).get("watch")
    items = seq if isinstance(seq, CommentedSeq) else []
    return {str(w["id"]): form_of(w) for w in items if isinstance(w, CommentedMap) and "id" in w}


def _scalar(key: str, value: str) -> object:
    value = value.strip() if key not in ("look_for", "why") else value.strip("\n")
    if key == "min_score" and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    if key == "expected_by":
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


def form_block(text: str, watch_id: str | None, form: ItemForm) -> str:
    """The item's block with the form's values: only what changed is rewritten, so the
    item's comments, quoting and YAML anchors stay as they were (a new item is appended).

    Raises ConfigError when a changed list is a YAML anchor other items use (``&name``):
    the form cannot say whether the others should change too; YAML mode can.

    The item's lines are round-tripped alone (with the anchors they alias), not the
    whole file; the whole file only when the lines cannot be read alone.
    """
    fast = _form_block_alone(text, watch_id, form)
    return fast if fast is not None else _form_block_whole(text, watch_id, form)


_ALIAS_NAME_RE = re.compile(r"(?:^|[\s\[{,])\*([^\s,\[\]{}]+)")


def _form_block_alone(text: str, watch_id: str | None, form: ItemForm) -> str | None:
    blocks = watch_blocks(text)
    found = blocks[-1] if watch_id is None else find_block(text, watch_id)
    if found is None or found.indent != 2:  # _yaml() writes the list at indentation 2
        return None
    old_text = "" if watch_id is None else found.text(text)
    known = anchors(text)
    preamble = ""
    for name in dict.fromkeys(_ALIAS_NAME_RE.findall(old_text)):
        if name not in known:
            return None
        try:
            preamble += f"  - &{name} {json.dumps(known[name], ensure_ascii=False)}\n"
        except (TypeError, ValueError):
            return None
    head = ("_anchors:\n" + preamble if preamble else "") + "watch:\n"
    y = _yaml()
    try:
        tree = y.load(head + old_text) if old_text else None
    except Exception:  # YAML errors: the whole file's round trip says what it says
        return None
    if tree is None:
        tree = CommentedMap()
        tree["watch"] = CommentedSeq()
    seq = tree.get("watch") if isinstance(tree, CommentedMap) else None
    if not isinstance(seq, CommentedSeq):
        return None
    if watch_id is None:
        if len(seq):
            return None
        node = CommentedMap()
        seq.append(node)
    elif len(seq) != 1 or not isinstance(seq[0], CommentedMap) or seq[0].get("id") != watch_id:
        return None
    else:
        node = seq[0]
        stack: list[Any] = [node]
        while stack:  # the item's own anchors are written even though no alias is in sight
            n = stack.pop()
            anchor = getattr(n, "anchor", None)
            if anchor is not None and anchor.value:
                n.yaml_set_anchor(anchor.value, always_dump=True)
            stack.extend(n.values() if isinstance(n, Mapping) else n if isinstance(n, list) else ())
    old = form_of(node)
    if watch_id is not None and old == form:
        return old_text
    _apply_form(node, old, form, watch_id)
    buf = io.StringIO()
    y.dump(tree, buf)
    dumped = buf.getvalue()
    at = dumped.find("\nwatch:\n") + 1 if preamble else 0
    if not dumped.startswith("watch:\n", at):
        return None
    return dumped[at + len("watch:\n") :]


def _apply_form(node: CommentedMap, old: ItemForm, form: ItemForm, watch_id: str | None) -> None:
    """Set the form's changed values on the item's round-trip node."""
    for key in SCALARS:
        new, was = getattr(form, key), getattr(old, key)
        if new.replace("\r\n", "\n").strip() == was.strip() and (key in node or watch_id):
            continue
        value = _scalar(key, new.replace("\r\n", "\n"))
        if value in ("", None) or (key not in node and DEFAULTS.get(key) == value):
            node.pop(key, None)
            continue
        if isinstance(value, str) and "\n" in value:
            value = LiteralScalarString(value)
        _put(node, key, value)
    if form.match_kind == "query":
        if old.match_kind != "query" or form.match.strip() != old.match.strip():
            _put(node, "match", form.match.strip())
    else:
        spec = node.get("match")
        if not isinstance(spec, CommentedMap):
            spec = CommentedMap()
            _put(node, "match", spec)
        for key in ("any", "all", "none"):
            new_terms = list(getattr(form, f"match_{key}"))
            if old.match_kind == "lists" and tuple(new_terms) == getattr(old, f"match_{key}"):
                continue
            _set_list(spec, key, new_terms)
    if form.sources_allow != old.sources_allow or form.sources_deny != old.sources_deny:
        src = node.get("sources")
        if not isinstance(src, CommentedMap):
            src = CommentedMap()
            _put(node, "sources", src)
        _set_list(src, "allow", list(form.sources_allow))
        _set_list(src, "deny", list(form.sources_deny))
        if not src:
            del node["sources"]


def _form_block_whole(text: str, watch_id: str | None, form: ItemForm) -> str:
    """``form_block`` through a round trip of the whole file."""
    y = _yaml()
    tree = y.load(text)
    seq = tree["watch"]
    if watch_id is None:
        node = CommentedMap()
        seq.append(node)
        index = len(seq) - 1
    else:
        index = next(
            i for i, w in enumerate(seq) if isinstance(w, CommentedMap) and w.get("id") == watch_id
        )
        node = seq[index]
    old = form_of(node)
    if watch_id is not None and old == form:
        unchanged = find_block(text, watch_id)
        if unchanged is not None:
            return unchanged.text(text)
    _apply_form(node, old, form, watch_id)
    buf = io.StringIO()
    y.dump(tree, buf)
    dumped = buf.getvalue()
    if watch_id is not None:
        # ruamel writes an unchanged file back byte for byte, so when everything before
        # and after the item is as it was, the item's new text lies between: no re-parse.
        old_block = find_block(text, watch_id)
        if old_block is not None:
            head, tail = old_block.start, len(text) - old_block.end
            if (
                len(dumped) - tail >= head
                and dumped[:head] == text[:head]
                and dumped[len(dumped) - tail :] == text[old_block.end :]
            ):
                return dumped[head : len(dumped) - tail]
    return watch_blocks(dumped)[index].text(dumped)


ORDER: tuple[str, ...] = ("id", "name", "look_for", "why", "priority", "expected_by")
ORDER += ("min_score", "match", "exclude", "sources")


def _put(node: CommentedMap, key: str, value: object) -> None:
    """Set ``key``; a new key goes after the keys that come before it in ``ORDER`` (not at
    the end, where the item's trailing blank line and comments are attached)."""
    if key in node:
        node[key] = value
        return
    before = ORDER[: ORDER.index(key)] if key in ORDER else ORDER
    keys = list(node)
    pos = max((keys.index(k) + 1 for k in before if k in node), default=0)
    node.insert(pos, key, value)
    if keys and pos == len(keys):
        # After the last key: what followed its line (blank lines, the next item's
        # heading comment) now follows the new key; its own end-of-line comment stays.
        slot = node.ca.items.get(keys[-1])
        tok = slot[2] if slot and len(slot) > 2 else None
        if tok is not None and "\n" in tok.value:
            head, _, tail = tok.value.partition("\n")
            if tail:
                tok.value = head + "\n"
                node.ca.items[key] = [None, None, CommentToken(tail, tok.start_mark), None]


def _set_list(parent: CommentedMap, key: str, terms: list[str]) -> None:
    old = parent.get(key)
    if isinstance(old, CommentedSeq) and old.anchor.value and list(map(str, old)) != terms:
        raise ConfigError(
            f"the {key} list is the YAML anchor &{old.anchor.value}, shared with other items: "
            "edit it in YAML mode"
        )
    if not terms:
        parent.pop(key, None)
        return
    # Terms kept from the old list keep their quoting; new ones are quoted as the old were.
    kept = {str(t): t for t in old} if isinstance(old, CommentedSeq) else {}
    style = next((type(t) for t in kept.values() if isinstance(t, ScalarString)), None)
    seq = CommentedSeq(kept.get(t, style(t) if style else t) for t in terms)
    if isinstance(old, CommentedSeq) and len(old) and (len(old) - 1) in old.ca.items:
        # The comment after the old list's last term heads whatever follows: keep it.
        seq.ca.items[len(terms) - 1] = old.ca.items[len(old) - 1]
    if (isinstance(old, CommentedSeq) and old.fa.flow_style()) or (
        not isinstance(old, CommentedSeq) and sum(len(t) for t in terms) < 60
    ):
        seq.fa.set_flow_style()
    parent[key] = seq


def write_watchlist_text(
    path: str | os.PathLike[str], text: str, expected_revision: str | None
) -> LoadedWatchlist:
    """Write ``text`` as the watchlist if it passes ``monitor check`` and the file is still
    at ``expected_revision`` (WatchlistConflict otherwise); backup and atomic replace."""
    path = Path(path)
    loaded = load_watchlist_text(text, path)  # raises ConfigError: nothing written
    with _WRITE_LOCK:
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [ConfigProblem(str(path), 1, 1, f"cannot read watchlist: {exc.strerror or exc}")]
            ) from exc
        if expected_revision is not None and revision_of(current) != expected_revision:
            raise WatchlistConflict(
                f"{path.name} changed since this editor loaded it (revision "
                f"{expected_revision} -> {revision_of(current)}): nothing was saved. "
                "Reload the page to edit the current version (copy your changes first)."
            )
        _replace(path, text)
    return loaded


_WRITE_LOCK = threading.Lock()
