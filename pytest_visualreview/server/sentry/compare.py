"""Image ingest and the comparison job: the I/O half of Sentry's snapshot diffing.

Ingest: sentry-cli keys objects by sha256 of the file bytes. We recompute that hash (a key that
lies is refused), decode the image with the server's bomb guard, write the bytes to the shared
blob store under the sha256, and record the BLAKE3 pixel hash beside it, so the Sentry API and the
PostHog API agree on what is "the same image" even when the files differ.

Comparison: ``categorize.plan`` decides everything that needs no pixels; each remaining pair is
diffed with the project's pixelmatch comparator at threshold 0.01 with anti-aliased pixels
ignored, which is Sentry's odiff setting (sensitivity 0.01, ``antialiasing=True``): both compare
the YIQ colour delta against ``35215 * t**2``. Images of different sizes are padded top-left with
transparent pixels to the common canvas, like Sentry. Counts can differ from odiff's by a few
pixels on anti-aliased edges (the two AA detectors are not identical).

Jobs run on the server's one worker (:mod:`..jobs`): the database is the queue (a comparison is
``pending`` or ``processing`` until it is finished, so a restart resumes it), the coordinator
thread plans each pair and writes every row, and the pixel diffs run in the worker processes.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ...diff import compare as pixel_compare
from ...imaging import ImageError, decode_image
from ..blobs import Blobs
from ..errors import Unreachable, is_disk_full
from ..ingest import Checked, KeyMismatch
from ..ingest import check as ingest_check
from ..ingest import store as ingest_store
from ..jobs import DISK_FULL_RETRY_SECONDS, PixelPool
from ..store import Store
from . import db
from .categorize import (
    MAX_DIFF_PIXELS,
    ImageResult,
    decide,
    fingerprints,
    fold,
    is_complete,
    pair_result,
    plan,
)
from .manifest import Manifest
from .views import SnapshotRow

log = logging.getLogger(__name__)

#: odiff's per-pixel colour sensitivity in Sentry (``ODIFF_SENSITIVITY_DIFF_THRESHOLD``).
SENSITIVITY = 0.01


class IngestError(ValueError):
    """An object we refuse to store; ``status`` is the per-operation HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check(sha256: str, data: bytes) -> Checked:
    """Verify the key and decode the image: the CPU-bound half of an ingest (thread-safe).

    Split from :func:`store_checked` so a batch can check its inserts in parallel (PIL, zlib and
    BLAKE3 release the GIL) and still apply them in request order.
    """
    try:
        return ingest_check(data, sha256, key_kind="sha256", name=sha256, formats=("PNG", "JPEG"))
    except KeyMismatch as exc:
        raise IngestError(
            400, f"key: the bytes hash to sha256 {exc.actual}, not to the key's {sha256}"
        ) from exc
    except ImageError as exc:
        raise IngestError(415, f"body: {exc}") from exc


def store_checked(store: Store, blobs: Blobs, project_id: int, item: Checked) -> bool:
    """Write the blob, then the row (a row always has its blob); False if it was there."""
    if db.get_file(store, project_id, item.key) is not None:
        return False

    def write_row() -> bool:
        db.add_file(
            store,
            project_id,
            item.key,
            blob_key=item.key,
            size_bytes=len(item.data),
            content_type=item.media_type,
            pixel_hash=item.pixel_hash,
            width=item.width,
            height=item.height,
        )
        return True

    return ingest_store(blobs, item.key, item.data, write_row)


def ingest(store: Store, blobs: Blobs, project_id: int, sha256: str, data: bytes) -> bool:
    """Verify and store one uploaded object; returns False if the project already had it."""
    return store_checked(store, blobs, project_id, check(sha256, data))


def mask_id(head_id: int, base_id: int, name: str) -> str:
    """Sentry's ``diff_mask_image_id``: ``{head}/{base}/diff/{stem}.png``."""
    stem = posixpath.splitext(name.replace("\\", "/").strip("/"))[0]
    return f"{head_id}/{base_id}/diff/{stem}.png"


@dataclass(frozen=True)
class PairTask:
    """One matched name to pixel-diff in a worker process: blob keys (None: file missing)."""

    name: str
    result: ImageResult
    head_blob: str | None
    base_blob: str | None
    threshold: float
    mask_image_id: str


