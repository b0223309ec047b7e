"""Images by content hash and the pages' static assets, both cacheable for a year.

An image URL names the repo and the hash, and a hash names immutable bytes, so browsers may keep
it forever (``immutable``); ``private`` because it is only served to a signed-in member of the
repo's project, after checking that the repo is in that project and holds an artifact with that
hash (a hash from another project's repo is a 404, like any unknown hash).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import NotFound
from ..files import blob_response
from ..repos import get_repo
from ..uploads import artifact
from .common import html_errors, signed_in
from .render import asset

router = APIRouter()

YEAR = 365 * 24 * 3600
IMAGE_CACHE = f"private, max-age={YEAR}, immutable"
ASSET_CACHE = f"public, max-age={YEAR}, immutable"


@router.get("/ui/repos/{repo_id}/images/{key}", include_in_schema=False)
@html_errors
def image(request: Request, repo_id: str, key: str) -> Response:
    context, session = signed_in(request)
    get_repo(context.store, session.project_id, repo_id)
    missing = f"no image {key[:16]}… in this repo"
    if artifact(context.store, repo_id, key) is None:
        raise NotFound(missing)
    if request.headers.get("if-none-match") == f'"{key}"':
        return Response(status_code=304, headers={"Cache-Control": IMAGE_CACHE, "ETag": f'"{key}"'})
    return blob_response(
        context.blobs, key, missing,
        {"Cache-Control": IMAGE_CACHE, "ETag": f'"{key}"', "X-Content-Type-Options": "nosniff"},
    )


@router.get("/ui/assets/{name}", include_in_schema=False)
def static_asset(name: str) -> Response:
    try:
        data, media = asset(name)
    except KeyError:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        data,
        media_type=media,
        headers={"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"},
    )
