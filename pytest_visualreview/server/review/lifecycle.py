"""The CI side of a run: create, add shards, complete, finish, fail, recount.

Classification of exact/new/tolerated/removed happens at ``complete``; the pixel diffs of the rest
run on the server's worker (:mod:`..processing`), which calls :func:`finish_processing`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from ..errors import Invalid
from ..repos import get_repo
from ..store import Connection, Store, dumps, new_id, now
from . import accepted
from .baselines import stored_baseline, validate_baseline_hashes, verify_token
from .contracts import (
    HASH_RE,
    IDENTIFIER_MAX,
    PURPOSES,
    RUN_TYPE_RE,
    ManifestItem,
    MissingImage,
    Repo,
    Run,
)
from .enums import ClassificationReason, ReviewState, RunStatus, SnapshotResult
from .quarantine import active_quarantined
from .queries import get_run, held_hashes
from .tolerance import tolerance_of, validate_tolerance


def validate_items(items: Sequence[ManifestItem], attr: str = "snapshots") -> list[ManifestItem]:
    """Check identifiers and hashes; the error names ``snapshots[i].field``. Duplicates in one
    request keep the first (PostHog's first-write-wins, applied within a batch too)."""
    seen: set[str] = set()
    kept: list[ManifestItem] = []
    for index, item in enumerate(items):
        where = f"{attr}[{index}]"
        if not item.identifier or len(item.identifier) > IDENTIFIER_MAX:
            raise Invalid(
                f"{where}.identifier must be 1..{IDENTIFIER_MAX} characters",
                attr=f"{where}.identifier",
            )
        if "/" in item.identifier or any(ord(ch) < 32 for ch in item.identifier):
            raise Invalid(
                f"{where}.identifier must not contain '/' or control characters",
                attr=f"{where}.identifier",
            )
        if not HASH_RE.match(item.content_hash):
            raise Invalid(
                f"{where}.content_hash must be 64 lower-case hex characters "
                "(BLAKE3 of the RGBA pixels)",
                attr=f"{where}.content_hash",
            )
        for dim in ("width", "height"):
            value = getattr(item, dim)
            if value is not None and not 0 < value <= 100_000:
                raise Invalid(f"{where}.{dim} must be 1..100000", attr=f"{where}.{dim}")
        validate_tolerance(item.metadata, f"{where}.metadata")
        if item.identifier not in seen:
            seen.add(item.identifier)
            kept.append(item)
    return kept

def create_run(
    store: Store,
    project_id: int,
    *,
    repo_id: str,
    run_type: str,
    commit_sha: str,
    branch: str,
    snapshots: Sequence[ManifestItem] = (),
    pr_number: int | None = None,
    baseline_hashes: dict[str, str] | None = None,
    purpose: str = "review",
    metadata: dict[str, Any] | None = None,
    is_partial: bool = False,
) -> tuple[Run, list[str]]:
    """Register a run (status pending) and supersede the current run of the same
    ``(repo, branch, run_type)``. Returns the run and the hashes the client must upload."""
    repo = get_repo(store, project_id, repo_id)
    if not RUN_TYPE_RE.match(run_type):
        raise Invalid("run_type must be 1..64 of [A-Za-z0-9_.-]", attr="run_type")
    if not commit_sha or len(commit_sha) > 64:
        raise Invalid("commit_sha must be 1..64 characters", attr="commit_sha")
    if not branch or len(branch) > 255:
        raise Invalid("branch must be 1..255 characters", attr="branch")
    if purpose not in PURPOSES:
        raise Invalid(f"purpose must be one of {', '.join(PURPOSES)}", attr="purpose")
    if pr_number is not None and not 0 <= pr_number < 2**31:
        raise Invalid("pr_number must be a positive 32-bit integer", attr="pr_number")
    items = validate_items(snapshots)
    baseline_hashes = baseline_hashes or {}
    validate_baseline_hashes(baseline_hashes)

    run_id = new_id()
    stamp = now()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO runs (id, project_id, repo_id, status, run_type, commit_sha, branch,"
            " pr_number, purpose, metadata, is_partial, created_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, project_id, repo.id, run_type, commit_sha, branch, pr_number, purpose,
             dumps(metadata or {}), int(is_partial), stamp),
        )
        conn.execute(
            "UPDATE runs SET superseded_by_id = ? WHERE repo_id = ? AND branch = ?"
            " AND run_type = ? AND superseded_by_id IS NULL AND id != ?",
            (run_id, repo.id, branch, run_type, run_id),
        )
        _, uploads = _add_items(conn, store, repo, run_id, items, baseline_hashes)
    return get_run(store, project_id, run_id), uploads

