"""Constants and the frozen records the review domain takes and returns (PostHog ``facade/contracts.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..store import Row, loads
from .enums import ClassificationReason, ReviewState, RunStatus, SnapshotResult

#: A content hash: BLAKE3 of the RGBA pixels, lower-case hex.
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
IDENTIFIER_MAX = 512
RUN_TYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PURPOSES = ("review", "observe")

INTENTIONAL_TOLERATE_REASONS = ("human", "agent")
STALE_DETAIL = "This run has been superseded by a newer run. Approve the latest run instead."

@dataclass(frozen=True)
class Run:
    """A run row (``runs``), its metadata parsed."""

    seq: int
    id: str
    project_id: int
    repo_id: str
    status: RunStatus
    run_type: str
    commit_sha: str
    branch: str
    pr_number: int | None
    purpose: str
    review_decision: str
    approved: bool
    approved_at: str | None
    approved_by_token_id: int | None
    total_snapshots: int
    changed_count: int
    new_count: int
    removed_count: int
    unchanged_count: int
    unresolved_count: int
    tolerated_match_count: int
    error_message: str | None
    superseded_by_id: str | None
    metadata: dict[str, Any]
    is_partial: bool
    created_at: str
    completed_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> Run:
        return cls(
            seq=int(row["seq"]),
            id=str(row["id"]),
            project_id=int(row["project_id"]),
            repo_id=str(row["repo_id"]),
            status=RunStatus(row["status"]),
            run_type=str(row["run_type"]),
            commit_sha=str(row["commit_sha"]),
            branch=str(row["branch"]),
            pr_number=row["pr_number"],
            purpose=str(row["purpose"]),
            review_decision=str(row["review_decision"]),
            approved=bool(row["approved"]),
            approved_at=row["approved_at"],
            approved_by_token_id=row["approved_by_token_id"],
            total_snapshots=int(row["total_snapshots"]),
            changed_count=int(row["changed_count"]),
            new_count=int(row["new_count"]),
            removed_count=int(row["removed_count"]),
            unchanged_count=int(row["unchanged_count"]),
            unresolved_count=int(row["unresolved_count"]),
            tolerated_match_count=int(row["tolerated_match_count"]),
            error_message=row["error_message"],
            superseded_by_id=row["superseded_by_id"],
            metadata=loads(row["metadata"]),
            is_partial=bool(row["is_partial"]),
            created_at=str(row["created_at"]),
            completed_at=row["completed_at"],
        )


@dataclass(frozen=True)
class Repo:
    """A repo row, its JSON columns parsed (``repos``)."""

    id: str
    project_id: int
    repo_full_name: str
    repo_external_id: int | None
    baseline_file_paths: dict[str, str]
    signing_keys: dict[str, str]
    trust_unsigned_baselines: bool
    default_branches: list[str]
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> Repo:
        return cls(
            id=str(row["id"]),
            project_id=int(row["project_id"]),
            repo_full_name=str(row["repo_full_name"]),
            repo_external_id=row["repo_external_id"],
            baseline_file_paths=loads(row["baseline_file_paths"]),
            signing_keys={str(k): str(v) for k, v in loads(row["signing_keys"]).items()},
            trust_unsigned_baselines=bool(row["trust_unsigned_baselines"]),
            default_branches=[str(b) for b in loads(row["default_branches"]) or ["main", "master"]],
            created_at=str(row["created_at"]),
            updated_at=str(row["updated_at"]),
        )


@dataclass(frozen=True)
class Artifact:
    """A stored image of a repo (``artifacts``): a snapshot upload or a diff image."""

    id: str
    repo_id: str
    content_hash: str
    kind: str
    width: int | None
    height: int | None
    size_bytes: int
    created_at: str

    @classmethod
    def from_row(cls, row: Row) -> Artifact:
        return cls(
            id=str(row["id"]),
            repo_id=str(row["repo_id"]),
            content_hash=str(row["content_hash"]),
            kind=str(row["kind"]),
            width=row["width"],
            height=row["height"],
            size_bytes=int(row["size_bytes"]),
            created_at=str(row["created_at"]),
        )


@dataclass(frozen=True)
class Quarantine:
    """One quarantine event of an identifier (``quarantined_identifiers``); active while
    ``expires_at`` is None or in the future."""

    id: str
    repo_id: str
    identifier: str
    run_type: str
    reason: str
    source: str
    expires_at: str | None
    created_by_token_id: int | None
    source_run_id: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> Quarantine:
        return cls(
            id=str(row["id"]),
            repo_id=str(row["repo_id"]),
            identifier=str(row["identifier"]),
            run_type=str(row["run_type"]),
            reason=str(row["reason"]),
            source=str(row["source"]),
            expires_at=row["expires_at"],
            created_by_token_id=row["created_by_token_id"],
            source_run_id=row["source_run_id"],
            created_at=str(row["created_at"]),
            updated_at=str(row["updated_at"]),
        )


@dataclass(frozen=True)
class Toleration:
    """A tolerated (baseline, alternate) pair of an identifier (``tolerated_hashes``)."""

    id: str
    repo_id: str
    identifier: str
    baseline_hash: str
    alternate_hash: str
    reason: str
    source_run_id: str | None
    created_by_token_id: int | None
    diff_percentage: float | None
    created_at: str
    expires_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> Toleration:
        return cls(
            id=str(row["id"]),
            repo_id=str(row["repo_id"]),
            identifier=str(row["identifier"]),
            baseline_hash=str(row["baseline_hash"]),
            alternate_hash=str(row["alternate_hash"]),
            reason=str(row["reason"]),
            source_run_id=row["source_run_id"],
            created_by_token_id=row["created_by_token_id"],
            diff_percentage=row["diff_percentage"],
            created_at=str(row["created_at"]),
            expires_at=row["expires_at"],
        )


@dataclass(frozen=True)
class RunSnapshot:
    """A snapshot of a run (``run_snapshots``), its JSON columns parsed.

    ``review_state`` is the stored value: an unchanged snapshot may still hold ``pending`` from
    before it was classified, so what a client sees is :attr:`shown_review_state`."""

    id: str
    run_id: str
    seq: int
    identifier: str
    current_hash: str
    baseline_hash: str
    current_width: int | None
    current_height: int | None
    result: SnapshotResult
    classification_reason: ClassificationReason
    needs_diff: bool
    tolerated_hash_id: str | None
    is_quarantined: bool
    diff_percentage: float | None
    diff_pixel_count: int | None
    ssim_score: float | None
    change_kind: str
    diff_hash: str | None
    diff_metadata: dict[str, Any]
    review_state: ReviewState
    reviewed_at: str | None
    reviewed_by_token_id: int | None
    review_comment: str
    approved_hash: str
    metadata: dict[str, Any]
    created_at: str

    @classmethod
    def from_row(cls, row: Row) -> RunSnapshot:
        return cls(
            id=str(row["id"]),
            run_id=str(row["run_id"]),
            seq=int(row["seq"]),
            identifier=str(row["identifier"]),
            current_hash=str(row["current_hash"]),
            baseline_hash=str(row["baseline_hash"]),
            current_width=row["current_width"],
            current_height=row["current_height"],
            result=SnapshotResult(row["result"]),
            classification_reason=ClassificationReason(row["classification_reason"] or ""),
            needs_diff=bool(row["needs_diff"]),
            tolerated_hash_id=row["tolerated_hash_id"],
            is_quarantined=bool(row["is_quarantined"]),
            diff_percentage=row["diff_percentage"],
            diff_pixel_count=row["diff_pixel_count"],
            ssim_score=row["ssim_score"],
            change_kind=str(row["change_kind"] or ""),
            diff_hash=row["diff_hash"],
            diff_metadata=loads(row["diff_metadata"]) or {},
            review_state=ReviewState(row["review_state"] or ""),
            reviewed_at=row["reviewed_at"],
            reviewed_by_token_id=row["reviewed_by_token_id"],
            review_comment=str(row["review_comment"] or ""),
            approved_hash=str(row["approved_hash"] or ""),
            metadata=loads(row["metadata"]) or {},
            created_at=str(row["created_at"]),
        )

    @property
    def shown_review_state(self) -> ReviewState:
        """The review state clients see: none for an unchanged snapshot (PostHog's rule)."""
        return ReviewState.NONE if self.result == SnapshotResult.UNCHANGED else self.review_state

    @property
    def image_keys(self) -> tuple[str, ...]:
        """The blob keys this snapshot shows (baseline, current, diff), those it has."""
        return tuple(k for k in (self.baseline_hash, self.current_hash, self.diff_hash or "") if k)


@dataclass(frozen=True)
class TimelineEntry:
    """One baseline transition of an identifier: the snapshot and the run it came from
    (``run_snapshots`` joined with ``runs``)."""

    snapshot: RunSnapshot
    branch: str
    commit_sha: str
    pr_number: int | None
    run_created_at: str

    @classmethod
    def from_row(cls, row: Row) -> TimelineEntry:
        return cls(
            snapshot=RunSnapshot.from_row(row),
            branch=str(row["branch"]),
            commit_sha=str(row["commit_sha"]),
            pr_number=row["pr_number"],
            run_created_at=str(row["run_created_at"]),
        )


@dataclass(frozen=True)
class MissingImage:
    """An image a run needs that the repo does not hold yet (an upload to ask for)."""

    identifier: str
    content_hash: str


@dataclass(frozen=True)
class ManifestItem:
    """One snapshot in a CI manifest."""

    identifier: str
    content_hash: str
    width: int | None = None
    height: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

@dataclass(frozen=True)
class SnapshotPage:
    count: int
    rows: list[RunSnapshot]
    quarantined_count: int

@dataclass(frozen=True)
class RecomputeResult:
    run: Run
    counts_changed: bool
    unresolved: int
    ci_rerun_triggered: bool
    ci_rerun_error: str | None
