"""Runs and their snapshots: the review domain, free of HTTP.

Every state change a client or a reviewer can make is a function here, so the PostHog API, the
Sentry API and the review pages share one implementation (and one set of rules):

- :func:`create_run`, :func:`add_snapshots`, :func:`complete_run`  (CI side)
- :func:`approve`, :func:`reject`, :func:`tolerate`, :func:`finalize`, :func:`auto_approve`,
  :func:`recompute`                                                    (review side)
- :func:`quarantine`, :func:`unquarantine`, :func:`list_quarantine`    (flaky identifiers)
- :func:`get_run`, :func:`list_runs`, :func:`list_snapshots`, :func:`counts`, :func:`timeline`,
  :func:`build_baseline`                                               (queries)

Rules follow PostHog (reference/posthog-visual-review.md §3, §6, §8) in its v1 shape for
baselines: the client sends ``baseline_hashes`` from its ``snapshots.yml``; they are verified
against the repo's signing keys (invalid or unsigned entries count as no baseline unless the repo
trusts unsigned hashes). Classification of exact/new/tolerated/removed happens at ``complete``;
pixel diffs run in :mod:`.processing`.

Functions take a :class:`Store` and ids, raise :mod:`.errors` exceptions, and return sqlite rows;
:mod:`.serialize` turns rows into API JSON.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import snapshots_yml
from . import signing
from .errors import Conflict, Invalid, NotFound
from .repos import get_repo, signing_keys
from .store import Store, dumps, loads, new_id, now

HASH_RE = re.compile(r"^[0-9a-f]{64}$")
IDENTIFIER_MAX = 512
RUN_TYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PURPOSES = ("review", "observe")

# Statuses (PostHog RunStatus)
PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
# Results (SnapshotResult)
UNCHANGED, CHANGED, NEW, REMOVED = "unchanged", "changed", "new", "removed"
# Review states ('' for unchanged snapshots)
REVIEW_PENDING, APPROVED, TOLERATED, REJECTED = "pending", "approved", "tolerated", "rejected"
# Classification reasons (only for unchanged)
EXACT, TOLERATED_HASH, BELOW_THRESHOLD = "exact", "tolerated_hash", "below_threshold"
INTENTIONAL_TOLERATE_REASONS = ("human", "agent")

STALE_DETAIL = "This run has been superseded by a newer run. Approve the latest run instead."


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
    rows: list[sqlite3.Row]
    quarantined_count: int


@dataclass(frozen=True)
class RecomputeResult:
    run: sqlite3.Row
    counts_changed: bool
    unresolved: int
    ci_rerun_triggered: bool
    ci_rerun_error: str | None


# -- validation --------------------------------------------------------------------------------


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
        if item.identifier not in seen:
            seen.add(item.identifier)
            kept.append(item)
    return kept


def validate_baseline_hashes(baseline_hashes: dict[str, str]) -> None:
    for identifier, token in baseline_hashes.items():
        if not identifier or len(identifier) > IDENTIFIER_MAX:
            raise Invalid("baseline_hashes keys must be identifiers", attr="baseline_hashes")
        if not isinstance(token, str) or len(token) > 256:
            raise Invalid(
                f"baseline_hashes[{identifier!r}] must be a hash or a signed token",
                attr=f"baseline_hashes.{identifier}",
            )


# -- lookups -----------------------------------------------------------------------------------


def get_run(store: Store, project_id: int, run_id: str) -> sqlite3.Row:
    """The run, or 404 when it does not exist in this project."""
    row = store.query_one(
        "SELECT * FROM runs WHERE id = ? AND project_id = ?", (str(run_id), project_id)
    )
    if row is None:
        raise NotFound(f"run {run_id} not found", attr="id")
    return row


def get_snapshot(store: Store, run_id: str, snapshot_id: str) -> sqlite3.Row:
    row = store.query_one(
        "SELECT * FROM run_snapshots WHERE id = ? AND run_id = ?", (str(snapshot_id), run_id)
    )
    if row is None:
        raise NotFound(f"snapshot {snapshot_id} not found in run {run_id}", attr="snapshot_id")
    return row


def held_hashes(store: Store, repo_id: str, hashes: Iterable[str]) -> set[str]:
    """Which of ``hashes`` the repo already has an artifact for (upload dedupe)."""
    rows = store.query_in(
        "SELECT content_hash FROM artifacts WHERE repo_id = ? AND content_hash IN ({marks})",
        (repo_id,),
        hashes,
    )
    return {str(row["content_hash"]) for row in rows}


# -- CI side: create, add, complete --------------------------------------------------------------


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
) -> tuple[sqlite3.Row, list[str]]:
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
            (run_id, project_id, repo["id"], run_type, commit_sha, branch, pr_number, purpose,
             dumps(metadata or {}), int(is_partial), stamp),
        )
        conn.execute(
            "UPDATE runs SET superseded_by_id = ? WHERE repo_id = ? AND branch = ?"
            " AND run_type = ? AND superseded_by_id IS NULL AND id != ?",
            (run_id, repo["id"], branch, run_type, run_id),
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
        if run["status"] != PENDING:
            raise Invalid(
                f"run {run_id} is {run['status']}; snapshots can only be added while pending",
                code="run_not_pending",
                attr="id",
            )
        repo = get_repo(store, project_id, run["repo_id"])
        return _add_items(conn, store, repo, run_id, items, baseline_hashes)


def _add_items(
    conn: sqlite3.Connection,
    store: Store,
    repo: sqlite3.Row,
    run_id: str,
    items: Sequence[ManifestItem],
    baseline_hashes: dict[str, str],
) -> tuple[int, list[str]]:
    """Insert snapshot rows and baseline entries (inside the caller's transaction)."""
    repo_id = str(repo["id"])
    keys = signing_keys(repo)
    trust = bool(repo["trust_unsigned_baselines"])
    verified: dict[str, str | None] = {}
    for identifier, token in baseline_hashes.items():
        verified[identifier] = _verify_token(token, repo_id, identifier, keys, trust)
    conn.executemany(
        "INSERT OR IGNORE INTO run_baselines (run_id, identifier, token, content_hash)"
        " VALUES (?, ?, ?, ?)",
        [(run_id, ident, baseline_hashes[ident], verified[ident]) for ident in baseline_hashes],
    )
    row = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM run_snapshots WHERE run_id = ?", (run_id,)
    ).fetchone()
    seq = int(row[0])
    stamp = now()
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO run_snapshots (id, run_id, seq, identifier, current_hash,"
        " current_width, current_height, result, review_state, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'new', 'pending', ?, ?)",
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
        if (hash_ := verified.get(ident) or _stored_baseline(conn, run_id, ident))
    ]
    held = held_hashes(store, repo_id, wanted)
    uploads = [h for h in dict.fromkeys(wanted) if h not in held]
    return added, uploads


