"""Rows to API JSON, key for key as the seed (shared/reference/seeds/003) documents.

Kept apart from the routes so the review pages can render the very same dicts, and so the shapes
are in one place when the contract moves. ``url_for`` turns a blob key into a signed download URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from .auth import principal_summary
from .processing import waiting_diffs
from .review.contracts import Artifact, Quarantine, Run, RunSnapshot, TimelineEntry, Toleration
from .store import Store

UrlFor = Callable[[str], str]


def run_json(store: Store, run: Run) -> dict[str, Any]:
    """PostHog ``Run``, plus ``diffs_waiting`` / ``waiting_reason`` (ours): the snapshots of a
    ``processing`` run not diffed yet and, when the disk being full holds them, why."""
    waiting, reason = (
        waiting_diffs(store, str(run.id)) if run.status == "processing" else (0, None)
    )
    return {
        "approved_by": principal_summary(store, run.approved_by_token_id)
        if run.approved
        else None,
        "id": run.id,
        "repo_id": run.repo_id,
        "status": run.status,
        "run_type": run.run_type,
        "commit_sha": run.commit_sha,
        "branch": run.branch,
        "pr_number": run.pr_number,
        "approved": bool(run.approved),
        "approved_at": run.approved_at,
        "summary": {
            "total": run.total_snapshots,
            "changed": run.changed_count,
            "new": run.new_count,
            "removed": run.removed_count,
            "unchanged": run.unchanged_count,
            "unresolved": run.unresolved_count,
            "tolerated_matched": run.tolerated_match_count,
        },
        "error_message": run.error_message,
        "created_at": run.created_at,
        "completed_at": run.completed_at,
        "is_stale": run.superseded_by_id is not None,
        "superseded_by_id": run.superseded_by_id,
        "metadata": run.metadata,
        "purpose": run.purpose,
        "is_partial": bool(run.is_partial),
        "review_decision": run.review_decision,
        "diffs_waiting": waiting,
        "waiting_reason": reason,
    }


def artifacts_by_hash(store: Store, repo_id: str, keys: Sequence[str]) -> dict[str, Artifact]:
    """Artifact rows for the given blob keys in one query per 500 keys."""
    rows = store.query_in(
        "SELECT * FROM artifacts WHERE repo_id = ? AND content_hash IN ({marks})",
        (repo_id,),
        (key for key in keys if key),
    )
    return {str(row["content_hash"]): Artifact.from_row(row) for row in rows}


def artifact_json(art: Artifact | None, url_for: UrlFor) -> dict[str, Any] | None:
    """PostHog ``Artifact``: ``{id, content_hash, width, height, download_url}``."""
    if art is None:
        return None
    return {
        "id": art.id,
        "content_hash": art.content_hash,
        "width": art.width,
        "height": art.height,
        "download_url": url_for(art.content_hash),
    }


def snapshot_json(
    store: Store,
    snap: RunSnapshot,
    artifacts: dict[str, Artifact],
    url_for: UrlFor,
) -> dict[str, Any]:
    """PostHog ``Snapshot`` (``artifacts`` from :func:`artifacts_by_hash` for the page)."""
    return {
        "current_artifact": artifact_json(artifacts.get(snap.current_hash), url_for),
        "baseline_artifact": artifact_json(artifacts.get(snap.baseline_hash), url_for),
        "diff_artifact": artifact_json(artifacts.get(snap.diff_hash or ""), url_for),
        "reviewed_by": principal_summary(store, snap.reviewed_by_token_id),
        "id": snap.id,
        "run_id": snap.run_id,
        "identifier": snap.identifier,
        "result": snap.result,
        "classification_reason": snap.classification_reason,
        "diff_percentage": snap.diff_percentage,
        "diff_pixel_count": snap.diff_pixel_count,
        "review_state": snap.shown_review_state,
        "reviewed_at": snap.reviewed_at,
        "approved_hash": snap.approved_hash,
        "tolerated_hash_id": snap.tolerated_hash_id,
        "is_quarantined": snap.is_quarantined,
        "metadata": snap.metadata,
        "ssim_score": snap.ssim_score,
        "change_kind": snap.change_kind,
        "size_mismatch": bool(snap.diff_metadata.get("size_mismatch", False)),
        "diff_metadata": snap.diff_metadata,
        "current_hash": snap.current_hash,
        "baseline_hash": snap.baseline_hash,
    }


def snapshots_json(
    store: Store, repo_id: str, snaps: Sequence[RunSnapshot], url_for: UrlFor
) -> list[dict[str, Any]]:
    keys = [k for snap in snaps for k in (snap.current_hash, snap.baseline_hash, snap.diff_hash or "")]
    artifacts = artifacts_by_hash(store, repo_id, keys)
    return [snapshot_json(store, snap, artifacts, url_for) for snap in snaps]


def timeline_entry_json(
    entry: TimelineEntry, artifacts: dict[str, Artifact], url_for: UrlFor
) -> dict[str, Any]:
    """PostHog ``SnapshotHistoryEntry``."""
    snap = entry.snapshot
    return {
        "current_artifact": artifact_json(artifacts.get(snap.current_hash), url_for),
        "run_id": snap.run_id,
        "snapshot_id": snap.id,
        "result": snap.result,
        "branch": entry.branch,
        "commit_sha": entry.commit_sha,
        "created_at": entry.run_created_at,
        "pr_number": entry.pr_number,
        "diff_percentage": snap.diff_percentage,
        "review_state": snap.shown_review_state,
        "ssim_score": snap.ssim_score,
        "change_kind": snap.change_kind,
        "size_mismatch": bool(snap.diff_metadata.get("size_mismatch", False)),
        "row_shift": None,
    }


def quarantine_json(store: Store, entry: Quarantine) -> dict[str, Any]:
    """PostHog ``QuarantinedIdentifierEntry``."""
    source_run = None
    if entry.source_run_id:
        row = store.query_one("SELECT * FROM runs WHERE id = ?", (entry.source_run_id,))
        if row is not None:
            run = Run.from_row(row)
            source_run = {
                "id": run.id,
                "branch": run.branch,
                "commit_sha": run.commit_sha,
                "created_at": run.created_at,
                "pr_number": run.pr_number,
            }
    return {
        "id": entry.id,
        "identifier": entry.identifier,
        "run_type": entry.run_type,
        "reason": entry.reason,
        "source": entry.source,
        "expires_at": entry.expires_at,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "created_by": principal_summary(store, entry.created_by_token_id),
        "source_run": source_run,
    }


def toleration_json(entry: Toleration) -> dict[str, Any]:
    """PostHog ``ToleratedHashEntry``."""
    return {
        "id": entry.id,
        "alternate_hash": entry.alternate_hash,
        "baseline_hash": entry.baseline_hash,
        "reason": entry.reason,
        "diff_percentage": entry.diff_percentage,
        "created_at": entry.created_at,
        "source_run_id": entry.source_run_id,
    }


def page_json(
    base: str, params: dict[str, Any], count: int, limit: int, offset: int,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    """DRF LimitOffsetPagination envelope with absolute next/previous links."""

    def link(new_offset: int) -> str:
        query = {k: v for k, v in params.items() if v is not None and k not in ("limit", "offset")}
        query["limit"] = limit
        if new_offset > 0:
            query["offset"] = new_offset
        return f"{base}?{urlencode(query)}"

    next_url = link(offset + limit) if offset + limit < count else None
    previous_url = link(max(offset - limit, 0)) if offset > 0 else None
    return {"count": count, "next": next_url, "previous": previous_url, "results": results}
