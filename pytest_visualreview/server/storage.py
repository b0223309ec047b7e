"""Where a server keeps its state: one :class:`StorageConfig`, built the same way by every command.

Why one config: ``serve``, ``worker``, ``token create``, ``repo create``, ``migrate`` ... must all
agree on where the metadata and the blobs are, and a second way to spell "the database" would
drift. The embedded default is a data folder (SQLite + blob folder, nothing to set up); a team
that outgrows one machine passes ``--database-url postgresql://...`` (metadata) and
``--blob-url`` (blobs: a folder, or ``s3://BUCKET/PREFIX``) instead, and runs API replicas and
diff workers on as many machines as it likes (docs/server.md, "Deployment").

This module imports neither psycopg nor fastapi, so the console command can declare the options
without the server extra installed.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StorageError(ValueError):
    """The storage options do not describe a usable store; the message names the option."""


@dataclass(frozen=True)
class StorageConfig:
    """The data folder (embedded) or the database and blob URLs (shared), and the S3 endpoint."""

    data_dir: Path | None = None
    database_url: str | None = None
    blob_url: str | None = None
    s3_endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if self.database_url is None and self.data_dir is None:
            raise StorageError("give --data-dir (embedded store) or --database-url (PostgreSQL)")
        if self.database_url is not None and not self.database_url.startswith(POSTGRES_SCHEMES):
            raise StorageError(
                f"--database-url {self.database_url.split('@')[-1]!r} is not a PostgreSQL URL; "
                "write postgresql://USER:PASSWORD@HOST:PORT/DB"
            )
        if self.database_url is not None and self.data_dir is None and self.blob_url is None:
            raise StorageError(
                "--database-url needs --blob-url (a folder, file:///path or s3://BUCKET/PREFIX) "
                "or --data-dir for the blobs"
            )

    @property
    def shared(self) -> bool:
        """True when the metadata is in PostgreSQL: replicas and workers share it (and the queue)."""
        return self.database_url is not None

    @property
    def blob_root(self) -> Path | None:
        """The blob folder, when blobs are in a folder (``--blob-url`` path/file://, or the data dir)."""
        url = self.blob_url
        if url is None:
            return self.data_dir / "blobs" if self.data_dir is not None else None
        if url.startswith("file://"):
            return Path(url[len("file://"):])
        if "://" in url:
            return None
        return Path(url)

    @classmethod
    def embedded(cls, data_dir: str | os.PathLike[str]) -> StorageConfig:
        return cls(data_dir=Path(data_dir))


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` | ``--database-url`` + ``--blob-url`` [+ ``--s3-endpoint-url``]."""
    parser.add_argument(
        "--data-dir", default=None,
        help="embedded store: a folder holding the SQLite database and the blobs",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("VISUALREVIEW_DATABASE_URL"),
        help="shared store: postgresql://USER:PASSWORD@HOST:PORT/DB for the metadata and the job "
        "queue (default: $VISUALREVIEW_DATABASE_URL)",
    )
    parser.add_argument(
        "--blob-url", default=os.environ.get("VISUALREVIEW_BLOB_URL"),
        help="where blobs go with --database-url: a folder, file:///path or s3://BUCKET/PREFIX "
        "(default: $VISUALREVIEW_BLOB_URL)",
    )
    parser.add_argument(
        "--s3-endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
        help="S3-compatible endpoint (MinIO, ...) for s3:// blob URLs (default: $AWS_ENDPOINT_URL)",
    )


def storage_from_args(args: argparse.Namespace) -> StorageConfig:
    """The config the options describe; :class:`StorageError` names what is missing or wrong."""
    return StorageConfig(
        data_dir=Path(args.data_dir) if args.data_dir else None,
        database_url=args.database_url or None,
        blob_url=args.blob_url or None,
        s3_endpoint_url=args.s3_endpoint_url or None,
    )


def as_config(storage: StorageConfig | str | os.PathLike[str]) -> StorageConfig:
    """A config as given, or a path meaning an embedded data dir (what tests pass)."""
    return storage if isinstance(storage, StorageConfig) else StorageConfig.embedded(storage)


def open_store(config: StorageConfig) -> Store:
    """The metadata store: PostgreSQL for ``postgresql://`` URLs, else SQLite in the data dir."""
    if config.database_url is not None:
        from .pgstore import PgStore

        return PgStore(config.database_url)
    from .store import Store

    assert config.data_dir is not None
    return Store(config.data_dir)
