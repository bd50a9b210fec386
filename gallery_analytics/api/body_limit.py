"""A bound on request bodies, enforced before the app reads them.

Why a middleware: FastAPI reads and parses a route's JSON body before it runs the route's
dependencies, the token check included. Without a bound, anyone (no token needed) could
make a worker buffer and parse a body as large as they like: memory and CPU for free.
Here a body declared larger than the bound (``Content-Length``) is refused at once, and one
sent in chunks is cut off as soon as it passes the bound; both are a 413 problem
naming the limit, before any route code runs.

Uploads (``/imports``) have their own, larger bound (``GALLERY_API_MAX_UPLOAD_BYTES``),
counted by that route while the files stream to disk, so they are left to it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gallery_analytics.api.problems import problem_response

# The largest JSON body any route takes is a create with an artist and an artwork: a few
# kilobytes. 1 MiB leaves room for long texts and is still cheap to parse.
MAX_JSON_BODY_BYTES = 1024 * 1024
EXEMPT_PREFIXES = ("/imports",)


class LimitRequestBody:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (paths under
    ``exempt`` excepted)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = MAX_JSON_BODY_BYTES,
        exempt: tuple[str, ...] = EXEMPT_PREFIXES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # The app sees a client that went away (it stops reading); the
                    # response it would send instead is replaced by the 413 below.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # the app's answer to a body it never got whole
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if too_large and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "too-large",
            f"the request body is larger than the {self.max_bytes:,} bytes accepted here",
            headers={"Connection": "close"},
            extra={"field": "body", "limit_bytes": self.max_bytes},
            instance=str(scope["path"]),
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
