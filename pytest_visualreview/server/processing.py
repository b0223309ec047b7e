"""PostHog runs on the shared worker: turns ``processing`` runs into ``completed`` ones.

The queue is the database itself: a run is queued while its status is ``processing`` and a
snapshot is queued while ``needs_diff = 1``. Results are committed in small batches, each in one
transaction with the ``needs_diff`` flag cleared, so a server killed mid-run resumes where it
stopped on the next start and no snapshot is diffed twice or lost. (PostHog uses Celery with
``acks_late`` for the same guarantee.)

Classification (PostHog ``diffing.py``, reference §7.3): pixelmatch with threshold 0.1 and
anti-aliased pixels excluded; ``diff_percentage = count / (w*h) * 100`` rounded to 4 places on the
padded size; ``>= 2.5`` is a ``pixel`` change; otherwise SSIM, and ``1 - ssim >= 0.01`` is a
``structural`` change; otherwise the snapshot is ``unchanged/below_threshold`` and an automatic
toleration is minted so the same pair is never diffed again. Changed snapshots get a stored diff
image (an artifact keyed by BLAKE3 of its PNG bytes).

Diffs run in the worker processes of :mod:`.jobs`: a worker process reads both images from the
blob store and writes the diff blob itself, so only small results cross the process boundary; the
coordinator thread owns every database write.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from blake3 import blake3

from ..imaging import ImageError, decode_image
from . import runs
from .blobs import BlobStore
from .diffimage import encode_diff_png
from .jobs import PixelPool
from .review.contracts import Run
from .review.enums import ClassificationReason, SnapshotResult
from .store import Connection, Row, Store, dumps, new_id, now

log = logging.getLogger(__name__)

PIXEL_DIFF_THRESHOLD_PERCENT = 2.5
SSIM_DISSIMILARITY_THRESHOLD = 0.01
PIXELMATCH_THRESHOLD = 0.1
BATCH = 32
#: Snapshots per pool task (a batch of ``BATCH * workers`` is split into these).
CHUNK = 8


@dataclass
class DiffOutcome:
    """What diffing one snapshot decided (written back by the coordinator)."""

    snapshot_id: str
    result: SnapshotResult
    classification_reason: ClassificationReason = ClassificationReason.NONE
    change_kind: str = ""
    diff_percentage: float | None = None
    diff_pixel_count: int | None = None
    ssim_score: float | None = None
    diff_png: bytes | None = None
    diff_size: tuple[int, int] | None = None
    diff_key: str | None = None  # set once the diff PNG is stored as a blob
    diff_bytes: int = 0
    diff_metadata: dict[str, Any] = field(default_factory=dict)


def classify_pair(snapshot_id: str, expected: np.ndarray, actual: np.ndarray) -> DiffOutcome:
    """Diff one baseline/current pair and classify it by PostHog's rules."""
    from .. import diff  # imported late: the comparator is its own module, loaded on first use

    result = diff.compare(
        expected, actual, threshold=PIXELMATCH_THRESHOLD, include_aa=False, diff_image=True,
        indexed=True,
    )
    total = max(int(result.total_pixels), 1)
    percentage = round(int(result.diff_pixel_count) / total * 100, 4)
    metadata: dict[str, Any] = {"size_mismatch": bool(result.size_mismatch)}
    outcome = DiffOutcome(
        snapshot_id=snapshot_id,
        result=SnapshotResult.CHANGED,
        diff_percentage=percentage,
        diff_pixel_count=int(result.diff_pixel_count),
        diff_metadata=metadata,
    )
    if percentage >= PIXEL_DIFF_THRESHOLD_PERCENT:
        outcome.change_kind = "pixel"
    else:
        score = float(diff.ssim(expected, actual))  # pads different sizes, like PostHog
        outcome.ssim_score = round(score, 6)
        if 1.0 - score >= SSIM_DISSIMILARITY_THRESHOLD:
            outcome.change_kind = "structural"
        else:
            outcome.result = SnapshotResult.UNCHANGED
            outcome.classification_reason = ClassificationReason.BELOW_THRESHOLD
            return outcome
    image = result.diff_indexed or result.diff_image
    if image is not None:
        outcome.diff_png = encode_diff_png(image)
        pixels = image.index if isinstance(image, diff.IndexedImage) else image
        outcome.diff_size = (int(pixels.shape[1]), int(pixels.shape[0]))
    return outcome


