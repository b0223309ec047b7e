"""Uploads straight to the bucket: real S3 presigned POSTs, verified before the server uses them.

In S3 mode the ``uploads`` of ``POST runs/`` and ``add-snapshots/`` are boto3
``generate_presigned_post`` targets with PostHog's policy, so image bytes go from CI to the bucket
and never through an API replica:

- key ``PREFIX/uploads/visual_review/<repo>/<h[0:2]>/<hash>`` (by repo and claimed hash: one
  repo's uploads can never overwrite another's, and a target is only good for its own hash);
- ``content-length-range`` 0..10 MiB and ``Content-Type`` starting ``image/``;
- expiry 15 minutes.

S3 enforces the policy but cannot know what the pixels hash to, so an uploaded object is not
trusted: at ``complete`` (:func:`S3Uploads.receive`), every image the run names (its snapshots'
images and the baseline images it was asked for) that the repo does not yet hold is read from
``uploads/``, decoded with the one guard and checked against its claimed
BLAKE3 of RGBA pixels by the one ingest path (:func:`.uploads.ingest_png`), which writes the
verified blob under ``blobs/`` and then the artifact row. An object that does not match fails the
run with a message naming the snapshot and both hashes; a missing one is left for ``complete`` to
report as "Upload missing" (a missing baseline image only means no diff image, as in the
embedded mode). Verified upload objects are deleted (the blob holds the bytes).

Verification happens at ``complete`` rather than in the diff worker because ``complete`` is where
the run's "every upload present" rule already lives, and its answer then tells the client at once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import runs
from .blobs import Blobs
from .errors import Invalid, NotFound, TooLarge
from .review.contracts import Run
from .s3 import S3Bucket
from .store import Store
from .uploads import MAX_UPLOAD_BYTES, UPLOAD_EXPIRES_SECONDS, blob_key, ingest_png

#: Objects fetched and verified at once at ``complete`` (network-bound; decoding is short).
VERIFY_THREADS = 8


class S3Uploads:
    """Presigned POST targets into ``bucket`` and their verification at ``complete``."""

    def __init__(
        self,
        bucket: S3Bucket,
        *,
        max_bytes: int = MAX_UPLOAD_BYTES,
        expires_in: int = UPLOAD_EXPIRES_SECONDS,
    ) -> None:
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.expires_in = expires_in

    def upload_key(self, repo_id: str, content_hash: str) -> str:
        """Where the client's POST for ``content_hash`` of ``repo_id`` lands."""
        return self.bucket.key("uploads", blob_key(repo_id, content_hash))

    def target(self, repo_id: str, content_hash: str) -> dict[str, Any]:
        """One ``{content_hash, url, fields}`` upload entry: an S3 presigned POST."""
        post = self.bucket.client.generate_presigned_post(
            Bucket=self.bucket.name,
            Key=self.upload_key(repo_id, content_hash),
            Conditions=[
                ["content-length-range", 0, self.max_bytes],
                ["starts-with", "$Content-Type", "image/"],
            ],
            ExpiresIn=self.expires_in,
        )
        return {"content_hash": content_hash, "url": post["url"], "fields": post["fields"]}

    def receive(self, store: Store, blobs: Blobs, run: Run) -> None:
        """Verify and ingest the run's uploaded objects; fail the run if one lies about its hash."""
        repo_id, run_id = run.repo_id, run.id
        with store.transaction() as conn:
            missing = runs.missing_uploads(conn, repo_id, run_id)
            missing += runs.missing_baseline_images(conn, repo_id, run_id)
        names: dict[str, list[str]] = {}
        for image in missing:
            names.setdefault(image.content_hash, []).append(image.identifier)
        if not names:
            return
        with ThreadPoolExecutor(min(VERIFY_THREADS, len(names))) as pool:
            problems = [
                p for p in pool.map(lambda h: self._receive_one(store, blobs, repo_id, h), names)
                if p is not None
            ]
        if problems:
            first = problems[:10]
            listed = "; ".join(
                f"{', '.join(names[h][:3])} ({h[:12]}…): {detail}" for h, detail in first
            )
            more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
            runs.fail_run(
                store, run_id,
                f"Upload integrity check failed for {len(problems)} image(s) in object storage: "
                f"{listed}{more}. Upload the image again (create or add-snapshots returns fresh "
                "upload URLs) with the bytes whose RGBA BLAKE3 is the content_hash.",
            )

    def _receive_one(
        self, store: Store, blobs: Blobs, repo_id: str, content_hash: str
    ) -> tuple[str, str] | None:
        """``None`` if verified (or not uploaded yet), else ``(hash, what is wrong)``."""
        key = self.upload_key(repo_id, content_hash)
        data = self.bucket.read(key, self.max_bytes)
        if data is None:
            return None  # complete reports it as missing
        try:
            ingest_png(store, blobs, repo_id, data, content_hash, max_bytes=self.max_bytes)
        except (Invalid, TooLarge, NotFound) as exc:
            return content_hash, exc.detail
        self.bucket.delete(key)
        return None
