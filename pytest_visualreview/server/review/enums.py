"""The review domain's vocabularies as ``StrEnum``s (PostHog ``facade/enums.py``).

Members are strings, so they go into SQL parameters and JSON as their values; the database keeps
plain text. The names follow PostHog's ``RunStatus``, ``SnapshotResult`` and ``ReviewState``.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"  # left pending longer than the server's pending expiry (lifecycle.expire_pending)


class SnapshotResult(StrEnum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    NEW = "new"
    REMOVED = "removed"


class ReviewState(StrEnum):
    """A snapshot's review state; unchanged snapshots have none (``NONE``, stored as '')."""

    NONE = ""
    PENDING = "pending"
    APPROVED = "approved"
    TOLERATED = "tolerated"
    REJECTED = "rejected"


class ClassificationReason(StrEnum):
    """Why a snapshot is unchanged ('' for every other result)."""

    NONE = ""
    EXACT = "exact"
    TOLERATED_HASH = "tolerated_hash"
    BELOW_THRESHOLD = "below_threshold"


class AcceptSource(StrEnum):
    """What put an entry into a branch's accepted baseline state (:mod:`.accepted`)."""

    DEFAULT_BRANCH_RUN = "default_branch_run"  # a completed run on one of the repo's default branches
    APPROVED = "approved"  # POST approve/ (per snapshot or approve_all)
    FINALIZED = "finalized"  # POST finalize/
    AUTO_APPROVED = "auto_approved"  # POST auto-approve/
    REJECTED = "rejected"  # POST reject/ of a snapshot this run had approved: the approval is undone
