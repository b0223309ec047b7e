"""Sentry's preprod snapshots routes (``/api/0/...``) plus the objectstore subset sentry-cli uses.

Installed by the app factory (``install(app, context)``). Handlers are plain module functions
that take the server context from the request (``get_context``), and thin:
resolve org/project (id or slug), check the token, call :mod:`.db` / :mod:`.compare`, shape with
:mod:`.views`. Tokens are the server's own (``visualreview token create --scope project:write``);
the scopes are Sentry's: reads accept any of ``org:ci project:admin project:read
project:releases project:write`` (as the docs list), writes need one that is not read-only.

The objectstore endpoints take ``x-os-auth: Bearer <token>``, where the token is either a server
API token or the short-lived, project-bound token that ``upload-options`` hands out (HMAC with the
server's URL secret), so sentry-cli's debug log never prints the user's real token.
"""

from __future__ import annotations

import io
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .. import resolve, tokens
from ..auth import Principal, authenticate, bearer_token
from ..context import ServerContext, get_context
from ..errors import Conflict, Invalid, NotFound, PermissionDenied, TooLarge, Unauthenticated
from ..limits import BodyLimit
from ..openapi import READ, WRITE, body, errors
from ..resolve import is_id
from ..store import Store
from . import db, views
from .compare import INCOMPLETE_CHAIN, Checked, IngestError, SentryComparisons, check, ingest, store_checked
from .manifest import UPLOAD_SCHEMA, ManifestError, parse_json_body, parse_upload
from .objectstore import (
    MAX_OBJECT_BYTES,
    BatchOp,
    ObjectstoreError,
    OpResult,
    decode_body,
    parse_batch,
    parse_key,
    parse_scope,
    render_batch,
)

