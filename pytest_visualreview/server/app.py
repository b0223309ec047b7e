"""``create_app(storage)``: the FastAPI application, its routers, error handling and worker.

Routers are installed from modules that expose ``install(app, context)``: the presigned files,
the PostHog API, the Sentry API and the review pages. A router with background work registers a
job source with the one worker (:mod:`.jobs`), which starts and stops with the app.

Error policy (the house rule: a 500 is a bug): domain errors become their status with
``{type, code, detail, attr}``; request validation errors become 400 naming the field in ``attr``;
a full disk (``ENOSPC``, SQLite's ``database or disk is full``) is a 507 saying so; anything else
unexpected is logged and answered with a JSON 500.

Bodies FastAPI parses itself go through :class:`~.limits.BodyGate` first (:func:`_gates`): the
PostHog API's JSON is authenticated and size-checked before a byte of it is read.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import datadir, openapi
from .auth import authenticate
from .blobs import BlobStore, open_blobs
from .context import ServerContext
from .errors import ServerError, Unavailable, Unreachable, disk_full, is_disk_full
from .expiry import DEFAULT_HOURS, PendingExpiry
from .jobs import Worker
from .limits import BodyGate, BodyLimit, Gate
from .processing import PostHogRuns
from .s3 import S3Error
from .storage import StorageConfig, as_config, open_store
from .store import DatabaseError, Store

log = logging.getLogger(__name__)

#: Largest PostHog API JSON body (a 50,000-snapshot manifest is about 15 MB).
MAX_JSON_BYTES = 32 * 1024 * 1024
#: Largest review-page form (a CSRF field and a few values).
MAX_FORM_BYTES = 64 * 1024

#: Modules with ``install(app, context)``, installed in this order.
ROUTERS = (
    "pytest_visualreview.server.files",
    "pytest_visualreview.server.api",
    "pytest_visualreview.server.sentry.routes",
    "pytest_visualreview.server.ui.routes",
)


def create_app(
    storage: StorageConfig | str | Path,
    *,
    public_url: str | None = None,
    start_worker: bool = True,
    diff_workers: int | None = None,
    pending_expiry_hours: float = DEFAULT_HOURS,
) -> FastAPI:
    """Build the server over ``storage`` (a path means an embedded data dir; created and
    migrated if new).

    ``public_url`` fixes the base of URLs handed to clients (else taken from each request);
    ``start_worker=False`` leaves jobs queued (PostHog runs in ``processing``, Sentry comparisons
    ``pending``) for tests of the worker itself, and is ``serve --no-worker`` on a shared store
    (an API-only replica: workers elsewhere take the jobs); ``diff_workers`` sizes the pool;
    runs left ``pending`` longer than ``pending_expiry_hours`` become ``expired`` (0: never).
    ``storage`` with ``blob_url`` ``s3://BUCKET/PREFIX`` puts blobs in a bucket and makes uploads
    presigned POSTs into it.
    """
    context = build_context(
        as_config(storage), public_url=public_url, diff_workers=diff_workers,
        pending_expiry_hours=pending_expiry_hours,
    )
    store, worker = context.store, context.worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_worker:
            worker.start()  # resumes jobs a previous process left queued
        try:
            yield
        finally:
            worker.stop()

    app = FastAPI(
        title="pytest-visualreview server",
        description="PostHog-compatible visual_review API with storage, diffing and signing.",
        lifespan=lifespan,
    )
    app.state.context = context
    app.add_middleware(BodyGate, gates=_gates(store))
    _install_error_handlers(app)
    openapi.install(app)
    for module_name in ROUTERS:
        importlib.import_module(module_name).install(app, context)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "schema_version": store.schema_version}

    return app


def build_context(
    config: StorageConfig,
    *,
    public_url: str | None = None,
    diff_workers: int | None = None,
    pending_expiry_hours: float = DEFAULT_HOURS,
) -> ServerContext:
    """Store, blobs and job queue for ``config``: the in-process :class:`.jobs.Worker` on an
    embedded store, the procrastinate :class:`.queue.SharedQueue` on PostgreSQL (the Sentry
    router adds its own job source when :func:`create_app` installs it)."""
    store = open_store(config)
    blobs = open_blobs(config)
    direct_uploads = None
    if isinstance(blobs, BlobStore):
        datadir.remove_orphan_temps(blobs.root)  # no write is in flight before the server starts
    else:  # a bucket (the s3 extra): checked now, and uploads go straight to it
        from .s3 import S3BlobStore, check_reachable
        from .s3_uploads import S3Uploads

        assert isinstance(blobs, S3BlobStore)
        check_reachable(blobs.bucket)
        direct_uploads = S3Uploads(blobs.bucket)
    worker: Worker
    slices = 1
    if config.shared:
        from .queue import RUN_SLICES, SharedQueue, ensure_queue_schema

        ensure_queue_schema(store)
        worker = SharedQueue(str(config.database_url), workers=diff_workers)
        slices = RUN_SLICES
    else:
        worker = Worker(workers=diff_workers)
    worker.add_source(PostHogRuns(store, blobs, slices=slices, uploads=direct_uploads))
    worker.add_source(PendingExpiry(store, pending_expiry_hours * 3600))
    worker.on_exit.append(store.close)  # the coordinator thread's connection
    return ServerContext(
        store=store, blobs=blobs, worker=worker, public_url=public_url,
        direct_uploads=direct_uploads,
    )


def _gates(store: Store) -> list[Gate]:
    """The bodies FastAPI reads before any dependency: the PostHog API (token first) and the
    review pages' forms (the sign-in form has no token to check, so only the limit applies).
    The presigned upload form and the Sentry routes check their own, after authenticating."""
    return [
        Gate(
            re.compile(r"/api/projects/[^/]+/visual_review/"),
            BodyLimit(MAX_JSON_BYTES),
            lambda header: authenticate(store, header),
        ),
        Gate(re.compile(r"/ui/"), BodyLimit(MAX_FORM_BYTES, label="form")),
    ]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServerError)
    async def server_error(request: Request, exc: ServerError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        attr = field_path(first.get("loc", ()))
        message = str(first.get("msg", "invalid value"))
        if first.get("type") == "json_invalid":
            attr, message = "body", "request body is not valid JSON"
        detail = f"{attr}: {message}" if attr else message
        body = {"type": "validation_error", "code": "invalid_input", "detail": detail,
                "attr": attr or None}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        # FastAPI raises a bare 400 when the body cannot be parsed at all (e.g. nested too deep).
        attr = "body" if exc.status_code == 400 else None
        body = {"type": "invalid_request", "code": code, "detail": str(exc.detail), "attr": attr}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    # OSError and the store's errors are caught where routes are (Starlette's exception middleware),
    # so a 507 is an ordinary answer on a kept-alive connection; the catch-all below runs in the
    # outermost middleware, which re-raises and makes uvicorn drop the connection.
    @app.exception_handler(OSError)
    @app.exception_handler(DatabaseError)
    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, Unreachable):
            log.warning("%s on %s %s", exc, request.method, request.url.path)
            busy = Unavailable(
                f"{exc}; nothing was changed, retry in a moment", code="storage_unavailable"
            )
            return JSONResponse(busy.to_json(), status_code=busy.status)
        if isinstance(exc, S3Error):  # the store answered, and refused: the deployment's to fix
            log.error("%s on %s %s", exc, request.method, request.url.path)
            refused = Unavailable(
                f"object storage refused the request ({exc}); nothing was changed: the server's "
                "bucket or its credentials need fixing", code="storage_refused",
            )
            return JSONResponse(refused.to_json(), status_code=refused.status)
        if not is_disk_full(exc):
            raise exc
        log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
        full = disk_full()
        return JSONResponse(full.to_json(), status_code=full.status)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {"type": "server_error", "code": "error", "detail": f"internal error: {exc!r}",
                "attr": None}
        return JSONResponse(body, status_code=500)


def field_path(loc: Sequence[Any]) -> str:
    """``('body', 'snapshots', 0, 'content_hash')`` -> ``snapshots[0].content_hash``."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
