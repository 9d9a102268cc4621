"""The floor under a warm ``monitor poll``: what 1,000 conditional GETs cost by themselves.

Each variant runs in a fresh interpreter (the same one as ``monitor poll``), timed from
the outside (wall, and user+sys CPU of the child from ``wait4``); the HTTP variants also
time their request loop alone from the inside. Variants, round-robin per rep so machine
load falls on all of them alike, then a Markdown table of medians:

- ``python -c pass``: interpreter start-up;
- ``import`` of what ``monitor poll`` needs (``monitor.cli``; and the narrower set
  ``storage.store, monitor.watchlist, monitor.fetch, monitor.pipeline``);
- the same N conditional GETs (``If-None-Match`` + ``If-Modified-Since``, every answer a
  304, checked), ``--inflight`` at a time over keep-alive connections to one host, with
  (a) ``httpx.AsyncClient`` as ``monitor.fetch.build_client`` configures it, sent the way
  ``fetch_feed`` sends them (b) ``httpx.Client``, sequential, one connection
  (c) ``httpcore.AsyncConnectionPool`` directly (anyio backend) (d) a minimal asyncio
  HTTP/1.1 keep-alive loop (``asyncio`` streams, headers read up to the blank line):
  the network floor of any asyncio poller in Python on this host.

Point it at a running bench nginx (``bench/poll_cycle.py``'s harness, serve.sh):

    python bench/warm_floor.py --urls /tmp/work-warm/site/urls-1000.txt --reps 5

Validators come from one untimed GET of every URL first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HTTP_COMMON = r"""
import asyncio, json, sys, time
cfg = json.load(open(sys.argv[1]))
jobs = cfg["jobs"]  # [url, etag, last_modified]
INFLIGHT = cfg["inflight"]
def report(t0, c0, statuses):
    bad = [s for s in statuses if s != 304]
    if len(statuses) != len(jobs) or bad:
        sys.exit(f"expected {len(jobs)} x 304, got {len(statuses)} with {len(bad)} others: {bad[:3]}")
    print(json.dumps({"loop_wall": time.perf_counter() - t0, "loop_cpu": time.process_time() - c0}))
"""

VARIANTS: dict[str, str] = {
    "python -c pass": "pass",
    "import storage.store, monitor.watchlist, monitor.fetch, monitor.pipeline": (
        "import storage.store, monitor.watchlist, monitor.fetch, monitor.pipeline"
    ),
    "import monitor.cli (what `monitor poll` imports)": "import monitor.cli",
    "(a) httpx.AsyncClient, monitor.fetch.build_client + fetch_feed": HTTP_COMMON
    + r"""
from monitor.fetch import USER_AGENT, FetchLimits, build_client, fetch_feed
async def main():
    limits = FetchLimits()
    async with build_client(limits, USER_AGENT) as client:
        sem = asyncio.Semaphore(INFLIGHT)
        async def one(i, url, etag, lm):
            async with sem:
                r = await fetch_feed(client, f"f{i}", url, etag=etag, last_modified=lm, limits=limits)
                return r.status
        t0, c0 = time.perf_counter(), time.process_time()
        statuses = await asyncio.gather(*(one(i, *j) for i, j in enumerate(jobs)))
        report(t0, c0, statuses)
asyncio.run(main())
""",
    "(a2) as (a), the URLs split over 2 processes forked after the imports": HTTP_COMMON
    + r"""
import os
from monitor.fetch import USER_AGENT, FetchLimits, build_client, fetch_feed
async def main(part):
    limits = FetchLimits()
    async with build_client(limits, USER_AGENT) as client:
        sem = asyncio.Semaphore(INFLIGHT)
        async def one(i, url, etag, lm):
            async with sem:
                r = await fetch_feed(client, f"f{i}", url, etag=etag, last_modified=lm, limits=limits)
                return r.status
        return await asyncio.gather(*(one(i, *j) for i, j in part))
