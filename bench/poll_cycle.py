"""One poll cycle of N feeds: ``monitor poll`` against newsboat and a naive feedparser loop.

Drives the shared harness (``../shared/bench/run_peers.sh``: generated feeds served by a
private nginx on 127.0.0.1, ``/usr/bin/time -v``, nginx's access log per cycle) with this
project as ``PROJECT_CMD``, so every program is measured the same way in the same run, and
prints a Markdown table of medians with each peer's wall time as a ratio to ours.

    python bench/poll_cycle.py                       # N = 200 and 1000, 3 reps, ~30 min
    python bench/poll_cycle.py --ns 50 --reps 1      # smoke test, < 1 min

Needs (Debian): ``apt-get install -y nginx-light newsboat time``; the feedparser peer runs
under this interpreter (feedparser is a dependency). Phases: ``cold`` (empty database)
and ``warm`` (second cycle, nothing changed on the server). ``tree RSS`` is the peak of
the RSS summed over our whole process tree (``bench/treerss.py``: the parent and its
parse workers), which ``time -v``'s largest-process figure would undercount.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COUNT = (
    "import sqlite3,sys; "
    "print(sqlite3.connect(sys.argv[1]).execute('select count(*) from sightings').fetchone()[0])"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ns", default="200 1000", help='feed counts, e.g. "200 1000"')
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--phases", default="cold warm")
    ap.add_argument("--peers", default="feedparser_seq newsboat_t1 newsboat_t8")
    ap.add_argument("--bench-dir", default=str(ROOT.parent / "shared" / "bench"))
    ap.add_argument("--work", default="/tmp/feedbench-monitor", help="BENCH_WORK")
    ap.add_argument("--workers", type=int, default=1, help="monitor poll --workers (default 1)")
    args = ap.parse_args()

    bench = Path(args.bench_dir)
    if not (bench / "run_peers.sh").exists():
        sys.exit(f"no harness at {bench} (pass --bench-dir)")
    py = sys.executable
    monitor = str(Path(py).with_name("monitor"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tree = work / "treerss.tsv"
    tree.unlink(missing_ok=True)
    q = shlex.quote
    env = {
        **os.environ,
        "NS": args.ns,
        "REPS": str(args.reps),
        "PHASES": args.phases,
        "PEERS": args.peers,
        "BENCH_WORK": str(work),
        "BENCH_PYTHON": py,
        "PROJECT_NAME": "monitor",
        "PROJECT_SETUP": f"{q(py)} {q(str(HERE / 'make_watchlist.py'))} {{state}} {{urls}}",
        "PROJECT_CMD": (
            f"{q(py)} {q(str(HERE / 'treerss.py'))} {q(str(tree))} {{n}}:$BENCH_PHASE -- "
            f"{q(monitor)} poll -q --log-level WARNING --workers {args.workers} "
            "--config {state}/watchlist.yaml"
        ),
        "PROJECT_COUNT_CMD": f"{q(py)} -c {q(COUNT)} {{state}}/monitor.db",
    }
    proc = subprocess.run(
        ["bash", str(bench / "run_peers.sh")], env=env, capture_output=True, text=True
    )
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
    found = re.search(r"per-run rows: (\S+)", proc.stdout)
    if proc.returncode != 0 or not found:
        sys.exit(f"run_peers.sh failed (exit {proc.returncode})")
    runs = Path(found.group(1))
    table = summarize(runs, tree)
    (runs.parent / "poll_cycle.md").write_text(table + "\n")
    print(table)
    print(f"\nraw rows: {runs}; table: {runs.parent / 'poll_cycle.md'}")
    return 0


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: Path, tree: Path) -> str:
    groups: dict[tuple[int, str, str], list[dict[str, str]]] = defaultdict(list)
    with runs.open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            groups[(int(row["n"]), row["peer"], row["phase"])].append(row)
    tree_kib: dict[tuple[int, str], list[float]] = defaultdict(list)
    if tree.exists():
        for line in tree.read_text().splitlines():
            label, kib = line.split("\t")
            n, phase = label.split(":")
            tree_kib[(int(n), phase)].append(float(kib))

    def med(key: tuple[int, str, str], col: str) -> float | None:
        return _med([float(r[col]) for r in groups[key] if r.get(col) not in (None, "")])

    order = {"cold": 0, "warm": 1, "warm2": 2}
    peers = list(dict.fromkeys(k[1] for k in groups))
    peers.sort(key=lambda p: p != "monitor")
    lines = [
        "| N | program | phase | reps | wall s | wall / monitor | CPU s | peak RSS MiB "
        "| tree RSS MiB | HTTP 200 / 304 | MB sent | connections | entries stored |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for key in sorted(groups, key=lambda k: (k[0], order.get(k[2], 9), peers.index(k[1]))):
        n, peer, phase = key
        wall = med(key, "wall_s")
        ours = med((n, "monitor", phase), "wall_s") if (n, "monitor", phase) in groups else None
        cpu = _med([float(r["user_s"]) + float(r["sys_s"]) for r in groups[key]])
        rss = med(key, "maxrss_kb")
        tr = _med(tree_kib.get((n, phase), [])) if peer == "monitor" else None
        cells = [
            str(n),
            f"**{peer}**" if peer == "monitor" else peer,
            phase,
            str(len(groups[key])),
            _f(wall),
            _f(wall / ours if wall is not None and ours else None),
            _f(cpu),
            _f(rss / 1024 if rss else None, 0),
            _f(tr / 1024 if tr else None, 0),
            f"{_f(med(key, 's200'), 0)} / {_f(med(key, 's304'), 0)}",
            _f((med(key, "bytes_sent") or 0) / 1e6),
            _f(med(key, "connections"), 0),
            _f(med(key, "stored"), 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