READ_SCOPES = ("org:ci", "project:admin", "project:read", "project:releases", "project:write")
WRITE_SCOPES = ("org:ci", "project:admin", "project:releases", "project:write")
#: Largest POST body after decompression (a 50 000-image manifest is about 15 MB).
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Largest raw batch request (objectstore's own limit is 100 MB of payload).
MAX_BATCH_BYTES = 128 * 1024 * 1024
OS_TOKEN_PREFIX = "vros1"
#: The header sentry-cli sends objectstore tokens in (``Authorization`` is accepted too).
OS_AUTH = "x-os-auth"
OS_TOKEN_SECONDS = 3600
EXPIRATION_POLICY = "ttl:396 days"
BODY_LIMIT = BodyLimit(MAX_BODY_BYTES)
BATCH_LIMIT = BodyLimit(MAX_BATCH_BYTES)
OBJECT_LIMIT = BodyLimit(MAX_OBJECT_BYTES)
APPROVE_LIMIT = BodyLimit(64 * 1024)
#: Threads that verify and decode a batch's inserts (PIL, zlib and BLAKE3 release the GIL).
INGEST_THREADS = 4


def install(app: FastAPI, context: ServerContext) -> None:
    """Create the tables, register the comparisons with the server's worker, mount routes."""
    db.install(context.store)
    context.worker.add_source(SentryComparisons(context.store, context.blobs))
    app.include_router(router)


router = APIRouter(tags=["sentry"], responses=errors(*READ))
#: Writes take a body (413) and store it (507).
WRITES = errors(*WRITE)
BINARY = {"type": "string", "format": "binary"}
#: Objectstore bodies may be zstd-compressed (``Content-Encoding: zstd``), as sentry-cli sends them.
ZSTD_NOTE = "zstd-compressed when `Content-Encoding: zstd`"


def answers(*media_types: str, description: str = "OK") -> dict[int | str, dict[str, Any]]:
    """A 200 whose body is one of ``media_types`` (for handlers answering other than JSON)."""
    return {200: {"description": description, "content": {t: {} for t in media_types}}}


# -- resolution and auth ---------------------------------------------------------------------------


def _principal(store: Store, request: Request, scopes: tuple[str, ...]) -> Principal:
    principal = authenticate(store, request.headers.get("authorization"))
    principal.require_any(scopes)
    return principal


def _can_write(principal: Principal) -> bool:
    return any(principal.has_scope(scope) for scope in WRITE_SCOPES)


def mint_os_token(secret: bytes, project_id: int, write: bool, now: float | None = None) -> str:
    """``vros1.<project>.<r|w>.<expires>.<mac>``: objectstore access for one project, one hour."""
    expires = int((time.time() if now is None else now) + OS_TOKEN_SECONDS)
    body = f"{OS_TOKEN_PREFIX}.{project_id}.{'w' if write else 'r'}.{expires}"
    return f"{body}.{tokens.mac(secret, body)}"


def _os_access(store: Store, request: Request, project_id: int) -> bool:
    """Authenticate an objectstore call for ``project_id``; returns whether it may write."""
    header = request.headers.get("x-os-auth") or request.headers.get("authorization")
    token = bearer_token(header, context="objectstore: ", attr=OS_AUTH)
    if token.startswith(OS_TOKEN_PREFIX + "."):
        parts = token.split(".")
        if len(parts) != 5:
            raise Unauthenticated(f"objectstore: malformed token in {OS_AUTH}.", attr=OS_AUTH)
        if not tokens.verify(store.url_secret, ".".join(parts[:4]), parts[4]):
            raise Unauthenticated(f"objectstore: invalid token in {OS_AUTH}.", attr=OS_AUTH)
        if not is_id(parts[3]) or int(parts[3]) < time.time():
            raise Unauthenticated(
                f"objectstore: the token in {OS_AUTH} expired; ask upload-options for a new one.",
                attr=OS_AUTH,
            )
        if parts[1] != str(project_id):
            raise NotFound(f"project {project_id} not found", attr="scope")
        return parts[2] == "w"
    try:
        principal = authenticate(store, f"Bearer {token}")
    except Unauthenticated as exc:
        raise Unauthenticated(f"objectstore: {OS_AUTH}: {exc.detail}", code=exc.code,
                              attr=OS_AUTH) from None
    principal.require_any(READ_SCOPES)
    principal.require_project(project_id)
    return _can_write(principal)


def _scope_project(store: Store, org: str, scope: str) -> int:
    """The project an objectstore scope names, checked against the URL's organization."""
    try:
        parts = parse_scope(scope)
    except ObjectstoreError as exc:
        raise Invalid(exc.message, attr="scope") from exc
    organization = resolve.organization(store, org)
    if parts["org"] != str(organization.id):
        raise NotFound(f"organization {parts['org']!r} not found", attr="scope")
    return resolve.project(store, str(organization.id), parts["project"])[1].id


def _snapshot_in_org(store: Store, org: str, snapshot_id: str, principal: Principal) -> views.SnapshotRow:
    organization = resolve.organization(store, org)
    snapshot = db.get_snapshot(store, int(snapshot_id)) if is_id(snapshot_id) else None
    if snapshot is None or snapshot.project_id != principal.project_id:
        raise NotFound("Snapshot not found", attr="snapshot_id")
    project = resolve.project_by_id(store, snapshot.project_id)
    if project is None or project.organization_id != organization.id:
        raise NotFound("Snapshot not found", attr="snapshot_id")
    return snapshot


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true")


def archive_zip(files: dict[str, bytes]) -> bytes:
    """A ZIP_STORED archive named by the manifest keys (images are compressed already)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return out.getvalue()


# -- the handlers ------------------------------------------------------------------------------


def trigger(context: ServerContext, head_id: int) -> None:
    """Start this upload's comparison, and those of earlier heads that waited for it."""
    store = context.store
    head = db.get_snapshot(store, head_id)
    assert head is not None
    base = db.find_base(store, head)
    if base is not None:
        db.create_comparison(store, head.id, base.id)
    if not head.manifest.selective:
        for waiting in db.heads_awaiting(store, head):
            db.create_comparison(store, waiting.id, head.id)
    # A new upload may be the missing ancestor of a selective base: try those again.
    db.requeue_failed(store, head.project_id, head.app_id, INCOMPLETE_CHAIN)
    context.worker.notify()


# -- upload ------------------------------------------------------------------------------


@router.get("/api/0/projects/{org}/{project}/preprodartifacts/snapshots/upload-options/")
def upload_options(org: str, project: str, request: Request) -> dict[str, Any]:
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, READ_SCOPES)
    organization, found = resolve.project(store, org, project)
    principal.require_project(found.id)
    base = context.base_url(request)
    return {
        "objectstore": {
            "url": f"{base}/api/0/organizations/{organization.slug}/objectstore",
            "scopes": [["org", str(organization.id)], ["project", str(found.id)]],
            "authToken": mint_os_token(store.url_secret, found.id, _can_write(principal)),
            "expirationPolicy": EXPIRATION_POLICY,
        },
        "usecase": "preprod",
    }


