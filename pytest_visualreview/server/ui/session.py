"""Browser sessions for the review pages: a pasted API token becomes a signed, HttpOnly cookie.

Why not keep the token itself in the cookie: a cookie leaks more easily than a header (logs,
shared machines), so the cookie holds only ``v1.<token_id>.<issued>.<nonce>.<mac>``, signed with a
key derived from the server's secret. Every request re-reads the token row, so revoking the API
token ends its browser sessions at once, and the scopes are always the token's current ones.

CSRF: every action is a POST that must carry ``csrf`` (form field or ``X-CSRF-Token`` header)
equal to an HMAC of the session's nonce (a synchronizer token that needs no server storage),
and a cross-site ``Origin`` is refused outright. The sign-in form itself is protected by a
double-submit cookie, so another site cannot sign a victim into the attacker's account.
The cookies are ``SameSite=Strict`` (``Secure`` on https), a second line of defence.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from ..auth import Principal, authenticate
from ..errors import Unauthenticated
from ..store import Store, loads
from ..tokens import equal

SESSION_COOKIE = "vr_session"
SIGNIN_COOKIE = "vr_signin"
SESSION_MAX_AGE = 7 * 24 * 3600
READ_SCOPE = "visual_review:read"
WRITE_SCOPE = "visual_review:write"


class CsrfError(Exception):
    """A state-changing request without a valid CSRF token or from another origin."""


@dataclass(frozen=True)
class UiSession:
    """A signed-in browser: the token's principal and the CSRF token for its forms."""

    principal: Principal
    csrf: str

    @property
    def can_write(self) -> bool:
        return self.principal.has_scope(WRITE_SCOPE)

    @property
    def project_id(self) -> int:
        return self.principal.project_id


def _key(store: Store) -> bytes:
    # Domain-separated from the upload/download signatures that use the same server secret.
    return hmac.new(store.url_secret, b"visualreview-ui-session-v1", hashlib.sha256).digest()


def _mac(store: Store, message: str) -> str:
    return hmac.new(_key(store), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _csrf_for(store: Store, nonce: str) -> str:
    return _mac(store, f"csrf|{nonce}")


def sign_in(store: Store, token: str) -> tuple[str, Principal]:
    """Check a pasted API token; return the session cookie value and who it is.

    Raises Unauthenticated for an unknown or revoked token, or one that cannot even read.
    """
    principal = authenticate(store, f"Bearer {token.strip()}")
    if not principal.has_scope(READ_SCOPE):
        raise Unauthenticated(
            f"this token has no '{READ_SCOPE}' scope; create one with that scope to review",
            code="permission_denied",
        )
    payload = f"v1.{principal.token_id}.{int(time.time())}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_mac(store, payload)}", principal


def read_session(store: Store, request: Request) -> UiSession | None:
    """The session of this request, or None (no cookie, bad signature, expired, token revoked)."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    payload, _, mac = value.rpartition(".")
    if not payload or not equal(_mac(store, payload), mac):
        return None
    parts = payload.split(".")
    if len(parts) != 4 or parts[0] != "v1":
        return None
    _, token_id, issued, nonce = parts
    try:
        if time.time() - int(issued) > SESSION_MAX_AGE:
            return None
        token_number = int(token_id)
    except ValueError:
        return None
    row = store.query_one(
        "SELECT id, name, project_id, scopes FROM api_tokens WHERE id = ? AND revoked_at IS NULL",
        (token_number,),
    )
    if row is None:
        return None
    principal = Principal(
        token_id=int(row["id"]),
        name=str(row["name"]),
        project_id=int(row["project_id"]),
        scopes=frozenset(loads(row["scopes"]) or []),
    )
    if not principal.has_scope(READ_SCOPE):
        return None
    return UiSession(principal=principal, csrf=_csrf_for(store, nonce))


def _public_url(request: Request) -> str:
    """The server's --public-url (behind a proxy the request's own URL is the internal one)."""
    context = getattr(request.app.state, "context", None)
    return str(getattr(context, "public_url", None) or "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or _public_url(request).startswith("https://")


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/ui")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def signin_nonce(request: Request) -> str:
    """The double-submit value for the sign-in form: the cookie's, or a fresh one."""
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)


def set_signin_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE,
        value,
        max_age=3600,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def check_origin(request: Request) -> None:
    """Refuse a POST whose Origin (or, lacking it, Referer) names another site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return  # not sent by every client; the CSRF token below still has to match
    allowed = [f"{request.url.scheme}://{request.url.netloc}"]
    public = urllib.parse.urlsplit(_public_url(request))
    if public.scheme and public.netloc:
        allowed.append(f"{public.scheme}://{public.netloc}")
    if not any(origin == site or origin.startswith(site + "/") for site in allowed):
        raise CsrfError(f"cross-site request refused (origin {origin!r})")


def check_signin_csrf(request: Request, submitted: str) -> None:
    check_origin(request)
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not cookie or not submitted or not equal(cookie, submitted):
        raise CsrfError(
            "the sign-in form's csrf field does not match (the form expired or was not sent by "
            "this server); reload it"
        )


def check_csrf(request: Request, session: UiSession, submitted: str | None) -> None:
    """Refuse an action unless it carries this session's CSRF token and comes from this site."""
    check_origin(request)
    token = submitted or request.headers.get("x-csrf-token") or ""
    if not token or not equal(session.csrf, token):
        raise CsrfError(
            "the csrf form field (or X-CSRF-Token header) is missing or invalid; reload the page "
            "and try again"
        )