t0, c0 = time.perf_counter(), time.process_time()
half = len(jobs) // 2
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    got = asyncio.run(main(list(enumerate(jobs))[half:]))
    os.write(w, json.dumps(got).encode()); os._exit(0)
os.close(w)
mine = asyncio.run(main(list(enumerate(jobs))[:half]))
theirs = json.loads(os.read(r, 1 << 20))
_, _, usage = os.wait4(pid, 0)
t1 = time.perf_counter()
c1 = time.process_time() - c0 + usage.ru_utime + usage.ru_stime
print(json.dumps({"loop_wall": t1 - t0, "loop_cpu": c1}))
statuses = mine + theirs
assert len(statuses) == len(jobs) and set(statuses) == {304}, statuses[:5]
""",
    "(a') httpx.AsyncClient, stock (defaults), client.get": HTTP_COMMON
    + r"""
import httpx
async def main():
    async with httpx.AsyncClient(headers={"Accept-Encoding": "gzip, deflate"}) as client:
        sem = asyncio.Semaphore(INFLIGHT)
        async def one(url, etag, lm):
            async with sem:
                r = await client.get(url, headers={"If-None-Match": etag, "If-Modified-Since": lm})
                return r.status_code
        t0, c0 = time.perf_counter(), time.process_time()
        statuses = await asyncio.gather(*(one(*j) for j in jobs))
        report(t0, c0, statuses)
asyncio.run(main())
""",
    "(b) httpx.Client (sync), sequential, 1 connection": HTTP_COMMON
    + r"""
import httpx
with httpx.Client(headers={"Accept-Encoding": "gzip, deflate"}) as client:
    t0, c0 = time.perf_counter(), time.process_time()
    statuses = [client.get(u, headers={"If-None-Match": e, "If-Modified-Since": m}).status_code
                for u, e, m in jobs]
    report(t0, c0, statuses)
""",
    "(b4) httpx.Client (sync) shared by 4 threads": HTTP_COMMON
    + r"""
import httpx
from concurrent.futures import ThreadPoolExecutor
with httpx.Client(headers={"Accept-Encoding": "gzip, deflate"}) as client:
    def one(job):
        u, e, m = job
        return client.get(u, headers={"If-None-Match": e, "If-Modified-Since": m}).status_code
    with ThreadPoolExecutor(INFLIGHT) as pool:
        t0, c0 = time.perf_counter(), time.process_time()
        statuses = list(pool.map(one, jobs))
        report(t0, c0, statuses)
""",
    "(c) httpcore.AsyncConnectionPool (anyio backend)": HTTP_COMMON
    + r"""
import httpcore
async def main():
    async with httpcore.AsyncConnectionPool(max_connections=INFLIGHT) as pool:
        sem = asyncio.Semaphore(INFLIGHT)
        async def one(url, etag, lm):
            async with sem:
                r = await pool.request("GET", url, headers=[
                    (b"Accept-Encoding", b"gzip, deflate"),
                    (b"If-None-Match", etag.encode()), (b"If-Modified-Since", lm.encode())])
                return r.status
        t0, c0 = time.perf_counter(), time.process_time()
        statuses = await asyncio.gather(*(one(*j) for j in jobs))
        report(t0, c0, statuses)
asyncio.run(main())
""",
    "(c') httpcore.AsyncConnectionPool, bare asyncio-streams backend (no timeouts)": HTTP_COMMON
    + r"""
import httpcore, select
class Stream(httpcore.AsyncNetworkStream):
    # The least a backend can do: no timeouts, no error mapping. An upper bound on what
    # replacing anyio under httpcore (network_backend=) could save.
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.sock = writer.get_extra_info("socket")
    async def read(self, max_bytes, timeout=None):
        return await self.r.read(max_bytes)
    async def write(self, buffer, timeout=None):
        self.w.write(buffer)
        await self.w.drain()
    async def aclose(self):
        self.w.close()
    def get_extra_info(self, info):
        if info == "is_readable":
            p = select.poll(); p.register(self.sock.fileno(), select.POLLIN)
            return bool(p.poll(0))
        return self.w.get_extra_info(info)
