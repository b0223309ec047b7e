"""Addresses people open that are not review pages: ``/``, PostHog's run link, the favicon.

Why: PostHog's ``vr`` CLI prints ``{api}/project/{team}/visual_review/runs/{id}`` as the review
link, and people type the bare server address; both should land on the review pages rather than
a JSON 404. The redirects carry no data, so they need no session: the page they lead to signs
the visitor in (and checks the run is in the visitor's project) as usual.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from .render import quote

router = APIRouter()

#: A small "eye over a frame" icon; SVG so it is sharp at every size and needs no binary asset.
FAVICON_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect x="1" y="1" width="30" height="30" rx="6" fill="#2563eb"/>'
    b'<path d="M4 16c3-6 7.5-9 12-9s9 3 12 9c-3 6-7.5 9-12 9s-9-3-12-9z" fill="#fff"/>'
    b'<circle cx="16" cy="16" r="5" fill="#2563eb"/><circle cx="16" cy="16" r="2" fill="#fff"/>'
    b"</svg>"
)
FAVICON_URL = "/favicon.ico"
FAVICON_TYPE = "image/svg+xml"


@router.get("/", include_in_schema=False)
def root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/project/{team}/visual_review/runs/{run_id}", include_in_schema=False)
@router.get("/project/{team}/visual_review/runs/{run_id}/", include_in_schema=False)
def posthog_run_link(team: str, run_id: str) -> Response:
    """PostHog's review link: the run's page (a run id names its project, so ``team`` is moot)."""
    del team
    return RedirectResponse(f"/ui/runs/{quote(run_id)}", status_code=307)


@router.get(FAVICON_URL, include_in_schema=False)
def favicon() -> Response:
    return Response(
        FAVICON_SVG, media_type=FAVICON_TYPE,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
