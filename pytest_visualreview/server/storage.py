"""Where a server keeps its state: one frozen :class:`StorageConfig` every process is built from.

The embedded default is a data folder (SQLite + blob folder). Teams that outgrow one machine name
a database URL and a blob URL instead; each process (API replica, worker, admin command) builds
its store and blob store from the same config, so they all see one state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _endpoint_from_env() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


@dataclass(frozen=True)
class StorageConfig:
    """The data folder, database URL, blob URL and S3 endpoint of one deployment.

    ``blob_url`` is ``None`` (blobs in ``data_dir/blobs``), ``file://PATH`` or
    ``s3://BUCKET/PREFIX``; ``s3_endpoint_url`` defaults to ``AWS_ENDPOINT_URL`` (MinIO, moto,
    any S3-compatible store), ``None`` meaning AWS itself.
    """

    data_dir: Path | None = None
    database_url: str | None = None
    blob_url: str | None = None
    s3_endpoint_url: str | None = field(default_factory=_endpoint_from_env)
