"""The review side of a run: approve, reject, tolerate, finalize, auto-approve, recompute.

A rule such as "a superseded run cannot be approved" or "finalize is all or nothing" lives here
once; the PostHog API, the Sentry API and the review pages are thin callers.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Conflict, Invalid
from ..store import Connection, Store, new_id, now
from .accepted import record_approvals, undo_approval
from .baselines import build_baseline
from .contracts import (
    INTENTIONAL_TOLERATE_REASONS,
    STALE_DETAIL,
    RecomputeResult,
    Run,
    RunSnapshot,
)
from .enums import AcceptSource, ReviewState, RunStatus, SnapshotResult
from .lifecycle import recount
from .quarantine import restamp_quarantine
from .queries import get_run, get_snapshot


def _reviewable(run: Run, action: str = "approved") -> None:
    if run.superseded_by_id:
        raise Conflict(STALE_DETAIL, code="stale_run")
    if run.purpose == "observe":
        raise Invalid("Observational runs cannot be approved", code="observe_run", attr="purpose")
    if run.status != RunStatus.COMPLETED:
        raise Invalid(
            f"Run is {run.status}; only completed runs can be {action}",
            code="run_not_completed",
            attr="status",
        )

def approve(
    store: Store,
    project_id: int,
    run_id: str,
    *,
    token_id: int | None,
    snapshots: Sequence[tuple[str, str | None]] = (),
    approve_all: bool = False,
) -> Run:
    """Mark snapshots approved (DB only). ``snapshots`` is ``[(identifier, new_hash|None)]``;
    ``approve_all`` approves every pending non-quarantined changed/new snapshot and marks the run
    approved (v1 behaviour the seed documents)."""
    if not approve_all and not snapshots:
        raise Invalid("give snapshots to approve or approve_all=true", attr="snapshots")
    stamp = now()
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        _reviewable(run)
        for index, (identifier, new_hash) in enumerate(snapshots):
            row = conn.execute(
                "SELECT id, result, current_hash FROM run_snapshots"
                " WHERE run_id = ? AND identifier = ?",
                (run_id, identifier),
            ).fetchone()
            if row is None:
                raise Invalid(
                    f"snapshot {identifier!r} is not in run {run_id}",
                    attr=f"snapshots[{index}].identifier",
                )
            if row["result"] == SnapshotResult.UNCHANGED:
                continue
            mismatch = new_hash is not None and new_hash != row["current_hash"]
            if mismatch and row["result"] != SnapshotResult.REMOVED:
                assert new_hash is not None
                raise Invalid(
                    f"Hash mismatch for {identifier}: approved {new_hash[:12]}… but current is "
                    f"{row['current_hash'][:12]}…",
                    attr=f"snapshots[{index}].new_hash",
                )
            conn.execute(
                "UPDATE run_snapshots SET review_state = 'approved', approved_hash = current_hash,"
                " reviewed_at = ?, reviewed_by_token_id = ? WHERE id = ?",
                (stamp, token_id, row["id"]),
            )
        if approve_all:
            _approve_all(conn, run_id, token_id, stamp)
            _mark_run_approved(conn, run_id, token_id, stamp, "human_approved")
        recount(conn, run_id)
        record_approvals(conn, run_id, AcceptSource.APPROVED)
    return get_run(store, project_id, run_id)

def _approve_all(conn: Connection, run_id: str, token_id: int | None, stamp: str) -> None:
    conn.execute(
        "UPDATE run_snapshots SET review_state = 'approved', approved_hash = current_hash,"
        " reviewed_at = ?, reviewed_by_token_id = ? WHERE run_id = ? AND is_quarantined = 0"
        " AND result IN ('changed', 'new') AND review_state IN ('pending', 'rejected')",
        (stamp, token_id, run_id),
    )

def _mark_run_approved(
    conn: Connection, run_id: str, token_id: int | None, stamp: str, decision: str
) -> None:
    conn.execute(
        "UPDATE run_snapshots SET review_state = 'approved', reviewed_at = ?,"
        " reviewed_by_token_id = ? WHERE run_id = ? AND result = 'removed'"
        " AND review_state = 'pending'",
        (stamp, token_id, run_id),
    )
    conn.execute(
        "UPDATE runs SET approved = 1, approved_at = COALESCE(approved_at, ?),"
        " approved_by_token_id = COALESCE(approved_by_token_id, ?), review_decision = ?"
        " WHERE id = ?",
        (stamp, token_id, decision, run_id),
    )

def reject(
    store: Store, project_id: int, run_id: str, snapshot_id: str, *, token_id: int | None,
    comment: str = "",
) -> RunSnapshot:
    """Mark one changed/new/removed snapshot rejected (a passive annotation, as in PostHog)."""
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        _reviewable(run, "reviewed")
        snap = get_snapshot(store, run_id, snapshot_id)
        if snap.result == SnapshotResult.UNCHANGED:
            raise Invalid("Unchanged snapshots cannot be rejected", attr="snapshot_id")
        if snap.review_state == ReviewState.APPROVED:
            undo_approval(conn, run_id, snap)
        conn.execute(
            "UPDATE run_snapshots SET review_state = 'rejected', approved_hash = '',"
            " reviewed_at = ?, reviewed_by_token_id = ?, review_comment = ? WHERE id = ?",
            (now(), token_id, comment, snapshot_id),
        )
        recount(conn, run_id)
    return get_snapshot(store, run_id, snapshot_id)

def tolerate(
    store: Store, project_id: int, run_id: str, snapshot_id: str, *, token_id: int | None,
    reason: str = "human",
) -> RunSnapshot:
    """Accept a changed snapshot as rendering noise: mint (or revive) the toleration
    ``(identifier, baseline_hash, current_hash)`` so future runs classify it unchanged. The result
    stays ``changed`` and the baseline is not updated."""
    if reason not in INTENTIONAL_TOLERATE_REASONS:
        raise Invalid("reason must be human or agent", attr="reason")
    stamp = now()
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run.status != RunStatus.COMPLETED:
            raise Invalid("Only completed runs can be reviewed", code="run_not_completed",
                          attr="status")
        snap = get_snapshot(store, run_id, snapshot_id)
        if snap.result != SnapshotResult.CHANGED:
            raise Invalid("Snapshot cannot be marked as tolerated", attr="snapshot_id")
        existing = conn.execute(
            "SELECT id FROM tolerated_hashes WHERE repo_id = ? AND identifier = ?"
            " AND baseline_hash = ? AND alternate_hash = ?",
            (run.repo_id, snap.identifier, snap.baseline_hash, snap.current_hash),
        ).fetchone()
        if existing:
            tol_id = str(existing["id"])
            conn.execute(
                "UPDATE tolerated_hashes SET reason = ?, expires_at = NULL,"
                " created_by_token_id = ?, source_run_id = ? WHERE id = ?",
                (reason, token_id, run_id, tol_id),
            )
        else:
            tol_id = new_id()
            conn.execute(
                "INSERT INTO tolerated_hashes (id, repo_id, identifier, baseline_hash,"
                " alternate_hash, reason, source_run_id, created_by_token_id, diff_percentage,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tol_id, run.repo_id, snap.identifier, snap.baseline_hash,
                 snap.current_hash, reason, run_id, token_id, snap.diff_percentage, stamp),
            )
        conn.execute(
            "UPDATE run_snapshots SET review_state = 'tolerated', tolerated_hash_id = ?,"
            " approved_hash = '', reviewed_at = ?, reviewed_by_token_id = ? WHERE id = ?",
            (tol_id, stamp, token_id, snapshot_id),
        )
        recount(conn, run_id)
    return get_snapshot(store, run_id, snapshot_id)

def finalize(
    store: Store,
    project_id: int,
    run_id: str,
    *,
    token_id: int | None,
    approve_all: bool = False,
    commit_to_github: bool = True,
    api_url: str = "",
) -> tuple[Run, str]:
    """Ship a reviewed run: all-or-nothing. Returns the run and the signed ``snapshots.yml``.

    This server has no GitHub integration, so ``commit_to_github`` must be false: the caller
    commits ``baseline_content`` itself (what PostHog's CLI does with ``--auto-approve``)."""
    if commit_to_github:
        raise Invalid(
            "this server cannot commit to GitHub; pass commit_to_github=false and commit "
            "baseline_content yourself",
            attr="commit_to_github",
        )
    stamp = now()
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if not run.approved:
            _reviewable(run, "finalized")
            if approve_all:
                _approve_all(conn, run_id, token_id, stamp)
            blocking = conn.execute(
                "SELECT identifier FROM run_snapshots WHERE run_id = ? AND is_quarantined = 0"
                " AND result IN ('changed', 'new')"
                " AND review_state NOT IN ('approved', 'tolerated')"
                " ORDER BY identifier",
                (run_id,),
            ).fetchall()
            if blocking:
                names = ", ".join(str(r["identifier"]) for r in blocking[:10])
                raise Conflict(
                    f"Cannot finalize: {len(blocking)} snapshot(s) still need review — approve "
                    f"or tolerate them first: {names}",
                    code="not_fully_resolved",
                )
            _mark_run_approved(conn, run_id, token_id, stamp, "human_approved")
            recount(conn, run_id)
            record_approvals(conn, run_id, AcceptSource.FINALIZED)
        elif run.superseded_by_id:
            raise Conflict(STALE_DETAIL, code="stale_run")
    return get_run(store, project_id, run_id), build_baseline(store, project_id, run_id, api_url)

def auto_approve(
    store: Store, project_id: int, run_id: str, *, token_id: int | None, api_url: str = ""
) -> tuple[Run, str]:
    """CLI auto-approve: approve every changed and new snapshot, return the signed baseline."""
    stamp = now()
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        _reviewable(run)
        _approve_all(conn, run_id, token_id, stamp)
        _mark_run_approved(conn, run_id, token_id, stamp, "auto_approved")
        recount(conn, run_id)
        record_approvals(conn, run_id, AcceptSource.AUTO_APPROVED)
    return get_run(store, project_id, run_id), build_baseline(store, project_id, run_id, api_url)

def recompute(store: Store, project_id: int, run_id: str) -> RecomputeResult:
    """Re-stamp quarantine and recount (after tolerating or quarantining the rest)."""
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run.status != RunStatus.COMPLETED or run.approved:
            raise Invalid(
                "Run must be completed and not yet approved", code="run_not_recomputable",
                attr="status",
            )
        before = _summary_tuple(run)
        restamp_quarantine(conn, run)
        recount(conn, run_id)
    after = get_run(store, project_id, run_id)
    metadata = after.metadata
    error = (
        "this server has no CI integration; re-run the job yourself"
        if metadata.get("github_check_run_id")
        else "CI job ID not available (set JOB_CHECK_RUN_ID=${{ job.check_run_id }} in workflow)"
    )
    return RecomputeResult(
        run=after,
        counts_changed=before != _summary_tuple(after),
        unresolved=after.unresolved_count,
        ci_rerun_triggered=False,
        ci_rerun_error=error,
    )

def _summary_tuple(run: Run) -> tuple[int, ...]:
    return (run.total_snapshots, run.changed_count, run.new_count, run.removed_count,
            run.unchanged_count, run.unresolved_count, run.tolerated_match_count)
