"""The rule editor: one watch item as a form or as its YAML, checked and previewed as you type.

``GET /catalysts/{id}/edit`` (``?mode=yaml``) and ``GET /catalysts/new`` show the item;
every keystroke (htmx, 400 ms after the last) posts the draft to ``.../edit/preview``,
which splices it into the current file text (``watchlist_edit.splice_item``), validates
the whole file exactly as ``monitor check`` does, and runs the draft rule and the saved
rule over every stored entry: what the draft matches, what it adds and what it drops.
``POST .../edit`` saves: the same checks, then ``watchlist_edit.write_watchlist_text``
(backup, atomic replace, refused when the file changed since the page was loaded), then
``ctx.on_saved()`` so the daemon reloads at once.

The preview reads the backtest's search index with a finer prefilter than the backtest's
(``backtest.index_query``), so it loads about as many entries as the rule matches, builds
their ``match.Doc`` from the tokens the index keeps per entry (``entry_tokens``: no folding
or tokenizing again), and keeps them between keystrokes: a keystroke re-evaluates only.
Each preview runs in a background thread; its request waits for it until ``ANSWER_WAIT`` s
after it arrived, then answers "counting" and the page asks again: no request waits on a
heavy run.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor import watchlist_edit as we
from monitor.backtest import Prepared, PreviewDoc, RuleResults, index_query, update_index
from monitor.errors import ConfigError
from monitor.match import CompiledItem, Hit
from monitor.types import EntryData
from monitor.ui import highlight
from monitor.ui.context import UIContext
from monitor.ui.highlight import safe_link
from monitor.ui.pages import fragment, page
from monitor.watchlist import (
    LoadedWatchlist,
    check_watch_item,
    load_watchlist_text,
    render_problem,
)

if TYPE_CHECKING:
    from storage.store import Store

LIST_LIMIT = 20  # entries listed per group in the preview (the counts are exact)
SCAN_CAP = 20_000  # a rule with no indexable word is run over the newest this many entries
DOC_CACHE = 8_000  # parsed entries kept between keystrokes (8-11 KiB each here)
UNIVERSES = 16  # candidate id sets kept, per prefilter query
RUNS = 8  # the last drafts' results kept (a "counting" answer's poll shows its run's)
BACKGROUND_INDEX = 5_000  # more unindexed entries than this are indexed in the background
ANSWER_WAIT = 0.12  # s after a preview request arrives, it answers "counting" if not done
MIN_WAIT = 0.02  # s a request waits for its run at least (its check of the draft was slow)
SWITCH_INTERVAL = 0.001  # s, the GIL switch interval while the pages run (see ``routes``)
POLL_DELAY_MS = 100  # a "counting" answer asks again this long after it is shown
WARM_SLICE = 200  # entries read and parsed per slice of a background warm-up (~10 ms)
STARTUP_PAUSE = 0.03  # s between the start-up warm-up's slices: the pages come first
STARTUP_IDLE = 0.25  # s without page work before each slice of the start-up warm-up
FREEZE_OVER = 1_000  # parsed entries after the start-up warm-up from which gc.freeze() pays

log = logging.getLogger(__name__)


# --- the preview engine -----------------------------------------------------------------------


@dataclass
class RuleRun:
    hits: dict[int, tuple[Hit, ...]]
    scanned: int
    capped: bool


class _Docs(Mapping[int, Prepared]):
    """The parsed entries of one run, read from the engine's cache; the first entry the
    cache lacks loads every one of ``ids`` it lacks, in one go (a run whose results are
    all known reads only the entries it matched)."""

    def __init__(self, eng: Engine, ids: Sequence[int]) -> None:
        self.eng, self.ids, self.loaded = eng, ids, False

    def __getitem__(self, i: int) -> Prepared:
        docs = self.eng.docs
        got = docs.get(i)
        if got is None and not self.loaded:
            self.loaded = True
            self.eng._load([j for j in self.ids if j not in docs])
            got = docs.get(i)
        if got is None:
            raise KeyError(i)
        return got

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class _Job:
    """A preview run in the background (its request answers "counting" until it is done)."""

    key: tuple[Any, ...]
    thread: threading.Thread
    cancel: threading.Event
    todo: int = 0  # entries it has to read (counted by the run itself: 0 until then)


@dataclass
class Engine:
    """Per store: the index catch-up, parsed entries, what rule nodes matched (kept
    between keystrokes: ``backtest.RuleResults``) and the saved rules' results."""

    store: Store
    index_lock: threading.Lock = field(default_factory=threading.Lock)
    indexing: threading.Thread | None = None
    warming: threading.Thread | None = None
    startup: threading.Thread | None = None
    startup_stop: threading.Event = field(default_factory=threading.Event)
    # Runs, parsed entries and results: one preview at a time (they are CPU-bound anyway).
    lock: threading.RLock = field(default_factory=threading.RLock)
    docs: OrderedDict[int, Prepared] = field(default_factory=OrderedDict)
    results: RuleResults = field(default_factory=RuleResults)
    universes: OrderedDict[tuple[Any, int], tuple[list[int], frozenset[int]]] = field(
        default_factory=OrderedDict
    )
    saved: dict[tuple[str, str, int], RuleRun] = field(default_factory=dict)
    runs: OrderedDict[tuple[CompiledItem, int], RuleRun] = field(default_factory=OrderedDict)
    job: _Job | None = None
    job_lock: threading.Lock = field(default_factory=threading.Lock)
    universe_lock: threading.Lock = field(default_factory=threading.Lock)

    def catch_up(self) -> int:
        with self.index_lock:
            return update_index(self.store)

    def behind(self) -> int | None:
        """None when the index is current (after indexing what little was new), else how
        many entries are still to index (indexing then runs in the background)."""
        missing = self.store.unindexed()
        if missing == 0:
            return None
        if missing <= BACKGROUND_INDEX and (self.indexing is None or not self.indexing.is_alive()):
            self.catch_up()
            return None
        if self.indexing is None or not self.indexing.is_alive():
            self.indexing = threading.Thread(target=self.catch_up, daemon=True, name="ui-index")
            self.indexing.start()
        return missing

    def _load(self, ids: Sequence[int]) -> None:
        """Read these entries with their stored tokens into the cache (which keeps the
        newest DOC_CACHE); an entry without stored tokens is tokenized here."""
        docs = self.docs
        for k in range(0, len(ids), 1000):
            for i, feed_id, entry, tokens in self.store.preview_entries(ids[k : k + 1000]):
                doc = (
                    PreviewDoc.from_entry(entry, feed_id)
                    if tokens is None  # (indexed before the tokens were kept)
                    else PreviewDoc.from_tokens(tokens, entry, feed_id)
                )
                docs[i] = (feed_id, entry, doc)

    def _candidates(self, item: CompiledItem, watermark: int) -> tuple[list[int], frozenset[int]]:
        q = index_query(item.query)
        key = (q, watermark)
        with self.universe_lock:
            got = self.universes.get(key)
            if got is not None:
                self.universes.move_to_end(key)
                return got
        ids = self.store.candidate_ids_for(q)
        with self.universe_lock:
            got = self.universes[key] = (ids, frozenset(ids))
            while len(self.universes) > UNIVERSES:
                self.universes.popitem(last=False)
        return got

    def _unread(self, item: CompiledItem, watermark: int) -> int:
        """How many of ``item``'s candidates are not parsed yet (read without the run lock)."""
        ids = self._candidates(item, watermark)[0][-SCAN_CAP:]
        docs = self.docs
        return sum(1 for i in ids if i not in docs)

    def deferred(
        self,
        wl: LoadedWatchlist,
        watch_id: str | None,
        item: CompiledItem,
        arrived: float | None = None,
    ) -> int | None:
        """None when the preview of ``item`` (and of the saved rule ``watch_id``) is ready
        for this request to show; else how many stored entries its run must still read (0:
        it is evaluating), and the request answers "counting" and asks again.

        Every preview runs in a background thread (``ui-preview-run``) and the request
        waits for it until ``ANSWER_WAIT`` s after it ``arrived`` (``time.monotonic()``;
        at least ``MIN_WAIT`` s: checking the draft may have taken that long already), so
        a request never takes longer than that plus rendering, however many entries a
        draft reads or evaluates (a cold process, a new word that widens the candidates,
        a slow machine). The poll for the same draft waits for that run again; a
        *different* draft cancels it (between two slices of entries read) and gets its
        own. The counts shown are always exact."""
        if arrived is None:
            arrived = time.monotonic()

        def wait() -> float:
            return max(MIN_WAIT, arrived + ANSWER_WAIT - time.monotonic())

        watermark = self.store.index_watermark()
        key = (wl.revision, watch_id, item, watermark)
        with self.job_lock:
            job = self.job
            if job is not None and job.key == key:
                job.thread.join(wait())
                if job.thread.is_alive():
                    return job.todo
                self.job = None
                return None
            if job is not None:
                job.cancel.set()
                self.job = None
            saved = next((i for i in wl.matcher.items if i.watch_id == watch_id), None)
            need_saved = saved is not None and (wl.revision, watch_id, watermark) not in self.saved
            need_draft = item not in wl.matcher.items and (item, watermark) not in self.runs
            if not need_saved and not need_draft:
                return None  # both runs are kept: nothing to wait for
            cancel = threading.Event()

            def work() -> None:
                try:  # (counted here, not in the request: the candidates are a query)
                    todo = self._unread(saved, watermark) if need_saved and saved else 0
                    mine.todo = todo + (self._unread(item, watermark) if need_draft else 0)
                    if need_saved and saved is not None and watch_id is not None:
                        if not self.prepare(saved, cancel):
                            return
                        self.run_saved(wl, watch_id)
                    if need_draft and self.prepare(item, cancel):
                        self.run(item, watermark)
                except Exception:  # the request that asks again runs it and reports
                    log.debug("deferred preview failed", exc_info=True)

            thread = threading.Thread(target=work, daemon=True, name="ui-preview-run")
            mine = self.job = _Job(key, thread, cancel)
            thread.start()
            thread.join(wait())
            if thread.is_alive():
                return mine.todo
            self.job = None
            return None

    def run(self, item: CompiledItem, watermark: int | None = None) -> RuleRun:
        """Every stored entry ``item`` matches (with its hits), through the index prefilter."""
        if watermark is None:
            watermark = self.store.index_watermark()
        with self.lock:
            got = self.runs.get((item, watermark))
            if got is not None:  # (a background run of this draft just did it)
                self.runs.move_to_end((item, watermark))
                return got
            ids, universe = self._candidates(item, watermark)
            capped = len(ids) > SCAN_CAP
            if capped:
                ids = ids[-SCAN_CAP:]
                universe = frozenset(ids)
            hits = self.results.run(item, universe, _Docs(self, ids))
            for i in ids:  # most recently used last; the oldest go first
                if i in self.docs:
                    self.docs.move_to_end(i)
            self._trim()
            run = self.runs[(item, watermark)] = RuleRun(hits, len(ids), capped)
            while len(self.runs) > RUNS:
                self.runs.popitem(last=False)
            return run

    def _trim(self) -> None:
        while len(self.docs) > DOC_CACHE:
            self.docs.popitem(last=False)

    def run_saved(self, wl: LoadedWatchlist, watch_id: str) -> RuleRun | None:
        item = next((i for i in wl.matcher.items if i.watch_id == watch_id), None)
        if item is None:
            return None
        watermark = self.store.index_watermark()
        key = (wl.revision, watch_id, watermark)
        with self.lock:  # (a warm-up may be running it: wait for it rather than run twice)
            got = self.saved.get(key)
            if got is None:
                got = self.run(item, watermark)
                self.saved = {key: got, **{k: v for k, v in list(self.saved.items())[:15]}}
            return got

    def prepare(
        self,
        item: CompiledItem,
        stop: threading.Event | None = None,
        pause: float = 0.0,
        before: Callable[[], None] | None = None,
    ) -> bool:
        """Read and parse ``item``'s candidate entries into the cache, ``WARM_SLICE`` at a
        time, taking the run lock per slice only (a preview waits one slice at most) and
        waiting ``pause`` s between slices (on ``stop``); False when ``stop`` was set."""
        watermark = self.store.index_watermark()
        with self.lock:
            ids = self._candidates(item, watermark)[0][-SCAN_CAP:]
        for k in range(0, len(ids), WARM_SLICE):
            if before is not None:
                before()
            if stop is not None and stop.is_set():
                with self.lock:  # (a run trims the cache after using it; nothing will)
                    self._trim()
                return False
            with self.lock:
                missing = [j for j in ids[k : k + WARM_SLICE] if j not in self.docs]
                if missing:
                    self._load(missing)
            if pause and stop is not None:
                stop.wait(pause)
        return True

    def warm(self, wl: LoadedWatchlist, watch_id: str) -> None:
        """Start running the saved rule in the background (the editor page was opened:
        its first preview comes at least one typing delay later), its candidate entries
        parsed first so the keystrokes that follow find them. Only when the index is
        current (the preview builds it otherwise) and nothing else is warming up."""
        if self.warming is not None and self.warming.is_alive():
            return
        item = next((i for i in wl.matcher.items if i.watch_id == watch_id), None)
        if item is None:
            return

        def work() -> None:
            try:
                if self.store.unindexed() == 0:
                    self.prepare(item)
                    self.run_saved(wl, watch_id)
            except Exception:  # a warm-up only: the preview reports its own errors
                log.debug("preview warm-up of %s failed", watch_id, exc_info=True)

        self.warming = threading.Thread(target=work, daemon=True, name="ui-preview-warm")
        self.warming.start()

    def warm_all(
        self,
        wl: LoadedWatchlist,
        stop: threading.Event,
        pause: float,
        before: Callable[[], None] | None = None,
    ) -> int:
        """Run every watch item's saved rule once (the pages just started), in slices with
        ``pause`` between them; how many items were warmed (fewer when ``stop`` was set).
        Nothing when the index is behind (the first search or preview catches it up)."""
        if self.store.unindexed() != 0:
            return 0
        done = 0
        for item in wl.matcher.items:
            if stop.is_set() or not self.prepare(item, stop, pause, before):
                break
            if before is not None:
                before()
            with self.lock:  # (a preview of the same rule may have run it meanwhile)
                self.run_saved(wl, item.watch_id)
            done += 1
            stop.wait(pause)
        return done

    def entry(self, entry_id: int) -> tuple[str, EntryData] | None:
        with self.lock:
            got = self.docs.get(entry_id)
        if got is None:
            rows = self.store.entries_by_id([entry_id])
            return (rows[0][1], rows[0][2]) if rows else None
        return got[0], got[1]


