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

A diff that cannot be stored because the disk is full is not a result: the snapshot stays queued
(``needs_diff = 1``, the reason in ``diff_metadata.waiting``), the run stays ``processing`` and is
tried again every :data:`~.jobs.DISK_FULL_RETRY_SECONDS` (and at every start) until space
returns; the run's JSON and page say how many diffs wait and why (:func:`waiting_diffs`).

Diffs run in the worker processes of :mod:`.jobs`: a worker process reads both images from the
blob store and writes the diff blob itself, so only small results cross the process boundary; the
coordinator thread owns every database write.

In S3 mode an image a client uploaded straight to the bucket is not trusted yet when its run
reaches the worker (:mod:`.s3_uploads`): the job names it in ``receive``, and the worker process
reads the upload, checks its RGBA BLAKE3 on the pixels it then diffs, stores it as a blob with the
chunk's diff images and reports it (:class:`ReceivedImage`), so the coordinator writes the
artifact row after the blob; an image that lies fails the run.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from blake3 import blake3

from ..imaging import ImageError, decode_image
from ..settings import Tolerance
from . import runs
from .blobs import Blobs
from .diffimage import encode_diff_png
from .errors import Unreachable, is_disk_full
from .ingest import KeyMismatch, verify_pixels
from .jobs import DISK_FULL_RETRY_SECONDS, PixelPool
from .review.contracts import Run
from .review.enums import ClassificationReason, SnapshotResult
from .review.tolerance import tolerance_of
from .s3_uploads import S3Uploads, integrity_failure
from .store import Connection, Row, Store, dumps, loads, new_id, now

log = logging.getLogger(__name__)

PIXEL_DIFF_THRESHOLD_PERCENT = 2.5
SSIM_DISSIMILARITY_THRESHOLD = 0.01
PIXELMATCH_THRESHOLD = 0.1
BATCH = 32
DISK_FULL_WAITING = (
    "the server's disk was full when its diff image was stored; retried until there is space"
)
NO_BASELINE_IMAGE = "baseline image not on the server; upload it to get a diff"
GONE = "the uploaded object is gone from the bucket; upload it again"
#: Snapshots per pool task (a batch of ``BATCH * workers`` is split into these).
CHUNK = 8


@dataclass(frozen=True)
class DiffJob:
    """One snapshot for a worker process: diff ``baseline`` against ``current`` (``diff``), or
    only verify its uploaded current image (its classification was settled at ``complete``)."""

    snapshot_id: str
    baseline: str
    current: str
    baseline_held: bool = True
    tolerance: Tolerance | None = None
    diff: bool = True
    repo_id: str = ""
    identifier: str = ""
    #: Of ``baseline`` and ``current``: uploaded to the bucket, to verify before use.
    receive: tuple[str, ...] = ()


@dataclass
class ReceivedImage:
    """An upload the worker verified and stored as a blob: the artifact row to write."""

    content_hash: str
    width: int
    height: int
    size_bytes: int
    data: bytes = b""  # until stored; never sent back to the coordinator
    #: False: taken from the blob store because the upload had gone (verified by another job);
    #: the result stands only if the repo holds the hash.
    checked: bool = True


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
    waiting: str = ""  # set: not a result, the snapshot stays queued for this reason
    #: False: only uploads were verified; the classification made at ``complete`` stands.
    classified: bool = True
    received: list[ReceivedImage] = field(default_factory=list)
    #: ``(identifier, claimed hash, what is wrong)``: an upload that is not what it claims.
    rejected: tuple[str, str, str] | None = None


