"""The rule editor's live preview over a seeded database (target: 300 ms per request).

    .venv/bin/python bench/ui_preview.py --seed-dir DIR [--reps 15] [--only ID,...]

``DIR`` holds a seeded ``watchlist.yaml`` and its ``monitor.db`` (bench/web_pages.py's
seed: 100,000 entries, ~2,500 matches per watch item) — **bench on a copy**: the app
catches the search index up in it. The real app runs in-process (Starlette's TestClient:
routing, form parsing, store, templates; no socket). Per watch item of the file, each
case ``--reps`` times, in this order:

- ``started``: the first preview of the item as saved once the pages' start-up warm-up
  (which runs every item's saved rule in the background when the app starts) is done;
  each rep the same request. Without a start-up warm-up (older code) the editor's caches
  are dropped first, so it is the same as ``first``. The warm-up's own wall and CPU time
  is printed before the table.
- ``first``: the first preview of the item as saved (the editor's caches dropped before
  each rep: the saved rule runs over every stored entry, its entries are parsed);
- ``page``: the same after opening the editor page and waiting 400 ms, htmx's delay
  after the first keystroke (the page may start the saved rule's run in the background);
- ``keystroke``: typing a new ``any:`` term one character at a time (``- s``, ``- sm``,
  ...): each request is a rule not seen before, the saved rule's run is warm;
- ``draft``: the rule with one more whole ``any:`` term, a different word each rep;
- ``new``: ``/catalysts/new`` with the item's block under a new id, one more term
  (a different word each rep): no saved rule to compare with.

Prints a Markdown table: median and p95 (nearest rank: with 15 reps, the 15th) of the
wall time until the answer and until the counts (a preview with many entries to read
first answers "counting" and the page asks again a moment later: the bench does the same),
median CPU time of the process until the counts, how many reps were deferred, and the
preview's match count. ``--profile
FILE`` writes a cProfile of all the requests.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from monitor.backtest import update_index  # noqa: E402
from monitor.ui import editor  # noqa: E402
from monitor.ui.app import ui_middleware, ui_routes  # noqa: E402
from monitor.ui.context import UIContext  # noqa: E402
from monitor.watchlist import load_watchlist  # noqa: E402
from monitor.watchlist_edit import find_block, revision_of  # noqa: E402
from storage.store import Store  # noqa: E402

TARGET_MS = 300.0
TYPED = "smart glasses wearable assistant"  # typed one character at a time
WORDS = (
    "specs",
    "chatbot",
    "assistant",
    "countries",
    "languages",
    "Europe",
    "Brazil",
    "India",
    "voice",
    "wearables",
    "Ray-Ban",
    "Oakley",
    "search",
    "shopping",
    "ads",
    "developers",
    "pricing",
    "latency",
    "benchmark",
    "datacenter",
)


def add_term(block: str, term: str) -> str:
    """``block`` with ``term`` first in its ``any:`` list (a block-style list)."""
    out, n = re.subn(
        r"\n( +)any:( *#[^\n]*)?\n((?: *#[^\n]*\n)*)( +)- ",
        lambda m: (
            f"\n{m.group(1)}any:{m.group(2) or ''}\n{m.group(3)}{m.group(4)}- {term}\n"
            f"{m.group(4)}- "
        ),
        block,
        count=1,
    )
    if not n:
        raise SystemExit(f"no block-style any: list in\n{block}")
    return out


def nearest_p95(sorted_values: list[float]) -> float:
    """Nearest rank (with 15 values: the 15th)."""
    return sorted_values[max(0, math.ceil(0.95 * len(sorted_values)) - 1)]


def reset_caches() -> None:
    """Drop the editor's per-store caches (works with this branch's and main's editor),
    after stopping their background warm-ups (start-up and page)."""
    for eng in list(editor._ENGINES.values()):
        stop = getattr(eng, "startup_stop", None)
        if stop is not None:
            stop.set()
        for name in ("startup", "warming"):
            thread = getattr(eng, name, None)
            if thread is not None:
                thread.join()
    editor._ENGINES.clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed-dir", required=True, type=Path)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--only", help="comma-separated watch ids (default: every watch item)")
    ap.add_argument("--cases", default="started,first,page,keystroke,draft,new")
    ap.add_argument("--profile", help="write a cProfile of the timed requests here")
    ap.add_argument("--label", default=str(ROOT))
    args = ap.parse_args()
    wl_path = args.seed_dir / "watchlist.yaml"
    os.environ.pop("MONITOR_DATABASE_URL", None)
    wl = load_watchlist(wl_path)
    store = Store.open(wl.database_url)
    t = time.perf_counter()
    n = update_index(store)
    if n:
        print(f"indexed {n:,} entries in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    ctx = UIContext.start(store, wl)
    w, cpu = time.perf_counter(), time.process_time()
    app = Starlette(routes=ui_routes(ctx), middleware=ui_middleware(ctx))
    c = TestClient(app, base_url="http://127.0.0.1")
    startup = getattr(editor.engine(store), "startup", None)
    warmup = "no start-up warm-up"
    if startup is not None:
        startup.join()
        warmup = (
            f"start-up warm-up of every item: {time.perf_counter() - w:.1f} s wall, "
            f"{time.process_time() - cpu:.1f} s CPU"
        )
    print(warmup, file=sys.stderr)
    warm_engine = startup is not None
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
    only = set(args.only.split(",")) if args.only else None
    cases = args.cases.split(",")
    rows: list[tuple[str, str, str, float, float, float, float, float, int]] = []

    def post(url: str, data: dict[str, str], times: list[tuple[float, float, float, bool]]) -> str:
        """Post a preview; when it answers "counting" (deferred), ask again as long later
        as the page does (its ``hx-trigger`` delay), until the counts come. Records (answer wall, result wall,
        process CPU until the result, deferred)."""
        w, cpu = time.perf_counter(), time.process_time()
        answer = None
        polls = 0
        while True:
            polls += 1
            if prof:
                prof.enable()
            r = c.post(url, data=data)
            if prof:
                prof.disable()
            if answer is None:
                answer = time.perf_counter() - w
            if r.status_code != 200:
                raise SystemExit(f"{url}: {r.status_code}\n{r.text[:2000]}")
            if 'id="counting"' not in r.text:
                break
            delay = re.search(r'id="counting"[^>]*hx-trigger="load delay:(\d+)ms"', r.text)
            time.sleep(int(delay.group(1)) / 1000 if delay else 0.3)  # as the page asks again
        result = time.perf_counter() - w
        times.append((answer, result, time.process_time() - cpu, polls > 1))
        m = re.search(r'id="count-matches">(\d+)<', r.text)
        if m is None:
            raise SystemExit(f"{url}: no match count in the preview\n{r.text[:3000]}")
        return m.group(1)

    text = wl_path.read_text(encoding="utf-8")
    revision = revision_of(text)
    phases = [[x for x in cases if x == "started"], [x for x in cases if x != "started"]]
    for phase in phases:
        for item in wl.config.watch:
            if only is not None and item.id not in only:
                continue
            found = find_block(text, item.id)
            assert found is not None, item.id
            block = found.text(text)
            url = f"/catalysts/{item.id}/edit/preview"
            if not warm_engine:
                reset_caches()
            for case in phase:
                times: list[tuple[float, float, float, bool]] = []
                counts: list[str] = []
                for k in range(args.reps):
                    if case == "started":
                        if not warm_engine:
                            reset_caches()
                        data = {"mode": "yaml", "yaml": block, "revision": revision}
                        counts.append(post(url, data, times))
                    elif case == "first":
                        warm_engine = False
                        reset_caches()
                        data = {"mode": "yaml", "yaml": block, "revision": revision}
                        counts.append(post(url, data, times))
                    elif case == "page":
                        warm_engine = False
                        reset_caches()
                        c.get(f"/catalysts/{item.id}/edit?mode=yaml")
                        time.sleep(0.4)
                        data = {"mode": "yaml", "yaml": block, "revision": revision}
                        counts.append(post(url, data, times))
                    elif case == "keystroke":
                        typed = TYPED[: 1 + k % len(TYPED)].rstrip() or "s"
                        data = {
                            "mode": "yaml",
                            "yaml": add_term(block, typed),
                            "revision": revision,
                        }
                        counts.append(post(url, data, times))
                    elif case == "draft":
                        term = WORDS[k % len(WORDS)]
                        data = {"mode": "yaml", "yaml": add_term(block, term), "revision": revision}
                        counts.append(post(url, data, times))
                    elif case == "new":
                        term = WORDS[(k + 7) % len(WORDS)]
                        new = add_term(block, term).replace(f"id: {item.id}", f"id: new-{k}", 1)
                        data = {"mode": "yaml", "yaml": new, "revision": revision}
                        counts.append(post("/catalysts/new/preview", data, times))
                    else:
                        raise SystemExit(f"unknown case {case}")
                walls = sorted(t[0] for t in times)
                results = sorted(t[1] for t in times)
                cnt = f"{min(map(int, counts))}-{max(map(int, counts))}"
                if len(set(counts)) == 1:
                    cnt = counts[0]
                rows.append(
                    (
                        item.id,
                        case,
                        cnt,
                        statistics.median(walls) * 1000,
                        nearest_p95(walls) * 1000,
                        statistics.median(results) * 1000,
                        nearest_p95(results) * 1000,
                        statistics.median(t[2] for t in times) * 1000,
                        sum(t[3] for t in times),
                    )
                )
                print(
                    "| {} | {} | {} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | {} | row |".format(
                        *rows[-1]
                    ),
                    file=sys.stderr,
                    flush=True,
                )
    if prof and args.profile:
        prof.dump_stats(args.profile)
    load = os.getloadavg()
    print(
        f"\n{args.label}: {args.seed_dir}, {args.reps} reps per case, target {TARGET_MS:.0f} ms, "
        f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {warmup}\n"
    )
    print(
        "| watch item | case | matches | answer median ms | answer p95 ms | counts median ms "
        "| counts p95 ms | median CPU ms | deferred | answer p95 < 300 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for wid, case, cnt, med, p95, rmed, rp95, cpu, deferred in rows:
        ok = "yes" if p95 < TARGET_MS else "NO"
        print(
            f"| {wid} | {case} | {cnt} | {med:.0f} | {p95:.0f} | {rmed:.0f} | {rp95:.0f} "
            f"| {cpu:.0f} | {deferred} | {ok} |"
        )
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
