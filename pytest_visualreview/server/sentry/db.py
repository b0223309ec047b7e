"""The Sentry API's tables, on the server's one SQLite store (namespace ``sentry``).

Sentry's model, flattened: a *snapshot* is Sentry's PreprodArtifact + SnapshotMetrics + manifest
(the manifest is one JSON column, it is always read whole); a *comparison* is
PreprodSnapshotComparison with its comparison.json in ``results``; *files* map the ids the read
APIs hand out (sha256 of uploaded bytes, diff-mask ids) to blobs in the shared blob store, with the
BLAKE3 pixel hash alongside so both APIs can tell identical images apart from identical files.

Every function takes the :class:`~pytest_visualreview.server.store.Store`; nothing is cached.
"""

from __future__ import annotations

from typing import Any

from ..store import Row, Store, dumps, loads, now, parse_time
from .categorize import ImageResult, summarize
from .manifest import Manifest, SnapshotUpload, VcsInfo
from .views import ApprovalRow, ComparisonRow, FileRow, SnapshotRow

NAMESPACE = "sentry"
#: Append-only, like the core schema. Index i brings the namespace from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sentry_files (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        image_id TEXT NOT NULL,
        blob_key TEXT NOT NULL,
        pixel_hash TEXT,
        width INTEGER,
        height INTEGER,
        size_bytes INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (project_id, image_id)
    );
    CREATE TABLE sentry_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        app_id TEXT NOT NULL,
        head_sha TEXT,
        base_sha TEXT,
        provider TEXT,
        head_repo_name TEXT,
        base_repo_name TEXT,
        head_ref TEXT,
        base_ref TEXT,
        pr_number INTEGER,
        has_commit INTEGER NOT NULL,
        is_selective INTEGER NOT NULL,
        image_count INTEGER NOT NULL,
        manifest TEXT NOT NULL,
        created_by_token_id INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE INDEX sentry_snapshots_head
        ON sentry_snapshots (project_id, app_id, head_sha, head_repo_name);
    CREATE INDEX sentry_snapshots_base
        ON sentry_snapshots (project_id, app_id, base_sha, base_repo_name);
    CREATE TABLE sentry_comparisons (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        head_id INTEGER NOT NULL REFERENCES sentry_snapshots(id),
        base_id INTEGER NOT NULL REFERENCES sentry_snapshots(id),
        state TEXT NOT NULL,
        error_code TEXT,
        error_message TEXT,
        results TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        completed_at TEXT,
        UNIQUE (head_id, base_id)
    );
    CREATE INDEX sentry_comparisons_state ON sentry_comparisons (state);
    CREATE TABLE sentry_approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        snapshot_id INTEGER NOT NULL REFERENCES sentry_snapshots(id),
        status TEXT NOT NULL,
        token_id INTEGER,
        approver_name TEXT,
        auto INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX sentry_approvals_snapshot ON sentry_approvals (snapshot_id);
    """,
]


def install(store: Store) -> None:
    """Create or upgrade the tables (idempotent; called when the router is mounted)."""
    store.ensure_schema(NAMESPACE, MIGRATIONS)


# -- files ---------------------------------------------------------------------------------------


def add_file(
    store: Store,
    project_id: int,
    image_id: str,
    *,
    blob_key: str,
    size_bytes: int,
    content_type: str,
    pixel_hash: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> None:
    """Record that ``image_id`` of ``project_id`` is blob ``blob_key`` (write the blob first)."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO sentry_files (project_id, image_id, blob_key, pixel_hash, width,"
            " height, size_bytes, content_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (
                project_id,
                image_id,
                blob_key,
                pixel_hash,
                width,
                height,
                size_bytes,
                content_type,
                now(),
            ),
        )


def get_file(store: Store, project_id: int, image_id: str) -> FileRow | None:
    row = store.query_one(
        "SELECT * FROM sentry_files WHERE project_id = ? AND image_id = ?", (project_id, image_id)
    )
    if row is None:
        return None
    return FileRow(
        image_id=str(row["image_id"]), blob_key=str(row["blob_key"]),
        content_type=str(row["content_type"]), size_bytes=int(row["size_bytes"]),
        pixel_hash=None if row["pixel_hash"] is None else str(row["pixel_hash"]),
        width=None if row["width"] is None else int(row["width"]),
        height=None if row["height"] is None else int(row["height"]),
    )


