"""What every review page and action does first: find the server, the session, and map failures.

Pages answer in HTML, never in the API's JSON, so domain errors (404 for another project's run,
409 for a stale run, ...) and CSRF refusals are turned into an error page here rather than by the
app-wide JSON handlers.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from ..context import ServerContext, get_context
from ..errors import ServerError
from .render import error_page
from .session import CsrfError, UiSession, read_session

F = TypeVar("F", bound=Callable[..., Response])


class PageExit(Exception):
    """Stop handling a request and answer with `response` (a redirect, an error page)."""

    def __init__(self, response: Response) -> None:
        super().__init__("page exit")
        self.response = response


def signed_in(request: Request) -> tuple[ServerContext, UiSession]:
    """The server and the session; otherwise GETs go to the sign-in form, POSTs get a 401 page."""
    context = get_context(request)
    session = read_session(context.store, request)
    if session is None:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            next_q = urllib.parse.urlencode({"next": target})
            raise PageExit(RedirectResponse(f"/ui/sign-in?{next_q}", status_code=303))
        raise PageExit(
            error_page(
                None, 401, "Sign in first", "Your session has expired or was signed out.", "/ui/sign-in"
            )
        )
    return context, session


def safe_next(value: str | None, default: str = "/ui/") -> str:
    """A same-site path to go back to after an action (never an open redirect)."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def html_errors(fn: F) -> F:
    """Turn PageExit, CSRF refusals and domain errors raised by a route into HTML answers."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except PageExit as exc:
            return exc.response
        except (CsrfError, ServerError) as exc:
            request = kwargs.get("request")
            session = None
            if isinstance(request, Request):
                session = read_session(get_context(request).store, request)
            if isinstance(exc, CsrfError):
                return error_page(session, 403, "Request refused", str(exc))
            heading = {401: "Sign in first", 403: "Not allowed", 404: "Not found", 409: "Refused"}.get(
                exc.status, "Request failed"
            )
            return error_page(session, exc.status, heading, exc.detail, "/ui/")

    return wrapper  # type: ignore[return-value]