def diff_snapshot(
    blobs: BlobStore, snapshot_id: str, baseline: str, current: str, baseline_held: bool
) -> DiffOutcome:
    """Pool entry point: load both images from the blob store, classify, store the diff blob.

    ``blobs`` travels to the worker process pickled (a store is a small handle). Problems leave
    the snapshot ``changed`` with the reason in ``diff_metadata.error`` (PostHog logs and skips
    per-snapshot failures)."""
    if not baseline_held:
        return DiffOutcome(
            snapshot_id, SnapshotResult.CHANGED,
            diff_metadata={"error": "baseline image not on the server; upload it to get a diff"},
        )
    try:
        expected = decode_image(blobs.get(baseline), name=f"baseline {baseline[:12]}")[0]
        actual = decode_image(blobs.get(current), name=f"current {current[:12]}")[0]
        outcome = classify_pair(snapshot_id, expected, actual)
        if outcome.diff_png is not None:
            outcome.diff_key = blake3(outcome.diff_png).hexdigest()
            outcome.diff_bytes = len(outcome.diff_png)
            blobs.put(outcome.diff_key, outcome.diff_png)  # blob before its row
            outcome.diff_png = None
        return outcome
    except (ImageError, OSError) as exc:
        return DiffOutcome(snapshot_id, SnapshotResult.CHANGED, diff_metadata={"error": str(exc)})
    except Exception as exc:  # a comparator bug must not wedge the run: log, keep it changed
        log.exception("diff of snapshot %s failed", snapshot_id)
        return DiffOutcome(
            snapshot_id, SnapshotResult.CHANGED, diff_metadata={"error": f"diff failed: {exc!r}"}
        )


def diff_snapshots(blobs: BlobStore, jobs: list[tuple[str, str, str, bool]]) -> list[DiffOutcome]:
    """Pool entry point for a chunk of ``(snapshot_id, baseline, current, baseline_held)`` jobs.

    One task per chunk rather than per snapshot: each pool task costs a pickle round trip and
    wake-ups on both sides, which was a tenth of a changed pair's CPU time in the server."""
    return [diff_snapshot(blobs, *job) for job in jobs]


