"""The diff worker: turns ``processing`` runs into ``completed`` ones, and survives restarts.

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

Diffs run on a thread pool (numpy and zlib release the GIL for most of the work); one coordinator
thread owns the database writes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from blake3 import blake3

from ..imaging import ImageError, decode_png, encode_png
from . import runs
from .blobs import BlobStore
from .store import Store, dumps, new_id, now
from .uploads import store_artifact

log = logging.getLogger(__name__)

PIXEL_DIFF_THRESHOLD_PERCENT = 2.5
SSIM_DISSIMILARITY_THRESHOLD = 0.01
PIXELMATCH_THRESHOLD = 0.1
BATCH = 32


@dataclass
class DiffOutcome:
    """What diffing one snapshot decided (written back by the coordinator)."""

    snapshot_id: str
    result: str
    classification_reason: str = ""
    change_kind: str = ""
    diff_percentage: float | None = None
    diff_pixel_count: int | None = None
    ssim_score: float | None = None
    diff_png: bytes | None = None
    diff_size: tuple[int, int] | None = None
    diff_metadata: dict[str, Any] = field(default_factory=dict)


def _pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad with transparent pixels to ``height``×``width`` (PostHog: smaller image is padded)."""
    if image.shape[0] == height and image.shape[1] == width:
        return image
    padded = np.zeros((height, width, 4), dtype=np.uint8)
    padded[: image.shape[0], : image.shape[1]] = image
    return padded


def classify_pair(snapshot_id: str, expected: np.ndarray, actual: np.ndarray) -> DiffOutcome:
    """Diff one baseline/current pair and classify it by PostHog's rules."""
    from .. import diff  # imported late: the comparator is its own module, loaded on first use

    result = diff.compare(
        expected, actual, threshold=PIXELMATCH_THRESHOLD, include_aa=False, diff_image=True
    )
    total = max(int(result.total_pixels), 1)
    percentage = round(int(result.diff_pixel_count) / total * 100, 4)
    metadata: dict[str, Any] = {"size_mismatch": bool(result.size_mismatch)}
    outcome = DiffOutcome(
        snapshot_id=snapshot_id,
        result=runs.CHANGED,
        diff_percentage=percentage,
        diff_pixel_count=int(result.diff_pixel_count),
        diff_metadata=metadata,
    )
    if percentage >= PIXEL_DIFF_THRESHOLD_PERCENT:
        outcome.change_kind = "pixel"
    else:
        height = max(expected.shape[0], actual.shape[0])
        width = max(expected.shape[1], actual.shape[1])
        score = float(diff.ssim(_pad(expected, height, width), _pad(actual, height, width)))
        outcome.ssim_score = round(score, 6)
        if 1.0 - score >= SSIM_DISSIMILARITY_THRESHOLD:
            outcome.change_kind = "structural"
        else:
            outcome.result = runs.UNCHANGED
            outcome.classification_reason = runs.BELOW_THRESHOLD
            return outcome
    if result.diff_image is not None:
        image = np.asarray(result.diff_image)
        outcome.diff_png = encode_png(image)
        outcome.diff_size = (int(image.shape[1]), int(image.shape[0]))
    return outcome


def diff_snapshot(blobs: BlobStore, row: sqlite3.Row, have: set[str]) -> DiffOutcome:
    """Load both images from the blob folder and classify; problems leave it ``changed``
    with the reason in ``diff_metadata.error`` (PostHog logs and skips per-snapshot failures)."""
    snapshot_id = str(row["id"])
    baseline, current = str(row["baseline_hash"]), str(row["current_hash"])
    if baseline not in have:
        return DiffOutcome(
            snapshot_id, runs.CHANGED,
            diff_metadata={"error": "baseline image not on the server; upload it to get a diff"},
        )
    try:
        expected = decode_png(blobs.get(baseline), name=f"baseline {baseline[:12]}")
        actual = decode_png(blobs.get(current), name=f"current {current[:12]}")
        return classify_pair(snapshot_id, expected, actual)
    except (ImageError, OSError) as exc:
        return DiffOutcome(snapshot_id, runs.CHANGED, diff_metadata={"error": str(exc)})


