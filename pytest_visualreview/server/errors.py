"""Errors the domain layer raises and the HTTP layer turns into JSON.

Domain functions (``runs``, ``uploads``, ``auth``) raise these instead of HTTP exceptions so the
review pages and the Sentry router can call the same functions and map failures their own way.
Each error knows its HTTP status, a human ``detail``, an optional machine ``code`` (PostHog's
``stale_run``, ``not_fully_resolved``, ...) and, for bad input, the offending field in ``attr``.

JSON shape (DRF/PostHog style): ``{"type": ..., "code": ..., "detail": ..., "attr": ...}``.
"""

from __future__ import annotations

import errno
from typing import Any

from .store import OperationalError


class ServerError(Exception):
    """Base: an expected failure with an HTTP status. Anything else reaching the client is a bug."""

    status = 400
    type = "validation_error"
    default_code = "invalid_input"

    def __init__(self, detail: str, *, code: str | None = None, attr: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.attr = attr

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "code": self.code, "detail": self.detail, "attr": self.attr}


class Invalid(ServerError):
    """400: the request is malformed; ``attr`` names the field."""


class Unauthenticated(ServerError):
    status = 401
    type = "authentication_error"
    default_code = "not_authenticated"


class PermissionDenied(ServerError):
    status = 403
    type = "authentication_error"
    default_code = "permission_denied"


class NotFound(ServerError):
    status = 404
    type = "invalid_request"
    default_code = "not_found"


class Conflict(ServerError):
    """409: the request is well formed but the object's state forbids it (``code`` says why)."""

    status = 409
    type = "invalid_request"
    default_code = "conflict"


class TooLarge(ServerError):
    status = 413
    type = "invalid_request"
    default_code = "too_large"


class Unavailable(ServerError):
    """503: the server is busy with this kind of work right now; the same request may succeed
    a moment later (clients retry 5xx)."""

    status = 503
    type = "server_error"
    default_code = "busy"


class InsufficientStorage(ServerError):
    """507: the data folder's disk (or the database on it) is full; nothing was half-written."""

    status = 507
    type = "server_error"
    default_code = "insufficient_storage"


#: ``errno`` values that mean "no room": ENOSPC, and EDQUOT (a quota) where the OS has it.
_FULL_ERRNOS = frozenset(filter(None, (errno.ENOSPC, getattr(errno, "EDQUOT", None))))


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full: ``OSError(ENOSPC)`` from a blob write or SQLite's
    ``database or disk is full`` (``SQLITE_FULL``)."""
    if isinstance(exc, OperationalError):
        return "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


class Unreachable(OSError):
    """A service the server keeps its data in did not answer, after retries, and will again
    (object storage down, restarting or throttling). Not an outcome: a request that meets one
    is a 503 that changed nothing, and a diff that meets one waits and is tried again, as on a
    full disk, rather than being given a verdict."""


def disk_full() -> InsufficientStorage:
    """The one 507 every route answers when :func:`is_disk_full`."""
    return InsufficientStorage(
        "the review server's disk is full, so nothing was stored; free space in its data "
        "folder and send the request again"
    )