def plan_pair(
    store: Store, head: SnapshotRow, base: SnapshotRow, base_manifest: Manifest, name: str
) -> ImageResult | PairTask:
    """What one matched name whose hashes differ needs (``base_manifest``: the completed base):
    a result at once when both files have the same RGBA pixels, else a task for the pool."""
    h, b = head.manifest.images[name], base_manifest.images[name]
    result = pair_result("errored", h, b)
    head_file = db.get_file(store, head.project_id, h.content_hash)
    base_file = db.get_file(store, base.project_id, b.content_hash)
    if (
        head_file is not None
        and base_file is not None
        and head_file.pixel_hash
        and head_file.pixel_hash == base_file.pixel_hash
        and head_file.width is not None
        and head_file.height is not None
    ):
        # Different files, same RGBA pixels (a re-encode): what a diff would find, without one.
        width, height = head_file.width, head_file.height
        result.status = "unchanged"
        result.changed_pixels, result.total_pixels = 0, width * height
        result.before_width = result.after_width = width
        result.before_height = result.after_height = result.aligned_height = height
        return result
    return PairTask(
        name,
        result,
        None if head_file is None else head_file.blob_key,
        None if base_file is None else base_file.blob_key,
        head.manifest.threshold_for(name),
        mask_id(head.id, base.id, name),
    )


@dataclass(frozen=True)
class PairOutcome:
    """What a worker process found for one :class:`PairTask`; ``mask_key`` names the stored
    diff mask blob (None without changed pixels)."""

    result: ImageResult
    mask_key: str | None = None
    mask_bytes: int = 0


def diff_pair(blobs: Blobs, task: PairTask) -> PairOutcome:
    """Pool entry point: decode both blobs, compare, store the diff mask blob."""
    result = task.result
    try:
        after = _load(blobs, task.head_blob)
        before = _load(blobs, task.base_blob)
    except ImageError:
        result.reason = "image_processing_failed"
        return PairOutcome(result)
    if after is None or before is None:
        result.reason = "image_fetch_failed"
        return PairOutcome(result)
    # Real sizes from the decoded files, not the manifest's claims.
    result.before_height, result.before_width = (int(v) for v in before.shape[:2])
    result.after_height, result.after_width = (int(v) for v in after.shape[:2])
    canvas_w = max(before.shape[1], after.shape[1])
    canvas_h = max(before.shape[0], after.shape[0])
    result.aligned_height = int(canvas_h)
    if canvas_w * canvas_h > MAX_DIFF_PIXELS:
        result.reason = "exceeds_pixel_limit"
        return PairOutcome(result)
    found = pixel_compare(
        before, after, threshold=SENSITIVITY, include_aa=False, diff_mask=True, diff_image=True
    )
    result.changed_pixels = int(found.diff_pixel_count)
    result.total_pixels = int(found.total_pixels)
    result.status = decide(result.changed_pixels, result.total_pixels, task.threshold)
    if not result.changed_pixels or found.diff_image is None:
        return PairOutcome(result)
    mask = np.where(found.diff_image[:, :, 3] > 0, 255, 0).astype(np.uint8)
    png = _mask_png(mask)
    key = hashlib.sha256(png).hexdigest()
    blobs.put(key, png)  # blob before its row (written by the coordinator)
    return PairOutcome(result, key, len(png))


def _load(blobs: Blobs, blob_key: str | None) -> np.ndarray | None:
    if blob_key is None:
        return None
    try:
        data = blobs.get(blob_key)
    except FileNotFoundError:
        return None
    return decode_image(data, name=blob_key)[0]


def finish_pair(store: Store, project_id: int, task: PairTask, outcome: PairOutcome) -> ImageResult:
    """Record the diff mask's file row (its blob is already stored) and name it in the result."""
    result = outcome.result
    if outcome.mask_key is not None:
        db.add_file(
            store,
            project_id,
            task.mask_image_id,
            blob_key=outcome.mask_key,
            size_bytes=outcome.mask_bytes,
            content_type="image/png",
            width=max(result.before_width or 0, result.after_width or 0),
            height=result.aligned_height,
        )
        result.diff_mask_image_id = task.mask_image_id
    return result


def _mask_png(mask: np.ndarray) -> bytes:
    """An ``L``-mode 0/255 PNG, as Sentry stores diff masks."""
    out = io.BytesIO()
    Image.fromarray(mask, mode="L").save(out, format="PNG", compress_level=1)
    return out.getvalue()


#: Sentry's ``MAX_CHAIN_DEPTH`` for rebuilding a selective base from its ancestors.
MAX_CHAIN_DEPTH = 50
INCOMPLETE_CHAIN = "incomplete_chain"