def classify_pair(
    snapshot_id: str, expected: np.ndarray, actual: np.ndarray, tolerance: Tolerance | None = None
) -> DiffOutcome:
    """Diff one baseline/current pair and classify it: with the client's ``tolerance`` the way
    the plugin judges (``verdict.judge``: pixelmatch at its threshold, anti-aliased pixels not
    counted, a size change always fails, within the pixel budget is unchanged), else by PostHog's
    rules (2.5 % of pixels, then SSIM)."""
    from .. import diff  # imported late: the comparator is its own module, loaded on first use

    threshold = PIXELMATCH_THRESHOLD if tolerance is None else tolerance.threshold
    result = diff.compare(
        expected, actual, threshold=threshold, include_aa=False, diff_image=True, indexed=True
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
    if tolerance is not None:
        allowed = tolerance.allowed_pixels(int(result.total_pixels))
        metadata["tolerance"] = {"threshold": tolerance.threshold, "allowed_diff_pixels": allowed}
        if not result.size_mismatch and int(result.diff_pixel_count) <= allowed:
            outcome.result = SnapshotResult.UNCHANGED
            outcome.classification_reason = ClassificationReason.BELOW_THRESHOLD
            return outcome
        outcome.change_kind = "layout" if result.size_mismatch else "pixel"
    elif percentage >= PIXEL_DIFF_THRESHOLD_PERCENT:
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
    blobs: Blobs, snapshot_id: str, baseline: str, current: str, baseline_held: bool,
    tolerance: Tolerance | None = None,
) -> DiffOutcome:
    """One snapshot through :func:`diff_snapshots`: classified, its diff blob stored."""
    job = DiffJob(snapshot_id, baseline, current, baseline_held, tolerance)
    return diff_snapshots(blobs, [job])[0]


def diff_snapshots(
    blobs: Blobs, jobs: list[DiffJob], uploads: S3Uploads | None = None
) -> list[DiffOutcome]:
    """Pool entry point for a chunk of jobs: load both images (verifying the uploads a job
    names in ``receive``), classify, store the diff blobs and the verified uploads.

    One task per chunk rather than per snapshot: each pool task costs a pickle round trip and
    wake-ups on both sides, which was a tenth of a changed pair's CPU time in the server. The
    chunk's blobs are stored together (``put_all``: one round of fsyncs, not one per blob)
    before this returns, so before the coordinator commits a row that names one (and only then
    deletes the verified uploads). ``blobs`` and ``uploads`` travel to the worker process
    pickled (each is a small handle)."""
    outcomes = [_classify_job(blobs, uploads, job) for job in jobs]
    drawn = [o for o in outcomes if o.diff_key and o.diff_png is not None]
    fresh = [(o, image) for o in outcomes for image in o.received if image.data]
    try:
        blobs.put_all(
            [(str(o.diff_key), bytes(o.diff_png or b"")) for o in drawn]
            + [(image.content_hash, image.data) for _o, image in fresh]
        )
    except OSError as exc:  # none of the chunk's results stands without its blobs
        unstored = {id(o) for o in drawn} | {id(o) for o, _image in fresh}
        outcomes = [
            _unstored(o, exc) if id(o) in unstored and o.rejected is None else o
            for o in outcomes
        ]
    for outcome in outcomes:
        outcome.diff_png = None  # only small results cross the process boundary
        for image in outcome.received:
            image.data = b""
    return outcomes


def _classify_job(blobs: Blobs, uploads: S3Uploads | None, job: DiffJob) -> DiffOutcome:
    """One job's outcome, its diff PNG (if any) keyed but not yet stored; an upload that is not
    what it claims is ``rejected``, and what goes wrong otherwise is :func:`_failed`."""
    received: list[ReceivedImage] = []
    try:
        actual = _load(blobs, uploads, job, job.current, "current", received)
        if isinstance(actual, DiffOutcome):
            return actual
        if not job.diff:
            return DiffOutcome(
                job.snapshot_id, SnapshotResult.CHANGED, classified=False, received=received
            )
        if not job.baseline_held:
            return DiffOutcome(
                job.snapshot_id, SnapshotResult.CHANGED, received=received,
                diff_metadata={"error": NO_BASELINE_IMAGE},
            )
        expected = _load(blobs, uploads, job, job.baseline, "baseline", received)
        if isinstance(expected, DiffOutcome):
            return expected
        outcome = classify_pair(job.snapshot_id, expected, actual, job.tolerance)
        outcome.received = received
        if outcome.diff_png is not None:
            outcome.diff_key = blake3(outcome.diff_png).hexdigest()
            outcome.diff_bytes = len(outcome.diff_png)
        return outcome
    except Exception as exc:
        return _failed(job, exc, received)


