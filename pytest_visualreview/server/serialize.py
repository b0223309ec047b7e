"""Rows to API JSON, key for key as the seed (shared/reference/seeds/003) documents.

Kept apart from the routes so the review pages can render the very same dicts, and so the shapes
are in one place when the contract moves. ``url_for`` turns a blob key into a signed download URL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from .auth import principal_summary
from .processing import waiting_diffs
from .review.contracts import Artifact, Quarantine, Run, Toleration
from .store import Store, loads

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
    row: sqlite3.Row,
    artifacts: dict[str, Artifact],
    url_for: UrlFor,
) -> dict[str, Any]:
    """PostHog ``Snapshot`` (``artifacts`` from :func:`artifacts_by_hash` for the page)."""
    diff_metadata = loads(row["diff_metadata"])
    return {
        "current_artifact": artifact_json(artifacts.get(str(row["current_hash"])), url_for),
        "baseline_artifact": artifact_json(artifacts.get(str(row["baseline_hash"])), url_for),
        "diff_artifact": artifact_json(artifacts.get(str(row["diff_hash"] or "")), url_for),
        "reviewed_by": principal_summary(store, row["reviewed_by_token_id"]),
        "id": row["id"],
        "run_id": row["run_id"],
        "identifier": row["identifier"],
        "result": row["result"],
        "classification_reason": row["classification_reason"],
        "diff_percentage": row["diff_percentage"],
        "diff_pixel_count": row["diff_pixel_count"],
        "review_state": "" if row["result"] == "unchanged" else row["review_state"],
        "reviewed_at": row["reviewed_at"],
        "approved_hash": row["approved_hash"],
        "tolerated_hash_id": row["tolerated_hash_id"],
        "is_quarantined": bool(row["is_quarantined"]),
        "metadata": loads(row["metadata"]),
        "ssim_score": row["ssim_score"],
        "change_kind": row["change_kind"],
        "size_mismatch": bool(diff_metadata.get("size_mismatch", False)),
        "diff_metadata": diff_metadata,
        "current_hash": row["current_hash"],
        "baseline_hash": row["baseline_hash"],
    }


def snapshots_json(
    store: Store, repo_id: str, rows: Sequence[sqlite3.Row], url_for: UrlFor
) -> list[dict[str, Any]]:
    keys: list[str] = []
    for row in rows:
        keys += [str(row["current_hash"]), str(row["baseline_hash"]), str(row["diff_hash"] or "")]
    artifacts = artifacts_by_hash(store, repo_id, keys)
    return [snapshot_json(store, row, artifacts, url_for) for row in rows]


def timeline_entry_json(
    row: sqlite3.Row, artifacts: dict[str, Artifact], url_for: UrlFor
) -> dict[str, Any]:
    """PostHog ``SnapshotHistoryEntry``."""
    diff_metadata = loads(row["diff_metadata"])
    return {
        "current_artifact": artifact_json(artifacts.get(str(row["current_hash"])), url_for),
        "run_id": row["run_id"],
        "snapshot_id": row["id"],
        "result": row["result"],
        "branch": row["branch"],
        "commit_sha": row["commit_sha"],
        "created_at": row["run_created_at"],
        "pr_number": row["pr_number"],
        "diff_percentage": row["diff_percentage"],
        "review_state": "" if row["result"] == "unchanged" else row["review_state"],
        "ssim_score": row["ssim_score"],
        "change_kind": row["change_kind"],
        "size_mismatch": bool(diff_metadata.get("size_mismatch", False)),
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
