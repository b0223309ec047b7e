"""Bearer tokens with scopes, stored hashed, and the FastAPI dependency every router uses.

A token belongs to one project and carries scopes such as ``visual_review:read``. Only the SHA-256
of a token is stored (tokens are 256-bit random, so a slow hash adds nothing), which means a leaked
database does not leak usable credentials.

Semantics, the same for every router:

- no ``Authorization: Bearer`` header, or an unknown/revoked token -> 401
- a known token without the scope the endpoint needs -> 403
- a path naming another project (or an object in another project) -> 404, so a token cannot probe
  which ids exist elsewhere

``require_scope("visual_review:read")`` returns a dependency yielding the :class:`Principal` for
routes under ``/api/projects/{project_id}/``: it declares that path parameter (an integer; anything
else is a 400 naming ``project_id``) and enforces the project. Routers with other URL shapes
(Sentry's ``{org}/{project}`` slugs) call :meth:`Principal.require_project` themselves.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Request

from . import resolve
from .errors import Invalid, NotFound, PermissionDenied, Unauthenticated
from .limits import principal_of
from .store import Store, dumps, loads, now

TOKEN_PREFIX = "vrt_"
SCOPE_RE = re.compile(r"^[a-z][a-z_]*:[a-z][a-z_]*$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, display name, project and scopes."""

    token_id: int
    name: str
    project_id: int
    scopes: frozenset[str]

    def has_scope(self, scope: str) -> bool:
        """``area:write`` implies ``area:read``, as in PostHog's scope model."""
        if scope in self.scopes:
            return True
        area, _, action = scope.partition(":")
        return action == "read" and f"{area}:write" in self.scopes

    def require_any(self, scopes: tuple[str, ...]) -> None:
        """403 unless the token has at least one of ``scopes``."""
        if not any(self.has_scope(scope) for scope in scopes):
            raise PermissionDenied(f"This endpoint requires one of the scopes: {' '.join(scopes)}.")

    def require_project(self, project_id: int) -> None:
        """404 unless the token belongs to ``project_id``."""
        if project_id != self.project_id:
            raise NotFound(f"project {project_id} not found")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    store: Store, project_id: int, scopes: list[str], *, name: str | None = None
) -> str:
    """Create a token and return it in clear (the only time it exists in clear)."""
    if not scopes:
        raise Invalid("at least one scope is required", attr="scope")
    for scope in scopes:
        if not SCOPE_RE.match(scope):
            raise Invalid(f"scope {scope!r} must look like 'area:action'", attr="scope")
    if resolve.project_by_id(store, project_id) is None:
        raise NotFound(f"project {project_id} not found", attr="project")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as conn:
        row = conn.execute(
            "INSERT INTO api_tokens (token_hash, name, project_id, scopes, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (hash_token(token), name or "", project_id, dumps(sorted(set(scopes))), now()),
        ).fetchone()
        token_id = int(row[0])
        if not name:
            conn.execute(
                "UPDATE api_tokens SET name = ? WHERE id = ?", (f"token-{token_id}", token_id)
            )
    return token


def revoke_token(store: Store, token: str) -> bool:
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
            (now(), hash_token(token)),
        )
        return cursor.rowcount > 0


def bearer_token(header: str | None, *, context: str = "", attr: str | None = None) -> str:
    """The token of a ``Bearer <token>`` header value, or 401 (``context`` prefixes the message,
    ``attr`` names the header where it is not PostHog's ``Authorization``)."""
    if not header:
        raise Unauthenticated(f"{context}Authentication credentials were not provided.", attr=attr)
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(
            f"{context}{attr or 'Authorization'} header must be 'Bearer <token>'.", attr=attr
        )
    return token


def authenticate(store: Store, authorization: str | None) -> Principal:
    """The principal for an ``Authorization`` header value, or 401."""
    token = bearer_token(authorization)
    row = store.query_one(
        "SELECT id, name, project_id, scopes FROM api_tokens"
        " WHERE token_hash = ? AND revoked_at IS NULL",
        (hash_token(token),),
    )
    if row is None:
        raise Unauthenticated("Invalid token.", code="authentication_failed")
    return Principal(
        token_id=int(row["id"]),
        name=str(row["name"]),
        project_id=int(row["project_id"]),
        scopes=frozenset(loads(row["scopes"]) or []),
    )


def principal_summary(store: Store, token_id: int | None) -> dict[str, object] | None:
    """PostHog's user shape ``{id, first_name, email}`` for a token (tokens stand in for users)."""
    if token_id is None:
        return None
    row = store.query_one("SELECT id, name FROM api_tokens WHERE id = ?", (token_id,))
    if row is None:
        return {"id": token_id, "first_name": "", "email": ""}
    return {"id": int(row["id"]), "first_name": str(row["name"]), "email": ""}


def require_scope(scope: str) -> Callable[..., Principal]:
    """FastAPI dependency of project-scoped routes: authenticate, check ``scope`` and the
    ``{project_id}`` path parameter, which it declares (typed, so the OpenAPI schema has it)."""

    def dependency(
        request: Request,
        project_id: Annotated[int, Path(description="the project's id (the token's project)")],
    ) -> Principal:
        store: Store = request.app.state.context.store
        principal = principal_of(request)  # authenticated by the body gate, before the body
        if not isinstance(principal, Principal):
            principal = authenticate(store, request.headers.get("authorization"))
        if not principal.has_scope(scope):
            raise PermissionDenied(f"This action requires the '{scope}' scope.")
        principal.require_project(project_id)
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