@router.post(
    "/api/0/projects/{org}/{project}/preprodartifacts/snapshots/",
    responses={**WRITES, **errors(409)},
    openapi_extra=body(UPLOAD_SCHEMA, description=(
        "Sentry's snapshot upload; every image must be in the objectstore first (409 otherwise); "
        "may be " + ZSTD_NOTE)),
)
async def create_snapshot(org: str, project: str, request: Request) -> JSONResponse:
    where = await run_in_threadpool(_may_upload, org, project, request)
    raw = await BODY_LIMIT.read(request)
    return await run_in_threadpool(
        _create_snapshot, where, request, raw, request.headers.get("content-encoding")
    )


def _may_upload(
    org: str, project: str, request: Request
) -> tuple[resolve.Organization, int, Principal]:
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, WRITE_SCOPES)
    organization, found = resolve.project(store, org, project)
    principal.require_project(found.id)
    return organization, found.id, principal


def _create_snapshot(
    where: tuple[resolve.Organization, int, Principal], request: Request, raw: bytes,
    encoding: str | None
) -> JSONResponse:
    context = get_context(request)
    store = context.store
    organization, project_id, principal = where
    try:
        body = decode_body(raw, encoding, limit=MAX_BODY_BYTES)
    except ObjectstoreError as exc:
        if exc.status == 413:
            raise TooLarge(exc.message, attr="body") from exc
        raise Invalid(exc.message, attr="body") from exc
    try:
        upload = parse_upload(parse_json_body(body))
    except ManifestError as exc:
        raise Invalid(exc.detail, attr=exc.field) from exc
    hashes = sorted({meta.content_hash for meta in upload.manifest.images.values()})
    have = db.existing_files(store, project_id, hashes)
    missing = sorted(name for name, meta in upload.manifest.images.items() if meta.content_hash not in have)
    if missing:
        raise Conflict(
            f"{len(missing)} image(s) were not uploaded to the objectstore first: " + ", ".join(missing[:10]),
            code="missing_objects",
            attr=f"images.{missing[0]}.content_hash",
        )
    snapshot_id = db.create_snapshot(store, project_id, upload, principal.token_id)
    trigger(context, snapshot_id)
    base = context.base_url(request)
    return JSONResponse(
        {
            "artifactId": str(snapshot_id),
            "snapshotMetricsId": str(snapshot_id),
            "imageCount": len(upload.manifest.images),
            "snapshotUrl": (
                f"{base}/api/0/organizations/{organization.slug}/preprodartifacts/snapshots/{snapshot_id}/"
            ),
        }
    )


# -- objectstore -------------------------------------------------------------------------

os_prefix = "/api/0/organizations/{org}/objectstore/v1"


@router.post(
    os_prefix + "/objects:batch/{usecase}/{scope}/", response_class=Response,
    responses={**answers("multipart/form-data", description="one part per operation"), **WRITES},
    openapi_extra=body(BINARY, "multipart/form-data", description=(
        "objectstore batch: parts with `x-sn-batch-operation-kind` (head, get, insert) and "
        "`x-sn-batch-operation-key` headers; insert bodies may be " + ZSTD_NOTE)),
)
async def batch(org: str, usecase: str, scope: str, request: Request) -> Response:
    project_id, may_write = await run_in_threadpool(_os_auth, org, scope, request)
    raw = await BATCH_LIMIT.read(request)
    return await run_in_threadpool(_batch, project_id, may_write, request, raw)


def _os_auth(org: str, scope: str, request: Request) -> tuple[int, bool]:
    context = get_context(request)
    store = context.store
    project_id = _scope_project(store, org, scope)
    return project_id, _os_access(store, request, project_id)


