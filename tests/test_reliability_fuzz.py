"""Property tests (hypothesis): the watchlist loader, URL canonicalisation, digest rendering
and fetch+parse over mutated corpus feeds raise nothing but the project's own errors, and
what they produce is valid for its format.

Example counts are kept small for CI; ``HYPOTHESIS_PROFILE=long`` (see bench/fuzz.sh in
docs/reliability.md) runs many more.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.deliver import retry_delay
from monitor.digest import WatchInfo, build_digest, render_text
from monitor.errors import ConfigError, FetchError, MonitorError, ParseError
from monitor.fetch import FetchLimits, build_client, fetch_feed
from monitor.parse import parse_feed
from monitor.types import Match
from monitor.urls import canonical_link
from monitor.watchlist import load_watchlist_text
from tests.chaos import FeedServer
from tests.support import write_watchlist

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

text = st.text(st.characters(codec="utf-8"), max_size=80)


# --- watchlist loader -------------------------------------------------------------------------


def _valid_yaml(tmp: Path) -> str:
    return write_watchlist(tmp / "w.yaml", [("a", "https://example.com/feed")]).read_text()


_BASE = None


def base_yaml() -> str:
    global _BASE
    if _BASE is None:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            _BASE = _valid_yaml(Path(d))
    return _BASE


@st.composite
def mutated_yaml(draw: st.DrawFn) -> str:
    lines = base_yaml().splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "insert", "replace", "indent", "truncate"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "insert":
            lines.insert(i, draw(text))
        elif op == "replace":
            key = lines[i].split(":")[0]
            lines[i] = f"{key}: {draw(text)}"
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 7)) + lines[i].lstrip()
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return "\n".join(lines)


@given(st.one_of(mutated_yaml(), text))
def test_watchlist_loader_raises_only_config_errors_with_locations(doc: str) -> None:
    try:
        wl = load_watchlist_text(doc, Path("w.yaml"))
    except ConfigError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.line >= 1 and p.column >= 1 and p.message
        return
    assert wl.config.version == 1


# --- URL canonicalisation ---------------------------------------------------------------------

url_parts = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "", "javascript", "mailto"]),
    st.one_of(
        st.sampled_from(
            [
                "example.com",
                "EXAMPLE.com.",
                "[::1]",
                "xn--bcher-kva.de",
                "münchen.de",
                "a:b@host:99",
                "host:0",
                "host:99999",
            ]
        ),
        text,
    ),
    st.lists(text, max_size=3),
    st.lists(st.tuples(text, text), max_size=4),
    text,
)


@given(
    st.one_of(
        url_parts.map(
            lambda p: (
                f"{p[0]}://{p[1]}/{'/'.join(p[2])}?{'&'.join(f'{k}={v}' for k, v in p[3])}#{p[4]}"
            )
        ),
        text,
        st.none(),
    )
)
def test_canonical_link_is_total_idempotent_and_a_url(url: str | None) -> None:
    out = canonical_link(url)
    if out is None:
        return
    assert canonical_link(out) == out
    parts = urlsplit(out)
    assert parts.scheme in ("http", "https"), out
    assert parts.netloc, out
    assert not any(c.isspace() for c in out), out


# --- digest rendering -------------------------------------------------------------------------

dates = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@st.composite
def matches(draw: st.DrawFn) -> list[Match]:
    out = []
    for i in range(draw(st.integers(0, 6))):
        out.append(
            Match(
                id=i + 1,
                entry_id=i + 1,
                watch_id=draw(st.sampled_from(["a", "b", "unknown"])),
                title=draw(text),
                link=draw(st.one_of(st.none(), text)),
                guid=draw(text),
                feed_id="f",
                source=draw(st.one_of(st.none(), text)),
                published=draw(st.one_of(st.none(), dates)),
                first_seen=draw(dates),
                matched_terms=tuple(draw(st.lists(text, max_size=3))),
                snippet=draw(text),
                revision="r",
                alert=True,
                created_at=draw(dates),
            )
        )
    return out


@given(matches(), text, text, dates)
def test_digest_body_is_valid_json_and_renders_as_text(
    ms: list[Match], name: str, why: str, since: datetime
) -> None:
    infos = [WatchInfo("a", name, why), WatchInfo("b", why, name)]
    until = since + timedelta(hours=1)
    d = build_digest("daily", infos, ms, since=since, until=until, delivery_id="msg_x")
    kept = [m for m in ms if m.watch_id in ("a", "b")]
    if not kept:
        assert d is None
        return
    assert d is not None
    payload = json.loads(d.body)
    assert payload["match_count"] == len(kept) == len(d.match_ids)
    assert sum(len(w["matches"]) for w in payload["watch_items"]) == len(kept)
    rendered = render_text(d.body)
    assert isinstance(rendered, str) and "daily" in rendered


@given(st.integers(1, 60), st.one_of(st.none(), st.floats(0, 1e9, allow_nan=False)))
def test_retry_delay_is_bounded(attempts: int, retry_after: float | None) -> None:
    d = retry_delay(attempts, retry_after)
    assert timedelta(0) < d <= timedelta(hours=6)


def test_retry_base_knob_scales_the_first_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1)
    assert retry_delay(1, rng=rng) >= timedelta(seconds=24)
    monkeypatch.setenv("MONITOR_RETRY_BASE", "0.2")
    assert retry_delay(1, rng=rng) <= timedelta(seconds=0.24)
    assert retry_delay(60, rng=rng) <= timedelta(seconds=0.2 * 120 * 1.2)


# --- mutated feeds through fetch + parse ------------------------------------------------------


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not b:
            break
        op = rng.random()
        i = rng.randrange(len(b))
        if op < 0.3:
            b[i] = rng.randrange(256)
        elif op < 0.5:
            del b[i : i + rng.randint(1, 200)]
        elif op < 0.7:
            j = rng.randrange(len(b))
            b[i:i] = b[j : j + rng.randint(1, 500)]
        elif op < 0.85:
            b[i:i] = rng.choice(
                [
                    b"<!ENTITY x 'y'>",
                    b"&x;",
                    b"<![CDATA[",
                    b"]]>",
                    b"\x00",
                    b"<item>",
                    b"</channel>",
                    b"\xef\xbb\xbf",
                    b"&#0;",
                    b"<?xml version='1.0' encoding='utf-16'?>",
                    b'{"items":',
                ]
            )
        else:
            del b[i:]
    return bytes(b)


def test_fuzz_mutated_corpus_feeds_through_fetch_and_parse(shared_dir: Path) -> None:
    """~150 mutated documents (seeded, reproducible) served over HTTP, fetched and parsed."""
    n = int(os.environ.get("FUZZ_FEEDS", "150"))
    seed = int(os.environ.get("FUZZ_SEED", "7"))
    rng = random.Random(seed)
    corpus = sorted(
        p for d in ("news", "tricky", "hostile") for p in (shared_dir / "feeds" / d).iterdir()
    )
    corpus = [p for p in corpus if p.stat().st_size < 400_000]
    docs = [mutate(rng.choice(corpus).read_bytes(), rng) for _ in range(n)]
    server = FeedServer(0)
    current: dict[str, bytes] = {}

    def serve(h):
        body = current["body"]
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    server.routes["/fuzz"] = serve
    outcomes = {"ok": 0, "parse-error": 0, "fetch-error": 0}
    slowest = 0.0

    async def run() -> None:
        nonlocal slowest
        limits = FetchLimits(total_timeout=20)
        async with build_client(limits, "fuzz") as client:
            for i, body in enumerate(docs):
                current["body"] = body
                started = time.monotonic()
                try:
                    res = await fetch_feed(
                        client,
                        "fuzz",
                        server.url("/fuzz"),
                        etag=None,
                        last_modified=None,
                        limits=limits,
                    )
                    assert res.body is not None
                    parsed = await asyncio.wait_for(
                        asyncio.to_thread(parse_feed, res.body, res.headers, res.final_url), 30
                    )
                    outcomes["ok"] += 1
                    for e in parsed.entries:
                        assert isinstance(e.title, str) and "\x00" not in e.title
                except ParseError:
                    outcomes["parse-error"] += 1
                except FetchError:
                    outcomes["fetch-error"] += 1
                except MonitorError:
                    raise
                except Exception as exc:  # anything else is a bug: name the input
                    raise AssertionError(f"input {i} (seed {seed}): {exc!r}") from exc
                slowest = max(slowest, time.monotonic() - started)

    try:
        asyncio.run(run())
    finally:
        server.close()
    print(outcomes, f"slowest {slowest:.2f}s")
    assert outcomes["ok"] > n // 4  # most mutations still parse: the fuzz reaches the parser
    assert slowest < 30
    assert httpx  # the client library is the real one
