"""The daemon's event loop keeps running while feeds are parsed (issue 5, item 10).

A structural check, not a benchmark: the daemon polls a few feeds whose parse costs
seconds of CPU *each* (HTML-heavy items), in its own process pool, while a 10 ms ticker
runs in the same event loop and /healthz is asked every 100 ms. Were a parse run on the
loop, one feed alone would stall the ticker for longer than the bound below (measured with
an executor that runs calls inline: 12 s); with parsing off the loop, the worst tick is a scheduling
hiccup. The bound (1 s) is below one feed's parse CPU (asserted > 1.5 s per feed, > 3 s
in all). It is not tighter because this 2-core machine runs at load 8-10: stalls of
0.4-0.6 s with nothing of ours to blame were seen; before ``gc.freeze()`` in the daemon,
full garbage collections in a database thread held the GIL for up to 0.9 s.
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from pathlib import Path

import httpx
from pytest_httpserver import HTTPServer

from monitor.parse import parse_feed
from monitor.scheduler import Daemon
from monitor.watchlist import load_watchlist
from monitor.web import bind
from storage.store import Store
from tests.support import Item, rss, write_watchlist

FEEDS = 3
ITEMS = 360
PARAGRAPHS = 24
MAX_LAG = 1.0  # seconds; one feed's parse is asserted to cost more than 1.5x this in CPU


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def big_feed(n: int) -> bytes:
    """~8 MB of RSS (under the 10 MB body cap): 360 items of 24 tag-dense HTML paragraphs
    each. HTML to text is the cost, and it grows with the number of tags: after
    ``html_to_text`` became 4.5x cheaper, plain prose no longer cost enough per byte."""
    rnd = random.Random(n)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "market",
        "model",
        "launch",
        "partner",
        "revenue",
        "chip",
        "glasses",
        "rollout",
        "developers",
        "preview",
        "access",
        "pricing",
        "region",
        "capacity",
        "cluster",
    ]

    def paragraph() -> str:
        text = " ".join(f"<b>{rnd.choice(words)[:2]}</b>" for _ in range(40))
        return f'<p>{text} <a href="/x">more</a> &amp; <i>so on</i></p>'

    items = [
        Item(f"f{n}-{i}", f"Story {i} of feed {n}", "".join(paragraph() for _ in range(PARAGRAPHS)))
        for i in range(ITEMS)
    ]
    return rss(items, f"Big feed {n}").encode()


def test_event_loop_stays_responsive_while_the_daemon_parses(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    bodies = [big_feed(n) for n in range(FEEDS)]
    started = time.process_time()
    parse_feed(bodies[0], {"content-type": "application/rss+xml"}, "http://x/", max_entries=500)
    one_parse = time.process_time() - started
    # Were it on the loop, one feed's parse alone would stall the ticker beyond MAX_LAG.
    assert one_parse > 1.5 * MAX_LAG, f"one parse took {one_parse:.2f}s of CPU: make feeds bigger"
    for n, body in enumerate(bodies):
        httpserver.expect_request(f"/big{n}.xml").respond_with_data(
            body, content_type="application/rss+xml"
        )
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    config = write_watchlist(
        tmp_path / "watchlist.yaml",
        [(f"big{n}", httpserver.url_for(f"/big{n}.xml")) for n in range(FEEDS)],
        database=db,
    )
    wl = load_watchlist(config)
    store = Store.open(db)
    cpu_before = _children_cpu()

    async def main() -> tuple[list[float], list[int], float]:
        loop = asyncio.get_running_loop()
        sock = bind("127.0.0.1", 0)
        health_url = f"http://127.0.0.1:{sock.getsockname()[1]}/healthz"
        daemon = Daemon(wl, store, tick_seconds=0.2, parse_workers=1, http_socket=sock)
        run = asyncio.create_task(daemon.run())
        lags: list[float] = []
        statuses: list[int] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = loop.time()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = loop.time()
                lags.append(now - last - 0.01)
                last = now

        async def prober() -> None:
            async with httpx.AsyncClient(timeout=5) as client:
                while not done.is_set():
                    try:
                        statuses.append((await client.get(health_url)).status_code)
                    except httpx.TransportError:
                        if statuses:  # once up, it must keep answering
                            statuses.append(0)
                    await asyncio.sleep(0.1)

        tasks = [asyncio.create_task(ticker()), asyncio.create_task(prober())]
        began = loop.time()
        try:
            while True:  # until every feed is recorded (its entries stored)
                states = await asyncio.to_thread(store.feed_states)
                if len(states) == FEEDS and all(s.last_checked_at is not None for s in states):
                    break
                assert not run.done(), "the daemon stopped"
                assert loop.time() - began < 240, "the cycle did not finish"
                await asyncio.sleep(0.25)
            cycle = loop.time() - began
        finally:
            done.set()
            await asyncio.gather(*tasks)
            daemon.request_stop()
            await run
        return lags, statuses, cycle

    try:
        lags, statuses, cycle = asyncio.run(main())
        states = store.feed_states()
    finally:
        store.close()
    parse_cpu = _children_cpu() - cpu_before  # the worker process, joined at shutdown
    assert all(s.error_count == 0 and s.entry_count == ITEMS for s in states), states
    assert parse_cpu > 3.0, f"the worker used {parse_cpu:.2f}s of CPU: make feeds bigger"
    assert max(lags) < MAX_LAG, (
        f"worst tick lag {max(lags):.3f}s during a {cycle:.1f}s cycle "
        f"({parse_cpu:.1f}s of parse CPU in the worker)"
    )
    assert len(statuses) >= 5 and set(statuses) == {200}, statuses
