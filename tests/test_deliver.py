"""Signing and posting deliveries, verified with the standardwebhooks package against a real receiver."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from datetime import timedelta

import httpx
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from monitor.deliver import (
    new_secret,
    parse_retry_after,
    post_delivery,
    redact_url,
    retry_delay,
    sign,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def post(url: str, secret: str | None = SECRET, body: str = '{"a":1}', timeout: float = 5.0):
    async def go():
        async with httpx.AsyncClient() as client:
            return await post_delivery(client, url, secret, "msg_abc", body, timeout=timeout)

    return asyncio.run(go())


def test_signature_matches_the_specification_example() -> None:
    # The example from the Standard Webhooks specification (github.com/standard-webhooks).
    sig = sign(
        SECRET,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secret_verifies_with_the_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    Webhook(secret)  # the library accepts it


def test_receiver_verifies_with_standardwebhooks(httpserver: HTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        Webhook(SECRET).verify(request.get_data(), dict(request.headers))
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    out = post(httpserver.url_for("/hook"))
    assert out.ok and out.status == 200 and out.error is None
    (req,) = seen
    assert req.headers["webhook-id"] == "msg_abc"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.get_data()) == {"a": 1}


def test_tampered_body_fails_verification() -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    from monitor.deliver import signed_headers

    headers = signed_headers("msg_1", b'{"a":1}', SECRET, int(__import__("time").time()))
    Webhook(SECRET).verify(b'{"a":1}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":2}', headers)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
    ],
)
def test_status_classification(httpserver: HTTPServer, status: int, retryable: bool) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=status)
    out = post(httpserver.url_for("/hook"))
    assert (out.ok, out.status, out.retryable, out.error) == (
        False,
        status,
        retryable,
        f"HTTP {status}",
    )


def test_retry_after_is_read_on_429(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )
    out = post(httpserver.url_for("/hook"))
    assert out.retry_after == 120


def test_connection_refused_is_retryable_and_names_no_secret() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = post(f"http://127.0.0.1:{port}/services/T000/B000/SECRETPATH")
    assert not out.ok and out.retryable and out.status is None
    assert "SECRETPATH" not in (out.error or "")


def test_timeout_is_retryable(httpserver: HTTPServer) -> None:
    import time

    def slow(request: Request) -> Response:
        time.sleep(2)
        return Response("late")

    httpserver.expect_request("/hook").respond_with_handler(slow)
    out = post(httpserver.url_for("/hook"), timeout=0.5)
    assert not out.ok and out.retryable and "timed out" in (out.error or "")


def test_unsigned_when_no_secret(httpserver: HTTPServer) -> None:
    seen: list[Request] = []
    httpserver.expect_request("/hook").respond_with_handler(
        lambda r: (seen.append(r), Response("ok"))[1]
    )
    assert post(httpserver.url_for("/hook"), secret=None).ok
    assert "webhook-signature" not in seen[0].headers and seen[0].headers["webhook-id"] == "msg_abc"


def test_redact_url_keeps_only_the_host() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/xyz") == "https://hooks.slack.com/…"
    assert redact_url("http://127.0.0.1:8080/hook?token=1") == "http://127.0.0.1:8080/…"


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        (1, 24, 36),
        (2, 48, 72),
        (3, 96, 144),
        (5, 384, 576),
        (7, 1536, 2304),
        (8, 2880, 4320),
        (30, 2880, 4320),
    ],
)
def test_retry_delay_is_exponential_with_jitter_and_a_cap(
    attempts: int, low: float, high: float
) -> None:
    rng = random.Random(attempts)
    for _ in range(50):
        d = retry_delay(attempts, rng=rng).total_seconds()
        assert low <= d <= high


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    assert retry_delay(1, 600, rng=random.Random(1)) == timedelta(seconds=600)
    assert retry_delay(1, 10**9, rng=random.Random(1)) == timedelta(hours=6)
    assert retry_delay(9, 5, rng=random.Random(1)) >= timedelta(minutes=48)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future() -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    got = parse_retry_after(when)
    assert got is not None and 85 <= got <= 91