def _batch(project_id: int, may_write: bool, request: Request, raw: bytes) -> Response:
    context = get_context(request)
    try:
        # A read-only token's inserts are answered 403 below: never decompress them.
        ops = parse_batch(request.headers.get("content-type"), raw, decompress=may_write)
    except ObjectstoreError as exc:
        if exc.status == 413:
            raise TooLarge(exc.message, attr="body") from exc
        raise Invalid(exc.message, attr="body") from exc
    checked = _check_inserts(context, ops, project_id) if may_write else {}
    results = [
        _operation(context, index, op.kind, op.key, project_id, may_write, checked.get(index))
        for index, op in enumerate(ops)
    ]
    content_type, body = render_batch(results)
    return Response(body, media_type=None, headers={"content-type": content_type})


def _check_inserts(
    context: ServerContext, ops: list[BatchOp], project_id: int
) -> dict[int, Checked | IngestError]:
    """Verify and decode the batch's new inserts in parallel; stored later, in order."""
    store = context.store
    todo: dict[int, tuple[str, bytes]] = {}
    for index, op in enumerate(ops):
        if op.kind != "insert":
            continue
        try:
            parsed = parse_key(op.key)
        except ObjectstoreError:
            continue  # answered by _operation
        if parsed.project_id == project_id and db.get_file(store, project_id, parsed.sha256) is None:
            todo[index] = (parsed.sha256, op.body)

    def one(item: tuple[str, bytes]) -> Checked | IngestError:
        try:
            return check(*item)
        except IngestError as exc:
            return exc

    if len(todo) < 2:
        return {index: one(item) for index, item in todo.items()}
    with ThreadPoolExecutor(max_workers=INGEST_THREADS) as pool:
        return dict(zip(todo, pool.map(one, todo.values()), strict=True))


def _operation(
    context: ServerContext,
    index: int,
    kind: str,
    key: str,
    project_id: int,
    may_write: bool,
    checked: Checked | IngestError | None,
) -> OpResult:
    store = context.store
    blobs = context.blobs
    try:
        parsed = parse_key(key)
    except ObjectstoreError as exc:
        return OpResult(index, 400, key, exc.message.encode())
    if parsed.project_id != project_id:
        return OpResult(index, 404, key, b"key: belongs to another project")
    row = db.get_file(store, project_id, parsed.sha256)
    if kind == "head":
        if row is None:
            return OpResult(index, 404, key)
        return OpResult(index, 200, key, headers=(("content-type", row.content_type),))
    if kind == "get":
        if row is None:
            return OpResult(index, 404, key)
        return OpResult(
            index,
            200,
            key,
            blobs.get(row.blob_key),
            (("content-type", row.content_type),),
        )
    if kind == "insert":
        if not may_write:
            return OpResult(index, 403, key, b"token is read-only")
        if isinstance(checked, IngestError):
            return OpResult(index, checked.status, key, checked.message.encode())
        if checked is not None:
            store_checked(store, blobs, project_id, checked)
        return OpResult(index, 201, key)  # None: the project already has it
    return OpResult(index, 405, key, b"delete: objects are immutable here")


@router.put(
    os_prefix + "/objects/{usecase}/{scope}/{key:path}", responses=WRITES,
    openapi_extra=body(BINARY, "application/octet-stream", description="the image; " + ZSTD_NOTE),
)
async def put_object(org: str, usecase: str, scope: str, key: str, request: Request) -> Any:
    project_id, may_write = await run_in_threadpool(_os_auth, org, scope, request)
    if not may_write:
        raise PermissionDenied("objectstore: this token is read-only.")
    raw = await OBJECT_LIMIT.read(request)
    return await run_in_threadpool(_put, project_id, key, request, raw)


def _put(project_id: int, key: str, request: Request, raw: bytes) -> dict[str, str]:
    context = get_context(request)
    store = context.store
    blobs = context.blobs
    try:
        parsed = parse_key(key)
        data = decode_body(raw, request.headers.get("content-encoding"))
    except ObjectstoreError as exc:
        if exc.status == 413:
            raise TooLarge(exc.message, attr="body") from exc
        attr = "key" if exc.message.startswith("key") else "body"
        raise Invalid(exc.message, attr=attr) from exc
    if parsed.project_id != project_id:
        raise NotFound("key: belongs to another project", attr="key")
    try:
        ingest(store, blobs, project_id, parsed.sha256, data)
    except IngestError as exc:
        raise Invalid(exc.message, attr="body") from exc
    return {"key": key}


