"""The blob protocol the domain uses, the content-addressed blob folder, and ``open_blobs``.

The key is a hash the caller vouches for (BLAKE3 of RGBA pixels for snapshot images, BLAKE3 of the
PNG bytes for diff images, SHA-256 of file bytes for Sentry uploads); a store only checks that it
looks like a hex digest, so a key can never escape the folder or the bucket prefix.

The domain needs four things of a blob store (:class:`Blobs`): ``put`` (idempotent: same key,
same bytes), ``put_all`` (several at once, durable together: the diff worker stores a batch's diff
images with one round of fsyncs instead of one per image), ``get`` (whole bytes, for decoding)
and ``open`` (chunks, for serving a blob without holding it twice). :class:`BlobStore` is the embedded folder
``<data_dir>/blobs/<h[0:2]>/<h[2:4]>/<hash>``; :class:`~.s3.S3BlobStore` is the same layout in a
bucket. Both are atomic by nature: the folder writes temporary files, fsyncs them, renames them
and fsyncs their folders (:func:`~pytest_visualreview.imaging.write_atomic_all`: a reader sees a
whole blob or none, a crash mid-upload leaves no half file that a later "already have it" check
would trust, and a blob is on disk before ``put`` returns, so before any row names it); an S3 PUT
is all or nothing.

Two shards uploading the same image at once both write; the second replaces identical bytes,
which is harmless. The database row that says "this repo has this blob" is written only after the
blob is stored (see :func:`.ingest.store`), never before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from ..imaging import write_atomic_all
from .storage import StorageConfig, StorageError

_KEY = re.compile(r"^[0-9a-f]{16,128}$")
#: Bytes per chunk when a blob is served.
CHUNK = 64 * 1024


class BlobKeyError(ValueError):
    """A blob key that is not a lower-case hex digest."""


def check_key(key: str) -> str:
    """``key`` if it is a lower-case hex digest, else :class:`BlobKeyError`."""
    if not _KEY.match(key):
        raise BlobKeyError(f"blob key {key[:80]!r} is not a lower-case hex digest")
    return key


def relative_path(key: str) -> str:
    """``h[0:2]/h[2:4]/h``: the one layout of both stores."""
    check_key(key)
    return f"{key[:2]}/{key[2:4]}/{key}"


class Blobs(Protocol):
    """What the domain needs of a blob store (folder or bucket)."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; a blob already present is left untouched."""

    def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        """:meth:`put` for each ``(key, data)``; all are stored when this returns."""

    def get(self, key: str) -> bytes:
        """The blob's bytes; ``FileNotFoundError`` if absent, :class:`BlobKeyError` if not a key."""

    def open(self, key: str) -> Iterator[bytes]:
        """The blob in chunks, opened now (so absence raises ``FileNotFoundError`` here)."""


class BlobStore:
    """A folder of immutable blobs addressed by hash."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Where the blob for ``key`` lives (whether or not it exists)."""
        return self.root / relative_path(key)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def open(self, key: str) -> Iterator[bytes]:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(str(path))
        return _chunks(path.open("rb"))

    def put(self, key: str, data: bytes) -> None:
        self.put_all([(key, data)])

    def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        targets = {self.path(key): data for key, data in items}
        write_atomic_all([(path, data) for path, data in targets.items() if not path.is_file()])


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def open_blobs(config: StorageConfig) -> Blobs:
    """The blob store ``config`` names: the data folder's, a folder (a path or ``file://``), or a
    bucket (``s3://BUCKET/PREFIX``)."""
    url = config.blob_url
    if url is not None and url.startswith("s3://"):
        from .s3 import S3BlobStore, S3Bucket

        return S3BlobStore(S3Bucket.from_url(url, endpoint_url=config.s3_endpoint_url))
    root = config.blob_root
    if root is None or not str(root).strip("/"):
        raise StorageError(
            f"--blob-url {str(url)[:80]!r} is not supported; use s3://BUCKET/PREFIX, "
            "file:///ABSOLUTE/PATH or a folder"
        )
    return BlobStore(root)
