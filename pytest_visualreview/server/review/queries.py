"""Read-only queries of the review domain: runs, snapshots, counts, timeline, tolerations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import Invalid, NotFound
from ..repos import get_repo
from ..store import Store, now
from .contracts import Run, RunSnapshot, SnapshotPage, TimelineEntry, Toleration


def get_run(store: Store, project_id: int, run_id: str) -> Run:
    """The run, or 404 when it does not exist in this project."""
    row = store.query_one(
        "SELECT * FROM runs WHERE id = ? AND project_id = ?", (str(run_id), project_id)
    )
    if row is None:
        raise NotFound(f"run {run_id} not found", attr="id")
    return Run.from_row(row)

def get_snapshot(store: Store, run_id: str, snapshot_id: str) -> RunSnapshot:
    """The run's snapshot, or 404 when the run has no snapshot of that id."""
    row = store.query_one(
        "SELECT * FROM run_snapshots WHERE id = ? AND run_id = ?", (str(snapshot_id), run_id)
    )
    if row is None:
        raise NotFound(f"snapshot {snapshot_id} not found in run {run_id}", attr="snapshot_id")
    return RunSnapshot.from_row(row)

def held_hashes(store: Store, repo_id: str, hashes: Iterable[str]) -> set[str]:
    """Which of ``hashes`` the repo already has an artifact for (upload dedupe)."""
    sql = "SELECT content_hash FROM artifacts WHERE repo_id = ? AND content_hash IN ({marks})"
    return store.present(sql, (repo_id,), hashes)

_HAS_CHANGES = "(changed_count > 0 OR new_count > 0 OR removed_count > 0)"

_CURRENT = "superseded_by_id IS NULL"
#: PostHog's review-state buckets (logic/run_queries.py), as SQL over the runs table.

REVIEW_STATE_FILTERS: dict[str, str] = {
    "needs_review": f"(status = 'completed' AND {_HAS_CHANGES} AND approved = 0 AND {_CURRENT}"
    " AND pr_number IS NOT NULL AND purpose = 'review')",
    "clean": f"((status = 'completed' AND NOT {_HAS_CHANGES}) OR approved = 1)",
    "processing": f"(status = 'processing' AND {_CURRENT})",
    "stale": f"(superseded_by_id IS NOT NULL AND approved = 0 AND {_HAS_CHANGES})",
}

def counts(store: Store, project_id: int, repo_id: str | None = None) -> dict[str, int]:
    """``{needs_review, clean, processing, stale}`` over all runs of the project (or repo)."""
    where = "project_id = ?"
    params: list[Any] = [project_id]
    if repo_id is not None:
        get_repo(store, project_id, repo_id)
        where += " AND repo_id = ?"
        params.append(repo_id)
    selects = ", ".join(
        f"COUNT(*) FILTER (WHERE {sql}) AS {name}" for name, sql in REVIEW_STATE_FILTERS.items()
    )
    row = store.query_one(f"SELECT {selects} FROM runs WHERE {where}", tuple(params))
    assert row is not None
    return {name: int(row[name] or 0) for name in REVIEW_STATE_FILTERS}

def list_runs(
    store: Store,
    project_id: int,
    *,
    repo_id: str | None = None,
    review_state: str | None = None,
    branch: str | None = None,
    pr_number: int | None = None,
    commit_sha: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Run]]:
    """Runs, newest first, with PostHog's filters."""
    where: list[str] = ["project_id = ?"]
    params: list[Any] = [project_id]
    if repo_id is not None:
        get_repo(store, project_id, repo_id)
        where.append("repo_id = ?")
        params.append(repo_id)
    if review_state is not None:
        if review_state not in REVIEW_STATE_FILTERS:
            raise Invalid(
                f"review_state must be one of {', '.join(REVIEW_STATE_FILTERS)}",
                attr="review_state",
            )
        where.append(REVIEW_STATE_FILTERS[review_state])
    for column, value in (("branch", branch), ("pr_number", pr_number),
                          ("commit_sha", commit_sha)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = " AND ".join(where)
    total = store.query_one(f"SELECT COUNT(*) FROM runs WHERE {clause}", tuple(params))
    rows = store.query(
        f"SELECT * FROM runs WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return int(total[0]) if total else 0, [Run.from_row(row) for row in rows]

def list_snapshots(
    store: Store,
    project_id: int,
    run_id: str,
    *,
    limit: int = 100,
    offset: int = 0,
    include_quarantined: bool = False,
    exclude_unchanged: bool = False,
    snapshot_id: str | None = None,
) -> SnapshotPage:
    """A page of a run's snapshots: non-unchanged first, then by identifier."""
    get_run(store, project_id, run_id)
    where: list[str] = ["run_id = ?"]
    params: list[Any] = [run_id]
    if not include_quarantined:
        where.append("is_quarantined = 0")
    if exclude_unchanged:
        where.append("result != 'unchanged'")
    if snapshot_id is not None:
        where.append("id = ?")
        params.append(snapshot_id)
    clause = " AND ".join(where)
    total = store.query_one(f"SELECT COUNT(*) FROM run_snapshots WHERE {clause}", tuple(params))
    quarantined = store.query_one(
        "SELECT COUNT(*) FROM run_snapshots WHERE run_id = ? AND is_quarantined = 1", (run_id,)
    )
    rows = store.query(
        f"SELECT * FROM run_snapshots WHERE {clause}"
        " ORDER BY (result = 'unchanged'), identifier LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return SnapshotPage(
        count=int(total[0]) if total else 0,
        rows=[RunSnapshot.from_row(row) for row in rows],
        quarantined_count=int(quarantined[0]) if quarantined and not include_quarantined else 0,
    )

def timeline(
    store: Store,
    project_id: int,
    repo_id: str,
    run_type: str,
    identifier: str,
    *,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[TimelineEntry]]:
    """Deduped baseline timeline for one snapshot identity, newest first: one entry per
    baseline transition on the repo's default branches (PostHog ``get_snapshot_history``)."""
    repo = get_repo(store, project_id, repo_id)
    branches = repo.default_branches
    marks = ",".join("?" * len(branches))
    rows = store.query(
        "SELECT rs.*, r.branch, r.commit_sha, r.pr_number, r.created_at AS run_created_at,"
        " r.repo_id FROM run_snapshots rs JOIN runs r ON r.id = rs.run_id"
        f" WHERE r.repo_id = ? AND r.run_type = ? AND rs.identifier = ? AND r.branch IN ({marks})"
        " AND r.status = 'completed' ORDER BY r.seq",
        (repo_id, run_type, identifier, *branches),
    )
    transitions: list[TimelineEntry] = []
    previous: str | None = None
    for row in rows:
        baseline = str(row["baseline_hash"])
        if not transitions or baseline != previous:
            transitions.append(TimelineEntry.from_row(row))
        previous = baseline
    transitions.reverse()
    return len(transitions), transitions[offset : offset + limit]

def tolerated_hashes(
    store: Store, project_id: int, run_id: str, identifier: str
) -> list[Toleration]:
    """Live tolerations of ``identifier`` in the run's repo, newest first (PostHog
    ``runs/{id}/tolerated-hashes/``)."""
    run = get_run(store, project_id, run_id)
    return [Toleration.from_row(r) for r in store.query(
        "SELECT * FROM tolerated_hashes WHERE repo_id = ? AND identifier = ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC",
        (run.repo_id, identifier, now()),
    )]
