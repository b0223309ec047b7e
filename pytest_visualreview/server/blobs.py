"""Content-addressed blob folder: ``<data_dir>/blobs/<h[0:2]>/<h[2:4]>/<hash>``.

The key is a hash the caller vouches for (BLAKE3 of RGBA pixels for snapshot images, BLAKE3 of the
PNG bytes for diff images, SHA-256 of file bytes for Sentry uploads); this module only checks that
it looks like a hex digest, so a key can never escape the folder. Writes are atomic (temporary
file in the same folder, fsync, rename): a reader sees a whole blob or none, and a crash mid-upload
leaves no half file that a later "already have it" check would trust.

Two shards uploading the same image at once both write a temporary file; the second rename replaces
identical bytes, which is harmless. The database row that says "this repo has this blob" is written
only after the blob is on disk (see ``uploads.ingest_png``), never before.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..imaging import write_atomic
from .storage import StorageConfig, StorageError

_KEY = re.compile(r"^[0-9a-f]{16,128}$")


class BlobKeyError(ValueError):
    """A blob key that is not a lower-case hex digest."""


class BlobStore:
    """A folder of immutable blobs addressed by hash."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Where the blob for ``key`` lives (whether or not it exists)."""
        if not _KEY.match(key):
            raise BlobKeyError(f"blob key {key[:80]!r} is not a lower-case hex digest")
        return self.root / key[:2] / key[2:4] / key

    def get(self, key: str) -> bytes:
        """The blob's bytes; FileNotFoundError if absent."""
        return self.path(key).read_bytes()

    def put(self, key: str, data: bytes) -> Path:
        """Store ``data`` under ``key`` atomically; a blob already present is left untouched."""
        target = self.path(key)
        if not target.is_file():
            write_atomic(target, data)
        return target


def open_blobs(config: StorageConfig) -> BlobStore:
    """The blob store the config names: the folder store (``s3://`` arrives with the S3 backend)."""
    root = config.blob_root
    if root is None:
        raise StorageError(
            f"--blob-url {config.blob_url!r}: only folders (a path or file:///path) are supported "
            "by this build; s3:// needs the S3 blob store"
        )
    return BlobStore(root)