def add_snapshots(
    store: Store,
    project_id: int,
    run_id: str,
    snapshots: Sequence[ManifestItem],
    baseline_hashes: dict[str, str] | None = None,
) -> tuple[int, list[str]]:
    """Shard flow: add snapshots to a pending run. Idempotent per identifier (first write wins).
    Returns ``(added, hashes to upload)``."""
    items = validate_items(snapshots)
    baseline_hashes = baseline_hashes or {}
    validate_baseline_hashes(baseline_hashes)
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run.status != RunStatus.PENDING:
            raise Invalid(
                f"run {run_id} is {run.status}; snapshots can only be added while pending",
                code="run_not_pending",
                attr="id",
            )
        repo = get_repo(store, project_id, run.repo_id)
        return _add_items(conn, store, repo, run_id, items, baseline_hashes)

def _add_items(
    conn: Connection,
    store: Store,
    repo: Repo,
    run_id: str,
    items: Sequence[ManifestItem],
    baseline_hashes: dict[str, str],
) -> tuple[int, list[str]]:
    """Insert snapshot rows and baseline entries (inside the caller's transaction)."""
    repo_id = repo.id
    keys = repo.signing_keys
    trust = repo.trust_unsigned_baselines
    verified: dict[str, str | None] = {}
    for identifier, token in baseline_hashes.items():
        verified[identifier] = verify_token(token, repo_id, identifier, keys, trust)
    conn.executemany(
        "INSERT INTO run_baselines (run_id, identifier, token, content_hash)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(run_id, ident, baseline_hashes[ident], verified[ident]) for ident in baseline_hashes],
    )
    row = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM run_snapshots WHERE run_id = ?", (run_id,)
    ).fetchone()
    seq = int(row[0])
    stamp = now()
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO run_snapshots (id, run_id, seq, identifier, current_hash,"
        " current_width, current_height, result, review_state, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'new', 'pending', ?, ?) ON CONFLICT DO NOTHING",
        [(new_id(), run_id, seq + index, item.identifier, item.content_hash, item.width,
          item.height, dumps(item.metadata), stamp) for index, item in enumerate(items, 1)],
    )
    added = conn.total_changes - before  # ignored duplicates change nothing: first write wins
    if added:
        conn.execute(
            "UPDATE runs SET total_snapshots = total_snapshots + ? WHERE id = ?", (added, run_id)
        )
    # Ask for every current image the repo lacks, and for baseline images of these identifiers
    # (so a changed snapshot can be diffed even when its baseline was made elsewhere).
    wanted = [item.content_hash for item in items]
    wanted += [
        hash_
        for ident in (item.identifier for item in items)
        if (hash_ := verified.get(ident) or stored_baseline(conn, run_id, ident))
    ]
    held = held_hashes(store, repo_id, wanted)
    uploads = [h for h in dict.fromkeys(wanted) if h not in held]
    return added, uploads

def complete_run(
    store: Store, project_id: int, run_id: str, arrived: Collection[str] = frozenset()
) -> Run:
    """Close a run for additions, check every image is uploaded, classify what needs no pixels,
    and hand the rest to the diff worker (status ``processing``). Idempotent once past
    ``pending``. ``arrived``: images uploaded straight to the bucket and not verified yet
    (S3 mode); they count as uploaded, and every snapshot showing one is queued for the worker,
    which verifies it before the run can complete."""
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run.status != RunStatus.PENDING:
            return run
        repo_id = str(run.repo_id)
        missing = [m for m in missing_uploads(conn, repo_id, run_id) if m.content_hash not in arrived]
        if missing:
            names = ", ".join(
                f"{m.identifier} ({m.content_hash[:12]}…)" for m in missing[:10]
            )
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            message = (
                f"Upload missing for {len(missing)} snapshot(s): {names}{more}. "
                "Upload every image listed in 'uploads' before calling complete."
            )
            conn.execute(
                "UPDATE runs SET status = 'failed', error_message = ?, completed_at = ?"
                " WHERE id = ?",
                (message, now(), run_id),
            )
            recount(conn, run_id)
            return get_run(store, project_id, run_id)
        accepted.fill_run_baselines(conn, run)
        _classify(conn, run)
        conn.executemany(
            "UPDATE run_snapshots SET needs_diff = 1 WHERE run_id = ? AND current_hash = ?",
            [(run_id, content_hash) for content_hash in arrived],
        )
        conn.execute("UPDATE runs SET status = 'processing' WHERE id = ?", (run_id,))
        pending_diffs = conn.execute(
            "SELECT COUNT(*) FROM run_snapshots WHERE run_id = ? AND needs_diff = 1", (run_id,)
        ).fetchone()[0]
        if not pending_diffs:
            finish_processing(conn, run_id)
        else:
            recount(conn, run_id)
    return get_run(store, project_id, run_id)

