"""HTML building blocks for the review pages: layout, escaping, badges, pagination, links.

Pages are server-rendered strings (no template engine to install, nothing to build). Every value
that reaches markup goes through :func:`h`; pages send a Content-Security-Policy without
'unsafe-inline', so even a missed escape cannot run script. Scripts and styles are served from
/ui/assets/ with content-hashed URLs and year-long cache headers.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Sequence
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from fastapi.responses import HTMLResponse

from ... import viewer
from .session import UiSession

#: Sent with every page: only our own scripts, styles and images; never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; connect-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def h(value: Any) -> str:
    """Escape any value for HTML text or a double-quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


@cache
def asset(name: str) -> tuple[bytes, str]:
    """(bytes, media type) of a static asset: the shared viewer's or the pages' own."""
    if name == "viewer.css":
        text = viewer.stylesheet()
    elif name == "viewer.js":
        text = viewer.script()
    elif name in ("ui.css", "ui.js"):
        text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    else:
        raise KeyError(name)
    media = "text/css" if name.endswith(".css") else "text/javascript"
    return text.encode("utf-8"), media


@cache
def asset_url(name: str) -> str:
    """URL of an asset with its content hash, so it can be cached forever."""
    digest = hashlib.sha256(asset(name)[0]).hexdigest()[:16]
    return f"/ui/assets/{name}?v={digest}"


def url(path: str, **params: Any) -> str:
    """`path` with the non-empty params as a query string."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


def quote(segment: str) -> str:
    """A path segment, percent-encoded (identifiers and ids are user text)."""
    return urllib.parse.quote(segment, safe="")


def badge(kind: str, text: str | None = None) -> str:
    return f'<span class="ui-badge ui-badge-{h(kind)}">{h(text if text is not None else kind)}</span>'


def short_time(stamp: str | None) -> str:
    """'2026-11-22T21:30:05.123Z' -> '2026-11-22 21:30' (UTC)."""
    if not stamp:
        return ""
    return stamp.replace("T", " ")[:16]


def percent(value: float | None) -> str:
    if value is None:
        return ""
    if 0 < value < 0.01:
        return "<0.01%"
    return f"{value:.2f}%"


MAX_PAGE = 1_000_000


def page_number(page: int) -> int:
    """A ``?page=`` value clamped to 1..MAX_PAGE: a huge one would overflow SQLite's OFFSET."""
    return min(max(1, page), MAX_PAGE)


def pager(total: int, page: int, per_page: int, link: Callable[[int], str]) -> str:
    """'Previous · page 2 of 7 · Next' links; empty when everything fits on one page."""
    pages = max(1, -(-total // per_page))
    if pages <= 1:
        return ""
    parts = []
    if page > 1:
        parts.append(f'<a rel="prev" href="{h(link(page - 1))}">&larr; Previous</a>')
    parts.append(f"<span>page {page} of {pages}</span>")
    if page < pages:
        parts.append(f'<a rel="next" href="{h(link(page + 1))}">Next &rarr;</a>')
    return f'<nav class="ui-pager" aria-label="pages">{" ".join(parts)}</nav>'


def csrf_field(session: UiSession) -> str:
    return f'<input type="hidden" name="csrf" value="{h(session.csrf)}">'


def action_form(
    session: UiSession,
    action: str,
    label: str,
    *,
    name: str,
    fields: Sequence[tuple[str, str]] = (),
    title: str = "",
    danger: bool = False,
) -> str:
    """A POST form with one button; `name` is what ui.js looks for (data-action)."""
    hidden = "".join(f'<input type="hidden" name="{h(k)}" value="{h(v)}">' for k, v in fields)
    cls = "ui-button ui-danger" if danger else "ui-button"
    return (
        f'<form method="post" action="{h(action)}" class="ui-inline" data-action="{h(name)}">'
        f"{csrf_field(session)}{hidden}"
        f'<button type="submit" class="{cls}" title="{h(title)}">{h(label)}</button></form>'
    )


def layout(
    title: str,
    body: str,
    *,
    session: UiSession | None,
    crumbs: Sequence[tuple[str, str | None]] = (),
    status: int = 200,
    vr_mode: str = "side",
    refresh_seconds: int | None = None,
) -> HTMLResponse:
    """A whole page: header with breadcrumbs and the signed-in identity, then `body`.

    `refresh_seconds` reloads the page (a run still being processed), with no script needed.
    """
    trail = " / ".join(
        f'<a href="{h(href)}">{h(label)}</a>' if href else f"<span>{h(label)}</span>"
        for label, href in crumbs
    )
    who = ""
    if session is not None:
        scope = "read and write" if session.can_write else "read only"
        who = (
            f'<span class="ui-who" data-scope="{"write" if session.can_write else "read"}">'
            f"{h(session.principal.name)} · {scope}</span>"
            f'<form method="post" action="/ui/sign-out" class="ui-inline">{csrf_field(session)}'
            '<button type="submit" class="ui-link">Sign out</button></form>'
        )
    csrf_meta = f'<meta name="csrf-token" content="{h(session.csrf)}">' if session else ""
    if refresh_seconds:
        csrf_meta += f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
    html_text = (
        f'<!doctype html>\n<html lang="en" data-vr-mode="{h(vr_mode)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)} · visual review</title>{csrf_meta}"
        '<link rel="icon" href="/favicon.ico" type="image/svg+xml">'
        f'<link rel="stylesheet" href="{asset_url("viewer.css")}">'
        f'<link rel="stylesheet" href="{asset_url("ui.css")}">'
        f'<script src="{asset_url("viewer.js")}" defer></script>'
        f'<script src="{asset_url("ui.js")}" defer></script></head>\n'
        '<body class="ui"><header class="ui-top">'
        '<a class="ui-brand" href="/ui/">visual review</a>'
        f'<nav class="ui-crumbs" aria-label="breadcrumbs">{trail}</nav>'
        f'<div class="ui-session">{who}</div></header>\n'
        f'<main class="ui-main">{body}</main></body></html>\n'
    )
    return HTMLResponse(html_text, status_code=status, headers=SECURITY_HEADERS)


def error_page(
    session: UiSession | None, status: int, heading: str, detail: str, back: str | None = None
) -> HTMLResponse:
    link = f'<p><a href="{h(back)}">&larr; Back</a></p>' if back else ""
    body = (
        f'<section class="ui-error" data-status="{status}"><h1>{h(heading)}</h1>'
        f'<p class="ui-error-detail">{h(detail)}</p>{link}</section>'
    )
    return layout(heading, body, session=session, status=status)
