"""Uploads straight to the bucket: real S3 presigned POSTs, verified before the server uses them.

In S3 mode the ``uploads`` of ``POST runs/`` and ``add-snapshots/`` are boto3
``generate_presigned_post`` targets with PostHog's policy, so image bytes go from CI to the bucket
and never through an API replica:

- key ``PREFIX/uploads/visual_review/<repo>/<h[0:2]>/<hash>`` (by repo and claimed hash: one
  repo's uploads can never overwrite another's, and a target is only good for its own hash);
- ``content-length-range`` 0..10 MiB and ``Content-Type`` starting ``image/``;
- expiry 15 minutes.

S3 enforces the policy but cannot know what the pixels hash to, so an uploaded object is not
trusted until the diff worker has checked it, as PostHog re-hashes in its diff task:

- at ``complete`` (:meth:`S3Uploads.arrived`) the API only lists the repo's ``uploads/`` prefix
  (one request per 1,000 objects) to learn which of the images the run names and the repo does
  not hold yet were uploaded; a snapshot image that was not is reported as "Upload missing" at
  once, as in the embedded mode (a missing baseline image only means no diff image);
- every snapshot whose current image arrived that way is queued for the worker, diffed or not,
  and the worker (:mod:`.processing`) reads the object, decodes it with the one guard and checks
  its RGBA BLAKE3 (:func:`.ingest.verify_pixels`) with the same decode it diffs, stores the
  verified bytes under ``blobs/`` and only then lets the coordinator write the artifact row;
  once the rows are committed, the verified upload objects are deleted, one request per batch
  (:meth:`S3Uploads.discard`); a snapshot whose upload could not be read or checked waits
  (stays queued) instead of getting a result, so a run completes only with every image
  verified;
- an object that does not match fails the run, with a message naming the snapshots and both
  hashes (:func:`integrity_failure`).

Verifying in the worker rather than at ``complete`` costs a changed image one decode instead of
two and no second trip through the bucket, and keeps image work off the API replicas, which
then only sign and list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .blobs import check_key
from .s3 import S3Bucket
from .store import Store
from .uploads import MAX_UPLOAD_BYTES, UPLOAD_EXPIRES_SECONDS, blob_key

log = logging.getLogger(__name__)
#: Problems listed by name in a failed run's message (the rest are counted).
LISTED = 10


class S3Uploads:
    """Presigned POST targets into ``bucket``; what arrived, read back and cleared."""

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

    def __reduce__(self) -> tuple[Any, ...]:
        return (S3Uploads, (self.bucket,), {"max_bytes": self.max_bytes})  # travels to workers

    def arrived(self, store: Store, repo_id: str, run_id: str) -> set[str]:
        """The hashes the run needs from the bucket (its snapshots' and its baselines' images
        that the repo does not hold) that were uploaded, not yet verified. The listing runs
        outside any transaction: it is a network call; a bucket that does not answer makes
        ``complete`` a 503 (the app's handler for :class:`~.errors.Unreachable`), which clients
        retry, and changes nothing."""
        from . import runs  # the review domain imports this module's callers, not the reverse

        with store.transaction() as conn:
            needed = {m.content_hash for m in runs.missing_uploads(conn, repo_id, run_id)}
            needed |= {m.content_hash for m in runs.missing_baseline_images(conn, repo_id, run_id)}
        if not needed:
            return set()
        listed = {key.rsplit("/", 1)[1] for key in self.bucket.keys("uploads", "visual_review", repo_id)}
        return needed & listed

    def read(self, repo_id: str, content_hash: str) -> bytes | None:
        """The uploaded object for ``content_hash`` (up to ``max_bytes + 1`` bytes, so the
        caller can say "too large"), ``None`` if it is not (or no longer) there."""
        return self.bucket.read(self.upload_key(repo_id, content_hash), self.max_bytes)

    def discard(self, uploads: Iterable[tuple[str, str]]) -> None:
        """Delete the verified uploads ``(repo_id, hash)``: their bytes are blobs now. Best
        effort: an object left behind is harmless (the repo holds the hash, so it is never read
        again) and the bucket's lifecycle rule for ``uploads/`` removes it."""
        keys = sorted({self.upload_key(repo, check_key(h)) for repo, h in uploads})
        if not keys:
            return
        try:
            self.bucket.delete_all(keys)
        except OSError as exc:  # S3Error or Unreachable
            log.warning("verified uploads left in the bucket: %s", exc)


def integrity_failure(problems: Sequence[tuple[str, str, str]]) -> str:
    """The failed run's message for uploads that are not what they claim: ``(identifier, claimed
    hash, what is wrong)`` each, the first :data:`LISTED` by name."""
    listed = "; ".join(
        f"{identifier} ({claimed[:12]}…): {detail}" for identifier, claimed, detail in problems[:LISTED]
    )
    more = f"; and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
    return (
        f"Upload integrity check failed for {len(problems)} image(s) in object storage: "
        f"{listed}{more}. Upload the image again (create or add-snapshots returns fresh upload "
        "URLs) with the bytes whose RGBA BLAKE3 is the content_hash."
    )