def existing_files(store: Store, project_id: int, image_ids: list[str]) -> set[str]:
    """Which of ``image_ids`` the project has."""
    sql = "SELECT image_id FROM sentry_files WHERE project_id = ? AND image_id IN ({marks})"
    return store.present(sql, (project_id,), image_ids)


# -- snapshots -----------------------------------------------------------------------------------


def _snapshot(row: Row) -> SnapshotRow:
    vcs = VcsInfo(
        head_sha=row["head_sha"],
        base_sha=row["base_sha"],
        provider=row["provider"],
        head_repo_name=row["head_repo_name"],
        base_repo_name=row["base_repo_name"],
        head_ref=row["head_ref"],
        base_ref=row["base_ref"],
        pr_number=row["pr_number"],
    )
    return SnapshotRow(
        id=int(row["id"]),
        project_id=int(row["project_id"]),
        app_id=str(row["app_id"]),
        manifest=Manifest.from_json(row["manifest"]),
        vcs=vcs,
        created_at=parse_time(row["created_at"]).timestamp(),
    )


def create_snapshot(store: Store, project_id: int, upload: SnapshotUpload, token_id: int | None) -> int:
    vcs = upload.vcs
    with store.transaction() as conn:
        row = conn.execute(
            "INSERT INTO sentry_snapshots (project_id, app_id, head_sha, base_sha, provider,"
            " head_repo_name, base_repo_name, head_ref, base_ref, pr_number, has_commit,"
            " is_selective, image_count, manifest, created_by_token_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                project_id,
                upload.app_id,
                vcs.head_sha,
                vcs.base_sha,
                vcs.provider,
                vcs.head_repo_name,
                vcs.base_repo_name,
                vcs.head_ref,
                vcs.base_ref,
                vcs.pr_number,
                int(vcs.has_commit),
                int(upload.manifest.selective),
                len(upload.manifest.images),
                upload.manifest.to_json(),
                token_id,
                now(),
            ),
        ).fetchone()
        return int(row[0])


def delete_snapshot(store: Store, snapshot_id: int) -> None:
    """Remove a snapshot with its comparisons (as head or base) and approvals."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM sentry_approvals WHERE snapshot_id = ?", (snapshot_id,))
        conn.execute(
            "DELETE FROM sentry_comparisons WHERE head_id = ? OR base_id = ?", (snapshot_id, snapshot_id)
        )
        conn.execute("DELETE FROM sentry_snapshots WHERE id = ?", (snapshot_id,))


def get_snapshot(store: Store, snapshot_id: int) -> SnapshotRow | None:
    row = store.query_one("SELECT * FROM sentry_snapshots WHERE id = ?", (snapshot_id,))
    return _snapshot(row) if row is not None else None


def find_base(store: Store, head: SnapshotRow) -> SnapshotRow | None:
    """The newest snapshot of the same project and app whose commit is the head's base commit."""
    if not (head.vcs.base_sha and head.vcs.base_repo_name):
        return None
    row = store.query_one(
        "SELECT * FROM sentry_snapshots WHERE project_id = ? AND app_id = ? AND has_commit = 1"
        " AND head_sha = ? AND head_repo_name = ? AND id != ? ORDER BY id DESC LIMIT 1",
        (head.project_id, head.app_id, head.vcs.base_sha, head.vcs.base_repo_name, head.id),
    )
    return _snapshot(row) if row is not None else None


def heads_awaiting(store: Store, base: SnapshotRow) -> list[SnapshotRow]:
    """Earlier heads whose base is this upload's commit and that have no successful comparison."""
    if not (base.vcs.has_commit and base.vcs.head_sha and base.vcs.head_repo_name):
        return []
    rows = store.query(
        "SELECT * FROM sentry_snapshots s WHERE project_id = ? AND app_id = ? AND base_sha = ?"
        " AND base_repo_name = ? AND id != ? AND NOT EXISTS (SELECT 1 FROM sentry_comparisons c"
        " WHERE c.head_id = s.id AND c.state = 'success') ORDER BY id",
        (base.project_id, base.app_id, base.vcs.head_sha, base.vcs.head_repo_name, base.id),
    )
    return [_snapshot(row) for row in rows]


