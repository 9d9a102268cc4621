"""fetch_feed against real servers on 127.0.0.1: pytest-httpserver for ordinary answers, a
raw socket server for the misbehaving ones (slow drip, endless body)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import brotli
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.errors import FetchError
from monitor.fetch import FetchLimits, build_client, fetch_feed, parse_retry_after
from monitor.types import FetchResult

UA = "CatalystMonitor/0.1 (+https://github.com/catalyst-monitor)"
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits | None = None,
) -> FetchResult:
    limits = limits or FetchLimits()

    async def go() -> FetchResult:
        async with build_client(limits, UA) as client:
            return await fetch_feed(
                client, "f1", url, etag=etag, last_modified=last_modified, limits=limits
            )

    return asyncio.run(go())


def fetch_error(url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **kwargs)
    assert str(info.value).startswith(f"feed f1 ({url}): "), str(info.value)
    return info.value


# --- conditional GET -----------------------------------------------------------------------


def test_etag_then_304(httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/feed")
    httpserver.expect_oneshot_request("/feed", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304, headers={"ETag": '"v1"'}
    )
    httpserver.expect_oneshot_request("/feed").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"ETag": '"v1"'}
    )
    # Handlers match in registration order: the first one only matches a request that
    # carries If-None-Match, so the unconditional fetch falls through to the second.
    first = fetch(url)
    assert (first.status, first.body, first.etag) == (200, FEED, '"v1"')
    assert "If-None-Match" not in httpserver.log[0][0].headers
    second = fetch(url, etag=first.etag)
    assert second.status == 304 and second.not_modified and second.body is None
    assert second.etag == '"v1"'
    assert httpserver.log[1][0].headers["If-None-Match"] == '"v1"'


def test_last_modified_then_304(httpserver: HTTPServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    httpserver.expect_oneshot_request("/lm").respond_with_data(
        FEED, headers={"Last-Modified": stamp}
    )
    url = httpserver.url_for("/lm")
    first = fetch(url)
    assert first.last_modified == stamp and first.etag is None
    httpserver.expect_oneshot_request(
        "/lm", headers={"If-Modified-Since": stamp}
    ).respond_with_data("", status=304)
    second = fetch(url, last_modified=first.last_modified)
    assert second.status == 304 and second.body is None
    # The 304 repeated no validators: the ones we sent are kept, not wiped.
    assert second.last_modified == stamp


def test_request_headers(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/h").respond_with_data(FEED, headers={"X-Custom-Thing": "Yes"})
    result = fetch(httpserver.url_for("/h"))
    sent = httpserver.log[0][0].headers
    assert sent["User-Agent"] == UA
    assert sent["Accept"].startswith("application/atom+xml, application/rss+xml")
    assert sent["Accept-Encoding"] == "gzip, deflate, br"
    assert result.headers["x-custom-thing"] == "Yes"
    assert all(k == k.lower() for k in result.headers)
    assert result.final_url == result.url == httpserver.url_for("/h")
    assert result.permanent_url is None and result.elapsed >= 0


# --- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC 9110: zlib format
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda b: b),
    ],
)
def test_compressed_body_is_decoded(
    httpserver: HTTPServer, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    httpserver.expect_request("/z").respond_with_data(
        compress(FEED * 100), headers={"Content-Encoding": encoding}
    )
    assert fetch(httpserver.url_for("/z")).body == FEED * 100


def test_concatenated_gzip_members_are_all_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/z2").respond_with_data(
        gzip.compress(b"first ") + gzip.compress(b"second"), headers={"Content-Encoding": "gzip"}
    )
    assert fetch(httpserver.url_for("/z2")).body == b"first second"


def test_corrupt_gzip_is_fetch_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/bad").respond_with_data(
        b"this is not gzip", headers={"Content-Encoding": "gzip"}
    )
    assert "corrupt compressed body" in str(fetch_error(httpserver.url_for("/bad")))


def test_unsupported_encoding_is_fetch_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zs").respond_with_data(b"xx", headers={"Content-Encoding": "zstd"})
    assert "unsupported Content-Encoding" in str(fetch_error(httpserver.url_for("/zs")))


def test_body_cap(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 2000)
    limits = FetchLimits(max_body_bytes=1000)
    error = fetch_error(httpserver.url_for("/big"), limits=limits)
    assert "body larger than 1000 bytes" in str(error) and error.status == 200
    httpserver.expect_request("/fits").respond_with_data(b"x" * 1000)
    assert fetch(httpserver.url_for("/fits"), limits=limits).body == b"x" * 1000


def test_gzip_bomb_capped_after_decompression_with_bounded_memory(
    httpserver: HTTPServer,
) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~50 KB on the wire
    assert len(bomb) < 100_000
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    limits = FetchLimits(max_body_bytes=1_000_000)
    tracemalloc.start()
    started = time.monotonic()
    try:
        error = fetch_error(httpserver.url_for("/bomb"), limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "body larger than 1000000 bytes" in str(error)
    assert time.monotonic() - started < 10
    # httpx's own decoder would inflate each network chunk whole (tens of MB here).
    assert peak < 12_000_000, f"peak {peak} bytes"


# --- brotli ------------------------------------------------------------------------------


def test_brotli_is_offered_and_decoded(httpserver: HTTPServer) -> None:
    body = FEED * 500
    httpserver.expect_request("/br").respond_with_data(
        brotli.compress(body), headers={"Content-Encoding": "br"}
    )
    assert fetch(httpserver.url_for("/br")).body == body
    assert "br" in httpserver.log[0][0].headers["Accept-Encoding"].split(", ")


def test_brotli_body_in_one_byte_chunks(httpserver: HTTPServer) -> None:
    """The decoder is fed as the network delivers: a stream cut anywhere still decodes."""
    body = FEED * 200
    packed = brotli.compress(body, quality=5)

    def handler(request: Request) -> Response:
        return Response(
            (packed[i : i + 1] for i in range(len(packed))),
            headers={"Content-Encoding": "br"},
            direct_passthrough=True,
        )

    httpserver.expect_request("/br1").respond_with_handler(handler)
    assert fetch(httpserver.url_for("/br1")).body == body


def test_brotli_bomb_capped_after_decompression_with_bounded_memory(
    httpserver: HTTPServer,
) -> None:
    bomb = brotli.compress(b"\0" * 200_000_000, quality=11)  # a few hundred bytes
    assert len(bomb) < 2_000
    httpserver.expect_request("/brbomb").respond_with_data(bomb, headers={"Content-Encoding": "br"})
    limits = FetchLimits(max_body_bytes=1_000_000)
    tracemalloc.start()
    started = time.monotonic()
    try:
        error = fetch_error(httpserver.url_for("/brbomb"), limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "body larger than 1000000 bytes" in str(error)
    assert time.monotonic() - started < 10
    # Without output_buffer_limit the decoder would build the whole 200 MB.
    assert peak < 12_000_000, f"peak {peak} bytes"


def test_brotli_just_under_the_cap_fits(httpserver: HTTPServer) -> None:
    body = b"a" * 999_999
    httpserver.expect_request("/brfit").respond_with_data(
        brotli.compress(body), headers={"Content-Encoding": "br"}
    )
    limits = FetchLimits(max_body_bytes=1_000_000)
    assert fetch(httpserver.url_for("/brfit"), limits=limits).body == body


@pytest.mark.parametrize(
    ("name", "payload"),
    [("garbage", b"this is not brotli at all"), ("truncated", brotli.compress(FEED * 50)[:-4])],
)
def test_corrupt_or_truncated_brotli_is_fetch_error(
    httpserver: HTTPServer, name: str, payload: bytes
) -> None:
    httpserver.expect_request(f"/br-{name}").respond_with_data(
        payload, headers={"Content-Encoding": "br"}
    )
    error = fetch_error(httpserver.url_for(f"/br-{name}"))
    assert "corrupt compressed body (brotli" in str(error)


# --- misbehaving servers ---------------------------------------------------------------------


class RawServer:
    """Answers each connection on 127.0.0.1 with ``handler(conn, stop)`` in a thread."""

    def __init__(self, handler: Callable[[socket.socket, threading.Event], None]) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/feed"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                self.handler(conn, self.stop)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"<")
        time.sleep(0.2)  # always inside the read timeout, so only total_timeout can stop it


def _endless(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n")
    chunk = b"x" * 65536
    while not stop.is_set():
        conn.sendall(chunk)


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(30)  # accept, read the request, never answer


def test_slow_drip_is_cut_by_total_timeout(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(_drip)
    started = time.monotonic()
    error = fetch_error(server.url, limits=FetchLimits(total_timeout=2, read_timeout=20))
    assert "timed out after 2s" in str(error)
    assert 1.5 < time.monotonic() - started < 6


def test_endless_body_is_cut_by_the_cap(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(_endless)
    error = fetch_error(server.url, limits=FetchLimits(max_body_bytes=1_000_000))
    assert "body larger than 1000000 bytes" in str(error)


def test_silent_server_hits_read_timeout(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(_silent)
    error = fetch_error(server.url, limits=FetchLimits(read_timeout=0.5))
    assert "read timed out after 0.5s" in str(error)


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The port was bound and released without listen(): nothing accepts there.
    error = fetch_error(f"http://127.0.0.1:{port}/feed")
    assert "connection refused" in str(error) and error.status is None


def test_dns_failure() -> None:
    error = fetch_error("http://feed.example.invalid/rss", limits=FetchLimits(total_timeout=15))
    assert "DNS lookup failed" in str(error) or "timed out" in str(error)


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "http://[not-a-host/feed"])
def test_bad_url_is_fetch_error(url: str) -> None:
    fetch_error(url)


# --- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410, 500, 403, 502])
def test_error_status(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/s").respond_with_data("nope", status=status)
    url = httpserver.url_for("/s")
    error = fetch_error(url)
    assert error.status == status
    assert str(error).startswith(f"feed f1 ({url}): HTTP {status}")
    assert error.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/r").respond_with_data(
        "slow down", status=status, headers={"Retry-After": "120"}
    )
    error = fetch_error(httpserver.url_for("/r"))
    assert (error.status, error.retry_after) == (status, 120.0)


def test_retry_after_http_date(httpserver: HTTPServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    httpserver.expect_request("/rd").respond_with_data(
        "", status=503, headers={"Retry-After": when}
    )
    error = fetch_error(httpserver.url_for("/rd"))
    assert error.retry_after is not None and 290 <= error.retry_after <= 301


def test_retry_after_ignored_on_other_statuses(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("", status=500, headers={"Retry-After": "9"})
    assert fetch_error(httpserver.url_for("/x")).retry_after is None


NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 30 ", 30.0),
        ("Wed, 01 Jan 2025 12:05:00 GMT", 300.0),
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # in the past: retry now
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


# --- redirects -------------------------------------------------------------------------------


def _redirect(httpserver: HTTPServer, path: str, status: int, target: str) -> None:
    httpserver.expect_request(path).respond_with_data(
        "", status=status, headers={"Location": httpserver.url_for(target)}
    )


def test_permanent_redirect_chain_sets_permanent_url(httpserver: HTTPServer) -> None:
    _redirect(httpserver, "/a", 301, "/b")
    _redirect(httpserver, "/b", 308, "/c")
    httpserver.expect_request("/c").respond_with_data(FEED)
    result = fetch(httpserver.url_for("/a"))
    assert result.status == 200 and result.body == FEED
    assert result.final_url == result.permanent_url == httpserver.url_for("/c")
    assert result.url == httpserver.url_for("/a")


@pytest.mark.parametrize("statuses", [(302,), (307,), (303,), (301, 302), (302, 301)])
def test_temporary_hop_means_no_permanent_url(
    httpserver: HTTPServer, statuses: tuple[int, ...]
) -> None:
    paths = [f"/t{i}" for i in range(len(statuses) + 1)]
    for path, nxt, status in zip(paths, paths[1:], statuses, strict=False):
        _redirect(httpserver, path, status, nxt)
    httpserver.expect_request(paths[-1]).respond_with_data(FEED)
    result = fetch(httpserver.url_for(paths[0]))
    assert result.final_url == httpserver.url_for(paths[-1])
    assert result.permanent_url is None


def test_conditional_headers_follow_redirects(httpserver: HTTPServer) -> None:
    _redirect(httpserver, "/old", 301, "/new")
    httpserver.expect_request("/new", headers={"If-None-Match": '"e"'}).respond_with_data(
        "", status=304
    )
    result = fetch(httpserver.url_for("/old"), etag='"e"')
    assert result.status == 304 and result.permanent_url == httpserver.url_for("/new")


def test_redirect_loop(httpserver: HTTPServer) -> None:
    _redirect(httpserver, "/loop1", 302, "/loop2")
    _redirect(httpserver, "/loop2", 302, "/loop1")
    assert "redirect loop" in str(fetch_error(httpserver.url_for("/loop1")))


def test_too_many_redirects(httpserver: HTTPServer) -> None:
    for i in range(8):
        _redirect(httpserver, f"/hop{i}", 301, f"/hop{i + 1}")
    httpserver.expect_request("/hop8").respond_with_data(FEED)
    error = fetch_error(httpserver.url_for("/hop0"), limits=FetchLimits(max_redirects=5))
    assert "more than 5 redirects" in str(error)
    assert len(httpserver.log) == 6  # the first request and five hops, then we stopped


def test_gone_after_permanent_redirect_carries_the_new_url(httpserver: HTTPServer) -> None:
    _redirect(httpserver, "/moved", 308, "/gone")
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    error = fetch_error(httpserver.url_for("/moved"))
    assert error.status == 410 and error.permanent_url == httpserver.url_for("/gone")


def test_redirect_with_relative_location(httpserver: HTTPServer) -> None:
    def handler(request: Request) -> Response:
        return Response("", status=301, headers={"Location": "feed.xml"})

    httpserver.expect_request("/dir/old").respond_with_handler(handler)
    httpserver.expect_request("/dir/feed.xml").respond_with_data(FEED)
    result = fetch(httpserver.url_for("/dir/old"))
    assert result.permanent_url == httpserver.url_for("/dir/feed.xml")


def test_client_is_reusable_across_feeds(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/one").respond_with_data(b"1")
    httpserver.expect_request("/two").respond_with_data("", status=404)
    limits = FetchLimits()

    async def go() -> tuple[FetchResult | BaseException, FetchResult | BaseException]:
        async with build_client(limits, UA) as client:
            return await asyncio.gather(
                fetch_feed(client, "a", httpserver.url_for("/one"), etag=None,
                           last_modified=None, limits=limits),
                fetch_feed(client, "b", httpserver.url_for("/two"), etag=None,
                           last_modified=None, limits=limits),
                return_exceptions=True,
            )  # fmt: skip

    one, two = asyncio.run(go())
    assert isinstance(one, FetchResult) and one.body == b"1"
    assert isinstance(two, FetchError) and two.status == 404


# --- the connection pool's network backend ---------------------------------------------------


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    raw_server: Callable[..., RawServer],
) -> None:
    """Keep-alive answers, but the server closes each connection after one response:
    the pool must notice the close (``is_readable``, asked of our stream wrapper) and
    open a new connection instead of sending the next request into a dead one."""
    connections = []

    def once(conn: socket.socket, stop: threading.Event) -> None:
        connections.append(conn)
        conn.sendall(
            b'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nETag: "v1"\r\n'
            b"Content-Length: %d\r\n\r\n" % len(FEED) + FEED
        )  # then closed by RawServer: an idle keep-alive connection the server dropped

    server = raw_server(once)
    limits = FetchLimits()

    async def go() -> list[FetchResult]:
        async with build_client(limits, UA) as client:
            pool = client._transport._pool  # type: ignore[attr-defined]
            assert type(pool._network_backend).__name__ == "_Backend"  # ours is in place
            results = []
            for _ in range(3):
                results.append(
                    await fetch_feed(
                        client, "f1", server.url, etag=None, last_modified=None, limits=limits
                    )
                )
                await asyncio.sleep(0.3)  # the server's FIN arrives while the connection idles
            return results

    results = asyncio.run(go())
    assert [r.status for r in results] == [200, 200, 200]
    assert all(r.body == FEED for r in results)
    assert len(connections) == 3


def test_proxies_from_the_environment_are_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing the pool's backend must not turn off HTTP_PROXY (as passing our own
    ``transport=`` to httpx would)."""
    seen: list[bytes] = []
    proxy = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = proxy.accept()
        with conn:
            seen.append(conn.recv(65536).split(b"\r\n")[0])
            conn.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
    try:
        result = fetch("http://feeds.example.invalid/feed", etag='"v1"')
    finally:
        thread.join(timeout=5)
        proxy.close()
    assert result.status == 304
    assert seen == [b"GET http://feeds.example.invalid/feed HTTP/1.1"]


def test_cookies_are_kept_across_requests_and_updated_by_any_response(
    httpserver: HTTPServer,
) -> None:
    """The client skips the cookie jar for a response without Set-Cookie; one with it
    (a 200 or a 304) still sets the cookie the next requests send."""
    httpserver.expect_ordered_request("/a").respond_with_data(
        FEED, headers={"Set-Cookie": "session=one; Path=/"}
    )
    httpserver.expect_ordered_request("/b").respond_with_data("", status=304)
    httpserver.expect_ordered_request("/c").respond_with_data(
        "", status=304, headers={"Set-Cookie": "session=two; Path=/"}
    )
    httpserver.expect_ordered_request("/d").respond_with_data(FEED)
    limits = FetchLimits()

    async def go() -> list[int]:
        async with build_client(limits, UA) as client:
            return [
                (
                    await fetch_feed(
                        client, "f1", httpserver.url_for(p), etag=None, last_modified=None,
                        limits=limits,
                    )
                ).status
                for p in ("/a", "/b", "/c", "/d")
            ]  # fmt: skip

    assert asyncio.run(go()) == [200, 304, 304, 200]
    sent = [req.headers.get("Cookie") for req, _ in httpserver.log]
    assert sent == [None, "session=one", "session=one", "session=two"]