class Backend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return Stream(*await asyncio.open_connection(host, port))
    async def sleep(self, seconds):
        await asyncio.sleep(seconds)
async def main():
    async with httpcore.AsyncConnectionPool(max_connections=INFLIGHT, network_backend=Backend()) as pool:
        sem = asyncio.Semaphore(INFLIGHT)
        async def one(url, etag, lm):
            async with sem:
                r = await pool.request("GET", url, headers=[
                    (b"Accept-Encoding", b"gzip, deflate"),
                    (b"If-None-Match", etag.encode()), (b"If-Modified-Since", lm.encode())])
                return r.status
        t0, c0 = time.perf_counter(), time.process_time()
        statuses = await asyncio.gather(*(one(*j) for j in jobs))
        report(t0, c0, statuses)
asyncio.run(main())
""",
    "(d) raw asyncio streams, HTTP/1.1 keep-alive": HTTP_COMMON
    + r"""
from urllib.parse import urlsplit
async def worker(queue, statuses):
    reader = writer = None
    while queue:
        url, etag, lm = queue.pop()
        u = urlsplit(url)
        if writer is None:
            reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
        writer.write((f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                      "Accept-Encoding: gzip, deflate\r\n"
                      f"If-None-Match: {etag}\r\nIf-Modified-Since: {lm}\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        statuses.append(status)
    if writer is not None:
        writer.close()
async def main():
    queue, statuses = list(reversed(jobs)), []
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(queue, statuses) for _ in range(INFLIGHT)))
    report(t0, c0, statuses)
asyncio.run(main())
""",
}


def prime(urls: list[str]) -> list[list[str]]:
    """One plain GET per URL (untimed) for its validators."""
    import httpx

    jobs = []
    with httpx.Client(headers={"Accept-Encoding": "gzip, deflate"}) as client:
        for url in urls:
            r = client.get(url)
            r.raise_for_status()
            jobs.append([url, r.headers["etag"], r.headers["last-modified"]])
    return jobs


def run_one(code: str, cfg: str) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, cfg],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"variant failed ({proc.returncode}): {err[-2000:]}")
    row = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}
    line = out.strip().splitlines()[-1] if out.strip() else ""
    if line.startswith("{"):
        row.update(json.loads(line))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urls", required=True, help="the bench site's urls-N.txt")
    ap.add_argument("--n", type=int, default=1000, help="first N URLs (default 1000)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--inflight", type=int, default=4, help="requests in flight (poll's per-host limit)"
    )
    ap.add_argument("--only", default="", help="comma-separated variant prefixes, e.g. '(c),(d)'")
    args = ap.parse_args()
    urls = [u.strip() for u in Path(args.urls).read_text().splitlines() if u.strip()][: args.n]
    variants = {
        k: v
        for k, v in VARIANTS.items()
        if not args.only or any(k.startswith(p.strip()) for p in args.only.split(","))
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"jobs": prime(urls), "inflight": args.inflight}, fh)
        cfg = fh.name
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    try:
        for rep in range(args.reps):
            for name, code in variants.items():
                rows[name].append(run_one(code, cfg))
            print(f"rep {rep + 1}/{args.reps} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    finally:
        os.unlink(cfg)

    def med(name: str, key: str) -> float | None:
        vals = [r[key] for r in rows[name] if key in r]
        return statistics.median(vals) if vals else None

    def f(v: float | None, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    print(
        f"N = {len(urls)} conditional GETs (all 304), {args.inflight} in flight, "
        f"medians of {args.reps} reps, load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| variant | process wall s | process CPU s | loop wall s | loop CPU s "
        "| CPU ms / request | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in variants:
        cpu = med(name, "loop_cpu")
        per = f(1000 * cpu / len(urls)) if cpu is not None else "-"
        cells = [
            name,
            f(med(name, "wall")),
            f(med(name, "cpu")),
            f(med(name, "loop_wall")),
            f(cpu),
            per,
            f(med(name, "rss"), 0),
        ]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