def latest_base(store: Store, project_id: int, app_id: str, branch: str | None) -> SnapshotRow | None:
    """Newest snapshot of the app uploaded without a base commit (Sentry's main-branch builds)."""
    sql = (
        "SELECT * FROM sentry_snapshots WHERE project_id = ? AND app_id = ?"
        " AND (has_commit = 0 OR base_sha IS NULL OR base_sha = '')"
    )
    params: list[Any] = [project_id, app_id]
    if branch:
        sql += " AND has_commit = 1 AND head_ref = ?"
        params.append(branch)
    row = store.query_one(sql + " ORDER BY id DESC LIMIT 1", tuple(params))
    return _snapshot(row) if row is not None else None


def base_exists(store: Store, head: SnapshotRow) -> bool:
    return find_base(store, head) is not None


# -- comparisons ---------------------------------------------------------------------------------


def _comparison(row: Row) -> ComparisonRow:
    results = {name: ImageResult.from_dict(data) for name, data in (loads(row["results"]) or {}).items()}
    return ComparisonRow(
        id=int(row["id"]),
        head_id=int(row["head_id"]),
        base_id=int(row["base_id"]),
        state=str(row["state"]),
        error_message=row["error_message"],
        results=results,
    )


def create_comparison(store: Store, head_id: int, base_id: int) -> int | None:
    """A pending comparison for the pair, or None when the pair already has one."""
    with store.transaction() as conn:
        row = conn.execute(
            "INSERT INTO sentry_comparisons (head_id, base_id, state, created_at)"
            " VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING RETURNING id",
            (head_id, base_id, now()),
        ).fetchone()
        return int(row[0]) if row is not None else None


def claim_comparison(store: Store, comparison_id: int) -> bool:
    """pending/failed/processing -> processing; False if it is already done (or gone)."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE sentry_comparisons SET state = 'processing' WHERE id = ?"
            " AND state IN ('pending', 'processing', 'failed')",
            (comparison_id,),
        )
        return cursor.rowcount > 0


def finish_comparison(store: Store, comparison_id: int, results: dict[str, ImageResult]) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE sentry_comparisons SET state = 'success', results = ?, summary = ?,"
            " error_code = NULL, error_message = NULL, completed_at = ? WHERE id = ?",
            (
                dumps({n: r.to_dict() for n, r in sorted(results.items())}),
                dumps(summarize(results)),
                now(),
                comparison_id,
            ),
        )


def fail_comparison(store: Store, comparison_id: int, code: str, message: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE sentry_comparisons SET state = 'failed', error_code = ?, error_message = ?,"
            " completed_at = ? WHERE id = ?",
            (code, message, now(), comparison_id),
        )


def get_comparison(store: Store, comparison_id: int) -> ComparisonRow | None:
    row = store.query_one("SELECT * FROM sentry_comparisons WHERE id = ?", (comparison_id,))
    return _comparison(row) if row is not None else None


def latest_comparisons(store: Store, head_id: int) -> tuple[ComparisonRow | None, ComparisonRow | None]:
    """(newest comparison of any state, newest successful one) for a head."""
    latest = store.query_one(
        "SELECT * FROM sentry_comparisons WHERE head_id = ? ORDER BY id DESC LIMIT 1", (head_id,)
    )
    success = store.query_one(
        "SELECT * FROM sentry_comparisons WHERE head_id = ? AND state = 'success' ORDER BY id DESC LIMIT 1",
        (head_id,),
    )
    return (
        _comparison(latest) if latest is not None else None,
        _comparison(success) if success is not None else None,
    )


def requeue_failed(store: Store, project_id: int, app_id: str, code: str) -> int:
    """Set failed comparisons of this project and app with this error code back to pending."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE sentry_comparisons SET state = 'pending' WHERE state = 'failed'"
            " AND error_code = ? AND head_id IN"
            " (SELECT id FROM sentry_snapshots WHERE project_id = ? AND app_id = ?)",
            (code, project_id, app_id),
        )
        return cursor.rowcount


