"""S3-compatible object storage: the bucket a deployment names, and the blob store in it.

``s3://BUCKET/PREFIX`` with an optional endpoint (MinIO, moto, Ceph, R2, ...: anything that speaks
the S3 API); credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), never from our flags, so no secret sits on
a command line. Layout under the prefix::

    PREFIX/blobs/<h[0:2]>/<h[2:4]>/<hash>                  verified blobs (the Blobs protocol)
    PREFIX/uploads/visual_review/<repo>/<h[0:2]>/<hash>     presigned-POST uploads, not yet trusted

A blob under ``blobs/`` was written by the server after it checked the bytes; an object under
``uploads/`` is whatever a client sent and is only read to be verified (:mod:`.s3_uploads`).

boto3 clients are thread-safe but slow to build (~50 ms), and the diff pool pickles the blob store
into each task, so a process keeps one client per endpoint in :data:`_CLIENTS` and a pickled
store carries only its address.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .blobs import CHUNK, relative_path
from .storage import StorageError

_CLIENTS: dict[str | None, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def s3_client(endpoint_url: str | None) -> Any:
    """This process's boto3 S3 client for ``endpoint_url`` (``None``: AWS)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(endpoint_url)
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise StorageError(
                    "s3:// blob URLs need boto3: pip install 'pytest-visualreview[server,s3]'"
                ) from None

            # Path-style addressing for custom endpoints: MinIO and moto serve buckets under the
            # path, and an IP endpoint has no per-bucket host names.
            style = "path" if endpoint_url else "auto"
            config = Config(
                signature_version="s3v4",
                s3={"addressing_style": style},
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=32,
            )
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
            _CLIENTS[endpoint_url] = client
        return client


def is_missing(exc: Exception) -> bool:
    """Whether a botocore error says the object (or bucket) is not there."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class S3Bucket:
    """A bucket, a key prefix inside it and the endpoint that serves it."""

    name: str
    prefix: str = ""
    endpoint_url: str | None = None

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3Bucket:
        """Parse ``s3://BUCKET[/PREFIX]``; the error says what a valid URL looks like."""
        rest = url[len("s3://"):] if url.startswith("s3://") else ""
        name, _, prefix = rest.partition("/")
        if not name:
            raise StorageError(f"--blob-url {url[:80]!r} names no bucket; use s3://BUCKET/PREFIX")
        return cls(name=name, prefix=prefix.strip("/"), endpoint_url=endpoint_url)

    @property
    def client(self) -> Any:
        return s3_client(self.endpoint_url)

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def read(self, key: str, limit: int) -> bytes | None:
        """Up to ``limit + 1`` bytes of object ``key`` (so the caller can tell "too large"), or
        ``None`` if there is no such object."""
        try:
            body = self.client.get_object(Bucket=self.name, Key=key)["Body"]
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        with body:
            data: bytes = body.read(limit + 1)
        return data

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)


class S3BlobStore:
    """The :class:`~.blobs.Blobs` protocol on a bucket: ``PREFIX/blobs/h[0:2]/h[2:4]/h``."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket

    def __reduce__(self) -> tuple[Any, ...]:
        return (S3BlobStore, (self.bucket,))  # the address travels, the client is per process

    def object_key(self, key: str) -> str:
        return self.bucket.key("blobs", relative_path(key))

    def put(self, key: str, data: bytes) -> None:
        object_key = self.object_key(key)
        client = self.bucket.client
        try:
            client.head_object(Bucket=self.bucket.name, Key=object_key)
            return  # content-addressed: present means the same bytes
        except Exception as exc:
            if not is_missing(exc):
                raise
        client.put_object(Bucket=self.bucket.name, Key=object_key, Body=data)

    def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        for key, data in items:  # each PUT is durable on its own: nothing to share
            self.put(key, data)

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        object_key = self.object_key(key)
        try:
            body = self.bucket.client.get_object(Bucket=self.bucket.name, Key=object_key)["Body"]
        except Exception as exc:
            if is_missing(exc):
                raise FileNotFoundError(f"s3://{self.bucket.name}/{object_key}") from None
            raise
        return _chunks(body)


def _chunks(body: Any) -> Iterator[bytes]:
    with body:
        yield from body.iter_chunks(CHUNK)


def check_reachable(bucket: S3Bucket) -> None:
    """Fail at start-up, in one line, when the bucket cannot be reached or written."""
    try:
        bucket.client.head_bucket(Bucket=bucket.name)
    except Exception as exc:
        where = f" at {bucket.endpoint_url}" if bucket.endpoint_url else ""
        raise StorageError(
            f"bucket {bucket.name!r}{where} cannot be reached ({exc}); check --blob-url, "
            "--s3-endpoint-url (or AWS_ENDPOINT_URL) and the AWS_* credentials"
        ) from None
