"""The review domain's one entry point (PostHog ``facade/``): runs and their snapshots, free of HTTP.

Every state change a client or a reviewer can make is a function of :mod:`.review`, one module per
concern, re-exported here so the PostHog API, the Sentry API and the review pages share one
implementation (and one set of rules):

- :mod:`.review.lifecycle`: :func:`create_run`, :func:`add_snapshots`, :func:`complete_run`,
  :func:`finish_processing`, :func:`fail_run`, :func:`recount`, :func:`expire_pending`,
  :func:`due_to_expire` (CI side)
- :mod:`.review.accepted`: the server-side baselines (accepted state per repo, run type, branch)
- :mod:`.review.tolerance`: the client's ``metadata.tolerance``, read the plugin's way
- :mod:`.review.actions`: :func:`approve`, :func:`reject`, :func:`tolerate`, :func:`finalize`,
  :func:`auto_approve`, :func:`recompute`                                      (review side)
- :mod:`.review.baselines`: verifying ``baseline_hashes``, :func:`build_baseline`
- :mod:`.review.quarantine`: :func:`quarantine`, :func:`unquarantine`, :func:`list_quarantine`
- :mod:`.review.queries`: :func:`get_run`, :func:`list_runs`, :func:`list_snapshots`,
  :func:`counts`, :func:`timeline`, :func:`tolerated_hashes`
- :mod:`.review.enums` and :mod:`.review.contracts`: the ``StrEnum`` vocabularies and records

Rules follow PostHog (reference/posthog-visual-review.md §3, §6, §8) in its v1 shape for
baselines: the client sends ``baseline_hashes`` from its ``snapshots.yml``; they are verified
against the repo's signing keys (invalid or unsigned entries count as no baseline unless the repo
trusts unsigned hashes). A run that sends none (PostHog's current CLI) is compared with the
server's own accepted state (:mod:`.review.accepted`). Functions take a :class:`~.store.Store`
and ids, raise :mod:`.errors` exceptions, and return the frozen records of :mod:`.review.contracts`
(never a database row); :mod:`.serialize` turns records into API JSON.
"""

from __future__ import annotations

from .review.actions import approve, auto_approve, finalize, recompute, reject, tolerate
from .review.baselines import build_baseline, validate_baseline_hashes
from .review.contracts import (
    HASH_RE,
    IDENTIFIER_MAX,
    INTENTIONAL_TOLERATE_REASONS,
    PURPOSES,
    RUN_TYPE_RE,
    STALE_DETAIL,
    ManifestItem,
    MissingImage,
    RecomputeResult,
    RunSnapshot,
    SnapshotPage,
    TimelineEntry,
)
from .review.enums import ClassificationReason, ReviewState, RunStatus, SnapshotResult
from .review.lifecycle import (
    add_snapshots,
    complete_run,
    create_run,
    due_to_expire,
    expire_pending,
    fail_run,
    finish_processing,
    missing_baseline_images,
    missing_uploads,
    recount,
    validate_items,
)
from .review.quarantine import active_quarantined, list_quarantine, quarantine, unquarantine
from .review.queries import (
    REVIEW_STATE_FILTERS,
    counts,
    get_run,
    get_snapshot,
    held_hashes,
    list_runs,
    list_snapshots,
    timeline,
    tolerated_hashes,
)

__all__ = [
    "HASH_RE", "IDENTIFIER_MAX", "INTENTIONAL_TOLERATE_REASONS", "PURPOSES", "REVIEW_STATE_FILTERS",
    "RUN_TYPE_RE", "STALE_DETAIL", "ClassificationReason", "ManifestItem", "MissingImage",
    "RecomputeResult", "ReviewState", "RunSnapshot", "RunStatus", "SnapshotPage", "SnapshotResult",
    "TimelineEntry", "active_quarantined",
    "add_snapshots", "approve", "auto_approve", "build_baseline", "complete_run", "counts",
    "create_run", "due_to_expire", "expire_pending", "fail_run", "finalize", "finish_processing", "get_run",
    "get_snapshot", "held_hashes", "list_quarantine", "list_runs", "list_snapshots",
    "missing_baseline_images", "missing_uploads",
    "quarantine", "recompute", "recount", "reject", "timeline", "tolerate", "tolerated_hashes",
    "unquarantine",
    "validate_baseline_hashes", "validate_items",
]
