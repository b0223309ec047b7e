"""What every router needs, in one object on ``app.state.context``.

Routers get it with the ``get_context`` dependency instead of importing globals, so several apps
(one per test, each with its own data dir) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from .blobs import BlobStore
from .jobs import Worker
from .store import Store
from .uploads import download_url


@dataclass
class ServerContext:
    """The store, the blob folder, the job worker and the public URL of one server."""

    store: Store
    blobs: BlobStore
    worker: Worker
    public_url: str | None = None

    def base_url(self, request: Request) -> str:
        """Absolute base URL for links we hand out (uploads, downloads, pagination)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def download_url(self, request: Request, key: str) -> str:
        """A signed ``/blobs/<key>`` URL usable in ``<img src>`` without a token."""
        return download_url(self.store.url_secret, self.base_url(request), key)


def get_context(request: Request) -> ServerContext:
    """FastAPI dependency: the server context of the app handling ``request``."""
    context: ServerContext = request.app.state.context
    return context
