"""How fast the web pages answer over 100,000 stored entries (target: 300 ms each).

    .venv/bin/python bench/web_pages.py [--reps 15] [--entries 100000] [--reseed]
        [--seed-dir DIR]

Seeds a fresh SQLite database once (cached under /tmp, keyed by SEED_VERSION and the
entry count; ``--reseed`` rebuilds it; ``--seed-dir`` uses another directory, e.g. a copy
of the cached one: the page server writes to its database, e.g. the search index), then
serves the real pages with ``monitor web``
in a subprocess on 127.0.0.1 and times every page with httpx: two warm-up requests
(the first one's time is reported too: cold caches; a stories page whose stories are
still being clustered, ``BUSY``, is asked again until they are there),
then ``--reps`` timed ones; median and p95 of the wall time of each request (client
side, so it includes HTTP and the event loop). A page this branch does not serve yet
(404 from the router) is reported as ``missing``, not as a failure.

The data, built through the Store's own paths (``Store.ingest_many`` for refreshes,
``after_ingest`` for catalyst states and their alerts, ``Store.run_digest`` with the
real digest builder for the daily digest, ``record_attempt`` for outcomes):

- a copy of the default ``watchlist.yaml`` (its feeds, aliases, watch items and digest;
  the digest's webhook points at a closed local port);
- ENTRIES entries over 183 days, spread over all the watchlist's feeds: one in five
  is a realistic news item that matches one of the watch items (the labelled sets in
  tests/quality: items.jsonl and the story clusters, each item drawn equally often), the
  rest real headlines and summaries parsed from the shared news feeds
  (/work/shared/feeds/news, falling back to the labelled sets' negatives). Repeats get
  a distinct link and guid; every entry is matched by the real matcher, so the matches
  (thousands per watch item) are what the daemon would have recorded;
- the catalyst state of every item re-evaluated monthly (so transitions and alerts
  exist), and a daily digest built and recorded each day (most delivered, some failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.catalysts import after_ingest  # noqa: E402
from monitor.digest import new_delivery_id  # noqa: E402
from monitor.match import Matcher  # noqa: E402
from monitor.parse import parse_feed  # noqa: E402
from monitor.pipeline import digest_builder, load_catalysts, sync_watchlist  # noqa: E402
from monitor.prepare import match_entries  # noqa: E402
from monitor.types import AttemptOutcome, EntryData, FeedUpdate, MatchResult  # noqa: E402
from monitor.watchlist import LoadedWatchlist, load_watchlist  # noqa: E402
from storage.store import Store  # noqa: E402

SEED_VERSION = 1
NEWS = Path("/work/shared/feeds/news")
TOKEN = "bench-token"
TARGET_MS = 300.0
# The stories page's stories section while its item is being clustered (it asks again).
# Only that page's main content: the board's cards say "counting…" the same way, and the
# board is timed as it answers.
BUSY = '<section id="stories" aria-labelledby="stories-h" aria-busy="true"'
DAYS = 183
MATCHING_SHARE = 0.2
# The catalyst engine re-reads and re-clusters every match of an item on each update,
# so the seed runs it monthly (the daemon runs it after every refresh with new matches).
CATALYST_EVERY = 30
FEEDS_PER_DAY = 15  # of the watchlist's feeds, a different draw each day
END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


# --- the data ----------------------------------------------------------------------------


def labelled() -> list[EntryData]:
    out = []
    for line in (ROOT / "tests/quality/items.jsonl").read_text().splitlines():
        d = json.loads(line)
        out.append(
            EntryData(
                guid=d["id"],
                link=f"https://news.example.com/{d['id']}",
                title=d["title"],
                summary=d["summary"],
                source=d["outlet"],
            )
        )
    for path in sorted((ROOT / "tests/quality").glob("stories*.json")):
        for c in json.loads(path.read_text())["clusters"]:
            for _, source, link, title, summary in c["members"]:
                out.append(
                    EntryData(guid=link, link=link, title=title, summary=summary, source=source)
                )
    return out


def news() -> list[EntryData]:
    out: list[EntryData] = []
    for path in sorted(NEWS.glob("*.xml")) if NEWS.is_dir() else []:
        try:
            parsed = parse_feed(path.read_bytes(), {}, f"https://{path.stem}.example/")
        except Exception:
            continue
        out += [e for e in parsed.entries if e.title]
    return out


def pools(wl: LoadedWatchlist) -> tuple[dict[str, list[EntryData]], list[EntryData]]:
    """Templates per watch item (texts the real matcher ties to it) and noise (none)."""
    by_item: dict[str, list[EntryData]] = defaultdict(list)
    noise = []
    for e in labelled() + news():
        hits = wl.matcher.match(e)
        if hits:
            by_item[hits[0].watch_id].append(e)
        else:
            noise.append(e)
    return dict(by_item), noise


class MemoMatcher:
    """The watchlist's real matcher, asked once per distinct (text, source, feed): the
    copies of a template differ only in guid, link and date, which it does not read."""

    def __init__(self, matcher: Matcher) -> None:
        self.items = matcher.items
        self.matcher = matcher
        self.memo: dict[tuple[str, str, str, str | None, str | None], tuple[MatchResult, ...]] = {}

    def match(self, e: EntryData, feed_id: str | None = None) -> tuple[MatchResult, ...]:
        key = (e.title, e.summary, e.source or "", e.link and e.link.split("?")[0], feed_id)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self.matcher.match(e, feed_id)
        return found


def seed(db_dir: Path, entries: int) -> Path:
    """Write watchlist.yaml + monitor.db into ``db_dir``; return the watchlist path."""
    logging.disable(logging.WARNING)  # the seeded alerts' log lines
    if db_dir.exists():
        shutil.rmtree(db_dir)
    db_dir.mkdir(parents=True)
    text = (ROOT / "watchlist.yaml").read_text()
    text = text.replace('"${MONITOR_WEBHOOK_URL:-}"', '"http://127.0.0.1:9/hook"')
    path = db_dir / "watchlist.yaml"
    path.write_text(text)
    wl = load_watchlist(path)
    store = Store.open(wl.database_url)
    rng = random.Random(SEED_VERSION)
    start = END - timedelta(days=DAYS)
    t0 = time.perf_counter()
    sync_watchlist(store, wl, start - timedelta(days=1))
    by_item, noise = pools(wl)
    memo = MemoMatcher(wl.matcher)
    items = sorted(by_item)
    feeds = [f.id for f in wl.config.feeds]
    digest = wl.config.digests[0]
    ids = wl.watch_ids_for(digest)
    per_day = entries // DAYS
    uses: dict[int, int] = defaultdict(int)
    made = matches = 0
    week_matches: list[int] = []
    phase = {"ingest": 0.0, "catalysts": 0.0, "digests": 0.0}
    for day in range(DAYS):
        now = start + timedelta(days=day, hours=23)
        n = per_day if day < DAYS - 1 else entries - made
        by_feed: dict[str, list[EntryData]] = defaultdict(list)
        todays = rng.sample(feeds, min(FEEDS_PER_DAY, len(feeds)))
        for i in range(n):
            if rng.random() < MATCHING_SHARE:
                t = rng.choice(by_item[rng.choice(items)])
            else:
                t = rng.choice(noise)
            rep = uses[id(t)] = uses[id(t)] + 1
            k = made + i
            published = start + timedelta(days=day, minutes=rng.randrange(0, 22 * 60))
            by_feed[rng.choice(todays)].append(
                replace(
                    t,
                    guid=f"{t.guid}#{k}",
                    link=f"{t.link or 'https://news.example.com/x'}?r={rep}&k={k}",
                    published=published,
                )
            )
        made += n
        updates = []
        for feed_id, es in by_feed.items():
            incoming = match_entries(es, memo, timedelta(days=7), now, feed_id)  # type: ignore[arg-type]
            updates.append(
                FeedUpdate(
                    feed_id, now, now + timedelta(minutes=15), status=200,
                    entries=incoming, revision=wl.revision, title=feed_id,
                )
            )  # fmt: skip
        t = time.perf_counter()
        for r in store.ingest_many(updates):
            matches += len(r.new_match_ids)
            week_matches += r.new_match_ids
        phase["ingest"] += time.perf_counter() - t
        t = time.perf_counter()
        if day % CATALYST_EVERY == CATALYST_EVERY - 1 or day == DAYS - 1:
            after_ingest(store, wl, week_matches, now)
            week_matches = []
        phase["catalysts"] += time.perf_counter() - t
        t = time.perf_counter()
        if day < DAYS - 1:  # the last day's matches stay pending: the next digest
            at = now + timedelta(hours=9)
            build = digest_builder(
                wl, digest, at, new_delivery_id(), load_catalysts(store, digest.id, ids, at)
            )
            d = store.run_digest(digest.id, ids, at, build)
            if d is not None:
                ok = rng.random() > 0.05
                outcome = AttemptOutcome(
                    ok, status=200 if ok else 400, error=None if ok else "HTTP 400: invalid payload"
                )
                store.record_attempt(d.id, outcome, at + timedelta(seconds=2), None)
        phase["digests"] += time.perf_counter() - t
        if day % 10 == 0:
            print(f"  seeded day {day}/{DAYS}: {made} entries, {matches} matches "
                  f"({time.perf_counter() - t0:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in phase.items()) + ")",
                  file=sys.stderr)  # fmt: skip
    counts = store.counts()
    store.close()
    (db_dir / "seeded.json").write_text(
        json.dumps({"counts": counts, "seconds": time.perf_counter() - t0})
    )
    return path


# --- serving and timing -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def monitor_web(config: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MONITOR_WEB_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "web", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"monitor web did not start:\n{err}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class FormFields(HTMLParser):
    """The named fields of the first form holding #rule-yaml or an hx-post to the preview."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if (
            tag == "input"
            and name
            and a.get("type") not in ("submit", "button", "checkbox", "radio")
        ):
            self.fields.setdefault(name, a.get("value") or "")
        elif tag == "input" and name and a.get("type") in ("checkbox", "radio") and "checked" in a:
            self.fields.setdefault(name, a.get("value") or "on")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.setdefault(name, "")

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def time_page(
    c: httpx.Client, method: str, url: str, reps: int, data: dict[str, str] | None = None
) -> tuple[str, float, float, float, int]:
    """(outcome, first request ms, median ms, p95 ms, bytes)."""
    headers = {"HX-Request": "true"} if method == "POST" else {}
    t = time.perf_counter()
    r = c.request(method, url, data=data, headers=headers)
    first = (time.perf_counter() - t) * 1000
    if method == "GET" and BUSY in r.text:
        # A part still being computed (the stories page of an item whose stories are being
        # clustered: "counting…", the page asks again): time the page once it is complete.
        while BUSY in r.text and time.perf_counter() - t < 300:
            time.sleep(0.2)
            r = c.request(method, url, data=data, headers=headers)
        print(f"note: {url} complete after {time.perf_counter() - t:.1f} s", file=sys.stderr)
    r = c.request(method, url, data=data, headers=headers)
    if r.status_code == 404 and (r.text.strip() == "Not Found" or not r.text.strip()):
        return "missing", 0.0, 0.0, 0.0, 0
    if r.status_code != 200:
        return f"error {r.status_code}", 0.0, 0.0, 0.0, len(r.content)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        r = c.request(method, url, data=data, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
    if len(r.content) < 1000:  # a short answer may be a message, not the page: show it
        text = " ".join(re.sub(r"<[^>]+>", " ", r.text).split())
        print(f"note: {url} answered {len(r.content)} bytes: {text[:200]}", file=sys.stderr)
    return "ok", first, statistics.median(times), p95, len(r.content)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--reseed", action="store_true")
    ap.add_argument(
        "--seed-dir",
        type=Path,
        help="the seeded directory to serve (seeded there when it has no seeded.json); "
        f"default /tmp/catalyst-web-bench-v{SEED_VERSION}-ENTRIES",
    )
    ap.add_argument(
        "--pages",
        help="only the pages whose label contains one of these comma-separated words "
        "(e.g. board,feeds: no editor preview, so no search-index build in the server)",
    )
    args = ap.parse_args()
    db_dir = args.seed_dir or Path(f"/tmp/catalyst-web-bench-v{SEED_VERSION}-{args.entries}")
    config = db_dir / "watchlist.yaml"
    if args.reseed or not (db_dir / "seeded.json").exists():
        if args.seed_dir and db_dir.exists() and any(db_dir.iterdir()):
            # seed() empties the directory first: never someone else's files.
            ap.error(f"--seed-dir {db_dir}: not a seeded directory (no seeded.json) nor empty")
        print(f"seeding {args.entries} entries into {db_dir} ...", file=sys.stderr)
        seed(db_dir, args.entries)
    info = json.loads((db_dir / "seeded.json").read_text())
    store = Store.open(load_watchlist(config).database_url)
    by_watch = store.health_figures().matches_by_watch
    store.close()
    busiest = max(by_watch, key=lambda w: by_watch[w])
    q = "Muse Spark WhatsApp"
    load_before = os.getloadavg()
    with (
        monitor_web(config) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c,
    ):
        # YAML mode: the form's fields are the revision, the mode and the item's block,
        # posted back unchanged (the preview still matches the rule over all history).
        edit = c.get(f"/catalysts/{busiest}/edit?mode=yaml")
        form = FormFields()
        form.feed(edit.text if edit.status_code == 200 else "")
        preview_label = "editor preview (POST, YAML as saved)"
        if "yaml" in form.fields:
            # A keystroke's draft: one more term in the rule's `any:` list (a rule the
            # preview has not run yet, so it matches it over all history).
            drafted = re.sub(
                r"(\n(\s+)any:\n(\s+)- )",
                lambda m: f"\n{m.group(2)}any:\n{m.group(3)}- smart specs\n{m.group(3)}- ",
                form.fields["yaml"],
                count=1,
            )
            if drafted != form.fields["yaml"]:
                form.fields["yaml"] = drafted
                preview_label = "editor preview (POST, rule + 1 term)"
        pages: list[tuple[str, str, str, dict[str, str] | None]] = [
            ("board", "GET", "/", None),
            (f"catalyst ({busiest})", "GET", f"/catalysts/{busiest}", None),
            ("editor", "GET", f"/catalysts/{busiest}/edit", None),
            (
                preview_label,
                "POST",
                f"/catalysts/{busiest}/edit/preview",
                form.fields,
            ),
            (f"search ({q})", "GET", f"/search?q={q.replace(' ', '+')}", None),
            ("feeds", "GET", "/feeds", None),
            ("digests", "GET", "/digests", None),
            ("digest preview (slack)", "GET", "/digests/daily/preview?format=slack", None),
            ("digest preview (summary)", "GET", "/digests/daily/preview?format=summary", None),
        ]
        if args.pages:
            wanted = [w.strip() for w in args.pages.split(",") if w.strip()]
            pages = [p for p in pages if any(w in p[0] for w in wanted)]
        rows = []
        for label, method, url, data in pages:
            if method == "POST" and not data:
                rows.append((label, url, "missing", 0.0, 0.0, 0.0, 0))
                continue
            rows.append((label, url, *time_page(c, method, url, args.reps, data)))
    load_after = os.getloadavg()
    counts = info["counts"]
    print(f"data: {db_dir}; code: {ROOT}")
    print(
        "load average (1, 5, 15 min) before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + " ".join(f"{x:.2f}" for x in load_after)
    )
    print(
        f"{counts['entries']} entries, {counts['matches']} matches "
        f"({', '.join(f'{w} {n}' for w, n in sorted(by_watch.items()))}), "
        f"{counts['deliveries']} deliveries; SQLite; `monitor web` subprocess; "
        f"{args.reps} timed requests per page after 2 warm-up ones; 'first' is the first "
        "request of all (cold caches; pages in the order below).\n"
    )
    print("| page | URL | first ms | median ms | p95 ms | bytes | target ms | verdict |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for label, url, status, first, med, p95, size in rows:
        if status != "ok":
            print(f"| {label} | `{url}` | – | – | – | – | {TARGET_MS:.0f} | {status} |")
            continue
        verdict = (
            "ok" if p95 <= TARGET_MS else ("median ok, p95 over" if med <= TARGET_MS else "SLOW")
        )
        print(
            f"| {label} | `{url}` | {first:.0f} | {med:.0f} | {p95:.0f} | {size} "
            f"| {TARGET_MS:.0f} | {verdict} |"
        )


if __name__ == "__main__":
    main()