def _stored_baseline(conn: sqlite3.Connection, run_id: str, identifier: str) -> str | None:
    row = conn.execute(
        "SELECT content_hash FROM run_baselines WHERE run_id = ? AND identifier = ?",
        (run_id, identifier),
    ).fetchone()
    return str(row[0]) if row and row[0] else None


def _verify_token(
    token: str, repo_id: str, identifier: str, keys: dict[str, str], trust_unsigned: bool
) -> str | None:
    """The verified content hash of a baseline token, or None (treated as no baseline)."""
    verified = signing.verify(token, repo_id, identifier, keys)
    if verified is not None:
        return verified
    if trust_unsigned:
        plain = snapshots_yml.token_hash(token)
        return plain if HASH_RE.match(plain) else None
    return None


def complete_run(store: Store, project_id: int, run_id: str) -> sqlite3.Row:
    """Close a run for additions, verify uploads, classify what needs no pixels, and hand the
    rest to the diff worker (status ``processing``). Idempotent once past ``pending``."""
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run["status"] != PENDING:
            return run
        repo_id = str(run["repo_id"])
        missing = conn.execute(
            "SELECT rs.identifier, rs.current_hash FROM run_snapshots rs"
            " LEFT JOIN artifacts a ON a.repo_id = ? AND a.content_hash = rs.current_hash"
            " WHERE rs.run_id = ? AND rs.result != 'removed' AND a.id IS NULL"
            " ORDER BY rs.identifier",
            (repo_id, run_id),
        ).fetchall()
        if missing:
            names = ", ".join(
                f"{r['identifier']} ({r['current_hash'][:12]}…)" for r in missing[:10]
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
        _classify(conn, run)
        conn.execute("UPDATE runs SET status = 'processing' WHERE id = ?", (run_id,))
        pending_diffs = conn.execute(
            "SELECT COUNT(*) FROM run_snapshots WHERE run_id = ? AND needs_diff = 1", (run_id,)
        ).fetchone()[0]
        if not pending_diffs:
            finish_processing(conn, run_id)
        else:
            recount(conn, run_id)
    return get_run(store, project_id, run_id)


def _classify(conn: sqlite3.Connection, run: sqlite3.Row) -> None:
    """PostHog's SnapshotClassifier minus pixels: exact / new / tolerated / to-diff / removed."""
    run_id, repo_id = str(run["id"]), str(run["repo_id"])
    baselines = {
        str(r["identifier"]): str(r["content_hash"])
        for r in conn.execute(
            "SELECT identifier, content_hash FROM run_baselines"
            " WHERE run_id = ? AND content_hash IS NOT NULL",
            (run_id,),
        )
    }
    quarantined = active_quarantined(conn, repo_id, str(run["run_type"]))
    tolerations = {
        (str(r["identifier"]), str(r["baseline_hash"]), str(r["alternate_hash"])): r
        for r in conn.execute(
            "SELECT id, identifier, baseline_hash, alternate_hash, diff_percentage"
            " FROM tolerated_hashes WHERE repo_id = ? AND (expires_at IS NULL OR expires_at > ?)",
            (repo_id, now()),
        )
    }
    updates: list[tuple[Any, ...]] = []
    rendered: set[str] = set()
    for row in conn.execute(
        "SELECT id, identifier, current_hash FROM run_snapshots WHERE run_id = ?", (run_id,)
    ).fetchall():
        identifier, current = str(row["identifier"]), str(row["current_hash"])
        rendered.add(identifier)
        baseline = baselines.get(identifier, "")
        tol = tolerations.get((identifier, baseline, current))
        if baseline and current == baseline:
            values = (baseline, UNCHANGED, EXACT, 0, None, None, "")
        elif not baseline:
            values = ("", NEW, "", 0, None, None, REVIEW_PENDING)
        elif tol is not None:
            values = (baseline, UNCHANGED, TOLERATED_HASH, 0, tol["id"], tol["diff_percentage"], "")
        else:
            values = (baseline, CHANGED, "", 1, None, None, REVIEW_PENDING)
        updates.append((*values, int(identifier in quarantined), row["id"]))
    conn.executemany(
        "UPDATE run_snapshots SET baseline_hash = ?, result = ?, classification_reason = ?,"
        " needs_diff = ?, tolerated_hash_id = ?, diff_percentage = ?, review_state = ?,"
        " is_quarantined = ? WHERE id = ?",
        updates,
    )
    if not run["is_partial"]:
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


def finish_processing(conn: sqlite3.Connection, run_id: str) -> None:
    """Processing is over: ``failed`` if an error was recorded, else ``completed``; recount."""
    conn.execute(
        "UPDATE runs SET status = CASE WHEN COALESCE(error_message, '') != '' THEN 'failed'"
        " ELSE 'completed' END, completed_at = ? WHERE id = ?",
        (now(), run_id),
    )
    recount(conn, run_id)


def fail_run(store: Store, run_id: str, message: str) -> None:
    """Mark a run failed with ``message`` (used by the worker when processing cannot go on)."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE runs SET status = 'failed', error_message = ?, completed_at = ? WHERE id = ?",
            (message, now(), run_id),
        )
        recount(conn, run_id)


def recount(conn: sqlite3.Connection, run_id: str) -> dict[str, int]:
    """Recompute the denormalised summary counts (quarantined snapshots are not counted)."""
    run = conn.execute("SELECT purpose FROM runs WHERE id = ?", (run_id,)).fetchone()
    row = conn.execute(
        "SELECT"
        " SUM(result != 'removed') AS total,"
        " SUM(result = 'changed' AND is_quarantined = 0) AS changed,"
        " SUM(result = 'new' AND is_quarantined = 0) AS new,"
        " SUM(result = 'removed' AND is_quarantined = 0) AS removed,"
        " SUM(result = 'unchanged') AS unchanged,"
        " SUM(result != 'unchanged' AND is_quarantined = 0"
        "     AND review_state NOT IN ('approved', 'tolerated')) AS unresolved,"
        " SUM((review_state = 'tolerated') OR (classification_reason = 'tolerated_hash' AND"
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


# -- review side ---------------------------------------------------------------------------------


def _reviewable(run: sqlite3.Row, action: str = "approved") -> None:
    if run["superseded_by_id"]:
        raise Conflict(STALE_DETAIL, code="stale_run")
    if run["purpose"] == "observe":
        raise Invalid("Observational runs cannot be approved", code="observe_run", attr="purpose")
    if run["status"] != COMPLETED:
        raise Invalid(
            f"Run is {run['status']}; only completed runs can be {action}",
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
) -> sqlite3.Row:
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
            if row["result"] == UNCHANGED:
                continue
            mismatch = new_hash is not None and new_hash != row["current_hash"]
            if mismatch and row["result"] != REMOVED:
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
    return get_run(store, project_id, run_id)


def _approve_all(conn: sqlite3.Connection, run_id: str, token_id: int | None, stamp: str) -> None:
    conn.execute(
        "UPDATE run_snapshots SET review_state = 'approved', approved_hash = current_hash,"
        " reviewed_at = ?, reviewed_by_token_id = ? WHERE run_id = ? AND is_quarantined = 0"
        " AND result IN ('changed', 'new') AND review_state IN ('pending', 'rejected')",
        (stamp, token_id, run_id),
    )


def _mark_run_approved(
    conn: sqlite3.Connection, run_id: str, token_id: int | None, stamp: str, decision: str
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
) -> sqlite3.Row:
    """Mark one changed/new/removed snapshot rejected (a passive annotation, as in PostHog)."""
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        _reviewable(run, "reviewed")
        snap = get_snapshot(store, run_id, snapshot_id)
        if snap["result"] == UNCHANGED:
            raise Invalid("Unchanged snapshots cannot be rejected", attr="snapshot_id")
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
) -> sqlite3.Row:
    """Accept a changed snapshot as rendering noise: mint (or revive) the toleration
    ``(identifier, baseline_hash, current_hash)`` so future runs classify it unchanged. The result
    stays ``changed`` and the baseline is not updated."""
    if reason not in INTENTIONAL_TOLERATE_REASONS:
        raise Invalid("reason must be human or agent", attr="reason")
    stamp = now()
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run["status"] != COMPLETED:
            raise Invalid("Only completed runs can be reviewed", code="run_not_completed",
                          attr="status")
        snap = get_snapshot(store, run_id, snapshot_id)
        if snap["result"] != CHANGED:
            raise Invalid("Snapshot cannot be marked as tolerated", attr="snapshot_id")
        existing = conn.execute(
            "SELECT id FROM tolerated_hashes WHERE repo_id = ? AND identifier = ?"
            " AND baseline_hash = ? AND alternate_hash = ?",
            (run["repo_id"], snap["identifier"], snap["baseline_hash"], snap["current_hash"]),
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
                (tol_id, run["repo_id"], snap["identifier"], snap["baseline_hash"],
                 snap["current_hash"], reason, run_id, token_id, snap["diff_percentage"], stamp),
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
) -> tuple[sqlite3.Row, str]:
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
        if not run["approved"]:
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
        elif run["superseded_by_id"]:
            raise Conflict(STALE_DETAIL, code="stale_run")
    return get_run(store, project_id, run_id), build_baseline(store, project_id, run_id, api_url)


def auto_approve(
    store: Store, project_id: int, run_id: str, *, token_id: int | None, api_url: str = ""
) -> tuple[sqlite3.Row, str]:
    """CLI auto-approve: approve every changed and new snapshot, return the signed baseline."""
    stamp = now()
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        _reviewable(run)
        _approve_all(conn, run_id, token_id, stamp)
        _mark_run_approved(conn, run_id, token_id, stamp, "auto_approved")
        recount(conn, run_id)
    return get_run(store, project_id, run_id), build_baseline(store, project_id, run_id, api_url)


def build_baseline(store: Store, project_id: int, run_id: str, api_url: str = "") -> str:
    """The signed ``snapshots.yml`` after this run: the client's verified baseline, minus removed
    identifiers, with approved snapshots at their new hash; unapproved new snapshots are left out
    and unapproved or tolerated changes keep their old baseline."""
    run = get_run(store, project_id, run_id)
    repo = get_repo(store, project_id, run["repo_id"])
    entries: dict[str, str] = {
        str(r["identifier"]): str(r["content_hash"])
        for r in store.query(
            "SELECT identifier, content_hash FROM run_baselines"
            " WHERE run_id = ? AND content_hash IS NOT NULL",
            (run_id,),
        )
    }
    for row in store.query(
        "SELECT identifier, result, review_state, current_hash, baseline_hash, approved_hash"
        " FROM run_snapshots WHERE run_id = ?",
        (run_id,),
    ):
        identifier = str(row["identifier"])
        if row["result"] == REMOVED:
            if row["review_state"] == APPROVED:
                entries.pop(identifier, None)
        elif row["review_state"] == APPROVED:
            entries[identifier] = str(row["approved_hash"] or row["current_hash"])
        elif row["result"] == UNCHANGED:
            entries[identifier] = str(row["baseline_hash"] or row["current_hash"])
    keys = signing_keys(repo)
    tokens = {
        identifier: signing.sign_with(keys, str(repo["id"]), identifier, content_hash)
        for identifier, content_hash in entries.items()
    }
    config = {"api": api_url, "team": str(project_id), "repo": str(repo["id"])} if api_url else {
        "team": str(project_id), "repo": str(repo["id"])}
    return snapshots_yml.dumps(tokens, config)


def recompute(store: Store, project_id: int, run_id: str) -> RecomputeResult:
    """Re-stamp quarantine and recount (after tolerating or quarantining the rest)."""
    with store.transaction() as conn:
        run = get_run(store, project_id, run_id)
        if run["status"] != COMPLETED or run["approved"]:
            raise Invalid(
                "Run must be completed and not yet approved", code="run_not_recomputable",
                attr="status",
            )
        before = _summary_tuple(run)
        restamp_quarantine(conn, run)
        recount(conn, run_id)
    after = get_run(store, project_id, run_id)
    metadata = loads(after["metadata"])
    error = (
        "this server has no CI integration; re-run the job yourself"
        if metadata.get("github_check_run_id")
        else "CI job ID not available (set JOB_CHECK_RUN_ID=${{ job.check_run_id }} in workflow)"
    )
    return RecomputeResult(
        run=after,
        counts_changed=before != _summary_tuple(after),
        unresolved=int(after["unresolved_count"]),
        ci_rerun_triggered=False,
        ci_rerun_error=error,
    )


def _summary_tuple(run: sqlite3.Row) -> tuple[int, ...]:
    return tuple(
        int(run[key])
        for key in ("total_snapshots", "changed_count", "new_count", "removed_count",
                    "unchanged_count", "unresolved_count", "tolerated_match_count")
    )


# -- quarantine ----------------------------------------------------------------------------------


def active_quarantined(conn: sqlite3.Connection, repo_id: str, run_type: str) -> set[str]:
    """Identifiers with an active quarantine (expires_at NULL or in the future)."""
    return {
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT identifier FROM quarantined_identifiers WHERE repo_id = ?"
            " AND run_type = ? AND (expires_at IS NULL OR expires_at > ?)",
            (repo_id, run_type, now()),
        )
    }


def restamp_quarantine(conn: sqlite3.Connection, run: sqlite3.Row) -> None:
    quarantined = active_quarantined(conn, str(run["repo_id"]), str(run["run_type"]))
    marks = ",".join("?" * len(quarantined))
    conn.execute("UPDATE run_snapshots SET is_quarantined = 0 WHERE run_id = ?", (run["id"],))
    if quarantined:
        conn.execute(
            f"UPDATE run_snapshots SET is_quarantined = 1 WHERE run_id = ?"
            f" AND identifier IN ({marks})",
            (run["id"], *quarantined),
        )


def quarantine(
    store: Store,
    project_id: int,
    repo_id: str,
    run_type: str,
    identifier: str,
    *,
    reason: str = "",
    expires_at: str | None = None,
    token_id: int | None = None,
    source: str = "human",
    source_run_id: str | None = None,
) -> sqlite3.Row:
    """Quarantine an identifier (expiring the previous active quarantine: an event log)."""
    get_repo(store, project_id, repo_id)
    if not RUN_TYPE_RE.match(run_type):
        raise Invalid("run_type must be 1..64 of [A-Za-z0-9_.-]", attr="run_type")
    if not identifier or len(identifier) > IDENTIFIER_MAX:
        raise Invalid(f"identifier must be 1..{IDENTIFIER_MAX} characters", attr="identifier")
    if len(reason) > 255:
        raise Invalid("reason must be at most 255 characters", attr="reason")
    if expires_at is not None:
        expires_at = _normalise_time(expires_at, "expires_at")
    if source_run_id is not None:
        source_run = get_run(store, project_id, source_run_id)
        if source_run["repo_id"] != repo_id:
            raise Invalid("source_run_id belongs to another repo", attr="source_run_id")
    stamp = now()
    row_id = new_id()
    with store.transaction() as conn:
        conn.execute(
            "UPDATE quarantined_identifiers SET expires_at = ?, updated_at = ? WHERE repo_id = ?"
            " AND run_type = ? AND identifier = ? AND (expires_at IS NULL OR expires_at > ?)",
            (stamp, stamp, repo_id, run_type, identifier, stamp),
        )
        conn.execute(
            "INSERT INTO quarantined_identifiers (id, repo_id, identifier, run_type, reason,"
            " source, expires_at, created_by_token_id, source_run_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row_id, repo_id, identifier, run_type, reason, source, expires_at, token_id,
             source_run_id, stamp, stamp),
        )
    row = store.query_one("SELECT * FROM quarantined_identifiers WHERE id = ?", (row_id,))
    assert row is not None
    return row


def unquarantine(
    store: Store, project_id: int, repo_id: str, run_type: str, identifier: str
) -> None:
    """Expire the active quarantine (set ``expires_at = now``; history is kept)."""
    get_repo(store, project_id, repo_id)
    stamp = now()
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE quarantined_identifiers SET expires_at = ?, updated_at = ? WHERE repo_id = ?"
            " AND run_type = ? AND identifier = ? AND (expires_at IS NULL OR expires_at > ?)",
            (stamp, stamp, repo_id, run_type, identifier, stamp),
        )
        if cursor.rowcount == 0:
            raise NotFound(
                f"{identifier!r} is not quarantined for run type {run_type!r}", attr="identifier"
            )


def list_quarantine(
    store: Store,
    project_id: int,
    repo_id: str,
    *,
    identifier: str | None = None,
    run_type: str | None = None,
) -> list[sqlite3.Row]:
    """Active quarantines; with ``identifier``, that identifier's full history (newest first)."""
    get_repo(store, project_id, repo_id)
    sql = "SELECT * FROM quarantined_identifiers WHERE repo_id = ?"
    params: list[Any] = [repo_id]
    if identifier is not None:
        sql += " AND identifier = ?"
        params.append(identifier)
    else:
        sql += " AND (expires_at IS NULL OR expires_at > ?)"
        params.append(now())
    if run_type is not None:
        sql += " AND run_type = ?"
        params.append(run_type)
    return store.query(sql + " ORDER BY seq DESC", tuple(params))


def _normalise_time(value: str, attr: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{attr} must be an ISO-8601 timestamp", attr=attr) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- queries -------------------------------------------------------------------------------------

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
    where, params = "project_id = ?", [project_id]  # type: str, list[Any]
    if repo_id is not None:
        get_repo(store, project_id, repo_id)
        where += " AND repo_id = ?"
        params.append(repo_id)
    selects = ", ".join(f"SUM({sql}) AS {name}" for name, sql in REVIEW_STATE_FILTERS.items())
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
) -> tuple[int, list[sqlite3.Row]]:
    """Runs, newest first, with PostHog's filters."""
    where, params = ["project_id = ?"], [project_id]  # type: list[str], list[Any]
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
    return int(total[0]) if total else 0, rows


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
    where, params = ["run_id = ?"], [run_id]  # type: list[str], list[Any]
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
        rows=rows,
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
) -> tuple[int, list[sqlite3.Row]]:
    """Deduped baseline timeline for one snapshot identity, newest first: one entry per
    baseline transition on the repo's default branches (PostHog ``get_snapshot_history``)."""
    repo = get_repo(store, project_id, repo_id)
    branches = loads(repo["default_branches"]) or ["main", "master"]
    marks = ",".join("?" * len(branches))
    rows = store.query(
        "SELECT rs.*, r.branch, r.commit_sha, r.pr_number, r.created_at AS run_created_at,"
        " r.repo_id FROM run_snapshots rs JOIN runs r ON r.id = rs.run_id"
        f" WHERE r.repo_id = ? AND r.run_type = ? AND rs.identifier = ? AND r.branch IN ({marks})"
        " AND r.status = 'completed' ORDER BY r.seq",
        (repo_id, run_type, identifier, *branches),
    )
    transitions: list[sqlite3.Row] = []
    previous: str | None = None
    for row in rows:
        baseline = str(row["baseline_hash"])
        if not transitions or baseline != previous:
            transitions.append(row)
        previous = baseline
    transitions.reverse()
    return len(transitions), transitions[offset : offset + limit]


def tolerated_hashes(
    store: Store, project_id: int, run_id: str, identifier: str
) -> list[sqlite3.Row]:
    """Live tolerations of ``identifier`` in the run's repo, newest first (PostHog
    ``runs/{id}/tolerated-hashes/``)."""
    run = get_run(store, project_id, run_id)
    return store.query(
        "SELECT * FROM tolerated_hashes WHERE repo_id = ? AND identifier = ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC",
        (run["repo_id"], identifier, now()),
    )
