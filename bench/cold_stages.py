"""Cold-cycle stage costs in one process: parse, match and store, old code vs new.

Reads the poll-cycle benchmark's generated feeds (``<work>/site/feeds`` of
``bench/poll_cycle.py``, or any directory of feed files), then per feed, in one process
and without HTTP: parses the body (``monitor.parse.parse_feed``: fastfeedparser + our
entry conversion), matches the entries (``monitor.prepare.match_entries`` with the
benchmark's watchlist: ``bench/make_watchlist.py``) and stores them into a fresh database
(``Store.ingest_many``, in batches like the poll cycle's writer). CPU seconds
(``time.process_time``) per stage.

With ``--baseline REF`` the same measurement runs first on a ``git archive`` of REF
(``monitor`` and ``storage`` put first on ``PYTHONPATH``, same interpreter, same feeds,
alternating runs) and the table shows both and their ratio:

    python bench/cold_stages.py --feeds /tmp/cold-bench/site/feeds --baseline main
    python bench/cold_stages.py --feeds DIR --limit 200 --reps 1     # quick look
    python bench/cold_stages.py --feeds DIR --db postgresql+psycopg://127.0.0.1/db

Medians per feed of each stage, and the stage totals over all feeds (median over reps).
A PostgreSQL URL is emptied (every table dropped) before each run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STAGES = ("parse", "match", "store")


def _child(args: argparse.Namespace) -> dict[str, object]:
    """Measure with whatever ``monitor``/``storage`` this interpreter imports."""
    import storage.store
    from monitor.parse import parse_feed
    from monitor.prepare import match_entries
    from monitor.types import FeedSpec, FeedUpdate
    from monitor.watchlist import load_watchlist
    from storage.store import Store

    files = sorted(p for p in Path(args.feeds).iterdir() if p.is_file())[: args.limit or None]
    tmp = Path(tempfile.mkdtemp(prefix="cold-stages-"))
    try:
        urls = tmp / "urls.txt"
        urls.write_text("".join(f"http://127.0.0.1/feeds/{p.name}\n" for p in files))
        subprocess.run([sys.executable, str(HERE / "make_watchlist.py"), tmp, urls], check=True)
        wl = load_watchlist(tmp / "watchlist.yaml")
        if args.db == "sqlite":
            url = f"sqlite:///{tmp / 'monitor.db'}"
        else:
            url = args.db
            _empty_postgres(url)
        store = Store.open(url)
        now = datetime(2026, 1, 1, tzinfo=UTC)  # fixed: the content digest compares runs
        store.sync_config(
            [FeedSpec(f.id, f.url, f.enabled) for f in wl.config.feeds], {}, wl.revision, "", now
        )
        bodies = [p.read_bytes() for p in files]
        feed_ids = [f.id for f in wl.config.feeds]
        per: dict[str, list[float]] = {s: [] for s in STAGES}
        updates = []
        n_entries = n_matches = 0
        clock = time.process_time
        for fid, p, body in zip(feed_ids, files, bodies, strict=True):
            t0 = clock()
            parsed = parse_feed(body, {}, f"http://127.0.0.1/feeds/{p.name}")
            t1 = clock()
            incoming = match_entries(
                parsed.entries,
                wl.matcher,
                timedelta(days=36500),
                now,
                fid,
                source=parsed.title or fid,
            )
            t2 = clock()
            per["parse"].append(t1 - t0)
            per["match"].append(t2 - t1)
            n_entries += len(incoming)
            n_matches += sum(len(e.matches) for e in incoming)
            updates.append(
                FeedUpdate(
                    fid,
                    now,
                    now + timedelta(minutes=15),
                    status=200,
                    title=parsed.title,
                    entries=incoming,
                    revision=wl.revision,
                )
            )
        store_total = 0.0
        for i in range(0, len(updates), args.batch):
            batch = updates[i : i + args.batch]
            t0 = clock()
            store.ingest_many(batch)
            dt = clock() - t0
            store_total += dt
            per["store"].extend([dt / len(batch)] * len(batch))
        counts = store.counts()
        digest = _digest(store.engine)
        store.close()
        return {
            "code": str(Path(storage.store.__file__).parent.parent),
            "feeds": len(files),
            "entries": n_entries,
            "matches": n_matches,
            "rows": counts,
            "digest": digest,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "median": {s: statistics.median(v) for s, v in per.items()},
            "total": {s: sum(v) for s, v in per.items()},
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _digest(engine: Any) -> str:
    """sha256 of every row of entries, sightings, matches and match_snapshots, by id."""
    from sqlalchemy import text

    h = hashlib.sha256()
    with engine.connect() as conn:
        for table in ("entries", "sightings", "matches", "match_snapshots"):
            key = "match_id" if table == "match_snapshots" else "id"
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}")):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()[:16]


def _empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _run(code_dir: Path | None, args: argparse.Namespace) -> dict[str, object]:
    env = dict(os.environ)
    if code_dir is not None:
        env["PYTHONPATH"] = str(code_dir)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--feeds", args.feeds]
    cmd += ["--limit", str(args.limit), "--batch", str(args.batch), "--db", args.db]
    out = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(out.stderr)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", required=True, help="directory of feed files")
    ap.add_argument("--limit", type=int, default=0, help="first N files only (0: all)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=50, help="feeds per ingest_many")
    ap.add_argument("--db", default="sqlite", help="'sqlite' (a fresh file) or a database URL")
    ap.add_argument("--baseline", help="git ref to compare with (e.g. main)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args), default=str))
        return 0

    versions: list[tuple[str, Path | None]] = [("this tree", None)]
    tmp = None
    if args.baseline:
        tmp = Path(tempfile.mkdtemp(prefix="cold-stages-base-"))
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "monitor", "storage"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        versions.insert(0, (args.baseline, tmp))
    runs: dict[str, list[dict[str, object]]] = {name: [] for name, _ in versions}
    try:
        for _ in range(args.reps):  # alternate, so load drifts hit both alike
            for name, code in versions:
                runs[name].append(_run(code, args))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    first = runs[versions[0][0]][0]
    print(
        f"{first['feeds']} feeds, {first['entries']} entries, {first['matches']} matches, "
        f"db {args.db}, batches of {args.batch} feeds, {args.reps} rep(s); CPU (process_time)"
    )
    for name, _ in versions:
        rows = runs[name][0]["rows"]
        rss = statistics.median(float(r["maxrss_mib"]) for r in runs[name])  # type: ignore[arg-type]
        print(
            f"- {name}: rows {rows}, content digest {runs[name][0]['digest']}, peak RSS {rss:.0f} MiB"
        )
    print()
    head = "| stage |"
    rule = "|---|"
    for name, _ in versions:
        head += f" {name}: ms/feed (median) | {name}: s total |"
        rule += "---:|---:|"
    if len(versions) == 2:
        head += " new / old (total) |"
        rule += "---:|"
    print(head)
    print(rule)

    def med(name: str, kind: str, stage: str) -> float:
        return statistics.median(r[kind][stage] for r in runs[name])  # type: ignore[index]

    for stage in (*STAGES, "all"):
        line = f"| {stage} |"
        totals = []
        for name, _ in versions:
            if stage == "all":
                per_feed = sum(med(name, "median", s) for s in STAGES)
                total = sum(med(name, "total", s) for s in STAGES)
            else:
                per_feed, total = med(name, "median", stage), med(name, "total", stage)
            totals.append(total)
            line += f" {per_feed * 1000:.2f} | {total:.2f} |"
        if len(versions) == 2:
            line += f" {totals[1] / totals[0]:.2f} |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