@router.head(os_prefix + "/objects/{usecase}/{scope}/{key:path}", response_class=Response,
             responses=answers("image/*"), operation_id="head_object")
@router.get(os_prefix + "/objects/{usecase}/{scope}/{key:path}", response_class=Response,
            responses=answers("image/*"))
def get_object(org: str, usecase: str, scope: str, key: str, request: Request) -> Response:
    context = get_context(request)
    store = context.store
    blobs = context.blobs
    project_id = _scope_project(store, org, scope)
    _os_access(store, request, project_id)
    try:
        parsed = parse_key(key)
    except ObjectstoreError as exc:
        raise Invalid(exc.message, attr="key") from exc
    row = db.get_file(store, project_id, parsed.sha256)
    if row is None or parsed.project_id != project_id:
        raise NotFound(f"object {key!r} not found", attr="key")
    data = b"" if request.method == "HEAD" else blobs.get(row.blob_key)
    return Response(data, media_type=row.content_type)


# -- read APIs ---------------------------------------------------------------------------

snap_prefix = "/api/0/organizations/{org}/preprodartifacts/snapshots"


@router.get(snap_prefix + "/latest-base/")
def latest_base(
    org: str,
    request: Request,
    app_id: Annotated[str, Query(min_length=1)],
    branch: str | None = None,
    project: str | None = None,
    compact_metadata: str | None = None,
) -> dict[str, Any]:
    """The newest snapshot of ``app_id`` uploaded without a base (a main-branch build)."""
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, READ_SCOPES)
    organization = resolve.organization(store, org)
    found: resolve.Project | None
    if project:
        found = resolve.project(store, str(organization.id), project)[1]
        principal.require_project(found.id)
    else:
        found = resolve.project_by_id(store, principal.project_id)
        if found is None or found.organization_id != organization.id:
            raise NotFound("No snapshot found", attr="project")
    snapshot = db.latest_base(store, found.id, app_id, branch)
    if snapshot is None:
        raise NotFound("No snapshot found", attr="app_id")
    files_url = f"/api/0/projects/{organization.slug}/{found.slug}/files/images/"
    return views.latest_base(snapshot, found.slug, files_url, compact=_flag(compact_metadata))


@router.get(snap_prefix + "/{snapshot_id}/archive/", response_class=Response,
            responses=answers("application/json", "application/zip",
                              description="`{ready: true}`, or the zip with `?download`"))
def archive(org: str, snapshot_id: str, request: Request, download: str | None = None) -> Response:
    """``{"ready": true}`` (archives are built on demand), or the zip with ``?download``."""
    context = get_context(request)
    store = context.store
    blobs = context.blobs
    principal = _principal(store, request, READ_SCOPES)
    snapshot = _snapshot_in_org(store, org, snapshot_id, principal)
    if download is None:
        return JSONResponse({"ready": True})
    files = {
        name: db.get_file(store, snapshot.project_id, meta.content_hash)
        for name, meta in snapshot.manifest.images.items()
    }
    data = archive_zip({n: blobs.get(r.blob_key) for n, r in files.items() if r})
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="snapshot_images_{snapshot.id}.zip"'},
    )


@router.post(snap_prefix + "/{snapshot_id}/archive/", status_code=202)
def build_archive(org: str, snapshot_id: str, request: Request) -> JSONResponse:
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, READ_SCOPES)
    _snapshot_in_org(store, org, snapshot_id, principal)
    return JSONResponse({"detail": "The archive is ready."}, status_code=202)


@router.delete(snap_prefix + "/{snapshot_id}/", status_code=204, response_class=Response)
def delete_snapshot(org: str, snapshot_id: str, request: Request) -> Response:
    """Drop the snapshot, its comparisons and approvals (image blobs are shared and stay)."""
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, WRITE_SCOPES)
    snapshot = _snapshot_in_org(store, org, snapshot_id, principal)
    db.delete_snapshot(store, snapshot.id)
    return Response(status_code=204)