def unfinished_comparisons(store: Store) -> list[int]:
    """The comparison queue, oldest first: pending ones, and those a stopped process left
    processing."""
    rows = store.query(
        "SELECT id FROM sentry_comparisons WHERE state IN ('pending', 'processing') ORDER BY id"
    )
    return [int(row["id"]) for row in rows]


# -- approvals -----------------------------------------------------------------------------------


def approvals(store: Store, snapshot_id: int) -> list[ApprovalRow]:
    rows = store.query("SELECT * FROM sentry_approvals WHERE snapshot_id = ? ORDER BY id", (snapshot_id,))
    return [
        ApprovalRow(
            status=str(row["status"]),
            approver_id=row["token_id"],
            approver_name=row["approver_name"],
            approved_at=parse_time(row["created_at"]).timestamp() if row["status"] == "approved" else None,
            auto=bool(row["auto"]),
        )
        for row in rows
    ]


def approved_siblings(store: Store, head: SnapshotRow) -> list[tuple[int, ComparisonRow]]:
    """Other snapshots of the same PR (project, app, repo, PR number), newest first, with a human
    approval, each with its latest successful comparison."""
    if not (head.vcs.has_commit and head.vcs.pr_number):
        return []
    rows = store.query(
        "SELECT s.id FROM sentry_snapshots s WHERE s.project_id = ? AND s.app_id = ?"
        " AND s.head_repo_name = ? AND s.pr_number = ? AND s.id != ? AND EXISTS (SELECT 1 FROM"
        " sentry_approvals a WHERE a.snapshot_id = s.id AND a.status = 'approved' AND a.auto = 0)"
        " ORDER BY s.id DESC",
        (head.project_id, head.app_id, head.vcs.head_repo_name, head.vcs.pr_number, head.id),
    )
    out: list[tuple[int, ComparisonRow]] = []
    for row in rows:
        _, success = latest_comparisons(store, int(row["id"]))
        if success is not None:
            out.append((int(row["id"]), success))
    return out


def auto_approve(store: Store, snapshot_id: int, previous_id: int) -> None:
    """Record Sentry's auto-approval (extras.auto_approval): the same changes were approved on
    ``previous_id``, an earlier build of the same PR."""
    with store.transaction() as conn:
        conn.execute(
            "DELETE FROM sentry_approvals WHERE snapshot_id = ? AND status = 'needs_approval'",
            (snapshot_id,),
        )
        conn.execute(
            "INSERT INTO sentry_approvals (snapshot_id, status, approver_name, auto, created_at)"
            " VALUES (?, 'approved', ?, 1, ?)",
            (snapshot_id, f"auto: same changes as {previous_id}", now()),
        )


def mark_needs_approval(store: Store, snapshot_id: int) -> None:
    """After a comparison with changes: NEEDS_APPROVAL unless an approval exists already."""
    with store.transaction() as conn:
        exists = conn.execute(
            "SELECT 1 FROM sentry_approvals WHERE snapshot_id = ? LIMIT 1", (snapshot_id,)
        ).fetchone()
        if exists is None:
            conn.execute(
                "INSERT INTO sentry_approvals (snapshot_id, status, created_at)"
                " VALUES (?, 'needs_approval', ?)",
                (snapshot_id, now()),
            )


def approve(store: Store, snapshot_id: int, token_id: int, name: str) -> bool:
    """Approve as this token; False if it already had. Deletes NEEDS_APPROVAL rows (Sentry)."""
    with store.transaction() as conn:
        already = conn.execute(
            "SELECT 1 FROM sentry_approvals WHERE snapshot_id = ? AND status = 'approved' AND token_id = ?",
            (snapshot_id, token_id),
        ).fetchone()
        if already is not None:
            return False
        conn.execute(
            "DELETE FROM sentry_approvals WHERE snapshot_id = ? AND status = 'needs_approval'",
            (snapshot_id,),
        )
        conn.execute(
            "INSERT INTO sentry_approvals (snapshot_id, status, token_id, approver_name,"
            " created_at) VALUES (?, 'approved', ?, ?, ?)",
            (snapshot_id, token_id, name, now()),
        )
        return True

