"""Fetch stage: one conditional GET of one feed → :class:`FetchResult` or FetchError.

Owns: the process-wide ``httpx.AsyncClient`` (:func:`build_client`), the request policy
(conditional GET, redirects, size cap, timeouts) and the mapping of every transport or
HTTP failure to a :class:`FetchError` whose message starts with the feed id and URL.

Does not own: scheduling or back-off (``Retry-After`` is returned, the scheduler decides),
storing validators or a moved URL (the pipeline/store decide), parsing.

Policy, and what each rule guards against:

- Conditional GET with ``If-None-Match`` / ``If-Modified-Since`` (RFC 9110 13.1.1-13.1.3);
  304 → ``body=None``. A 304 without validators keeps the ones we sent (RFC 9110 15.4.5
  says the server SHOULD repeat them; some do not, and losing them means a full download
  on every poll).
- Redirects are followed by hand (at most ``max_redirects`` hops, a revisited URL is a
  loop) so we know whether *every* hop was permanent (301/308, RFC 9110 15.4.2/15.4.9):
  only then is ``permanent_url`` set. One 302/303/307 anywhere means "keep the old URL".
- The body is read from ``aiter_raw`` and decompressed here with ``zlib`` and
  ``max_length``, so a gzip bomb can never make more than ``max_body_bytes`` (+1) exist
  in memory: httpx's own decoder (``aiter_bytes``) inflates a whole network chunk at
  once, and 64 KiB of gzip-compressed zeros inflate to 64 MiB. Brotli (``br``) is
  offered only when a decoder with an output limit is importable (``brotli`` >= 1.2 or
  ``brotlicffi`` >= 1.2: ``process(data, output_buffer_limit=...)``); it is decoded the
  same way, a bounded piece at a time (300 bytes of br can hold 200 MB of zeros).
- ``asyncio.timeout(total_timeout)`` bounds connect + every hop + the whole body, so a
  server that drips one byte per second (never tripping the read timeout) cannot hold a
  worker (the "slowloris" pattern, here on the response side).
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx

try:  # Google's bindings; brotlicffi has the same streaming API (PyPy, or if preferred)
    import brotli as _brotli
except ImportError:  # pragma: no cover - brotli is a dependency; brotlicffi is the fallback
    try:
        import brotlicffi as _brotli
    except ImportError:
        _brotli = None

from monitor.errors import FetchError
from monitor.types import FetchResult

__all__ = [
    "ACCEPT",
    "ACCEPT_ENCODING",
    "USER_AGENT",
    "FetchLimits",
    "build_client",
    "fetch_feed",
    "parse_retry_after",
]

# Feeds first; generic XML/JSON next (many servers label feeds text/xml or application/json);
# anything else last, because some servers answer 406 to an Accept without */*.
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
    "application/json;q=0.7, */*;q=0.1"
)

USER_AGENT = "CatalystMonitor/0.1 (+https://github.com/catalyst-monitor/catalyst-monitor)"
# brotli < 1.2 has no output limit on Decompressor.process: a bomb could not be bounded.
BROTLI = _brotli is not None and hasattr(_brotli.Decompressor(), "can_accept_more_data")
# Only what _Inflater decodes; never zstd, even when a package for it is installed.
ACCEPT_ENCODING = "gzip, deflate, br" if BROTLI else "gzip, deflate"
_PERMANENT = frozenset({301, 308})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one fetch. Timeouts are seconds; ``total_timeout`` covers everything."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5


def _is_readable(sock: socket.socket | None) -> bool:
    """Would ``recv`` return at once? On an idle keep-alive connection that means the
    server closed it (the same test as httpcore's, without anyio's attribute lookup)."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True  # gone: treated as closed, as httpcore does
    if getattr(select, "poll", None) is None:  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """anyio's stream, but "is_readable" asked straight of the socket.

    httpcore asks every pooled connection whether it has expired on each request and on
    each response close, and anyio answers "is_readable" by building its whole table of
    socket attributes (with a ``getpeername`` system call) first: ~0.6 CPU-s per 1,000
    requests on a 4-connection pool, a fifth of a warm cycle's HTTP work (profiled in
    docs/notes/issue-5-warm.md). Everything else is passed through unchanged."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _is_readable(self._sock)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend whose streams are :class:`_Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - feeds are fetched over TCP
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _use_backend(
    client: httpx.AsyncClient, limits: httpx.Limits, tls: ssl.SSLContext
) -> httpx.AsyncClient:
    """Rebuild the client's direct connection pool on :class:`_Backend`.

    httpx 0.28 takes no network backend, and passing our own ``transport=`` would turn
    off the proxies it reads from the environment; so the default transport's pool
    (``_transport._pool``, where httpx keeps it) is replaced by an equal one: the same
    TLS context (``tls``, the client's) and limits. Proxy mounts are untouched.
    If httpx ever keeps them elsewhere, nothing is replaced and the stock pool is used
    (``tests/test_fetch.py`` checks the backend is in place)."""
    transport = getattr(client, "_transport", None)
    if isinstance(transport, httpx.AsyncHTTPTransport) and isinstance(
        getattr(transport, "_pool", None), httpcore.AsyncConnectionPool
    ):
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )
    return client


class _Cookies(httpx.Cookies):
    """httpx's cookie store, which skips the work for a response that sets no cookie.

    httpx hands every response to ``http.cookiejar`` (building urllib-style request and
    response wrappers for it), and the jar then finds no ``Set-Cookie``/``Set-Cookie2``
    header and returns: ~5 % of a warm cycle's HTTP work for 1,000 304s. A response with
    either header goes the whole way, so cookies are kept exactly as before."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _Client(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose cookie store is a :class:`_Cookies` (httpx keeps the
    store in the client's ``cookies`` property, which this class overrides)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client_cookies = _Cookies(kwargs.get("cookies"))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._client_cookies = _Cookies(cookies)


def build_client(limits: FetchLimits, user_agent: str) -> httpx.AsyncClient:
    """The one long-lived client of a process (connection pool shared by all feeds)."""
    pool = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
    # httpx's default verification (certifi, SSL_CERT_FILE/DIR), built once: loading the
    # CA bundle is the client's largest start-up cost, and the rebuilt pool shares it.
    tls = httpx.create_ssl_context()
    client = _Client(
        verify=tls,
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.connect_timeout,
        ),
        limits=pool,
        follow_redirects=False,  # fetch_feed follows by hand; see the module docstring
        headers={
            "User-Agent": user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
    )
    return _use_backend(client, pool, tls)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (RFC 9110 10.2.3): delta-seconds or an
    HTTP-date. None when absent or unreadable; never negative."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _TooLarge(Exception):
    pass


class _Corrupt(Exception):
    """A compressed body that does not decode (bad data, or a truncated brotli stream)."""


class _Inflater:
    """Content-Encoding decoder that never produces more than ``cap`` + 1 bytes."""

    def __init__(self, content_encoding: str, cap: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        known = ("gzip", "x-gzip", "deflate", "br") if BROTLI else ("gzip", "x-gzip", "deflate")
        if len(codings) > 1 or (codings and codings[0] not in known):
            raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")
        self.coding = codings[0] if codings else None
        self.cap = cap
        self.produced = 0
        self._br = _brotli.Decompressor() if self.coding == "br" else None
        self._d = self._new()

    def _new(self) -> zlib._Decompress | None:
        if self.coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.coding == "deflate":
            return zlib.decompressobj(zlib.MAX_WBITS)
        return None

    def _count(self, piece: bytes) -> bytes:
        self.produced += len(piece)
        if self.produced > self.cap:
            raise _TooLarge
        return piece

    def _feed_br(self, data: bytes) -> bytes:
        """Brotli, a bounded piece at a time: ``output_buffer_limit`` stops the decoder's
        buffer from growing past what the cap allows (it may overshoot by one block, tens
        of KB); while it cannot take more input, it is drained with empty input."""
        assert self._br is not None
        out: list[bytes] = []
        try:
            if self._br.is_finished():
                return b""  # trailing bytes after the stream end are ignored, as for gzip
            out.append(self._count(self._br.process(data, output_buffer_limit=self._room())))
            while not self._br.can_accept_more_data():
                piece = self._br.process(b"", output_buffer_limit=self._room())
                if not piece and not self._br.can_accept_more_data():
                    raise _Corrupt("brotli decoder made no progress")
                out.append(self._count(piece))
        except _brotli.error as exc:
            raise _Corrupt(f"brotli: {exc}") from None
        return b"".join(out)

    def _room(self) -> int:
        return max(1, self.cap - self.produced + 1)

    def feed(self, data: bytes) -> bytes:
        if self._br is not None:
            return self._feed_br(data)
        if self._d is None:
            return self._count(data)
        out: list[bytes] = []
        while data:
            try:
                piece = self._d.decompress(data, self.cap - self.produced + 1)
            except zlib.error:
                if self.coding == "deflate" and self.produced == 0:
                    # Servers send raw deflate (RFC 1951) for "deflate", which RFC 9110
                    # 8.4.1.2 defines as zlib (RFC 1950); accept both, as browsers do.
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                    piece = self._d.decompress(data, self.cap - self.produced + 1)
                else:
                    raise
            out.append(self._count(piece))
            data = self._d.unconsumed_tail
            if self._d.eof and self._d.unused_data[:2] == b"\x1f\x8b":
                # Concatenated gzip members (RFC 1952 2.2); other trailing bytes are
                # ignored, as browsers and gzip(1) do.
                data, self._d = self._d.unused_data, self._new()
                assert self._d is not None
        return b"".join(out)

    def flush(self) -> bytes:
        if self._br is not None:
            if not self._br.is_finished():
                raise _Corrupt("brotli stream ends early")
            return b""
        if self._d is None:
            return b""
        return self._count(self._d.flush(self.cap - self.produced + 1))


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (httpx → httpcore → anyio → OSError groups)."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is f for f in found) or len(found) > 20:
            continue
        found.append(current)
        todo += [current.__cause__, current.__context__]
        todo += list(getattr(current, "exceptions", ()))
    return found


def _network_problem(exc: httpx.NetworkError) -> str:
    """httpx's ReadError often has an empty message: name what happened."""
    if any(isinstance(c, ConnectionResetError) for c in _causes(exc)):
        return "connection reset by the server"
    what = {httpx.ReadError: "while reading the response", httpx.WriteError: "while sending"}
    doing = what.get(type(exc), "on the connection")
    return f"network error {doing} ({str(exc) or 'connection closed'})"


def _connect_problem(exc: httpx.ConnectError) -> str:
    causes = _causes(exc)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    gai = next((c for c in causes if isinstance(c, socket.gaierror)), None)
    if gai is not None:
        return f"DNS lookup failed ({gai.strerror or gai})"
    ssl_error = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if ssl_error is not None:
        return f"TLS error ({ssl_error})"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset"
    text = str(exc) or type(exc).__name__
    return f"connect failed ({text})"


async def fetch_feed(
    client: httpx.AsyncClient,
    feed_id: str,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
    accept: str | None = None,
) -> FetchResult:
    """GET one feed conditionally; return what the server said or raise FetchError.
    ``accept`` replaces the feed-first Accept header (an article page asks for HTML)."""
    prefix = f"feed {feed_id} ({url})"
    started = time.monotonic()
    try:
        async with asyncio.timeout(limits.total_timeout):
            return await _fetch(client, feed_id, url, etag, last_modified, limits, started, accept)
    except TimeoutError as exc:
        raise FetchError(f"{prefix}: timed out after {limits.total_timeout:g}s") from exc
    except httpx.ConnectTimeout as exc:
        raise FetchError(f"{prefix}: connect timed out after {limits.connect_timeout:g}s") from exc
    except httpx.ReadTimeout as exc:
        raise FetchError(f"{prefix}: read timed out after {limits.read_timeout:g}s") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"{prefix}: timed out ({type(exc).__name__})") from exc
    except httpx.ConnectError as exc:
        raise FetchError(f"{prefix}: {_connect_problem(exc)}") from exc
    except httpx.NetworkError as exc:  # read/write/close failed after connecting
        raise FetchError(f"{prefix}: {_network_problem(exc)}") from exc
    except httpx.ProtocolError as exc:
        raise FetchError(f"{prefix}: HTTP protocol error ({exc})") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise FetchError(f"{prefix}: invalid URL ({exc})") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{prefix}: {type(exc).__name__} ({exc})") from exc
    except (zlib.error, _Corrupt) as exc:
        raise FetchError(f"{prefix}: corrupt compressed body ({exc})") from exc


async def _fetch(
    client: httpx.AsyncClient,
    feed_id: str,
    url: str,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
    started: float,
    accept: str | None = None,
) -> FetchResult:
    prefix = f"feed {feed_id} ({url})"
    conditional: dict[str, str] = {"Accept": accept} if accept else {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    request = client.build_request("GET", url, headers=conditional)
    seen = {str(request.url)}
    hops: list[int] = []
    while True:
        response = await client.send(request, stream=True)
        try:
            if response.status_code in _REDIRECTS and response.next_request is not None:
                hops.append(response.status_code)
                request = response.next_request
                target = str(request.url)
                if target in seen:
                    raise FetchError(f"{prefix}: redirect loop at {target}")
                if len(hops) > limits.max_redirects:
                    raise FetchError(f"{prefix}: more than {limits.max_redirects} redirects")
                seen.add(target)
                continue
            permanent_url = (
                str(response.url) if hops and all(h in _PERMANENT for h in hops) else None
            )
            return await _finish(response, feed_id, url, etag, last_modified, limits,
                                 permanent_url, started)  # fmt: skip
        finally:
            await response.aclose()


async def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read a small unwanted body (304, error page) to its end, so the connection goes
    back to the pool: httpcore closes a connection whose response was not read to the
    end, and then every 304 of a warm cycle would cost a new TCP handshake. A body
    larger than ``limit`` is not worth it: the connection is closed instead."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > limit:
            return


async def _finish(
    response: httpx.Response,
    feed_id: str,
    url: str,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
    permanent_url: str | None,
    started: float,
) -> FetchResult:
    prefix = f"feed {feed_id} ({url})"
    status = response.status_code
    headers = {k.lower(): v for k, v in response.headers.items()}
    if status == 304:
        await _drain(response)
        return FetchResult(
            feed_id=feed_id,
            url=url,
            final_url=str(response.url),
            status=304,
            body=None,
            headers=headers,
            etag=headers.get("etag") or etag,
            last_modified=headers.get("last-modified") or last_modified,
            permanent_url=permanent_url,
            elapsed=time.monotonic() - started,
        )
    if not 200 <= status < 300:
        await _drain(response)
        retry_after = (
            parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
        )
        reason = response.reason_phrase or ""
        raise FetchError(
            f"{prefix}: HTTP {status}{' ' + reason if reason else ''}",
            status=status,
            retry_after=retry_after,
            permanent_url=permanent_url,
        )
    cap = limits.max_body_bytes
    too_big = f"{prefix}: body larger than {cap} bytes"
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(too_big, status=status)
    try:
        inflater = _Inflater(headers.get("content-encoding", ""), cap)
    except ValueError as exc:
        raise FetchError(f"{prefix}: {exc}", status=status) from None
    chunks: list[bytes] = []
    raw = 0
    try:
        async for chunk in response.aiter_raw():
            raw += len(chunk)
            if raw > cap:  # compressed bytes count too: the cap bounds the download
                raise _TooLarge
            chunks.append(inflater.feed(chunk))
        chunks.append(inflater.flush())
    except _TooLarge:
        raise FetchError(too_big, status=status) from None
    return FetchResult(
        feed_id=feed_id,
        url=url,
        final_url=str(response.url),
        status=status,
        body=b"".join(chunks),
        headers=headers,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        permanent_url=permanent_url,
        elapsed=time.monotonic() - started,
    )
