"""Read-only queries the pages need beyond the API's (run types, filters, grouped paging).

Writes never happen here: every state change goes through :mod:`..runs`, like the API's. Every
query is scoped by project (directly or through a repo/run already checked against it), so a
page cannot show another project's rows.
"""

from __future__ import annotations

from ..review.contracts import Run, RunSnapshot
from ..runs import REVIEW_STATE_FILTERS
from ..store import Store

#: Snapshot groups on a run page, in review order.
GROUPS = ("review", "changed", "new", "removed", "unchanged", "quarantined")
RUN_STATUSES = ("pending", "processing", "completed", "failed", "expired")

_GROUP_WHERE = {
    "review": "result IN ('changed', 'new', 'removed') AND is_quarantined = 0",
    "changed": "result = 'changed' AND is_quarantined = 0",
    "new": "result = 'new' AND is_quarantined = 0",
    "removed": "result = 'removed' AND is_quarantined = 0",
    "unchanged": "result = 'unchanged' AND is_quarantined = 0",
    "quarantined": "is_quarantined = 1",
}
_ORDER = "CASE result WHEN 'changed' THEN 0 WHEN 'new' THEN 1 WHEN 'removed' THEN 2 ELSE 3 END, identifier"


def run_types(store: Store, repo_id: str) -> list[str]:
    rows = store.query(
        "SELECT run_type, MAX(seq) AS latest FROM runs WHERE repo_id = ? GROUP BY run_type"
        " ORDER BY latest DESC",
        (repo_id,),
    )
    return [str(r["run_type"]) for r in rows]


def branches(store: Store, repo_id: str, run_type: str | None) -> list[str]:
    sql, params = "SELECT branch, MAX(seq) AS latest FROM runs WHERE repo_id = ?", [repo_id]
    if run_type:
        sql += " AND run_type = ?"
        params.append(run_type)
    rows = store.query(sql + " GROUP BY branch ORDER BY latest DESC LIMIT 200", tuple(params))
    return [str(r["branch"]) for r in rows]


def list_runs(
    store: Store,
    project_id: int,
    repo_id: str,
    *,
    run_type: str | None,
    branch: str | None,
    state: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Run]]:
    """Runs of one repo, newest first, filtered; `state` is a review bucket (needs_review, ...)."""
    where: list[str] = ["project_id = ?", "repo_id = ?"]
    params: list[object] = [project_id, repo_id]
    if run_type:
        where.append("run_type = ?")
        params.append(run_type)
    if branch:
        where.append("branch = ?")
        params.append(branch)
    if state:
        where.append(REVIEW_STATE_FILTERS[state])
    if status:
        where.append("status = ?")
        params.append(status)
    clause = " AND ".join(where)
    total = store.query_one(f"SELECT COUNT(*) FROM runs WHERE {clause}", tuple(params))
    rows = store.query(
        f"SELECT * FROM runs WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return (int(total[0]) if total else 0), [Run.from_row(row) for row in rows]


def group_counts(store: Store, run_id: str) -> dict[str, int]:
    """How many snapshots of the run fall in each of GROUPS."""
    selects = ", ".join(f"COUNT(*) FILTER (WHERE {where}) AS {name}" for name, where in _GROUP_WHERE.items())
    row = store.query_one(f"SELECT {selects} FROM run_snapshots WHERE run_id = ?", (run_id,))
    return {name: int(row[name] or 0) if row else 0 for name in _GROUP_WHERE}


def _search(search: str) -> tuple[str, tuple[str, ...]]:
    """SQL and params for 'identifier contains `search`', ignoring case (LIKE wildcards in it
    match literally). Both sides go through the database's ``LOWER``: SQLite's ``LIKE`` ignores
    ASCII case and PostgreSQL's does not, so without it one search would find different
    snapshots on the two stores."""
    if not search:
        return "", ()
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return " AND LOWER(identifier) LIKE LOWER(?) ESCAPE '\\'", (f"%{escaped}%",)


def count(store: Store, run_id: str, group: str, *, search: str = "") -> int:
    """How many snapshots of one group match `search` (a substring of the identifier)."""
    extra, params = _search(search)
    row = store.query_one(
        f"SELECT COUNT(*) FROM run_snapshots WHERE run_id = ? AND {_GROUP_WHERE[group]}{extra}",
        (run_id, *params),
    )
    return int(row[0]) if row else 0


def snapshots(
    store: Store, run_id: str, group: str, *, limit: int, offset: int, search: str = ""
) -> list[RunSnapshot]:
    """One page of a group, changed before new before removed, then by identifier."""
    extra, params = _search(search)
    return [RunSnapshot.from_row(row) for row in store.query(
        f"SELECT * FROM run_snapshots WHERE run_id = ? AND {_GROUP_WHERE[group]}{extra}"
        f" ORDER BY {_ORDER} LIMIT ? OFFSET ?",
        (run_id, *params, limit, offset),
    )]
