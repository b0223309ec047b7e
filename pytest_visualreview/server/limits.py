"""The one request-body limiter: refuse a body past its limit before buffering it.

A declared ``Content-Length`` over the limit is refused at once; a chunked body (no length) is
counted while it streams and refused the moment it passes the limit. Both APIs use it: the
presigned upload form (:mod:`.files`) and the Sentry routes' JSON, batch and object bodies call
:meth:`BodyLimit.stream` / :meth:`BodyLimit.read` after authenticating.

Routes whose body FastAPI parses itself (the PostHog API's Pydantic models, the review pages'
forms) read the body before any dependency runs, so authentication in a dependency comes too
late. :class:`BodyGate`, a pure ASGI middleware in front of the app, applies a :class:`Gate` to
them instead: the bearer token is looked up first (401 without reading a byte of the body), then
the same ``BodyLimit`` is applied to the declared length and to the bytes as they stream.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServerError, TooLarge

#: Where :class:`BodyGate` leaves the principal it authenticated, for the route's dependency.
PRINCIPAL_SCOPE_KEY = "visualreview.principal"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class BodyLimit:
    """``limit`` bytes of body; errors say ``{label} is over the {shown}-byte limit`` on ``attr``.

    ``shown`` is the limit the client knows about (a multipart form may carry a little framing on
    top of the file size it was promised).
    """

    limit: int
    label: str = "body"
    attr: str = "body"
    shown: int | None = None

    def refuse(self, size: str = "") -> TooLarge:
        shown = self.limit if self.shown is None else self.shown
        return TooLarge(f"{self.label} is {size}over the {shown}-byte limit", attr=self.attr)

    def check_declared(self, headers: Mapping[str, str]) -> None:
        """Refuse up front when ``Content-Length`` already says too much."""
        length = headers.get("content-length", "")
        if re.fullmatch(r"[0-9]{1,18}", length) and int(length) > self.limit:
            raise self.refuse(f"{length} bytes, ")

    async def stream(self, request: Request) -> AsyncGenerator[bytes, None]:
        """The body's chunks, stopping with 413 once more than ``limit`` bytes have come."""
        self.check_declared(request.headers)
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > self.limit:
                raise self.refuse()
            yield chunk

    async def read(self, request: Request) -> bytes:
        """The whole body, within the limit."""
        body = bytearray()
        async for chunk in self.stream(request):
            body += chunk
        return bytes(body)


@dataclass(frozen=True)
class Gate:
    """Requests with a body whose path matches ``pattern``: ``limit`` on the body and, when
    ``authenticate`` is set, the ``Authorization`` header checked before any of it is read.

    ``authenticate`` takes the header value (or None) and returns the principal or raises a
    :class:`~.errors.ServerError` (401); it runs in the thread pool (it queries the store).
    """

    pattern: re.Pattern[str]
    limit: BodyLimit
    authenticate: Callable[[str | None], object] | None = None


class BodyGate:
    """Pure ASGI middleware applying the first matching :class:`Gate` before the app reads.

    Over the limit while streaming, the gate answers 413 itself and tells the app the client
    went away, so the app's own answer to that (a parse error) is dropped, never sent.
    """

    def __init__(self, app: ASGIApp, gates: Sequence[Gate]) -> None:
        self.app = app
        self.gates = tuple(gates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = None
        if scope["type"] == "http" and scope["method"] in BODY_METHODS:
            gate = next((g for g in self.gates if g.pattern.match(scope["path"])), None)
        if gate is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if gate.authenticate is not None:
                principal = await run_in_threadpool(
                    gate.authenticate, headers.get("authorization")
                )
                scope[PRINCIPAL_SCOPE_KEY] = principal
            gate.limit.check_declared(headers)
        except ServerError as exc:
            await _answer(exc, scope, receive, send)
            return
        refused = False
        seen = 0

        async def limited_receive() -> Message:
            nonlocal refused, seen
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > gate.limit.limit:
                    refused = True
                    await _answer(gate.limit.refuse(), scope, receive, send)
            return {"type": "http.disconnect"} if refused else message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _answer(exc: ServerError, scope: Scope, receive: Receive, send: Send) -> None:
    """The app's own JSON error shape, sent before the app has seen the request."""
    headers: dict[str, Any] = {"Connection": "close"} if isinstance(exc, TooLarge) else {}
    await JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)(
        scope, receive, send
    )


def principal_of(request: Request) -> Any:
    """The principal a :class:`Gate` authenticated for this request, or None."""
    return request.scope.get(PRINCIPAL_SCOPE_KEY)