def _failed(job: DiffJob, exc: Exception, received: list[ReceivedImage]) -> DiffOutcome:
    """What a job becomes when reading, checking or diffing fails.

    It waits (stays queued, tried again) on a full disk, a store that does not answer, and
    whenever its current image arrived as an upload that was not checked yet: no snapshot gets
    a result with its image unverified. Otherwise it keeps its classification if it only had to
    verify, or is ``changed`` with the reason (PostHog logs and skips per-snapshot failures),
    the uploads it did verify still stored."""
    reason = _wait_reason(exc)
    verified = {image.content_hash for image in received}
    if not isinstance(exc, (ImageError, OSError)):  # a bug somewhere: keep its traceback
        log.exception("diff of snapshot %s failed", job.snapshot_id)
    if reason is None and job.current in job.receive and job.current not in verified:
        reason = f"its uploaded image could not be checked ({exc}); retried"
    if reason is not None:
        return DiffOutcome(job.snapshot_id, SnapshotResult.CHANGED, waiting=reason)
    if not job.diff:
        return DiffOutcome(
            job.snapshot_id, SnapshotResult.CHANGED, classified=False, received=received
        )
    detail = str(exc) if isinstance(exc, (ImageError, OSError)) else f"diff failed: {exc!r}"
    return DiffOutcome(
        job.snapshot_id, SnapshotResult.CHANGED, received=received,
        diff_metadata={"error": detail},
    )


def _unstored(outcome: DiffOutcome, exc: OSError) -> DiffOutcome:
    """An outcome whose blobs could not be stored: it waits if it verified an upload (that
    image must be stored before the run can complete) or the cause is one to wait out, else it
    is ``changed`` with the reason."""
    reason = _wait_reason(exc)
    if reason is None and any(image.data for image in outcome.received):
        reason = f"its verified upload could not be stored ({exc}); retried"
    if reason is not None:
        return DiffOutcome(outcome.snapshot_id, SnapshotResult.CHANGED, waiting=reason)
    return DiffOutcome(
        outcome.snapshot_id, SnapshotResult.CHANGED, diff_metadata={"error": str(exc)}
    )


def _wait_reason(exc: BaseException) -> str | None:
    """Why ``exc`` is a condition to wait out rather than an outcome, or None."""
    if is_disk_full(exc):
        return DISK_FULL_WAITING
    if isinstance(exc, Unreachable):
        return f"{exc}; retried until it answers"
    return None


def _load(
    blobs: Blobs, uploads: S3Uploads | None, job: DiffJob, key: str, role: str,
    received: list[ReceivedImage],
) -> np.ndarray | DiffOutcome:
    """The pixels of image ``key`` (``role``: baseline or current). A key in ``job.receive`` is
    read from the uploads and verified (appended to ``received`` with its bytes, to store). An
    upload no longer there may have been verified and moved by another job of the same repo
    meanwhile: the blob is used then, marked unchecked, and the coordinator keeps the result
    only if the repo holds the hash (:meth:`PostHogRuns._write`). An upload that lies is the
    job's ``rejected`` outcome; a baseline never uploaded means no diff image."""
    name = f"{role} {key[:12]}"
    if uploads is None or key not in job.receive:
        return decode_image(blobs.get(key), name=name)[0]
    data = uploads.read(job.repo_id, key)
    problem = ""
    if data is None:
        try:
            data = blobs.get(key)
        except FileNotFoundError:
            if role == "baseline":  # as in the embedded mode: no diff image, not a failure
                return DiffOutcome(
                    job.snapshot_id, SnapshotResult.CHANGED, received=received,
                    diff_metadata={"error": NO_BASELINE_IMAGE},
                )
            problem = GONE
        else:
            rgba = decode_image(data, name=name)[0]  # a blob: verified when it was stored
            received.append(
                ReceivedImage(key, rgba.shape[1], rgba.shape[0], len(data), checked=False)
            )
            return rgba
    elif len(data) > uploads.max_bytes:
        problem = f"the object is over the {uploads.max_bytes}-byte limit"
    else:
        try:
            rgba = verify_pixels(data, key, name=name)
        except KeyMismatch as exc:
            problem = exc.describe(key)
        except ImageError as exc:
            problem = str(exc)
        else:
            received.append(ReceivedImage(key, rgba.shape[1], rgba.shape[0], len(data), data))
            return rgba
    return DiffOutcome(
        job.snapshot_id, SnapshotResult.CHANGED, received=received,
        rejected=(job.identifier or job.snapshot_id, key, problem),
    )


