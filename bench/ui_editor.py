"""Rule editor preview and search speed over a large stored corpus (SQLite; PostgreSQL with --pg).

Reuses bench/backtest.py's corpus (N entries, a few percent about Muse), copies the
repository's watchlist.yaml beside it, starts the real app in-process (Starlette's
TestClient: the full request path, routing, templates and store, without a socket) and
times, per default watch item: the first preview (saved rule run and cached, entries
parsed), a keystroke preview (a changed rule; entries already parsed) and the search
page for a common and a rare word. Prints a Markdown table of medians and p95 against the
300 ms target. Usage: ``python bench/ui_editor.py [--entries 100000] [--db PATH]``.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from backtest import build  # type: ignore[import-not-found]  # noqa: E402
from sqlalchemy import text  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from monitor.backtest import update_index  # noqa: E402
from monitor.ui.app import ui_middleware, ui_routes  # noqa: E402
from monitor.ui.context import UIContext  # noqa: E402
from monitor.watchlist import load_watchlist  # noqa: E402
from storage.store import Store  # noqa: E402


def ms(xs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median wall ms, p95 wall ms, median CPU ms (the machine is shared: CPU is steadier)."""
    walls = sorted(w for w, _ in xs)
    cpu = statistics.median(c for _, c in xs)
    return (
        statistics.median(walls) * 1000,
        walls[min(len(walls) - 1, int(len(walls) * 0.95))] * 1000,
        cpu * 1000,
    )


class Clock:
    def __enter__(self) -> Clock:
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.took = (time.perf_counter() - self.w, time.process_time() - self.c)


def form_fields(page: str) -> dict[str, str]:
    """The editor form's fields as a browser posts them (inputs, textareas, selects, radios)."""
    import html

    out: dict[str, str] = {}
    for m in re.finditer(r"<input ([^>]*)>", page):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if "name" not in attrs or (attrs.get("type") == "radio" and "checked" not in m.group(1)):
            continue
        out[attrs["name"]] = html.unescape(attrs.get("value", ""))
    for m in re.finditer(r'<textarea[^>]*name="(\w+)"[^>]*>(.*?)</textarea>', page, re.S):
        out[m.group(1)] = html.unescape(m.group(2))
    for m in re.finditer(r'<select name="(\w+)">(.*?)</select>', page, re.S):
        sel = re.search(r'<option value="(\w+)" selected', m.group(2))
        out[m.group(1)] = sel.group(1) if sel else ""
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--db", default="/tmp/catalyst-ui-editor-bench.db")
    ap.add_argument("--pg", help="a PostgreSQL URL instead of the SQLite file")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", help="comma-separated watch ids to time (default: every item)")
    args = ap.parse_args()
    url = args.pg or f"sqlite:///{args.db}"
    store = Store.open(url)
    with store.engine.connect() as c:
        have = c.execute(text("SELECT count(*) FROM entries")).scalar() or 0
    if have < args.entries:
        build(store, args.entries - have, random.Random(have))
    t = time.perf_counter()
    n = update_index(store)
    print(f"indexed {n:,} new entries in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp())
    wl_path = tmp / "watchlist.yaml"
    shutil.copy(ROOT / "watchlist.yaml", wl_path)
    import os

    os.environ["MONITOR_DATABASE_URL"] = url
    wl = load_watchlist(wl_path)
    ctx = UIContext.start(store, wl)
    app = Starlette(routes=ui_routes(ctx), middleware=ui_middleware(ctx))
    c = TestClient(app, base_url="http://127.0.0.1")
    rows = []
    only = set(args.only.split(",")) if args.only else None
    for item in wl.config.watch:
        if only is not None and item.id not in only:
            continue
        page = c.get(f"/catalysts/{item.id}/edit?mode=yaml").text
        block = re.search(r'name="yaml"[^>]*>(.*?)</textarea>', page, re.S).group(1)  # type: ignore[union-attr]
        import html

        block = html.unescape(block)
        rev = re.search(r'name="revision" value="(\w+)"', page).group(1)  # type: ignore[union-attr]
        first: list[tuple[float, float]] = []
        keys: list[tuple[float, float]] = []
        rule_keys: list[tuple[float, float]] = []
        count = ""
        for k in range(args.repeat):
            from monitor.ui import editor

            editor._ENGINES.clear()  # cold: nothing parsed, saved rule not run
            with Clock() as clk:
                r = c.post(
                    f"/catalysts/{item.id}/edit/preview",
                    data={"mode": "yaml", "yaml": block, "revision": rev},
                )
            first.append(clk.took)
            # A keystroke: the item's name changes (the rule is the saved one).
            edited = block.replace("    name: ", f"    name: x{k} ", 1)
            with Clock() as clk:
                r = c.post(
                    f"/catalysts/{item.id}/edit/preview",
                    data={"mode": "yaml", "yaml": edited, "revision": rev},
                )
            keys.append(clk.took)
            m = re.search(r'id="count-matches">(\d+)<', r.text)
            count = m.group(1) if m else "?"
            # A keystroke that changes the rule (min_score): it re-runs over cached entries.
            edited = block.replace("    name: ", f"    min_score: {1 + k % 2}\n    name: ", 1)
            with Clock() as clk:
                r = c.post(
                    f"/catalysts/{item.id}/edit/preview",
                    data={"mode": "yaml", "yaml": edited, "revision": rev},
                )
            rule_keys.append(clk.took)
        rows.append((f"preview {item.id} (cold)", count, *ms(first)))
        rows.append((f"preview {item.id} (keystroke: name)", count, *ms(keys)))
        m = re.search(r'id="count-matches">(\d+)<', r.text)
        rows.append(
            (f"preview {item.id} (keystroke: rule)", m.group(1) if m else "?", *ms(rule_keys))
        )
        # A rule keystroke in form mode (the form's fields as the page has them).
        fields = form_fields(c.get(f"/catalysts/{item.id}/edit").text)
        forms: list[tuple[float, float]] = []
        for k in range(args.repeat):
            data = {**fields, "name": f"x{k} {fields.get('name', '')}", "min_score": str(1 + k % 2)}
            with Clock() as clk:
                r = c.post(f"/catalysts/{item.id}/edit/preview", data=data)
            forms.append(clk.took)
        m = re.search(r'id="count-matches">(\d+)<', r.text)
        rows.append(
            (f"preview {item.id} (form keystroke: rule)", m.group(1) if m else "?", *ms(forms))
        )
    for q in ("the", "muse whatsapp", "zzzz"):
        times = []
        for _ in range(args.repeat):
            with Clock() as clk:
                r = c.get(f"/search?q={q}")
            times.append(clk.took)
        m = re.search(r'id="result-count">([^<]*)<', r.text)
        rows.append((f"search q={q!r}", (m.group(1).split(" entr")[0] if m else "?"), *ms(times)))
    print(f"\n{args.entries:,} entries ({url.split(':')[0]}), {args.repeat} reps, target 300 ms\n")
    print("| request | matches | median ms | p95 ms | median CPU ms | CPU under 300 ms |")
    print("|---|---:|---:|---:|---:|---|")
    for name, cnt, med, p95, cpu in rows:
        ok = "yes" if cpu < 300 else "NO"
        print(f"| {name} | {cnt} | {med:.0f} | {p95:.0f} | {cpu:.0f} | {ok} |")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
