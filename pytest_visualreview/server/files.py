"""The presigned upload endpoint (``POST /uploads/``) and signed blob downloads (``GET /blobs/``).

Neither takes a bearer token: like S3 presigned URLs, the signature in the form fields or the
query string is the authorisation, which is what lets CI upload with plain multipart POSTs and
lets review pages use download URLs in ``<img>`` tags.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from . import uploads
from .blobs import BlobKeyError, Blobs
from .context import ServerContext
from .errors import Invalid, NotFound, TooLarge
from .limits import BodyLimit
from .openapi import body, errors
from .uploads import (
    BLOB_PATH,
    MAX_UPLOAD_BYTES,
    UPLOAD_PATH,
    ingest_png,
    verify_download,
    verify_policy,
)

#: Multipart framing allowance on top of the file size limit.
FORM_OVERHEAD = 64 * 1024


UPLOAD_LIMIT = BodyLimit(
    MAX_UPLOAD_BYTES + FORM_OVERHEAD, label="upload", attr="file", shown=MAX_UPLOAD_BYTES
)

#: The presigned form: the ``fields`` of an upload target, then ``file`` last (S3's order).
UPLOAD_FORM = {
    "type": "object",
    "required": ["key", "policy", "x-vr-signature", "file"],
    "properties": {
        "key": {"type": "string", "minLength": 1},
        "policy": {"type": "string", "minLength": 1},
        "x-vr-signature": {"type": "string", "minLength": 1},
        "Content-Type": {"type": "string"},
        "file": {"type": "string", "format": "binary", "description": "the PNG"},
    },
}


async def _parse_capped(request: Request) -> FormData:
    try:
        parser = MultiPartParser(request.headers, UPLOAD_LIMIT.stream(request), max_files=1,
                                 max_fields=32)
        return await parser.parse()
    except MultiPartException as exc:
        raise Invalid(f"malformed multipart body: {exc.message}", attr="body") from None


def blob_response(
    blobs: Blobs, key: str, missing: str, headers: dict[str, str]
) -> StreamingResponse:
    """A stored image, streamed from the blob folder or the bucket (404 ``missing`` if absent).

    Streamed through the server rather than redirected to a presigned S3 GET: the review pages'
    CSP allows images from ``'self'`` only, the page images are authorised by the session cookie,
    and the bucket never has to be reachable from reviewers' browsers.
    """
    try:
        chunks = blobs.open(key)
    except (BlobKeyError, FileNotFoundError):
        raise NotFound(missing, attr="key") from None
    return StreamingResponse(chunks, media_type="image/png", headers=headers)


def install(app: FastAPI, context: ServerContext) -> None:
    uploads.install(context.store)
    router = APIRouter(tags=["files"])

    @router.post(
        UPLOAD_PATH, status_code=204, response_class=Response,
        responses=errors(400, 403, 404, 409, 413, 503, 507),
        openapi_extra=body(UPLOAD_FORM, "multipart/form-data", description=(
            "the `fields` of an upload target from `POST runs/`, then the image as `file`; "
            "the signed policy is the authorisation (no token)")),
    )
    async def upload(request: Request) -> Response:
        UPLOAD_LIMIT.check_declared(request.headers)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise Invalid("uploads must be multipart/form-data", attr="Content-Type")
        form = await _parse_capped(request)
        try:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            policy = verify_policy(context.store.url_secret, fields)
            upload_file = form.get("file")
            if not isinstance(upload_file, UploadFile):
                raise Invalid("form field 'file' (the image, sent last) is required", attr="file")
            data = await upload_file.read(policy.max_bytes + 1)
            if len(data) > policy.max_bytes:
                raise TooLarge(
                    f"file is over the {policy.max_bytes}-byte limit of the upload policy",
                    attr="file",
                )
        finally:
            await form.close()
        await run_in_threadpool(
            ingest_png, context.store, context.blobs, policy.repo_id, data, policy.content_hash,
            max_bytes=policy.max_bytes, policy=policy,
        )
        return Response(status_code=204)

    @router.get(
        BLOB_PATH + "{key}", response_class=StreamingResponse,
        responses={200: {"content": {"image/png": {}}, "description": "the image"},
                   **errors(400, 403, 404, 503)},
    )
    def download(
        key: str, expires: str | None = None, signature: str | None = None
    ) -> StreamingResponse:
        verify_download(context.store.url_secret, key, expires, signature)
        return blob_response(
            context.blobs, key, "no such blob",
            {"Cache-Control": "private, max-age=3600", "ETag": f'"{key}"'},
        )

    app.include_router(router)