_ENGINES: dict[int, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine(store: Store) -> Engine:
    with _ENGINES_LOCK:
        got = _ENGINES.get(id(store))
        if got is None or got.store is not store:
            got = _ENGINES[id(store)] = Engine(store)
        return got


def start_warmup(ctx: UIContext, pause: float = STARTUP_PAUSE) -> threading.Thread:
    """Run every item's saved rule in a background thread when the pages start, so the
    first preview of any item (and its adds/drops) is ready: small slices with a pause
    between them, each only once the pages have had no blocking work in flight for
    ``STARTUP_IDLE`` s (``ctx.idle_for``), so the pages keep answering; stopped by
    ``ctx.close()``."""
    eng = engine(ctx.store)
    eng.startup_stop.set()  # (one start-up warm-up per store at a time)
    stop = eng.startup_stop = threading.Event()

    def idle() -> None:  # the pages first: wait until they have been idle a moment
        while not stop.is_set() and ctx.idle_for() < STARTUP_IDLE:
            stop.wait(STARTUP_IDLE)

    def work() -> None:
        try:
            n = eng.warm_all(ctx.watchlist(), stop, pause, idle)
            log.debug("preview warm-up: %d watch items", n)
            idle()
            if not stop.is_set() and len(eng.docs) >= FREEZE_OVER:
                # What is alive now (the cached entries, the saved runs, the imports) stays:
                # out of the garbage collector's full passes, which would otherwise walk
                # it all again every few previews (~150-250 ms here, paused requests).
                # Collected first, so no garbage is kept; entries the cache drops later are
                # freed all the same (they hold no reference cycles).
                gc.collect()
                gc.freeze()
        except Exception:  # a warm-up only: a preview runs what it needs itself
            log.debug("preview warm-up failed", exc_info=True)

    thread = threading.Thread(target=work, daemon=True, name="ui-preview-startup")
    eng.startup = thread
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(5)

    ctx.on_close(close)
    return thread


# --- drafts -----------------------------------------------------------------------------------


@dataclass
class Problem:
    severity: str
    text: str  # as monitor check prints it: file:line:col: message, the line, a caret
    where: str  # "line 3 of this item" or "elsewhere in the file"


@dataclass
class Draft:
    mode: str
    form: we.ItemForm
    yaml: str
    revision: str  # the file's revision the page was loaded at
    current_revision: str
    new_text: str | None = None
    new_id: str | None = None
    compiled: CompiledItem | None = None  # the draft's rule, once the draft passed the check
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.compiled is not None and not any(p.severity == "error" for p in self.problems)


def _lines(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in str(data.get(key, "")).splitlines() if x.strip())


def form_from(data: Mapping[str, Any]) -> we.ItemForm:
    def s(key: str, default: str = "") -> str:
        return str(data.get(key, default)).replace("\r\n", "\n")

    return we.ItemForm(
        id=s("id").strip(),
        name=s("name").strip(),
        look_for=s("look_for").strip(),
        why=s("why").strip(),
        match_kind="lists" if s("match_kind") == "lists" else "query",
        match=s("match").strip(),
        match_any=_lines(data, "match_any"),
        match_all=_lines(data, "match_all"),
        match_none=_lines(data, "match_none"),
        exclude=s("exclude").strip(),
        priority=s("priority", "normal").strip() or "normal",
        expected_by=s("expected_by").strip(),
        min_score=s("min_score", "0").strip() or "0",
        sources_allow=_lines(data, "sources_allow"),
        sources_deny=_lines(data, "sources_deny"),
    )


def read_text(ctx: UIContext) -> str:
    try:
        return ctx.watchlist_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {ctx.watchlist_path}: {exc.strerror or exc}") from exc


def _problems(exc: ConfigError, text: str, block_line: int, block_len: int) -> list[Problem]:
    out = []
    for p in exc.problems:
        if p.file == "<config>":  # a message about the draft itself, not a file position
            out.append(Problem(p.severity, p.message, "this item"))
            continue
        inside = block_line <= p.line < block_line + block_len
        where = (
            f"line {p.line - block_line + 1}, column {p.column} of this item"
            if inside
            else "elsewhere in the file"
        )
        out.append(Problem(p.severity, render_problem(p, text), where))
    return out


def build(ctx: UIContext, watch_id: str | None, data: FormData, *, whole: bool = False) -> Draft:
    """The draft of a form or YAML post, spliced into the current file and checked.

    Per keystroke only the item's lines are parsed and checked, against the loaded
    watchlist (``watchlist.check_watch_item``: the same messages, lines and columns as
    ``monitor check`` on the whole text); the whole text is checked when that cannot
    decide, and always with ``whole`` (a save).
    """
    text = read_text(ctx)
    current = we.revision_of(text)
    mode = "yaml" if data.get("mode") == "yaml" else "form"
    form = form_from(data)
    yaml_text = str(data.get("yaml", "")).replace("\r\n", "\n")
    draft = Draft(mode, form, yaml_text, str(data.get("revision") or current), current)
    try:
        if mode == "form":
            draft.yaml = we.form_block(text, watch_id, form)
        new_text, line = we.splice_item(text, watch_id, draft.yaml)
    except ConfigError as exc:
        draft.problems = _problems(exc, text, 0, 0)
        return draft
    draft.new_text = new_text
    block_len = max(1, draft.yaml.count("\n") + (0 if draft.yaml.endswith("\n") else 1))
    blocks = we.watch_blocks(text)
    index = len(blocks) if watch_id is None else [b.watch_id for b in blocks].index(watch_id)
    loaded = ctx.watchlist()
    if not whole and loaded.text == text and new_text != text:  # unchanged: the loaded one
        old = blocks[-1] if watch_id is None else blocks[index]
        start, end = (old.end, old.end) if watch_id is None else (old.start, old.end)
        spliced = new_text[start : len(new_text) - (len(text) - end)].lstrip("\n")
        try:
            got = check_watch_item(
                loaded,
                new_text,
                spliced,
                line,
                index,
                old.indent,
                "" if watch_id is None else old.text(text),
                we.anchors(text),
            )
        except ConfigError as exc:
            draft.problems = _mine(_problems(exc, new_text, line, block_len))
            return draft
        if got is not None:
            draft.compiled, draft.new_id = got.compiled, got.item.id
            mine = _problems(ConfigError(list(got.warnings)), new_text, line, block_len)
            draft.problems = _mine(mine)
            return draft
    try:
        checked = _validated(ctx, text, new_text)
    except ConfigError as exc:
        draft.problems = _mine(_problems(exc, new_text, line, block_len))
        return draft
    draft.problems = _mine(
        _problems(ConfigError(list(checked.warnings)), new_text, line, block_len)
    )
    # The edited item is where the old one was (a new one is last): no third parse.
    watch = checked.config.watch
    if len(watch) != len(blocks) + (watch_id is None):
        draft.problems.append(
            Problem(
                "error", "the edited text must be exactly one watch item (- id: ...)", "this item"
            )
        )
    else:
        draft.new_id = watch[index].id
        draft.compiled = next(i for i in checked.matcher.items if i.watch_id == draft.new_id)
    return draft


def _mine(problems: list[Problem]) -> list[Problem]:
    """Every error, but only this item's warnings (the rest of the file is check's business)."""
    return [p for p in problems if p.severity == "error" or p.where != "elsewhere in the file"]


_CHECKED: OrderedDict[tuple[str, str], LoadedWatchlist | ConfigError] = OrderedDict()
_CHECKED_LOCK = threading.Lock()


def _validated(ctx: UIContext, text: str, new_text: str) -> LoadedWatchlist:
    """``load_watchlist_text(new_text)``, remembered for the last few drafts (the preview
    of a draft and its save check the same text); the unchanged file is the loaded one."""
    current = ctx.watchlist()
    if new_text == text and current.text == text and not ctx.load_error:
        return current
    key = (str(ctx.watchlist_path), new_text)
    with _CHECKED_LOCK:
        got = _CHECKED.get(key)
    if got is None:
        try:
            got = load_watchlist_text(new_text, ctx.watchlist_path)
        except ConfigError as exc:
            got = exc
        with _CHECKED_LOCK:
            _CHECKED[key] = got
            while len(_CHECKED) > 4:
                _CHECKED.popitem(last=False)
    if isinstance(got, ConfigError):
        raise got
    return got


def yaml_to_form(ctx: UIContext, draft: Draft) -> we.ItemForm | None:
    """The form's values for a YAML draft (None when the YAML cannot be read as an item)."""
    if draft.new_text is None or draft.new_id is None:
        return None
    from ruamel.yaml import YAML

    try:  # the item's lines alone (an alias of another item's anchor needs the whole text)
        seq = YAML(typ="rt").load(draft.yaml)
        if isinstance(seq, list) and len(seq) == 1 and isinstance(seq[0], dict):
            return we.form_of(seq[0])
    except Exception:
        pass
    try:
        tree = YAML(typ="rt").load(draft.new_text)
        node = next(w for w in tree["watch"] if isinstance(w, dict) and w.get("id") == draft.new_id)
    except Exception:
        return None
    return we.form_of(node)


# --- rendering --------------------------------------------------------------------------------


@dataclass
class Row:
    entry_id: int
    title: highlight.Segments
    link: str | None
    feed_id: str
    published: Any


def _rows(eng: Engine, ids: list[int], found: Mapping[int, Sequence[Hit]]) -> list[Row]:
    rows = []
    for i in sorted(ids, reverse=True)[:LIST_LIMIT]:
        got = eng.entry(i)
        if got is None:
            continue
        feed_id, e = got
        title = highlight.hits(e.title, "title", found.get(i, []))
        rows.append(Row(i, title, safe_link(e.link), feed_id, e.published))
    return rows


def preview_values(
    ctx: UIContext, watch_id: str | None, draft: Draft, arrived: float | None = None
) -> dict[str, Any]:
    """Everything ``_editor_preview.html`` shows (runs in a worker thread); ``arrived``:
    when the request arrived (``time.monotonic()``), for ``Engine.deferred``."""
    values: dict[str, Any] = {
        "draft": draft,
        "conflict": draft.revision != draft.current_revision,
        "indexing": None,
        "counting": None,
        "poll_ms": POLL_DELAY_MS,
    }
    if not draft.ok or draft.compiled is None or draft.new_id is None:
        return values
    eng = engine(ctx.store)
    behind = eng.behind()
    if behind is not None:
        values["indexing"] = behind
        return values
    wl = ctx.watchlist()
    counting = eng.deferred(wl, watch_id, draft.compiled, arrived)
    if counting is not None:
        values["counting"] = counting
        return values
    saved = eng.run_saved(wl, watch_id) if watch_id else None
    unchanged = saved is not None and draft.compiled in wl.matcher.items
    now = saved if saved is not None and unchanged else eng.run(draft.compiled)
    before = saved.hits if saved else {}
    adds = [i for i in now.hits if i not in before]
    drops = [i for i in before if i not in now.hits]
    values.update(
        ran=True,
        matches=len(now.hits),
        before=len(before),
        adds=len(adds),
        drops=len(drops),
        capped=now.capped or bool(saved and saved.capped),
        scanned=now.scanned,
        add_rows=_rows(eng, adds, now.hits),
        drop_rows=_rows(eng, drops, before),
        match_rows=_rows(eng, list(now.hits), now.hits),
    )
    return values


def routes(ctx: UIContext) -> list[BaseRoute]:
    # Previews and warm-ups are CPU-bound threads beside the requests' threads: each time
    # a request's thread waits for the GIL (after every query, every hop to and from the
    # event loop) it waits up to the switch interval, 5 ms by default; with one or two
    # busy threads that added ~100 ms to a "counting" answer here (~35 ms at 1 ms).
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    start_warmup(ctx)

    def initial(watch_id: str | None, mode: str) -> dict[str, Any] | None:
        text = read_text(ctx)
        if watch_id is None:
            form = we.ItemForm(match_kind="lists")
            block = "  - id: new-catalyst\n    name: New catalyst\n    match: 'Muse AND launch*'\n"
        else:
            found = we.find_block(text, watch_id)
            if found is None:
                return None
            block = found.text(text)
            form = we.item_forms(text)[watch_id]
            engine(ctx.store).warm(ctx.watchlist(), watch_id)
        return {
            "mode": mode,
            "form": form,
            "yaml": block,
            "revision": we.revision_of(text),
        }

    def _base(watch_id: str | None) -> str:
        return f"/catalysts/{quote(watch_id, safe='')}/edit" if watch_id else "/catalysts/new"

    def _render(
        request: Request, watch_id: str | None, values: dict[str, Any], status: int = 200
    ) -> Response:
        return page(
            request,
            ctx,
            "editor_edit.html",
            watch_id=watch_id,
            base=_base(watch_id),
            status_code=status,
            **values,
        )

    async def show(request: Request) -> Response:
        watch_id = request.path_params.get("watch_id")
        mode = "yaml" if request.query_params.get("mode") == "yaml" else "form"
        try:
            values = await ctx.db(initial, watch_id, mode)
        except ConfigError as exc:
            return page(request, ctx, "editor_error.html", message=str(exc), status_code=409)
        if values is None:
            return page(
                request,
                ctx,
                "editor_error.html",
                message=f"There is no watch item {watch_id!r} in {ctx.watchlist_path.name}.",
                status_code=404,
            )
        return _render(request, watch_id, values)

    async def preview(request: Request) -> Response:
        watch_id = request.path_params.get("watch_id")
        data = await request.form()

        arrived = time.monotonic()

        def work() -> dict[str, Any]:
            return preview_values(ctx, watch_id, build(ctx, watch_id, data), arrived)

        try:
            values = await ctx.db(work)
        except ConfigError as exc:
            return fragment(request, "_editor_preview.html", fatal=str(exc), status_code=409)
        return fragment(request, "_editor_preview.html", base=_base(watch_id), **values)

    async def save(request: Request) -> Response:
        watch_id = request.path_params.get("watch_id")
        data = await request.form()
        action = str(data.get("action", "save"))
        try:  # a save checks the whole text, as monitor check does
            draft = await ctx.db(partial(build, whole=action == "save"), ctx, watch_id, data)
        except ConfigError as exc:
            return page(request, ctx, "editor_error.html", message=str(exc), status_code=409)
        values: dict[str, Any] = {
            "mode": draft.mode,
            "form": draft.form,
            "yaml": draft.yaml,
            "revision": draft.revision,
            "draft": draft,
        }
        if action == "to-yaml":
            values["mode"] = "yaml"
            return _render(request, watch_id, values)
        if action == "to-form":
            form = await ctx.db(yaml_to_form, ctx, draft)
            if form is not None:
                values.update(mode="form", form=form)
            return _render(request, watch_id, values)
        if not draft.ok or draft.new_text is None:
            return _render(request, watch_id, values, 422)
        try:
            await ctx.db(
                we.write_watchlist_text, ctx.watchlist_path, draft.new_text, draft.revision
            )
        except we.WatchlistConflict as exc:
            values["conflict_message"] = str(exc)
            return _render(request, watch_id, values, 409)
        except ConfigError as exc:  # checked above; the file moved under us
            draft.problems = _problems(exc, draft.new_text, 0, 0)
            return _render(request, watch_id, values, 422)
        if ctx.on_saved is not None:
            ctx.on_saved()
        what = "added" if watch_id is None else "saved"
        flash = f"Saved: watch item {draft.new_id} {what} in {ctx.watchlist_path.name} (backup: {ctx.watchlist_path.name}.bak)."
        return RedirectResponse(
            f"/catalysts/{quote(str(draft.new_id), safe='')}?flash={quote(flash)}", status_code=303
        )

    return [
        Route("/catalysts/new", show, methods=["GET"]),
        Route("/catalysts/new", save, methods=["POST"]),
        Route("/catalysts/new/preview", preview, methods=["POST"]),
        Route("/catalysts/{watch_id}/edit", show, methods=["GET"]),
        Route("/catalysts/{watch_id}/edit", save, methods=["POST"]),
        Route("/catalysts/{watch_id}/edit/preview", preview, methods=["POST"]),
    ]
