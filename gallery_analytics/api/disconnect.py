"""Cancel a request's work when its client goes away.

Why: Starlette keeps running an endpoint after the client disconnected (it only
notices when it next sends), so an abandoned overview would keep its queries running
on the server and its connections out of the pool until they finish. Here the body is
handed to the app through a pump that also watches the connection: an
``http.disconnect`` before the response is complete cancels the request's task, so the
queries are cancelled (asyncpg cancels the statement on the server), the sessions roll
back and the connections return to the pool.

The pump forwards one message at a time (a queue of one), so a large upload is still
read only as fast as the app consumes it: nothing is buffered whole in memory.
No middleware library does this; Starlette's ``request.is_disconnected()`` is a poll the
route would have to call between statements, which cannot interrupt a running query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class CancelOnDisconnect:
    """ASGI middleware: an HTTP request's task is cancelled when its client disconnects
    before the response has been sent completely."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)
        finished = False
        handler = asyncio.current_task()
        assert handler is not None
        disconnected = False

        async def pump() -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not finished:
                        disconnected = True
                        logger.info("client went away; cancelling %s", scope.get("path"))
                        handler.cancel()
                    # Anyone still reading (a streaming response listening for the end)
                    # sees it too; put_nowait may find the queue full, then they have one.
                    with contextlib.suppress(asyncio.QueueFull):
                        messages.put_nowait(message)
                    return
                await messages.put(message)

        async def sending(message: Message) -> None:
            nonlocal finished
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True

        watcher = asyncio.create_task(pump(), name=f"disconnect watch {scope.get('path')}")
        try:
            await self.app(scope, messages.get, sending)
        except asyncio.CancelledError:
            if not disconnected:
                raise
            # Our own cancellation: the client is gone, nothing can be sent to it.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
