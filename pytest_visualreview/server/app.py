"""``create_app(data_dir)``: the FastAPI application, its routers, error handling and worker.

Routers are installed from modules that expose ``install(app, context)``: the presigned files,
the PostHog API, the Sentry API and the review pages. A router with background work registers a
job source with the one worker (:mod:`.jobs`), which starts and stops with the app.

Error policy (the house rule: a 500 is a bug): domain errors become their status with
``{type, code, detail, attr}``; request validation errors become 400 naming the field in ``attr``;
anything unexpected is logged and answered with a JSON 500.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import datadir
from .blobs import BlobStore, open_blobs
from .context import ServerContext
from .errors import ServerError
from .jobs import Worker
from .processing import PostHogRuns
from .s3 import S3BlobStore, check_reachable
from .s3_uploads import S3Uploads
from .storage import StorageConfig
from .store import Store

log = logging.getLogger(__name__)

#: Modules with ``install(app, context)``, installed in this order.
ROUTERS = (
    "pytest_visualreview.server.files",
    "pytest_visualreview.server.api",
    "pytest_visualreview.server.sentry.routes",
    "pytest_visualreview.server.ui.routes",
)


def create_app(
    data_dir: str | Path,
    *,
    public_url: str | None = None,
    start_worker: bool = True,
    diff_workers: int | None = None,
    storage: StorageConfig | None = None,
) -> FastAPI:
    """Build the server over ``data_dir`` (created and migrated if new).

    ``public_url`` fixes the base of URLs handed to clients (else taken from each request);
    ``start_worker=False`` leaves jobs queued (PostHog runs in ``processing``, Sentry comparisons
    ``pending``) for tests of the worker itself; ``diff_workers`` sizes its process pool.
    ``storage`` names another blob store (``blob_url``: ``s3://BUCKET/PREFIX`` puts blobs in a
    bucket and makes uploads presigned POSTs into it); by default blobs live in ``data_dir``.
    """
    data_dir = Path(data_dir)
    store = Store(data_dir)
    blobs = open_blobs(storage or StorageConfig(data_dir=data_dir))
    direct_uploads = None
    if isinstance(blobs, BlobStore):
        datadir.remove_orphan_temps(blobs.root)  # no write is in flight before the server starts
    elif isinstance(blobs, S3BlobStore):
        check_reachable(blobs.bucket)
        direct_uploads = S3Uploads(blobs.bucket)
    worker = Worker(workers=diff_workers)
    worker.add_source(PostHogRuns(store, blobs))
    worker.on_exit.append(store.close)  # the coordinator thread's connection
    context = ServerContext(
        store=store, blobs=blobs, worker=worker, public_url=public_url,
        direct_uploads=direct_uploads,
    )

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
    _install_error_handlers(app)
    for module_name in ROUTERS:
        importlib.import_module(module_name).install(app, context)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "schema_version": store.schema_version}

    return app


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
