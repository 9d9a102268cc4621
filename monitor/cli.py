"""The ``monitor`` command line: a composition root for each command.

Every command takes ``--config PATH`` (default ``$MONITOR_CONFIG`` or ``./watchlist.yaml``).
Exit codes: 0 success; 1 the command ran but something failed (a delivery, a feed store,
a check with errors); 2 unusable configuration or database, or bad usage.
Output meant for programs (``matches --format json|csv``) is alone on stdout; logs go to
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from monitor import (
    cli_deliveries,
    cli_evidence,
    cli_feeds,
    cli_opml,
    cli_ops,
    cli_watch,
    cli_web,
    logs,
)
from monitor.deliver import new_secret
from monitor.digest import iso
from monitor.errors import ConfigError, MonitorError, StorageError
from monitor.fetch import USER_AGENT, FetchLimits, build_client
from monitor.pipeline import (
    Context,
    PollReport,
    check_catalysts,
    claim_and_attempt,
    flush_digest,
    preview_digest,
    refresh_feed,
    run_digest,
    settle_catalysts,
    sync_watchlist,
    utcnow,
)
from monitor.prepare import parse_executor
from monitor.render import PREVIEW_FORMATS, preview
from monitor.schedule import LEASE
from monitor.types import FeedState, Match
from monitor.watchlist import (
    LoadedWatchlist,
    config_path,
    load_watchlist,
    parse_duration,
    parse_listen,
    render_problem,
)
from storage.engine import DaemonLock, make_engine, redact, sqlite_path, upgrade
from storage.store import Store

# Set by a command after which nothing is left to clean up (``poll``: pool shut down,
# database closed, event loop closed). The console script (``monitor.__main__``) then ends
# the process without the interpreter's teardown, which frees every module of SQLAlchemy,
# pydantic, httpx... one by one: ~0.3 CPU-s, ~5 % of a warm cycle of 1,000 feeds.
_teardown_needless = False


def teardown_needless() -> bool:
    return _teardown_needless


def _console() -> Console:
    """Rich output; piped or captured output gets a wide table instead of folded cells."""
    return Console(highlight=False) if sys.stdout.isatty() else Console(width=200, highlight=False)


def _load(args: argparse.Namespace) -> LoadedWatchlist:
    wl = load_watchlist(config_path(args.config))
    for w in wl.warnings:
        logs.event(30, "config.warning", problem=str(w))
    return wl


def _open(wl: LoadedWatchlist) -> Store:
    return Store.open(wl.database_url)


# --- commands ---------------------------------------------------------------------------------


def http_listen(args: argparse.Namespace, wl: LoadedWatchlist | None) -> str | None:
    """Where health and metrics listen: --http, else $MONITOR_HTTP, else settings.http.listen."""
    value = getattr(args, "http", None) or os.environ.get("MONITOR_HTTP")
    if not value and wl is not None:
        value = wl.config.settings.http.listen
    return value.strip() if value and value.strip() else None


def cmd_run(args: argparse.Namespace) -> int:
    # The daemon's modules (APScheduler, Starlette, uvicorn) load only for `run`: every
    # short command, `poll` above all, starts faster without them.
    from monitor import web
    from monitor.scheduler import Daemon

    wl = _load(args)
    lock = None
    # SQLite: one daemon per database file. PostgreSQL: any number of replicas share the
    # work through leases, so there is nothing to lock.
    path = sqlite_path(wl.database_url)
    if path is not None:
        lock = DaemonLock(path)
        lock.acquire()
    sock = None
    try:
        listen = http_listen(args, wl)
        if listen:
            try:
                sock = web.bind(*parse_listen(listen))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"--http / settings.http.listen: {exc}") from exc
        if args.lease.total_seconds() <= FetchLimits().total_timeout:
            logs.event(
                30,
                "config.warning",
                problem=f"--lease {args.lease.total_seconds():g}s is not above the fetch timeout "
                f"({FetchLimits().total_timeout:g}s): a slow feed may be taken over and polled twice",
            )
        store = _open(wl)
        try:
            daemon = Daemon(wl, store, tick_seconds=args.tick, lease=args.lease, http_socket=sock)
            asyncio.run(daemon.run())
        finally:
            # The daemon has stopped; a repeated SIGTERM/SIGINT (sent to the whole process
            # group by `timeout`, systemd or Ctrl-C) must not turn a clean exit into a kill.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            store.close()
    finally:
        if sock is not None:
            sock.close()
        if lock:
            lock.release()
    return 0


REFRESHES_PER_REQUEST = 4


async def _poll_all(
    wl: LoadedWatchlist, store: Store, *, workers: int, concurrency: int, per_host: int
) -> list[PollReport]:
    limits = FetchLimits()
    executor = parse_executor(workers)
    try:
        async with build_client(limits, USER_AGENT) as client:
            ctx = Context(
                store, client, wl, limits, executor, per_host=per_host, max_requests=concurrency
            )
            feeds = [f for f in await asyncio.to_thread(store.feed_states) if f.enabled]
            # ``concurrency`` bounds the requests (Context.request_slot); this bounds the
            # refreshes between request and write (bodies waiting for a parse, 304s for
            # their batch), so memory stays bounded while the network never waits on them.
            sem = asyncio.Semaphore(REFRESHES_PER_REQUEST * concurrency)

            async def one(feed: FeedState) -> PollReport:
                async with sem:
                    return await refresh_feed(ctx, feed)

            reports = list(await asyncio.gather(*(one(f) for f in feeds)))
            await settle_catalysts(ctx)  # states recorded, alerts queued before we exit
            return reports
    finally:
        executor.shutdown(wait=True)


def cmd_poll(args: argparse.Namespace) -> int:
    global _teardown_needless
    wl = _load(args)
    store = _open(wl)
    try:
        sync_watchlist(store, wl, utcnow())
        reports = asyncio.run(
            _poll_all(
                wl,
                store,
                workers=args.workers,
                concurrency=args.concurrency,
                per_host=args.per_host,
            )
        )
    finally:
        store.close()
    if not args.quiet:
        for r in sorted(reports, key=lambda r: r.feed_id):
            print(r.summary())
    errors = sum(1 for r in reports if r.error)
    print(
        f"polled {len(reports)} feeds: {sum(r.new_entries for r in reports)} new entries, "
        f"{sum(r.new_matches for r in reports)} new matches, "
        f"{sum(1 for r in reports if r.unchanged)} unchanged, {errors} errors",
        file=sys.stderr,
    )
    _teardown_needless = True
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    wl = _load(args)
    digests = wl.config.digests
    if args.id:
        found = wl.digest(args.id)
        if found is None:
            known = ", ".join(d.id for d in digests) or "none"
            raise ConfigError(f"no digest {args.id!r} in {wl.path} (digests: {known})")
        digests = [found]
    store = _open(wl)
    try:
        sync_watchlist(store, wl, utcnow())
        if args.preview:
            for d in digests:
                built = preview_digest(store, wl, d, utcnow())
                if built is None:
                    print(f"Digest {d.id}: nothing pending")
                else:
                    print(preview(built.body, args.format), end="")
            return 0
        return asyncio.run(_send_digests(wl, store, digests))
    finally:
        store.close()


async def _send_digests(wl: LoadedWatchlist, store: Store, digests: Sequence) -> int:
    failed = 0
    limits = FetchLimits()
    # Every attempt is claimed as the daemon claims its own, so beside a running daemon on
    # the same database each delivery is posted once, by whichever process claims it first.
    owner = f"{socket.gethostname()}:{os.getpid()}"
    async with build_client(limits, USER_AGENT) as client:
        ctx = Context(store, client, wl, limits)
        # A cron-only setup (no daemon) must see passed deadlines too: overdue items are
        # recorded (and their alerts queued) before the digest is built.
        await check_catalysts(ctx, force=True)
        for d in digests:
            flushed = await flush_digest(ctx, d.id, owner)
            for x in flushed.attempted:
                outcome = (
                    "delivered"
                    if x.status == "delivered"
                    else f"failed ({x.last_error}); {x.status}"
                )
                print(f"{d.id}: queued delivery {x.id} ({x.match_count} matches): {outcome}")
            blocked = any(x.status != "delivered" for x in flushed.attempted)
            failed += blocked
            if flushed.busy is not None:
                print(
                    f"{d.id}: queued delivery {flushed.busy.id} ({flushed.busy.match_count} "
                    "matches) is being sent by another process (a running daemon)"
                )
                blocked = True
            delivery = await run_digest(ctx, d)
            if delivery is None:
                print(
                    f"{d.id}: nothing pending"
                    + (" (older deliveries still queued)" if blocked else "")
                )
                continue
            if delivery.status == "disabled":
                print(
                    f"{d.id}: {delivery.match_count} matches recorded as {delivery.id}, not sent (webhook url is empty)"
                )
                continue
            if blocked:
                print(
                    f"{d.id}: {delivery.match_count} matches queued as {delivery.id} behind an undelivered digest"
                )
                continue
            result = await claim_and_attempt(ctx, delivery, owner)
            if result is None:
                print(
                    f"{d.id}: {delivery.match_count} matches queued as {delivery.id}; "
                    "another process (a running daemon) is sending it"
                )
            elif result.status == "delivered":
                print(f"{d.id}: delivered {delivery.id} ({delivery.match_count} matches)")
            else:
                failed += 1
                print(
                    f"{d.id}: delivery {delivery.id} failed ({result.last_error}); {result.status}"
                )
    return 1 if failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    try:
        wl = load_watchlist(path)
    except ConfigError as exc:
        for p in exc.problems:
            print(render_problem(p, text))
        errors = sum(p.severity == "error" for p in exc.problems)
        warnings = len(exc.problems) - errors
        print(f"{path}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
        return 1
    for p in wl.warnings:
        print(render_problem(p, text))
    cfg = wl.config
    print(
        f"{path}: OK ({len(cfg.watch)} watch items, {len(cfg.feeds)} feeds, {len(cfg.digests)} digests, "
        f"revision {wl.revision})",
        file=sys.stderr,
    )
    return 0


def _match_row(m: Match) -> dict[str, object]:
    return {
        "id": m.id,
        "watch_id": m.watch_id,
        "title": m.title,
        "link": m.link,
        "guid": m.guid,
        "feed_id": m.feed_id,
        "source": m.source,
        "published": iso(m.published),
        "first_seen": iso(m.first_seen),
        "matched_terms": list(m.matched_terms),
        "snippet": m.snippet,
        "stance": m.stance,
        "score": m.score,
        "explanation": m.explanation,
        "alert": m.alert,
        "revision": m.revision,
        "recorded_at": iso(m.created_at),
    }


def cmd_matches(args: argparse.Namespace) -> int:
    wl = _load(args)
    since = utcnow() - parse_duration(args.since) if args.since else None
    store = _open(wl)
    try:
        found = store.matches(watch_id=args.watch, since=since, limit=args.limit)
    finally:
        store.close()
    rows = [_match_row(m) for m in found]
    if args.format == "json":
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.format == "csv":
        fields = list(rows[0]) if rows else list(_match_row.__annotations__)
        w = csv.DictWriter(sys.stdout, fieldnames=fields or ["id"])
        w.writeheader()
        for r in rows:
            w.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in r.items()})
    else:
        table = Table(title=f"{len(rows)} match(es)")
        for col in ("id", "watch", "stance", "first seen", "source", "title", "terms"):
            table.add_column(col, overflow="fold")
        tz = ZoneInfo(wl.config.settings.timezone)
        for m in found:
            table.add_row(
                str(m.id),
                m.watch_id,
                m.stance,
                _local(m.first_seen, tz),
                m.source or "",
                m.title,
                ", ".join(m.matched_terms),
            )
        _console().print(table)
    return 0


def _local(dt: datetime | None, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


def cmd_status(args: argparse.Namespace) -> int:
    wl = _load(args)
    tz = ZoneInfo(wl.config.settings.timezone)
    store = _open(wl)
    try:
        feeds = store.feed_states()
        digests = {d.id: d for d in store.digest_states()}
        rows = []
        for d in wl.config.digests:
            state = digests.get(d.id)
            last = store.last_delivery(d.id)
            queued = len(store.queued_deliveries(d.id))
            failed = len(store.deliveries(digest_id=d.id, status="failed", limit=1000))
            rows.append((d, state, last, queued, failed))
        catalysts = cli_evidence.catalysts_table(store, wl)
    finally:
        store.close()
    out = _console()
    configured = {f.id for f in wl.config.feeds}
    t = Table(title=f"Feeds ({wl.path}; times in {tz.key})")
    for col in (
        "feed",
        "last poll",
        "last success",
        "entries",
        "errors",
        "last error",
        "next poll",
    ):
        t.add_column(col, overflow="fold")
    for f in feeds:
        if f.id not in configured:
            continue
        mark = "" if f.enabled else " (disabled)"
        if f.gone_at is not None:
            mark += f" (GONE since {_local(f.gone_at, tz)}: `monitor feeds enable {f.id}`)"
        t.add_row(
            f.id + mark,
            _local(f.last_checked_at, tz),
            _local(f.last_success_at, tz),
            str(f.entry_count),
            str(f.error_count),
            (f.last_error or "")[:160],
            _local(f.next_check_at, tz) if f.enabled and f.gone_at is None else "-",
        )
    out.print(t)
    d_table = Table(title="Digests")
    for col in ("digest", "next run", "last delivery", "outcome", "queued", "failed"):
        d_table.add_column(col, overflow="fold")
    for d, state, last, queued, failed in rows:
        outcome = "-"
        if last:
            outcome = last.status + (f" ({last.last_error})" if last.last_error else "")
        d_table.add_row(
            d.id + ("" if d.webhook.url.strip() else " (no webhook)"),
            _local(state.next_run_at, tz) if state else "-",
            f"{_local(last.created_at, tz)} {last.id}" if last else "-",
            outcome,
            str(queued),
            str(failed) + (" (monitor deliveries --status failed)" if failed else ""),
        )
    out.print(d_table)
    out.print(catalysts)
    return 0


def cmd_webhook_secret(args: argparse.Namespace) -> int:
    print(new_secret())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    wl = _load(args)
    engine = make_engine(wl.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"{redact(wl.database_url)}: schema is up to date")
    return 0


# --- parser ------------------------------------------------------------------------------------


def _duration_arg(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="watchlist file (default: $MONITOR_CONFIG or ./watchlist.yaml)",
    )
    common.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    common.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=(os.environ.get("MONITOR_LOG_FORMAT") or "text").lower(),
        help="text (key=value) or json (one object per line); default $MONITOR_LOG_FORMAT or text",
    )
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Catalyst Monitor: watch news feeds for an investment thesis's catalysts.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", parents=[common], help="run the daemon (polls feeds, sends digests)")
    p.add_argument("--tick", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--lease",
        type=_duration_arg,
        default=LEASE,
        metavar="DURATION",
        help="how long a replica holds a feed or delivery it is working on; another replica "
        "takes it over after this when the holder died (default 5m; keep it above a fetch's "
        "60s timeout)",
    )
    p.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        help="serve /healthz, /readyz, /metrics and the web pages here (a bare port binds "
        "127.0.0.1; off loopback the pages need settings.http.token or $MONITOR_WEB_TOKEN; "
        "default: $MONITOR_HTTP, else settings.http.listen, else off)",
    )
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("poll", parents=[common], help="poll every enabled feed once now")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that parse and match (0: a thread of this process); default 1: "
        "with this process fetching and storing, that is one busy process per core on 2 cores",
    )
    p.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")
    p.add_argument(
        "--per-host", type=int, default=4, help="requests in flight to one host (default 4)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the totals line")
    p.set_defaults(fn=cmd_poll)

    p = sub.add_parser("digest", parents=[common], help="build and send pending digests now")
    p.add_argument("--id", help="only this digest")
    p.add_argument(
        "--preview", action="store_true", help="print the digest; send and record nothing"
    )
    p.add_argument(
        "--format",
        choices=PREVIEW_FORMATS,
        default="summary",
        help="preview: a readable summary, or exactly the body/bodies a webhook of that "
        "format would receive (one per line)",
    )
    p.set_defaults(fn=cmd_digest)

    p = sub.add_parser("check", parents=[common], help="validate the watchlist")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("matches", parents=[common], help="list recorded matches")
    p.add_argument("--watch", metavar="ID", help="only this watch item")
    p.add_argument(
        "--since", metavar="DURATION", help="only matches recorded in this period, e.g. 7d"
    )
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--limit", type=int)
    p.set_defaults(fn=cmd_matches)

    p = sub.add_parser("status", parents=[common], help="feeds' health and digests' schedule")
    p.set_defaults(fn=cmd_status)

    p = sub.add_parser("webhook-secret", parents=[common], help="print a new random signing secret")
    p.set_defaults(fn=cmd_webhook_secret)

    cli_deliveries.register(sub, common)
    cli_evidence.register(sub, common)

    p = sub.add_parser("db", parents=[common], help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    q = dbsub.add_parser("upgrade", parents=[common], help="apply schema migrations")
    q.set_defaults(fn=cmd_db_upgrade)
    cli_feeds.register(sub, common)
    cli_watch.register(sub, common)
    cli_ops.register(sub, common)
    cli_opml.register(sub, common)
    cli_web.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    try:
        return int(args.fn(args))
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
