"""The one request-body limiter: refuse a body past its limit before buffering it.

A declared ``Content-Length`` over the limit is refused at once; a chunked body (no length) is
counted while it streams and refused the moment it passes the limit. Both APIs use it: the
presigned upload form (:mod:`.files`) and the Sentry routes' JSON, batch and object bodies. Callers
authenticate first, so an anonymous client cannot make the server read a large body.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import Request

from .errors import TooLarge


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

    def _refuse(self, size: str) -> TooLarge:
        shown = self.limit if self.shown is None else self.shown
        return TooLarge(f"{self.label} is {size}over the {shown}-byte limit", attr=self.attr)

    def check_declared(self, request: Request) -> None:
        """Refuse up front when ``Content-Length`` already says too much."""
        length = request.headers.get("content-length", "")
        if re.fullmatch(r"[0-9]{1,18}", length) and int(length) > self.limit:
            raise self._refuse(f"{length} bytes, ")

    async def stream(self, request: Request) -> AsyncGenerator[bytes, None]:
        """The body's chunks, stopping with 413 once more than ``limit`` bytes have come."""
        self.check_declared(request)
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > self.limit:
                raise self._refuse("")
            yield chunk

    async def read(self, request: Request) -> bytes:
        """The whole body, within the limit."""
        body = bytearray()
        async for chunk in self.stream(request):
            body += chunk
        return bytes(body)
