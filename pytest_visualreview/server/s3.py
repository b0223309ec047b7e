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

**boto3 signs, urllib3 carries the bytes.** The diff worker reads two images and writes up to two
per changed snapshot; a boto3 ``get_object``/``put_object`` costs about 1.2 ms of CPU on top of
the transfer (botocore's event hooks, parsing, checksums); a URL signed by botocore's own SigV4
query signer (0.05 ms, no network; boto3's ``generate_presigned_url`` takes 0.16 ms through the
same hooks) fetched over a urllib3 connection pool about 0.35 ms. At ~4 ms of pixel work per
pair that is the difference between the shared store keeping up with the embedded one or not
(docs/server.md, *Benchmark on PostgreSQL + S3*). Where the bucket lives (endpoint, path or
virtual-host addressing, region) is still boto3's answer, asked once per process
(:class:`_ObjectSigner`), and credentials come from the client's own provider chain, refreshed
as boto3 refreshes them. urllib3 is botocore's HTTP library, so this adds no dependency; its
:data:`RETRIES` retry what boto3's standard mode would (connection errors, 5xx, 429). Listing,
deleting and presigned POSTs stay boto3 calls.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3

from .blobs import CHUNK, relative_path
from .errors import Unreachable
from .storage import StorageError

_CLIENTS: dict[tuple[str | None, str | None], Any] = {}
_CLIENTS_LOCK = threading.Lock()
#: Transient failures of a presigned GET or PUT: retried with backoff, like boto3's standard mode.
RETRIES = urllib3.Retry(
    total=5, backoff_factor=0.1, status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=None, raise_on_status=False,
)
#: Seconds a presigned URL of :meth:`S3Bucket.fetch` / :meth:`S3Bucket.store` is good for.
PRESIGNED_SECONDS = 300
TIMEOUT = urllib3.Timeout(connect=10, read=60)


def _http_for(url: str) -> urllib3.PoolManager:
    """Connections to the store at ``url``, as boto3 would make them: through the
    ``HTTP(S)_PROXY`` the environment names unless ``NO_PROXY`` exempts the host, and checking
    TLS against ``AWS_CA_BUNDLE`` or certifi's bundle (botocore's default)."""
    import certifi  # requests' dependency, so always there

    parts = urlsplit(url)
    options: dict[str, Any] = {
        "maxsize": 32, "retries": RETRIES, "timeout": TIMEOUT,
        "ca_certs": os.environ.get("AWS_CA_BUNDLE") or certifi.where(),
    }
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


#: The key whose signed URL says how boto3 addresses the bucket, and that start-up GETs (404).
PROBE_KEY = "visualreview-address-probe"


class _ObjectSigner:
    """Signed GET/PUT URLs for one bucket's objects, without boto3's per-call machinery."""

    def __init__(self, bucket: S3Bucket) -> None:
        from botocore.auth import S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest

        client = bucket.client
        # Sign for the region the bucket is in, which boto3's own calls find by following
        # S3's redirects and a signed URL cannot: on AWS, ask the bucket and address it through
        # a client of its region (a custom endpoint is one place, whatever it calls itself).
        if bucket.endpoint_url is None:
            head = client.head_bucket(Bucket=bucket.name)["ResponseMetadata"]["HTTPHeaders"]
            region = head.get("x-amz-bucket-region")
            if region and region != client.meta.region_name:
                client = s3_client(None, region)
        probe = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket.name, "Key": PROBE_KEY}
        ).split("?", 1)[0]
        if not probe.endswith("/" + PROBE_KEY):
            raise StorageError(f"cannot address objects of bucket {bucket.name!r}: {probe[:120]}")
        self.base = probe[: -len(PROBE_KEY)]  # ends in "/": what a key is appended to
        parts = urlsplit(self.base)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.http = _http_for(self.base)
        # Straight to the store: the one host's pool, so a request skips the manager's URL
        # parsing and pool lookup (a quarter of the request's CPU); through a proxy the
        # manager has to build each request.
        self.pool = None if isinstance(self.http, urllib3.ProxyManager) else (
            self.http.connection_from_url(self.origin)
        )
        self.region = str(client.meta.region_name or "us-east-1")
        import boto3

        self.credentials = boto3.session.Session().get_credentials()  # the client's chain
        if self.credentials is None:
            raise StorageError(
                "no AWS credentials for the bucket: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or a profile or instance role)"
            )
        self._auth, self._request = S3SigV4QueryAuth, AWSRequest

    def send(self, method: str, key: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        """``method`` on object ``key``, signed, with :data:`RETRIES`."""
        url = self.url(method, key)
        if self.pool is None:
            return self.http.urlopen(method, url, **kwargs)
        return self.pool.urlopen(method, url[len(self.origin):], **kwargs)

    def url(self, method: str, key: str) -> str:
        """The signed URL of ``method`` on object ``key``; credentials that cannot be refreshed
        now (an instance role's metadata service not answering) are :class:`Unreachable`."""
        request = self._request(method=method, url=self.base + quote(key, safe="/~"))
        try:
            frozen = self.credentials.get_frozen_credentials()
        except Exception as exc:
            raise Unreachable(f"object storage credentials could not be refreshed: {exc}") from None
        self._auth(frozen, "s3", self.region, expires=PRESIGNED_SECONDS).add_auth(request)
        return str(request.url)


_SIGNERS: dict[tuple[str | None, str], _ObjectSigner] = {}


def _signer(bucket: S3Bucket) -> _ObjectSigner:
    """This process's :class:`_ObjectSigner` for ``bucket`` (made on first use)."""
    with _CLIENTS_LOCK:
        signer = _SIGNERS.get((bucket.endpoint_url, bucket.name))
    if signer is None:
        signer = _ObjectSigner(bucket)
        with _CLIENTS_LOCK:
            _SIGNERS[(bucket.endpoint_url, bucket.name)] = signer
    return signer


class S3Error(OSError):
    """A request the bucket refused (403, no such bucket): an I/O error whose reason is
    reported as it is. A store that does not answer, or answers 5xx/429 after :data:`RETRIES`,
    raises :class:`~.errors.Unreachable` instead (:func:`not_answered`)."""


def not_answered(what: str) -> Unreachable:
    return Unreachable(f"object storage did not answer: {what}")


def failed(what: str, exc: Exception) -> OSError:
    """A boto3 call's failure: :class:`~.errors.Unreachable` unless the store answered 4xx."""
    response = getattr(exc, "response", None) or {}
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = f"{what}: {str(exc).splitlines()[0][:200]}"
    if status == 0 or status >= 500 or status == 429:
        return not_answered(detail)
    return S3Error(detail)


def s3_client(endpoint_url: str | None, region: str | None = None) -> Any:
    """This process's boto3 S3 client for ``endpoint_url`` (``None``: AWS) in ``region``
    (``None``: boto3's default, from ``AWS_DEFAULT_REGION`` or the profile)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((endpoint_url, region))
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
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config
            )
            _CLIENTS[(endpoint_url, region)] = client
        return client


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

    def _send(self, method: str, key: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        signer = _signer(self)
        try:
            response = signer.send(method, key, **kwargs)
        except urllib3.exceptions.HTTPError as exc:  # no answer after RETRIES
            raise not_answered(f"{method} s3://{self.name}/{key}: {exc}") from None
        if response.status >= 500 or response.status == 429:
            response.drain_conn()
            raise not_answered(f"{method} s3://{self.name}/{key}: HTTP {response.status}")
        return response

    def fetch(self, key: str) -> urllib3.BaseHTTPResponse | None:
        """Object ``key`` as an open response (its body not yet read), ``None`` if absent."""
        response = self._send("GET", key, preload_content=False)
        if response.status == 200:
            return response
        response.drain_conn()
        if response.status == 404:
            return None
        raise S3Error(f"GET s3://{self.name}/{key}: HTTP {response.status}")

    def read(self, key: str, limit: int) -> bytes | None:
        """Up to ``limit + 1`` bytes of object ``key`` (so the caller can tell "too large"), or
        ``None`` if there is no such object."""
        response = self.fetch(key)
        if response is None:
            return None
        try:
            return bytes(response.read(limit + 1))
        finally:
            response.drain_conn()
            response.release_conn()

    def store(self, key: str, data: bytes) -> None:
        """PUT ``data`` as object ``key`` (all or nothing, like every S3 PUT)."""
        response = self._send("PUT", key, body=data)
        if response.status != 200:
            raise S3Error(f"PUT s3://{self.name}/{key}: HTTP {response.status}")

    def keys(self, *parts: str) -> Iterator[str]:
        """Every object key under ``parts`` (one listing request per 1,000 keys)."""
        prefix = self.key(*parts) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        try:
            for listing in pages:
                for entry in listing.get("Contents", []):
                    yield str(entry["Key"])
        except Exception as exc:
            raise failed(f"listing s3://{self.name}/{prefix}", exc) from None

    def delete_all(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` (1,000 per request; an absent key is not an error)."""
        for first in range(0, len(keys), 1000):
            chunk = keys[first : first + 1000]
            try:
                self.client.delete_objects(
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
            except Exception as exc:
                raise failed(f"deleting {len(chunk)} objects of s3://{self.name}", exc) from None


class S3BlobStore:
    """The :class:`~.blobs.Blobs` protocol on a bucket: ``PREFIX/blobs/h[0:2]/h[2:4]/h``."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket

    def __reduce__(self) -> tuple[Any, ...]:
        return (S3BlobStore, (self.bucket,))  # the address travels, the client is per process

    def object_key(self, key: str) -> str:
        return self.bucket.key("blobs", relative_path(key))

    def put(self, key: str, data: bytes) -> None:
        # No "is it there" HEAD first: content-addressed, so a second PUT writes the same bytes,
        # and a HEAD costs as much as the PUT of a diff image.
        self.bucket.store(self.object_key(key), data)

    def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        for key, data in items:  # each PUT is durable on its own: nothing to share
            self.put(key, data)

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        object_key = self.object_key(key)
        response = self.bucket.fetch(object_key)
        if response is None:
            raise FileNotFoundError(f"s3://{self.bucket.name}/{object_key}")
        return _chunks(response)


def _chunks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from response.stream(CHUNK)
    finally:
        response.drain_conn()
        response.release_conn()


def check_reachable(bucket: S3Bucket) -> None:
    """Fail at start-up, in one line, when the bucket cannot be reached or written (or there
    are no credentials to sign with); the object signer is made now, not in the first diff."""
    try:
        bucket.client.head_bucket(Bucket=bucket.name)
        # A signed object request as the diff workers make them: 404 for a key that is not
        # there; a 400 or 403 means a region, clock or policy the workers would fail on.
        bucket.read(bucket.key(PROBE_KEY), 0)
    except Exception as exc:
        where = f" at {bucket.endpoint_url}" if bucket.endpoint_url else ""
        raise StorageError(
            f"bucket {bucket.name!r}{where} cannot be reached ({exc}); check --blob-url, "
            "--s3-endpoint-url (or AWS_ENDPOINT_URL) and the AWS_* credentials"
        ) from None
