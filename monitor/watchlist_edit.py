"""Writing ``watchlist.yaml`` back: for commands that add feeds or edit rules.

Owns round-trip edits that keep the user's comments, ordering, quoting and ``${VAR}``
references intact (ruamel.yaml's round-trip mode works on the raw text, before any
substitution), checking the edited text with the same loader as ``monitor check`` before
anything is written, a backup of the previous version, and an atomic replace so a crash
never leaves half a file for the daemon's reload to read.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

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
    return loaded


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