def missing_uploads(conn: Connection, repo_id: str, run_id: str) -> list[MissingImage]:
    """The run's snapshots (identifier, current hash) whose image the repo does not hold."""
    return _missing(
        conn,
        "SELECT rs.identifier, rs.current_hash FROM run_snapshots rs"
        " LEFT JOIN artifacts a ON a.repo_id = ? AND a.content_hash = rs.current_hash"
        " WHERE rs.run_id = ? AND rs.result != 'removed' AND a.id IS NULL"
        " ORDER BY rs.identifier",
        (repo_id, run_id),
    )


def missing_baseline_images(conn: Connection, repo_id: str, run_id: str) -> list[MissingImage]:
    """The run's verified baselines (identifier, content hash) whose image the repo does not
    hold: :func:`add_snapshots` asks for those uploads too, so changed snapshots can be diffed."""
    return _missing(
        conn,
        "SELECT rb.identifier, rb.content_hash FROM run_baselines rb"
        " JOIN run_snapshots rs ON rs.run_id = rb.run_id AND rs.identifier = rb.identifier"
        " LEFT JOIN artifacts a ON a.repo_id = ? AND a.content_hash = rb.content_hash"
        " WHERE rb.run_id = ? AND COALESCE(rb.content_hash, '') != '' AND a.id IS NULL"
        " ORDER BY rb.identifier",
        (repo_id, run_id),
    )


def _missing(conn: Connection, sql: str, params: tuple[str, str]) -> list[MissingImage]:
    """``sql`` selects (identifier, hash) pairs: as records."""
    return [MissingImage(str(r[0]), str(r[1])) for r in conn.execute(sql, params).fetchall()]


def _classify(conn: Connection, run: Run) -> None:
    """PostHog's SnapshotClassifier minus pixels: exact / new / tolerated / to-diff / removed."""
    run_id, repo_id = str(run.id), str(run.repo_id)
    baselines = {
        str(r["identifier"]): str(r["content_hash"])
        for r in conn.execute(
            "SELECT identifier, content_hash FROM run_baselines"
            " WHERE run_id = ? AND content_hash IS NOT NULL",
            (run_id,),
        )
    }
    quarantined = active_quarantined(conn, repo_id, str(run.run_type))
    tolerations = {
        (str(r["identifier"]), str(r["baseline_hash"]), str(r["alternate_hash"])): r
        for r in conn.execute(
            "SELECT id, identifier, baseline_hash, alternate_hash, diff_percentage, reason"
            " FROM tolerated_hashes WHERE repo_id = ? AND (expires_at IS NULL OR expires_at > ?)",
            (repo_id, now()),
        )
    }
    updates: list[tuple[Any, ...]] = []
    rendered: set[str] = set()
    for row in conn.execute(
        "SELECT id, identifier, current_hash, metadata FROM run_snapshots WHERE run_id = ?",
        (run_id,),
    ).fetchall():
        identifier, current = str(row["identifier"]), str(row["current_hash"])
        rendered.add(identifier)
        baseline = baselines.get(identifier, "")
        tol = tolerations.get((identifier, baseline, current))
        if tol is not None and tol["reason"] == "auto_threshold" and tolerance_of(row):
            tol = None  # PostHog's rule minted it; a snapshot with its own tolerance is re-judged
        values: tuple[Any, ...]
        if baseline and current == baseline:
            values = (baseline, SnapshotResult.UNCHANGED, ClassificationReason.EXACT, 0, None, None, "")
        elif not baseline:
            values = ("", SnapshotResult.NEW, "", 0, None, None, ReviewState.PENDING)
        elif tol is not None:
            values = (
                baseline, SnapshotResult.UNCHANGED, ClassificationReason.TOLERATED_HASH, 0,
                tol["id"], tol["diff_percentage"], "",
            )
        else:
            values = (
                baseline, SnapshotResult.CHANGED, "", 1, None, None, ReviewState.PENDING
            )
        updates.append((*values, int(identifier in quarantined), row["id"]))
    conn.executemany(
        "UPDATE run_snapshots SET baseline_hash = ?, result = ?, classification_reason = ?,"
        " needs_diff = ?, tolerated_hash_id = ?, diff_percentage = ?, review_state = ?,"
        " is_quarantined = ? WHERE id = ?",
        updates,
    )
    if not run.is_partial:
        seq = len(rendered)
        stamp = now()
        removed = []
        for identifier in sorted(set(baselines) - rendered):
            seq += 1
            removed.append(
                (new_id(), run_id, seq, identifier, baselines[identifier],
                 int(identifier in quarantined), stamp)
            )
        conn.executemany(
            "INSERT INTO run_snapshots (id, run_id, seq, identifier, current_hash, baseline_hash,"
            " result, review_state, is_quarantined, created_at)"
            " VALUES (?, ?, ?, ?, '', ?, 'removed', 'pending', ?, ?)",
            removed,
        )