class PostHogRuns:
    """The PostHog API's job source: drains ``processing`` runs through the shared worker."""

    name = "posthog"

    def __init__(
        self, store: Store, blobs: Blobs, *, slices: int = 1, uploads: S3Uploads | None = None
    ) -> None:
        self.store = store
        self.blobs = blobs
        #: S3 mode: where images uploaded straight to the bucket wait for verification.
        self.uploads = uploads
        self._retry_at: dict[str, float] = {}  # run id -> monotonic time of its next try
        #: On the shared queue a run is ``slices`` jobs (``RUN/k``: the snapshots with
        #: ``seq % slices == k``), so several workers diff one big run together.
        self.slices = slices

    def pending(self) -> list[str]:
        """The shared queue's items, oldest run first: each slice of a ``processing`` run that
        still has snapshots to diff, or slice 0 of one that has none left (to finish it)."""
        runs_ = [str(r["id"]) for r in self.store.query(
            "SELECT id FROM runs WHERE status = 'processing' ORDER BY seq"
        )]
        left: dict[str, set[int]] = {}
        for row in self.store.query_in(
            "SELECT DISTINCT run_id, seq % ? AS part FROM run_snapshots"
            " WHERE needs_diff = 1 AND run_id IN ({marks})", (self.slices,), runs_,
        ):
            left.setdefault(str(row["run_id"]), set()).add(int(row["part"]))
        return [f"{run_id}/{part}" for run_id in runs_ for part in sorted(left.get(run_id, {0}))]

    def process(self, item: str, pool: PixelPool, stopping: threading.Event) -> None:
        run_id, _, part = item.partition("/")
        self.process_run(run_id, pool, stopping, part=int(part or 0))

    def run_once(self, pool: PixelPool, stopping: threading.Event) -> bool:
        """Process the oldest ``processing`` run that is not waiting for disk space to the end;
        False when nothing was queued."""
        clock = time.monotonic()
        rows = self.store.query("SELECT id FROM runs WHERE status = 'processing' ORDER BY seq")
        run_id = next(
            (str(r["id"]) for r in rows if self._retry_at.get(str(r["id"]), 0.0) <= clock), None
        )
        if run_id is None:
            return False
        self._retry_at.pop(run_id, None)
        try:
            waiting = self.process_run(run_id, pool, stopping)
        except Exception as exc:  # SQLite full while writing results: nothing was committed
            if not is_disk_full(exc):
                raise
            log.warning("run %s waits for disk space: %s", run_id, exc)
            waiting = True
        if waiting:
            self._retry_at[run_id] = time.monotonic() + DISK_FULL_RETRY_SECONDS
        return True

    def process_run(
        self, run_id: str, pool: PixelPool, stopping: threading.Event, *, part: int = 0
    ) -> bool:
        """Diff every queued snapshot of the run (of slice ``part``), then finish the run if no
        snapshot of any slice is left.

        Pipelined: while the pool diffs batch N+1, this thread commits batch N, so the pool
        never waits on the database. Rows are walked by ``seq`` so a batch in flight is not
        fetched twice. Returns whether diffs are left waiting (the run is then not finished).
        """
        row = self.store.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        run = None if row is None else Run.from_row(row)
        if run is None or run.status != runs.RunStatus.PROCESSING:
            return False
        repo_id = str(run.repo_id)
        waiting = 0
        cursor = -1
        in_flight: tuple[list[Row], list[Future[list[DiffOutcome]]]] | None = None
        while not stopping.is_set():
            batch = self.store.query(
                "SELECT id, seq, identifier, result, baseline_hash, current_hash, metadata"
                " FROM run_snapshots WHERE run_id = ? AND needs_diff = 1 AND seq > ?"
                " AND seq % ? = ? ORDER BY seq LIMIT ?",
                (run_id, cursor, self.slices, part, BATCH * max(1, pool.workers)),
            )
            submitted: tuple[list[Row], list[Future[list[DiffOutcome]]]] | None = None
            if batch:
                cursor = int(batch[-1]["seq"])
                images = [str(r["baseline_hash"]) for r in batch]
                if self.uploads is not None:  # a current image may still wait in the bucket
                    images += [str(r["current_hash"]) for r in batch]
                have = runs.held_hashes(self.store, repo_id, images)
                submitted = (batch, self._submit(pool, run, batch, have))
            if in_flight is not None:
                rows, futures = in_flight
                written = self._write(run, rows, [o for f in futures for o in f.result()])
                if written is None:  # an upload lied: the run failed, nothing more to diff
                    for future in submitted[1] if submitted else []:
                        future.result()
                    return False
                waiting += written
            in_flight = submitted
            if in_flight is None:
                break
        if stopping.is_set() or waiting:
            return bool(waiting)
        with self.store.transaction() as conn:  # the write lock: one slice finishes the run
            status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            left = conn.execute(
                "SELECT 1 FROM run_snapshots WHERE run_id = ? AND needs_diff = 1 LIMIT 1",
                (run_id,),
            ).fetchone()
            if status is not None and status["status"] == runs.RunStatus.PROCESSING and not left:
                runs.finish_processing(conn, run_id)
        return False

    def _submit(
        self, pool: PixelPool, run: Run, batch: list[Row], have: set[str]
    ) -> list[Future[list[DiffOutcome]]]:
        """The batch as ``CHUNK``-sized pool tasks (enough of them to keep every worker busy)."""
        jobs = [self._job(run, row, have) for row in batch]
        return [
            pool.submit(diff_snapshots, self.blobs, jobs[start : start + CHUNK], self.uploads)
            for start in range(0, len(jobs), CHUNK)
        ]

    def _job(self, run: Run, row: Row, have: set[str]) -> DiffJob:
        """A queued snapshot's job: a diff if ``complete`` left it ``changed``, else only the
        verification of its uploaded image; in S3 mode the images the repo does not hold yet
        are read from the uploads (a baseline that was never uploaded means no diff image)."""
        baseline, current = str(row["baseline_hash"]), str(row["current_hash"])
        receive: tuple[str, ...] = ()
        if self.uploads is not None:
            receive = tuple(h for h in dict.fromkeys((current, baseline)) if h and h not in have)
        return DiffJob(
            snapshot_id=str(row["id"]), baseline=baseline, current=current,
            baseline_held=baseline in have or baseline in receive, tolerance=tolerance_of(row),
            diff=row["result"] == SnapshotResult.CHANGED, repo_id=str(run.repo_id),
            identifier=str(row["identifier"]), receive=receive,
        )

    def _write(
        self, run: Run, batch: list[Row], outcomes: list[DiffOutcome]
    ) -> int | None:
        """Commit a batch's results (their blobs are already stored), then delete the uploads
        they verified, now that rows name them (a run that lists the repo's uploads between
        the two finds the hash held; one killed between them leaves an object the lifecycle
        rule removes). Returns how many wait, or ``None`` when an upload was not what it
        claimed and the run is failed instead."""
        outcomes = self._in_repo(run, batch, outcomes)
        written = self._commit(run, batch, outcomes)
        if self.uploads is not None:
            self.uploads.discard(
                (str(run.repo_id), image.content_hash)
                for o in outcomes if not o.waiting for image in o.received if image.checked
            )
        return written

    def _in_repo(
        self, run: Run, batch: list[Row], outcomes: list[DiffOutcome]
    ) -> list[DiffOutcome]:
        """Outcomes that used a blob because their upload had gone stand only if the repo
        holds that hash (another job of the repo verified the upload and committed its row
        before deleting it); otherwise the upload really is gone, and another tenant's blob
        with the same hash must not become this repo's image."""
        borrowed = {i.content_hash for o in outcomes for i in o.received if not i.checked}
        if not borrowed:
            return outcomes
        held = runs.held_hashes(self.store, str(run.repo_id), borrowed)
        identifiers = {str(r["id"]): str(r["identifier"]) for r in batch}
        kept: list[DiffOutcome] = []
        for o in outcomes:
            missing = [i.content_hash for i in o.received if not i.checked and i.content_hash not in held]
            if missing and o.rejected is None:
                o = DiffOutcome(
                    o.snapshot_id, SnapshotResult.CHANGED,
                    rejected=(identifiers[o.snapshot_id], missing[0], GONE),
                )
            kept.append(o)
        return kept

    def _commit(
        self, run: Run, batch: list[Row], outcomes: list[DiffOutcome]
    ) -> int | None:
        """:meth:`_write`'s transaction: an outcome that is ``waiting`` stays queued with its
        reason."""
        repo_id = str(run.repo_id)
        stamp = now()
        by_id = {str(r["id"]): r for r in batch}
        received = [image for o in outcomes if not o.waiting for image in o.received]
        rejected = [o.rejected for o in outcomes if o.rejected is not None]
        waiting = [o for o in outcomes if o.waiting]
        settled = [o for o in outcomes if not o.waiting and not o.classified]
        outcomes = [o for o in outcomes if not o.waiting and o.classified]
        with self.store.transaction() as conn:
            conn.executemany(  # the verified uploads' rows, after their blobs, before any use
                "INSERT INTO artifacts (id, repo_id, content_hash, kind, width,"
                " height, size_bytes, created_at) VALUES (?, ?, ?, 'image', ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(new_id(), repo_id, i.content_hash, i.width, i.height, i.size_bytes, stamp)
                 for i in received],
            )
            if rejected:
                runs.fail_run(conn, str(run.id), integrity_failure(rejected))
                return None
            conn.executemany(
                "UPDATE run_snapshots SET needs_diff = 0 WHERE id = ? AND needs_diff = 1",
                [(o.snapshot_id,) for o in settled],
            )
            conn.executemany(
                "UPDATE run_snapshots SET diff_metadata = ? WHERE id = ? AND needs_diff = 1",
                [(dumps({"waiting": o.waiting}), o.snapshot_id) for o in waiting],
            )
            conn.executemany(
                "INSERT INTO artifacts (id, repo_id, content_hash, kind, width,"
                " height, size_bytes, created_at) VALUES (?, ?, ?, 'diff', ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(new_id(), repo_id, o.diff_key, *(o.diff_size or (None, None)),
                  o.diff_bytes, stamp) for o in outcomes if o.diff_key],
            )
            for outcome in outcomes:
                row = by_id[outcome.snapshot_id]
                unchanged = outcome.result == SnapshotResult.UNCHANGED
                review_state = runs.ReviewState.NONE if unchanged else runs.ReviewState.PENDING
                tolerated_id = None
                if unchanged and "tolerance" not in outcome.diff_metadata:
                    # PostHog's rule is fixed, so its verdict on a pair can be cached; a client's
                    # tolerance can change between runs, so that pair is judged every time.
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
        return len(waiting)


def waiting_diffs(store: Store, run_id: str) -> tuple[int, str | None]:
    """How many of a run's snapshots still wait for their diff, and why if something other
    than their turn holds them (the reason of one of them; they share the disk)."""
    row = store.query_one(
        "SELECT COUNT(*) AS n FROM run_snapshots WHERE run_id = ? AND needs_diff = 1", (run_id,)
    )
    count = int(row["n"]) if row is not None else 0
    if not count:
        return 0, None
    held = store.query_one(
        "SELECT diff_metadata FROM run_snapshots WHERE run_id = ? AND needs_diff = 1"
        " AND diff_metadata != '{}' LIMIT 1",
        (run_id,),
    )
    reason = (loads(held["diff_metadata"]) or {}).get("waiting") if held is not None else None
    return count, reason


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
