"""CancelOnDisconnect, driven as an ASGI server drives it: the request's task is
cancelled when the client goes away mid-request, and only then."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gallery_analytics.api.disconnect import CancelOnDisconnect

Message = dict[str, Any]


class Client:
    """The server side of one connection: body messages, then a disconnect when told."""

    def __init__(self, body: list[bytes]) -> None:
        self.pending = [
            {"type": "http.request", "body": chunk, "more_body": i < len(body) - 1}
            for i, chunk in enumerate(body)
        ]
        self.gone = asyncio.Event()
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.pending:
            return self.pending.pop(0)
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


SCOPE = {"type": "http", "path": "/overview", "method": "GET"}


async def test_a_client_that_goes_away_cancels_the_running_request() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        started.set()
        try:
            await asyncio.sleep(60)  # a query that would run on
        except asyncio.CancelledError:
            cancelled.set()
            raise

    client = Client([b""])
    served = asyncio.create_task(CancelOnDisconnect(slow_app)(SCOPE, client.receive, client.send))
    await asyncio.wait_for(started.wait(), 5)
    client.gone.set()
    await asyncio.wait_for(served, 5)  # returns: the server's task is not left cancelled
    assert cancelled.is_set()
    assert not served.cancelled()


async def test_a_finished_response_is_not_cancelled_by_the_later_disconnect() -> None:
    after_response = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        client.gone.set()  # the client hangs up as soon as it has the answer
        await asyncio.sleep(0.05)  # work after the response (a background tidy-up)
        after_response.set()

    client = Client([b""])
    await asyncio.wait_for(CancelOnDisconnect(app)(SCOPE, client.receive, client.send), 5)
    assert after_response.is_set()
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]


async def test_the_body_reaches_the_app_in_order_and_one_chunk_at_a_time() -> None:
    chunks = [b"a" * 10, b"b" * 10, b"c" * 10]
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = Client(chunks)
    await asyncio.wait_for(CancelOnDisconnect(app)(SCOPE, client.receive, client.send), 5)
    assert seen == chunks


async def test_the_pump_reads_ahead_by_at_most_one_message() -> None:
    """Backpressure: a slow reader of a large upload never has the body queued whole."""
    client = Client([b"x"] * 50)
    read_by_app = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal read_by_app
        await receive()
        read_by_app = 1
        await asyncio.sleep(0.1)  # the app is busy; the pump must wait for it
        assert len(client.pending) >= 50 - 3
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        await CancelOnDisconnect(app)(SCOPE, client.receive, client.send)
    assert read_by_app == 1


async def test_an_outside_cancellation_still_propagates() -> None:
    """Cancelling the server's task (shutdown) is not mistaken for a disconnect."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(60)

    client = Client([b""])
    served = asyncio.create_task(CancelOnDisconnect(app)(SCOPE, client.receive, client.send))
    await asyncio.sleep(0.05)
    served.cancel()
    with pytest.raises(asyncio.CancelledError):
        await served


async def test_other_scopes_pass_through_untouched() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    await CancelOnDisconnect(app)({"type": "lifespan"}, Client([]).receive, Client([]).send)
    assert calls == ["lifespan"]