class ChainError(Exception):
    """A selective base whose ancestors cannot be folded (missing, too deep, or a cycle)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def complete_base(store: Store, base: SnapshotRow) -> Manifest:
    """The base's complete image set: its own manifest, or a selective one folded onto ancestors."""
    layers: list[Manifest] = []
    seen = {base.id}
    current = base
    while not is_complete(current.manifest):
        layers.append(current.manifest)
        if len(layers) > MAX_CHAIN_DEPTH:
            raise ChainError("internal_error", "Base snapshot chain is deeper than 50 builds.")
        parent = db.find_base(store, current)
        if parent is None:
            raise ChainError(INCOMPLETE_CHAIN, "Base snapshot chain incomplete (missing ancestor build).")
        if parent.id in seen:
            raise ChainError("internal_error", "Base snapshot chain has a cycle.")
        seen.add(parent.id)
        current = parent
    return fold(current.manifest, list(reversed(layers))) if layers else current.manifest


def run_comparison(store: Store, blobs: Blobs, comparison_id: int, pool: PixelPool) -> bool:
    """Claim, compute and finish one comparison (FAILED with a message on any error); the pixel
    diffs of its pairs run in the shared worker processes.

    A full disk or an object store that does not answer is not an outcome: the comparison
    stays ``processing`` (queued) and True is returned, so the caller tries it again later
    instead of recording it without its images."""
    if not db.claim_comparison(store, comparison_id):
        return False
    try:
        comparison = db.get_comparison(store, comparison_id)
        assert comparison is not None
        head = db.get_snapshot(store, comparison.head_id)
        base = db.get_snapshot(store, comparison.base_id)
        if head is None or base is None:
            db.fail_comparison(store, comparison_id, "internal_error", "snapshot row missing")
            return False
        try:
            base_manifest = complete_base(store, base)
        except ChainError as exc:
            db.fail_comparison(store, comparison_id, exc.code, str(exc))
            return False
        planned = plan(head.manifest, base_manifest)
        computed: dict[str, ImageResult] = {}
        tasks: list[tuple[PairTask, Future[PairOutcome]]] = []
        for name in planned.candidates:
            step = plan_pair(store, head, base, base_manifest, name)
            if isinstance(step, ImageResult):
                computed[name] = step
            else:
                tasks.append((step, pool.submit(diff_pair, blobs, step)))
        for task, future in tasks:
            computed[task.name] = finish_pair(store, head.project_id, task, future.result())
        results = dict(planned.results)
        results.update((name, computed[name]) for name in planned.candidates)
        with store.transaction():  # the verdict and its approval state become visible together
            db.finish_comparison(store, comparison_id, results)
            if any(r.status in ("changed", "removed") for r in results.values()):
                approve_or_flag(store, head, results)
    except Exception as exc:  # a job must never die silently: the API reports the failure
        if is_disk_full(exc) or isinstance(exc, Unreachable):  # not an outcome: wait
            what = "disk space" if is_disk_full(exc) else "object storage"
            log.warning("sentry comparison %s waits for %s: %s", comparison_id, what, exc)
            return True
        log.exception("sentry comparison %s failed", comparison_id)
        db.fail_comparison(store, comparison_id, "internal_error", f"{type(exc).__name__}: {exc}")
    return False


def approve_or_flag(store: Store, head: SnapshotRow, results: dict[str, ImageResult]) -> None:
    """Auto-approve when the newest human-approved build of the same PR had exactly these
    changes (Sentry's identical-fingerprint rule); otherwise the snapshot needs approval."""
    mine = fingerprints(results)
    siblings = db.approved_siblings(store, head)
    if siblings:
        previous_id, comparison = siblings[0]
        if fingerprints(comparison.results) == mine:
            db.auto_approve(store, head.id, previous_id)
            return
    db.mark_needs_approval(store, head.id)


class SentryComparisons:
    """The Sentry API's job source: runs ``pending`` comparisons (and, after a restart, those a
    previous process left ``processing``) through the shared worker, oldest first."""

    name = "sentry"

    def __init__(self, store: Store, blobs: Blobs) -> None:
        self.store = store
        self.blobs = blobs
        self._retry_at: dict[int, float] = {}  # comparison id -> monotonic time of its next try

    def pending(self) -> list[str]:
        """Ids of the comparisons to run (the shared queue's items)."""
        return [str(item) for item in db.unfinished_comparisons(self.store)]

    def process(self, item: str, pool: PixelPool, stopping: threading.Event) -> None:
        run_comparison(self.store, self.blobs, int(item), pool)

    def run_once(self, pool: PixelPool, stopping: threading.Event) -> bool:
        clock = time.monotonic()
        queued = [c for c in db.unfinished_comparisons(self.store)
                  if self._retry_at.get(c, 0.0) <= clock]
        if not queued:
            return False
        self._retry_at.pop(queued[0], None)
        if run_comparison(self.store, self.blobs, queued[0], pool):
            self._retry_at[queued[0]] = time.monotonic() + DISK_FULL_RETRY_SECONDS
        return True