class DiffWorker:
    """Background thread that drains ``processing`` runs; ``notify()`` wakes it early."""

    def __init__(self, store: Store, blobs: BlobStore, *, threads: int | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.threads = threads or os.cpu_count() or 1
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="vr-diff")
        self._thread = threading.Thread(target=self._loop, name="vr-diff-worker", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # keep the worker alive; the run stays queued for the next pass
                log.exception("diff worker pass failed")
                worked = False
            if not worked:
                self._wake.wait(1.0)
                self._wake.clear()
        self.store.close()

    def run_once(self) -> bool:
        """Process the oldest ``processing`` run to the end; False when nothing was queued."""
        row = self.store.query_one(
            "SELECT id FROM runs WHERE status = 'processing' ORDER BY seq LIMIT 1"
        )
        if row is None:
            return False
        self.process_run(str(row["id"]))
        return True

    def process_run(self, run_id: str) -> None:
        run = self.store.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if run is None or run["status"] != runs.PROCESSING:
            return
        repo_id = str(run["repo_id"])
        while not self._stop.is_set():
            batch = self.store.query(
                "SELECT id, identifier, baseline_hash, current_hash FROM run_snapshots"
                " WHERE run_id = ? AND needs_diff = 1 ORDER BY seq LIMIT ?",
                (run_id, BATCH * self.threads),
            )
            if not batch:
                break
            have = runs.held_hashes(self.store, repo_id, [str(r["baseline_hash"]) for r in batch])
            if self._pool is not None:
                blobs = [self.blobs] * len(batch)
                outcomes = list(self._pool.map(diff_snapshot, blobs, batch, [have] * len(batch)))
            else:
                outcomes = [diff_snapshot(self.blobs, r, have) for r in batch]
            self._write(run, batch, outcomes)
        if self._stop.is_set():
            return
        with self.store.transaction() as conn:
            status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if status is not None and status["status"] == runs.PROCESSING:
                runs.finish_processing(conn, run_id)

    def _write(
        self, run: sqlite3.Row, batch: list[sqlite3.Row], outcomes: list[DiffOutcome]
    ) -> None:
        """Store diff images (blob first), then commit the batch's results in one transaction."""
        repo_id = str(run["repo_id"])
        diff_keys: dict[str, str] = {}
        for outcome in outcomes:
            if outcome.diff_png is not None:
                key = blake3(outcome.diff_png).hexdigest()
                width, height = outcome.diff_size or (None, None)
                store_artifact(self.store, self.blobs, repo_id, key, outcome.diff_png, width,
                               height, kind="diff")
                diff_keys[outcome.snapshot_id] = key
        by_id = {str(r["id"]): r for r in batch}
        stamp = now()
        with self.store.transaction() as conn:
            for outcome in outcomes:
                row = by_id[outcome.snapshot_id]
                review_state = "" if outcome.result == runs.UNCHANGED else runs.REVIEW_PENDING
                tolerated_id = None
                if outcome.result == runs.UNCHANGED:
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
                     diff_keys.get(outcome.snapshot_id), dumps(outcome.diff_metadata),
                     tolerated_id, review_state, outcome.snapshot_id),
                )
            runs.recount(conn, str(run["id"]))


def _mint_auto_toleration(
    conn: sqlite3.Connection, run: sqlite3.Row, row: sqlite3.Row, outcome: DiffOutcome,
    stamp: str,
) -> str:
    """Remember a below-threshold pair so future runs classify it without diffing."""
    existing = conn.execute(
        "SELECT id FROM tolerated_hashes WHERE repo_id = ? AND identifier = ?"
        " AND baseline_hash = ? AND alternate_hash = ?",
        (run["repo_id"], row["identifier"], row["baseline_hash"], row["current_hash"]),
    ).fetchone()
    if existing is not None:
        return str(existing["id"])
    tol_id = new_id()
    conn.execute(
        "INSERT INTO tolerated_hashes (id, repo_id, identifier, baseline_hash, alternate_hash,"
        " reason, source_run_id, diff_percentage, created_at)"
        " VALUES (?, ?, ?, ?, ?, 'auto_threshold', ?, ?, ?)",
        (tol_id, run["repo_id"], row["identifier"], row["baseline_hash"], row["current_hash"],
         run["id"], outcome.diff_percentage, stamp),
    )
    return tol_id
