"""The README's receiver: a replayed delivery older than five minutes is rejected.

The receiver is the README's logic (standardwebhooks ``verify``, dropping a repeated
``webhook-id``) on a real server on 127.0.0.1; our own sender posts to it.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Request, Response

from monitor.deliver import post_delivery, signed_headers
from tests.support import SECRET


def install_readme_receiver(server: HTTPServer) -> tuple[str, list[str]]:
    hook = Webhook(SECRET)
    seen: set[str] = set()
    log: list[str] = []

    def handler(request: Request) -> Response:
        try:
            # Raises on a bad signature, or a timestamp more than 5 minutes off (a replay).
            hook.verify(request.get_data(), dict(request.headers))
        except WebhookVerificationError as exc:
            log.append(f"rejected: {exc}")
            return Response(str(exc), status=400)
        msg_id = request.headers["webhook-id"]
        if msg_id in seen:  # a retry of a delivery we already have
            log.append(f"duplicate {msg_id}")
            return Response("", status=204)
        seen.add(msg_id)
        log.append(f"accepted {msg_id}")
        return Response("", status=204)

    server.expect_request("/hooks/catalysts", method="POST").respond_with_handler(handler)
    return server.url_for("/hooks/catalysts"), log


def test_a_replay_older_than_five_minutes_is_rejected(httpserver: HTTPServer) -> None:
    url, log = install_readme_receiver(httpserver)
    body = b'{"schema":"catalyst-monitor/digest@1"}'

    async def send() -> int:
        async with httpx.AsyncClient() as client:
            out = await post_delivery(client, url, SECRET, "msg_fresh", body.decode())
            return out.status or 0

    assert asyncio.run(send()) == 204
    assert asyncio.run(send()) == 204  # the same delivery again: dropped as a duplicate

    # An attacker replays a captured request (body and headers) six minutes later.
    captured = signed_headers("msg_old", body, SECRET, int(time.time()) - 360)
    replay = httpx.post(url, content=body, headers=captured)
    assert replay.status_code == 400 and "too old" in replay.text
    # Four minutes old is within the tolerance (clocks differ, retries take time).
    recent = signed_headers("msg_recent", body, SECRET, int(time.time()) - 240)
    assert httpx.post(url, content=body, headers=recent).status_code == 204
    assert log == [
        "accepted msg_fresh",
        "duplicate msg_fresh",
        "rejected: Message timestamp too old",
        "accepted msg_recent",
    ]