def finish_processing(conn: Connection, run_id: str) -> None:
    """Processing is over: ``failed`` if an error was recorded, else ``completed``; recount."""
    conn.execute(
        "UPDATE runs SET status = CASE WHEN COALESCE(error_message, '') != '' THEN 'failed'"
        " ELSE 'completed' END, completed_at = ? WHERE id = ?",
        (now(), run_id),
    )
    accepted.on_completed(conn, run_id)
    recount(conn, run_id)

def fail_run(conn: Connection, run_id: str, message: str) -> None:
    """Mark a ``processing`` run failed with ``message`` (the worker, when an upload lies), in
    the caller's transaction; once, whichever worker slice gets there first."""
    conn.execute(
        "UPDATE runs SET status = 'failed', error_message = ?, completed_at = ?"
        " WHERE id = ? AND status = 'processing'",
        (message, now(), run_id),
    )
    recount(conn, run_id)

def recount(conn: Connection, run_id: str) -> dict[str, int]:
    """Recompute the denormalised summary counts (quarantined snapshots are not counted)."""
    run = conn.execute("SELECT purpose FROM runs WHERE id = ?", (run_id,)).fetchone()
    row = conn.execute(
        "SELECT"
        " COUNT(*) FILTER (WHERE result != 'removed') AS total,"
        " COUNT(*) FILTER (WHERE result = 'changed' AND is_quarantined = 0) AS changed,"
        " COUNT(*) FILTER (WHERE result = 'new' AND is_quarantined = 0) AS new,"
        " COUNT(*) FILTER (WHERE result = 'removed' AND is_quarantined = 0) AS removed,"
        " COUNT(*) FILTER (WHERE result = 'unchanged') AS unchanged,"
        " COUNT(*) FILTER (WHERE result != 'unchanged' AND is_quarantined = 0"
        "     AND review_state NOT IN ('approved', 'tolerated')) AS unresolved,"
        " COUNT(*) FILTER (WHERE (review_state = 'tolerated')"
        "     OR (classification_reason = 'tolerated_hash' AND"
        "     tolerated_hash_id IN (SELECT id FROM tolerated_hashes WHERE reason IN"
        "     ('human', 'agent')))) AS tolerated"
        " FROM run_snapshots WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    counts = {key: int(row[key] or 0) for key in row.keys()}
    if run is not None and run["purpose"] == "observe":
        counts["unresolved"] = 0
    conn.execute(
        "UPDATE runs SET total_snapshots = ?, changed_count = ?, new_count = ?, removed_count = ?,"
        " unchanged_count = ?, unresolved_count = ?, tolerated_match_count = ? WHERE id = ?",
        (counts["total"], counts["changed"], counts["new"], counts["removed"],
         counts["unchanged"], counts["unresolved"], counts["tolerated"], run_id),
    )
    return counts

#: Runs that :func:`expire_pending` marks: still ``pending`` and created before the cutoff.
_DUE_TO_EXPIRE = "status = 'pending' AND created_at < ?"


def due_to_expire(store: Store, max_age_seconds: float) -> bool:
    """Whether :func:`expire_pending` would mark any run now (the shared queue's sweep asks)."""
    due = store.query_one(
        f"SELECT 1 FROM runs WHERE {_DUE_TO_EXPIRE} LIMIT 1", (now(seconds_ago=max_age_seconds),)
    )
    return due is not None


def expire_pending(store: Store, max_age_seconds: float) -> int:
    """Mark runs ``pending`` for longer than ``max_age_seconds`` (an interrupted session never
    called ``complete``) as ``expired``; returns how many. Run by the worker (:mod:`..expiry`)."""
    stamp = now(seconds_ago=max_age_seconds)
    hours = max_age_seconds / 3600
    message = (
        f"expired: still pending {hours:g} h after it was created (the session that created it "
        "never called complete); start a new run"
    )
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE runs SET status = 'expired', error_message = ?, completed_at = ?"
            f" WHERE {_DUE_TO_EXPIRE}",
            (message, now(), stamp),
        )
        return int(cursor.rowcount or 0)