@router.get(snap_prefix + "/{snapshot_id}/")
def snapshot_details(
    org: str, snapshot_id: str, request: Request, compact_metadata: str | None = None
) -> dict[str, Any]:
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, READ_SCOPES)
    snapshot = _snapshot_in_org(store, org, snapshot_id, principal)
    latest, success = db.latest_comparisons(store, snapshot.id)
    base = db.get_snapshot(store, success.base_id) if success is not None else None
    return views.details(
        snapshot,
        latest=latest,
        success=success,
        base=base,
        base_exists=latest is not None or db.base_exists(store, snapshot),
        approvals=db.approvals(store, snapshot.id),
        compact=_flag(compact_metadata),
    )


@router.get(snap_prefix + "/{snapshot_id}/images/{image_identifier:path}/")
def image_detail(org: str, snapshot_id: str, image_identifier: str, request: Request) -> dict[str, Any]:
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, READ_SCOPES)
    snapshot = _snapshot_in_org(store, org, snapshot_id, principal)
    _, success = db.latest_comparisons(store, snapshot.id)
    results = success.results if success is not None else None
    name = views.find_image(image_identifier, snapshot.manifest, results)
    if name is None:
        raise NotFound("Image not found in snapshot", attr="image_identifier")
    base = db.get_snapshot(store, success.base_id) if success is not None else None
    project = resolve.project_by_id(store, snapshot.project_id)
    assert project is not None
    organization = resolve.organization(store, str(project.organization_id))
    files_url = f"/api/0/projects/{organization.slug}/{project.slug}/files/images/"
    return views.image_detail(
        name,
        head=snapshot.manifest,
        base=base.manifest if base is not None else None,
        result=results.get(name) if results else None,
        files_url=files_url,
    )


@router.get("/api/0/projects/{org}/{project}/files/images/{image_id:path}/", response_class=Response,
            responses=answers("image/*"))
def image_file(org: str, project: str, image_id: str, request: Request) -> Response:
    context = get_context(request)
    store = context.store
    blobs = context.blobs
    principal = _principal(store, request, READ_SCOPES)
    found = resolve.project(store, org, project)[1]
    principal.require_project(found.id)
    file = db.get_file(store, found.id, image_id)
    if file is None:
        raise NotFound("Image not found", attr="image_id")
    return Response(blobs.get(file.blob_key), media_type=file.content_type)


@router.post(
    "/api/0/organizations/{org}/preprodartifacts/{artifact_id}/approve/",
    status_code=201, responses={200: {"description": "Already approved"}, **WRITES},
    openapi_extra=body({
        "type": "object", "required": ["feature_type"],
        "properties": {"feature_type": {"enum": ["snapshots", "size"],
                                        "description": "`size` is refused (400): no size analysis here"}},
    }),
)
async def approve(org: str, artifact_id: str, request: Request) -> JSONResponse:
    who = await run_in_threadpool(_may_approve, org, artifact_id, request)
    raw = await APPROVE_LIMIT.read(request)
    return await run_in_threadpool(_approve, get_context(request), who, raw)


def _may_approve(org: str, artifact_id: str, request: Request) -> tuple[Principal, views.SnapshotRow]:
    context = get_context(request)
    store = context.store
    principal = _principal(store, request, ("project:write", "project:admin"))
    return principal, _snapshot_in_org(store, org, artifact_id, principal)


def _approve(context: ServerContext, who: tuple[Principal, views.SnapshotRow], raw: bytes) -> JSONResponse:
    store = context.store
    principal, snapshot = who
    try:
        body = parse_json_body(raw or b"{}")
    except ManifestError as exc:
        raise Invalid(exc.detail, attr="body") from exc
    feature = body.get("feature_type") if isinstance(body, dict) else None
    if feature not in ("snapshots", "size"):
        raise Invalid("feature_type must be one of: snapshots, size", attr="feature_type")
    if feature == "size":
        raise Invalid("Artifact is not a size analysis build", attr="feature_type")
    if db.approve(store, snapshot.id, principal.token_id, principal.name):
        return JSONResponse({"detail": "Approved"}, status_code=201)
    return JSONResponse({"detail": "Already approved"}, status_code=200)