class PostHogRuns:
    """The PostHog API's job source: drains ``processing`` runs through the shared worker."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    def run_once(self, pool: PixelPool, stopping: threading.Event) -> bool:
        """Process the oldest ``processing`` run to the end; False when nothing was queued."""
        row = self.store.query_one(
            "SELECT id FROM runs WHERE status = 'processing' ORDER BY seq LIMIT 1"
        )
        if row is None:
            return False
        self.process_run(str(row["id"]), pool, stopping)
        return True

    def process_run(self, run_id: str, pool: PixelPool, stopping: threading.Event) -> None:
        """Diff every queued snapshot of the run, then finish it.

        Pipelined: while the pool diffs batch N+1, this thread commits batch N, so the pool
        never waits on the database. Rows are walked by ``seq`` so a batch in flight is not
        fetched twice.
        """
        row = self.store.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        run = None if row is None else Run.from_row(row)
        if run is None or run.status != runs.RunStatus.PROCESSING:
            return
        repo_id = str(run.repo_id)
        cursor = -1
        in_flight: tuple[list[Row], list[Future[list[DiffOutcome]]]] | None = None
        while not stopping.is_set():
            batch = self.store.query(
                "SELECT id, seq, identifier, baseline_hash, current_hash FROM run_snapshots"
                " WHERE run_id = ? AND needs_diff = 1 AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, cursor, BATCH * max(1, pool.workers)),
            )
            submitted: tuple[list[Row], list[Future[list[DiffOutcome]]]] | None = None
            if batch:
                cursor = int(batch[-1]["seq"])
                have = runs.held_hashes(
                    self.store, repo_id, [str(r["baseline_hash"]) for r in batch]
                )
                submitted = (batch, self._submit(pool, batch, have))
            if in_flight is not None:
                rows, futures = in_flight
                self._write(run, rows, [o for future in futures for o in future.result()])
            in_flight = submitted
            if in_flight is None:
                break
        if stopping.is_set():
            return
        with self.store.transaction() as conn:
            status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if status is not None and status["status"] == runs.RunStatus.PROCESSING:
                runs.finish_processing(conn, run_id)

    def _submit(
        self, pool: PixelPool, batch: list[Row], have: set[str]
    ) -> list[Future[list[DiffOutcome]]]:
        """The batch as ``CHUNK``-sized pool tasks (enough of them to keep every worker busy)."""
        jobs = [
            (str(row["id"]), str(row["baseline_hash"]), str(row["current_hash"]),
             str(row["baseline_hash"]) in have)
            for row in batch
        ]
        return [
            pool.submit(diff_snapshots, self.blobs, jobs[start : start + CHUNK])
            for start in range(0, len(jobs), CHUNK)
        ]

    def _write(
        self, run: Run, batch: list[Row], outcomes: list[DiffOutcome]
    ) -> None:
        """Commit a batch's results (diff blobs are already on disk) in one transaction."""
        repo_id = str(run.repo_id)
        by_id = {str(r["id"]): r for r in batch}
        stamp = now()
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO artifacts (id, repo_id, content_hash, kind, width,"
                " height, size_bytes, created_at) VALUES (?, ?, ?, 'diff', ?, ?, ?, ?)",
                [(new_id(), repo_id, o.diff_key, *(o.diff_size or (None, None)),
                  o.diff_bytes, stamp) for o in outcomes if o.diff_key],
            )
            for outcome in outcomes:
                row = by_id[outcome.snapshot_id]
                unchanged = outcome.result == SnapshotResult.UNCHANGED
                review_state = runs.ReviewState.NONE if unchanged else runs.ReviewState.PENDING
                tolerated_id = None
                if unchanged:
                    tolerated_id = _mint_auto_toleration(conn, run, row, outcome, stamp)
                conn.execute(
                    "UPDATE run_snapshots SET needs_diff = 0, result = ?,"
                    " classification_reason = ?, change_kind = ?, diff_percentage = ?,"
                    " diff_pixel_count = ?, ssim_score = ?, diff_hash = ?, diff_metadata = ?,"
                    " tolerated_hash_id = COALESCE(?, tolerated_hash_id),"
                    " review_state = CASE WHEN review_state IN ('pending', '') THEN ?"
                    " ELSE review_state END WHERE id = ? AND needs_diff = 1",
                    (outcome.result, outcome.classification_reason, outcome.change_kind,
                     outcome.diff_percentage, outcome.diff_pixel_count, outcome.ssim_score,
                     outcome.diff_key, dumps(outcome.diff_metadata),
                     tolerated_id, review_state, outcome.snapshot_id),
                )
            runs.recount(conn, str(run.id))


def _mint_auto_toleration(
    conn: Connection, run: Run, row: Row, outcome: DiffOutcome,
    stamp: str,
) -> str:
    """Remember a below-threshold pair so future runs classify it without diffing."""
    existing = conn.execute(
        "SELECT id FROM tolerated_hashes WHERE repo_id = ? AND identifier = ?"
        " AND baseline_hash = ? AND alternate_hash = ?",
        (run.repo_id, row["identifier"], row["baseline_hash"], row["current_hash"]),
    ).fetchone()
    if existing is not None:
        return str(existing["id"])
    tol_id = new_id()
    conn.execute(
        "INSERT INTO tolerated_hashes (id, repo_id, identifier, baseline_hash, alternate_hash,"
        " reason, source_run_id, diff_percentage, created_at)"
        " VALUES (?, ?, ?, ?, ?, 'auto_threshold', ?, ?, ?)",
        (tol_id, run.repo_id, row["identifier"], row["baseline_hash"], row["current_hash"],
         run.id, outcome.diff_percentage, stamp),
    )
    return tol_id
