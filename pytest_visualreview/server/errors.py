"""Errors the domain layer raises and the HTTP layer turns into JSON.

Domain functions (``runs``, ``uploads``, ``auth``) raise these instead of HTTP exceptions so the
review pages and the Sentry router can call the same functions and map failures their own way.
Each error knows its HTTP status, a human ``detail``, an optional machine ``code`` (PostHog's
``stale_run``, ``not_fully_resolved``, ...) and, for bad input, the offending field in ``attr``.

JSON shape (DRF/PostHog style): ``{"type": ..., "code": ..., "detail": ..., "attr": ...}``.
"""

from __future__ import annotations

from typing import Any


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
