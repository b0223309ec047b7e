"""Presigned uploads and downloads, shaped like S3's, and the ingest of uploaded images.

Why S3-shaped: PostHog's CLI (and our client) upload with a multipart POST of ``upload.fields``
then ``Content-Type`` then the file last, to whatever ``upload.url`` says. Speaking that shape
means a deployment could swap this endpoint for a real bucket without touching clients.

The policy is a base64url JSON document (expiry, key, repo, claimed hash, size range, content-type
prefix) with an HMAC over it using the server's URL secret, so the upload endpoint needs no bearer
token and trusts nothing it did not sign. On upload the PNG is decoded with the decompression-bomb
guard in :mod:`pytest_visualreview.imaging` and BLAKE3 of its RGBA pixels must equal the claimed
hash; only then is the blob written (atomically) and the artifact row inserted, in that order, so a
row always has its blob.

Before decoding, the PNG's header must match the size the manifest declared for it (signed into the
policy as ``x-vr-size``, see :mod:`.ingest`). A policy is single-use: each carries a random nonce,
and once an upload with it has stored its blob the signature is recorded (``upload_uses``, kept
until the policy expires), so posting the same fields again is a 409 that decodes nothing.
Two shards that were each handed a target for the same image hold different policies; the second
finds the blob stored and is answered 204 without decoding.

Download URLs are signed the same way (``/blobs/<hash>?expires=&signature=``) so review pages can
use them in ``<img src>``; expiry is rounded up to the hour so a page's URLs stay cache-stable.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..imaging import ImageError
from . import ingest
from .blobs import Blobs
from .errors import Conflict, Invalid, NotFound, PermissionDenied, TooLarge
from .review.contracts import Artifact
from .store import Store, new_id, now
from .tokens import b64url, mac, unb64url, verify

UPLOAD_PATH = "/uploads/"
BLOB_PATH = "/blobs/"
#: PostHog's presign policy: 10 MiB, ``image/*``, 15 minutes.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_EXPIRES_SECONDS = 15 * 60
DOWNLOAD_EXPIRES_SECONDS = 3600
_SIZE_RE = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")

#: Signatures of policies whose upload stored its blob (``uploads`` namespace of the store).
NAMESPACE = "uploads"
MIGRATIONS = [
    """
    CREATE TABLE upload_uses (signature TEXT PRIMARY KEY, expires INTEGER NOT NULL);
    CREATE INDEX upload_uses_expires ON upload_uses (expires);
    """,
]


def install(store: Store) -> None:
    """Create or upgrade the ``upload_uses`` table (idempotent; called when files are mounted)."""
    store.ensure_schema(NAMESPACE, MIGRATIONS)


def blob_key(repo_id: str, content_hash_: str) -> str:
    """The object key a target names (PostHog: ``visual_review/{repo}/{h[:2]}/{h}``)."""
    return f"visual_review/{repo_id}/{content_hash_[:2]}/{content_hash_}"


def upload_target(
    secret: bytes,
    base_url: str,
    repo_id: str,
    content_hash_: str,
    *,
    size: tuple[int | None, int | None] | None = None,
    expires_in: int = UPLOAD_EXPIRES_SECONDS,
    max_bytes: int = MAX_UPLOAD_BYTES,
    now_ts: float | None = None,
) -> dict[str, Any]:
    """One ``{content_hash, url, fields}`` entry for a create/add-snapshots response.

    ``size`` is the (width, height) the manifest declared, if it declared both."""
    expires = int((now_ts if now_ts is not None else time.time()) + expires_in)
    key = blob_key(repo_id, content_hash_)
    declared: list[dict[str, str]] = []
    if size is not None and size[0] and size[1]:
        declared.append({"x-vr-size": f"{size[0]}x{size[1]}"})
    policy = {
        "expiration": expires,
        "conditions": [
            {"key": key},
            {"x-vr-repo": repo_id},
            {"x-vr-content-hash": content_hash_},
            {"x-vr-nonce": secrets.token_urlsafe(12)},
            *declared,
            ["content-length-range", 0, max_bytes],
            ["starts-with", "$Content-Type", "image/"],
        ],
    }
    policy_b64 = b64url(json.dumps(policy, separators=(",", ":")).encode("utf-8"))
    return {
        "content_hash": content_hash_,
        "url": base_url.rstrip("/") + UPLOAD_PATH,
        "fields": {
            "key": key,
            "policy": policy_b64,
            "x-vr-signature": mac(secret, policy_b64),
        },
    }


@dataclass(frozen=True)
class UploadPolicy:
    """A verified policy: what the signer allowed."""

    key: str
    repo_id: str
    content_hash: str
    max_bytes: int
    expires: int
    signature: str = ""
    size: tuple[int, int] | None = None  # (width, height) the manifest declared


def verify_policy(
    secret: bytes, fields: dict[str, str], *, now_ts: float | None = None
) -> UploadPolicy:
    """Check signature, expiry, key and content type; errors name the form field."""
    for name in ("key", "policy", "x-vr-signature"):
        if not fields.get(name):
            raise Invalid(f"form field {name!r} is required", attr=name)
    policy_b64 = fields["policy"]
    if not verify(secret, policy_b64, fields["x-vr-signature"]):
        raise PermissionDenied(
            "x-vr-signature: the upload policy signature does not match",
            code="signature_mismatch", attr="x-vr-signature",
        )
    try:
        policy = json.loads(unb64url(policy_b64))
        conditions = policy["conditions"]
        expires = int(policy["expiration"])
        key = next(c["key"] for c in conditions if isinstance(c, dict) and "key" in c)
        repo_id = next(
            c["x-vr-repo"] for c in conditions if isinstance(c, dict) and "x-vr-repo" in c
        )
        claimed = next(
            c["x-vr-content-hash"]
            for c in conditions
            if isinstance(c, dict) and "x-vr-content-hash" in c
        )
        max_bytes = next(
            int(c[2]) for c in conditions if isinstance(c, list) and c[0] == "content-length-range"
        )
        size_text = next(
            (c["x-vr-size"] for c in conditions if isinstance(c, dict) and "x-vr-size" in c), None
        )
        size_match = _SIZE_RE.match(size_text) if size_text is not None else None
        if size_text is not None and size_match is None:
            raise ValueError(size_text)
    except (ValueError, KeyError, TypeError, StopIteration):
        raise Invalid("upload policy is malformed", attr="policy") from None
    if (now_ts if now_ts is not None else time.time()) > expires:
        raise PermissionDenied(
            "upload policy expired; create the run again for fresh upload URLs",
            code="policy_expired",
        )
    if fields["key"] != key:
        raise PermissionDenied("form field 'key' does not match the policy", code="key_mismatch")
    content_type = fields.get("Content-Type") or fields.get("content-type") or ""
    if not content_type.startswith("image/"):
        raise Invalid(
            f"Content-Type must start with 'image/' (got {content_type!r})", attr="Content-Type"
        )
    return UploadPolicy(
        key=key, repo_id=repo_id, content_hash=claimed, max_bytes=max_bytes, expires=expires,
        signature=fields["x-vr-signature"],
        size=(int(size_match[1]), int(size_match[2])) if size_match else None,
    )


def ingest_png(
    store: Store,
    blobs: Blobs,
    repo_id: str,
    data: bytes,
    claimed_hash: str,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    kind: str = "image",
    policy: UploadPolicy | None = None,
) -> Artifact:
    """Verify and store an uploaded snapshot PNG; return its artifact (existing or new).

    With the ``policy`` it came with, the upload is single-use and the PNG's header must be the
    size the policy declares, both checked before decoding. The Sentry router can call this too,
    for any upload whose identity is the RGBA hash.
    """
    if len(data) > max_bytes:
        raise TooLarge(
            f"file is {len(data)} bytes, over the {max_bytes}-byte limit", attr="file"
        )
    repo = store.query_one("SELECT id FROM repos WHERE id = ?", (repo_id,))
    if repo is None:
        raise NotFound(f"repo {repo_id} not found", attr="key")
    if policy is not None and _used(store, policy):
        raise Conflict(
            "this presigned upload was already used and its image is stored; nothing to do",
            code="upload_used", attr="x-vr-signature",
        )
    existing = artifact(store, repo_id, claimed_hash)
    if existing is not None:
        _mark_used(store, policy)
        return existing
    try:
        checked = ingest.check(
            data, claimed_hash, key_kind="pixels", name="file", formats=("PNG",),
            declared=policy.size if policy is not None else None,
        )
    except ImageError as exc:
        raise Invalid(str(exc), code="invalid_image", attr="file") from None
    except ingest.KeyMismatch as exc:
        raise Invalid(
            f"Upload integrity check failed: {exc.describe(claimed_hash)}",
            code="hash_mismatch",
            attr="file",
        ) from None
    stored = store_artifact(
        store, blobs, repo_id, claimed_hash, data, checked.width, checked.height, kind=kind
    )
    _mark_used(store, policy)
    return stored


def _used(store: Store, policy: UploadPolicy) -> bool:
    return store.query_one(
        "SELECT 1 FROM upload_uses WHERE signature = ?", (policy.signature,)
    ) is not None


def _mark_used(store: Store, policy: UploadPolicy | None) -> None:
    """Record a policy whose blob is stored; forget the ones that have expired anyway."""
    if policy is None:
        return
    with store.transaction() as conn:
        conn.execute("DELETE FROM upload_uses WHERE expires < ?", (int(time.time()),))
        conn.execute(
            "INSERT INTO upload_uses (signature, expires) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (policy.signature, policy.expires),
        )


def store_artifact(
    store: Store,
    blobs: Blobs,
    repo_id: str,
    key: str,
    data: bytes,
    width: int | None,
    height: int | None,
    *,
    kind: str,
) -> Artifact:
    """Write the blob, then the artifact row (a row without its blob is the state to avoid)."""

    def write_row() -> Artifact:
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO artifacts (id, repo_id, content_hash, kind, width, height,"
                " size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (new_id(), repo_id, key, kind, width, height, len(data), now()),
            )
        stored = artifact(store, repo_id, key)
        assert stored is not None
        return stored

    return ingest.store(blobs, key, data, write_row)


def artifact(store: Store, repo_id: str, key: str) -> Artifact | None:
    """The repo's artifact of blob ``key``, or None when the repo does not hold it."""
    row = store.query_one(
        "SELECT * FROM artifacts WHERE repo_id = ? AND content_hash = ?", (repo_id, key)
    )
    return None if row is None else Artifact.from_row(row)


def download_url(
    secret: bytes, base_url: str, key: str, *, now_ts: float | None = None
) -> str:
    """A signed GET URL for a blob, valid at least :data:`DOWNLOAD_EXPIRES_SECONDS`."""
    current = int(now_ts if now_ts is not None else time.time())
    expires = (current // 3600 + 2) * 3600
    signature = mac(secret, f"{key}|{expires}")
    return f"{base_url.rstrip('/')}{BLOB_PATH}{key}?expires={expires}&signature={signature}"


def verify_download(
    secret: bytes, key: str, expires: str | None, signature: str | None,
    *, now_ts: float | None = None,
) -> None:
    if not expires or not signature:
        raise PermissionDenied("download URL is not signed", code="signature_missing")
    try:
        expires_at = int(expires)
    except ValueError:
        raise Invalid("expires must be an integer", attr="expires") from None
    if not verify(secret, f"{key}|{expires_at}", signature):
        raise PermissionDenied(
            "signature: the download URL signature does not match", code="signature_mismatch",
            attr="signature",
        )
    if (now_ts if now_ts is not None else time.time()) > expires_at:
        raise PermissionDenied("download URL expired", code="url_expired")
