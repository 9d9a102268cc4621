"""Time `monitor poll` over the real news corpus (../shared/feeds/news), cold and warm.

Serves every file from a local HTTP server on 127.0.0.1 (with ETag/Last-Modified, as
`http.server` gives none, so a warm cycle shows our body-hash short cut), writes a
watchlist with the shipped watch items and one feed per file, and runs `monitor poll`
REPS times cold (empty database) and warm (second cycle). Prints a Markdown table of
medians.

    .venv/bin/python bench/corpus_poll.py [--reps 3] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import http.server
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = lambda *a, **k: _Quiet(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def write_config(state: Path, base: str, files: list[Path]) -> Path:
    y = YAML(typ="rt")
    shipped = y.load((REPO / "watchlist.yaml").read_text())
    config = {
        "version": 1,
        "settings": {"database": "monitor.db", "timezone": "UTC"},
        "feeds": [{"id": f"f{i:03d}", "url": f"{base}/{p.name}"} for i, p in enumerate(files)],
        "watch": shipped["watch"],
    }
    path = state / "watchlist.yaml"
    with path.open("w") as fh:
        y.dump(config, fh)
    return path


def timed(cmd: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args()
    news = args.shared / "feeds" / "news"
    files = sorted(p for p in news.iterdir() if p.is_file())
    server, base = serve(news)
    monitor = [sys.executable, "-m", "monitor"]
    rows: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    summary = ""
    for _ in range(args.reps):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write_config(Path(tmp), base, files)
            env_cmd = [*monitor, "poll", "--config", str(cfg), "--log-level", "WARNING"]
            wall, cpu, out = timed(env_cmd)
            rows["cold"].append((wall, cpu))
            summary = out
            wall, cpu, _ = timed(env_cmd)
            rows["warm"].append((wall, cpu))
    server.shutdown()
    lines = summary.strip().splitlines()
    new = sum(int(line.split(": ")[1].split()[0]) for line in lines if "new entries" in line)
    matches = sum(int(line.split(", ")[1].split()[0]) for line in lines if "new matches" in line)
    print(
        f"{len(files)} feeds from {news}, {new} entries, {matches} matches; python {sys.version.split()[0]}, {os.cpu_count()} cores\n"
    )
    print("| phase | reps | wall s (median) | CPU s (median) |")
    print("|---|---:|---:|---:|")
    for phase, vals in rows.items():
        print(
            f"| {phase} | {len(vals)} | {statistics.median(v[0] for v in vals):.2f} | {statistics.median(v[1] for v in vals):.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
