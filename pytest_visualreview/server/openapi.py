"""What ``/openapi.json`` says about errors and raw bodies, declared once for every router.

The schema must be the server's (schemathesis checks it against a live server in the suite), so
every status a handler can answer is declared with the one error shape :mod:`.errors` produces.
Routers use :func:`errors` for their ``responses=``, and :func:`body` for handlers that read their
body themselves (Sentry's JSON, the objectstore's bytes, the presigned multipart form), where
FastAPI cannot see a model.

Request validation answers 400 (DRF's and PostHog's status, see ``app._install_error_handlers``),
never FastAPI's 422, so :func:`install` removes the 422 FastAPI adds to every operation with
parameters and its ``HTTPValidationError`` models.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

#: What each error status means on this server.
DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: `attr` names the field, `detail` says what to send instead.",
    401: "No token, or an unknown or revoked one.",
    403: "The token lacks the scope, or a signature is invalid or expired.",
    404: "No such object in this project (or the project is not the token's).",
    409: "The object's state forbids it; `code` says which (`stale_run`, `not_fully_resolved`, ...).",
    413: "The body is over its size limit.",
    503: "Try again: every decode slot is busy (`busy`), or PostgreSQL is unreachable "
    "(`database_unavailable`).",
    507: "The server's disk is full; nothing was stored. Retry when space is freed.",
}

#: The statuses every authenticated operation can answer (503: a shared store's PostgreSQL is
#: restarting).
READ = (400, 401, 403, 404, 503)
#: ... and those of an operation that takes a body and stores what it is sent.
WRITE = (*READ, 413, 507)


class ErrorBody(BaseModel):
    """The JSON of every error answer (DRF/PostHog style), from :meth:`errors.ServerError.to_json`."""

    type: str = Field(description="validation_error, authentication_error, invalid_request, ...")
    code: str = Field(description="machine-readable reason: invalid_input, not_found, stale_run, ...")
    detail: str = Field(description="what went wrong and what to do, for a human")
    attr: str | None = Field(description="the offending field (`snapshots[3].content_hash`), if any")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A ``responses=`` dict declaring ``statuses`` with the shared error model."""
    return {status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
            for status in sorted(set(statuses))}


def body(schema: dict[str, Any], media_type: str = "application/json", *,
         required: bool = True, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` declaring the body of a handler that reads and checks it itself."""
    request_body: dict[str, Any] = {"required": required, "content": {media_type: {"schema": schema}}}
    if description:
        request_body["description"] = description
    return {"requestBody": request_body}


def install(app: FastAPI) -> None:
    """Serve the schema without FastAPI's 422 answers, which this server never gives."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            models = schema.get("components", {}).get("schemas", {})
            models.pop("HTTPValidationError", None)
            models.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
