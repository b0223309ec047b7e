"""What every router needs, in one object on ``app.state.context``.

Routers get it with the ``get_context`` dependency instead of importing globals, so several apps
(one per test, each with its own data dir) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from .blobs import Blobs
from .jobs import Worker
from .review.contracts import Run
from .s3_uploads import S3Uploads
from .store import Store
from .uploads import download_url, upload_target


@dataclass
class ServerContext:
    """The store, the blob store, the job worker and the public URL of one server.

    ``direct_uploads`` is set in S3 mode: upload targets are then presigned POSTs into the bucket
    instead of this server's ``/uploads/`` endpoint.
    """

    store: Store
    blobs: Blobs
    worker: Worker
    public_url: str | None = None
    direct_uploads: S3Uploads | None = None

    def base_url(self, request: Request) -> str:
        """Absolute base URL for links we hand out (uploads, downloads, pagination)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def upload_targets(
        self, request: Request, repo_id: str, hashes: list[str],
        sizes: dict[str, tuple[int | None, int | None]],
    ) -> list[dict[str, Any]]:
        """The ``uploads`` entries of a create/add-snapshots answer for ``hashes``; ``sizes``
        (from the manifest) are signed into this server's own policies and checked before
        decoding; a bucket's uploads are checked at ``complete``, decoded with the same limits."""
        if self.direct_uploads is not None:
            return [self.direct_uploads.target(repo_id, h) for h in hashes]
        base = self.base_url(request)
        return [
            upload_target(self.store.url_secret, base, repo_id, h, size=sizes.get(h))
            for h in hashes
        ]

    def arrived_uploads(self, run: Run) -> set[str]:
        """Before ``complete``: the run's images waiting in the bucket, to be verified by the
        diff worker (S3 mode; none otherwise, where every upload is verified as it arrives)."""
        if self.direct_uploads is None:
            return set()
        return self.direct_uploads.arrived(self.store, str(run.repo_id), str(run.id))

    def download_url(self, request: Request, key: str) -> str:
        """A signed ``/blobs/<key>`` URL usable in ``<img src>`` without a token."""
        return download_url(self.store.url_secret, self.base_url(request), key)


def get_context(request: Request) -> ServerContext:
    """FastAPI dependency: the server context of the app handling ``request``."""
    context: ServerContext = request.app.state.context
    return context
