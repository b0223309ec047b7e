"""Server-side baselines: the accepted state per (repo, run type, branch), with its history.

Why: PostHog's current ``vr`` CLI sends no ``baseline_hashes`` (PostHog's server reads
``snapshots.yml`` from the repository). This server cannot read the repository, so it keeps what
was accepted itself, and a run that brings no ``baseline_hashes`` is compared with that.

The rules (docs/server.md "Server-side baselines" has an example timeline):

- A completed, current (not superseded) run on one of the repo's ``default_branches`` establishes
  that branch's state: every snapshot it rendered is accepted at its hash and, for a full (not
  ``is_partial``) run, every identifier it no longer renders is accepted as removed. This is how
  Argos and Chromatic treat builds of the reference branch.
- Approve, finalize and auto-approve accept what they approved for the run's own branch (removals
  as removed). On a default branch this overrides the run's own entries; approving a PR run never
  touches the default branch's state. Rejecting a snapshot the run had approved undoes that, as
  long as nothing has moved the entry since.
- A run without ``baseline_hashes`` is compared, at ``complete``, with its branch's state laid
  over the default branch's (the first of ``default_branches`` that has a state): the stand-in for
  "the tip's ``snapshots.yml`` merged over the merge-base's". The effective baseline is copied into
  ``run_baselines`` (token :data:`SERVER_TOKEN`), so classification, removals and
  ``baseline_content`` work exactly as for a client-sent baseline. A run that sent
  ``baseline_hashes`` uses those only: client-sent signed hashes win.
- Merge stand-in: when a default-branch run shows a change, addition or removal that some other
  branch of the repo has accepted (the PR that was approved and merged), that snapshot is approved
  with the reviewer's decision, so the run after a merge is not red for what was reviewed.

Entries hold ``content_hash`` '' for "accepted as removed", so a branch's removal hides the
default branch's entry. Every change of an entry appends a row to the history table.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Connection, new_id, now
from .contracts import Repo, Run, RunSnapshot
from .enums import AcceptSource, ReviewState, RunStatus, SnapshotResult

#: The ``run_baselines.token`` of entries the server filled in from the accepted state.
SERVER_TOKEN = "server"


@dataclass(frozen=True)
class Scope:
    """Whose state: one repo's run type on one branch."""

    repo_id: str
    run_type: str
    branch: str


@dataclass(frozen=True)
class HistoryEntry:
    """One change of one identifier's accepted hash ('' = accepted as removed)."""

    identifier: str
    content_hash: str
    previous_hash: str
    source: AcceptSource
    source_run_id: str | None
    created_at: str


def state(conn: Connection, scope: Scope) -> dict[str, str]:
    """The branch's own entries, removals ('') included."""
    return {
        str(r["identifier"]): str(r["content_hash"])
        for r in conn.execute(
            "SELECT identifier, content_hash FROM accepted_baselines"
            " WHERE repo_id = ? AND run_type = ? AND branch = ?",
            (scope.repo_id, scope.run_type, scope.branch),
        )
    }


def effective(conn: Connection, repo: Repo, scope: Scope) -> dict[str, str]:
    """identifier -> hash a run of ``scope`` is compared with: its branch's state over the
    default branch's (for a default branch, only its own), removals dropped."""
    merged: dict[str, str] = {}
    if scope.branch not in repo.default_branches:
        for branch in repo.default_branches:
            base = state(conn, Scope(scope.repo_id, scope.run_type, branch))
            if base:
                merged = base
                break
    merged.update(state(conn, scope))
    return {identifier: hash_ for identifier, hash_ in merged.items() if hash_}


def accept(
    conn: Connection, scope: Scope, entries: dict[str, str], source: AcceptSource, run_id: str
) -> int:
    """Make ``entries`` (identifier -> hash, '' = removed) the scope's accepted state; append
    history for each entry that changes. Returns how many changed."""
    current = state(conn, scope)
    stamp = now()
    changed = 0
    for identifier, content_hash in sorted(entries.items()):
        previous = current.get(identifier)
        if previous == content_hash:
            continue  # a removal with no entry is still recorded: it hides the default branch's
        changed += 1
        conn.execute(
            "INSERT INTO accepted_baselines (repo_id, run_type, branch, identifier, content_hash,"
            " source, source_run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (repo_id, run_type, branch, identifier) DO UPDATE SET"
            " content_hash = excluded.content_hash, source = excluded.source,"
            " source_run_id = excluded.source_run_id, updated_at = excluded.updated_at",
            (scope.repo_id, scope.run_type, scope.branch, identifier, content_hash, source,
             run_id, stamp),
        )
        conn.execute(
            "INSERT INTO accepted_baseline_history (id, repo_id, run_type, branch, identifier,"
            " content_hash, previous_hash, source, source_run_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new_id(), scope.repo_id, scope.run_type, scope.branch, identifier, content_hash,
             previous or "", source, run_id, stamp),
        )
    return changed


def history(conn: Connection, scope: Scope, identifier: str) -> list[HistoryEntry]:
    """An identifier's accepted hashes on one branch, oldest first."""
    return [
        HistoryEntry(str(r["identifier"]), str(r["content_hash"]), str(r["previous_hash"]),
                     AcceptSource(r["source"]), r["source_run_id"], str(r["created_at"]))
        for r in conn.execute(
            "SELECT * FROM accepted_baseline_history WHERE repo_id = ? AND run_type = ?"
            " AND branch = ? AND identifier = ? ORDER BY created_at, id",
            (scope.repo_id, scope.run_type, scope.branch, identifier),
        )
    ]


def _scope(run: Run) -> Scope:
    return Scope(run.repo_id, run.run_type, run.branch)


def _run(conn: Connection, run_id: str) -> Run | None:
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else Run.from_row(row)


def _repo(conn: Connection, run: Run) -> Repo:
    repo = conn.execute("SELECT * FROM repos WHERE id = ?", (run.repo_id,)).fetchone()
    assert repo is not None, "a run's repo exists (foreign key)"
    return Repo.from_row(repo)


def fill_run_baselines(conn: Connection, run: Run) -> int:
    """At ``complete``: a run that brought no ``baseline_hashes`` gets the effective accepted
    state as its baseline. Returns how many entries were filled in (0 when the client sent any)."""
    sent = conn.execute(
        "SELECT 1 FROM run_baselines WHERE run_id = ? LIMIT 1", (run.id,)
    ).fetchone()
    if sent is not None:
        return 0
    entries = effective(conn, _repo(conn, run), _scope(run))
    conn.executemany(
        "INSERT INTO run_baselines (run_id, identifier, token, content_hash) VALUES (?, ?, ?, ?)",
        [(run.id, identifier, SERVER_TOKEN, hash_) for identifier, hash_ in entries.items()],
    )
    return len(entries)


def record_approvals(conn: Connection, run_id: str, source: AcceptSource) -> int:
    """After approve / finalize / auto-approve: accept the run's approved snapshots for its
    branch (approved removals as removed)."""
    run = _run(conn, run_id)
    assert run is not None
    entries = {
        str(r["identifier"]): (
            "" if r["result"] == SnapshotResult.REMOVED
            else str(r["approved_hash"] or r["current_hash"])
        )
        for r in conn.execute(
            "SELECT identifier, result, approved_hash, current_hash FROM run_snapshots"
            " WHERE run_id = ? AND review_state = ?",
            (run_id, ReviewState.APPROVED),
        )
    }
    return accept(conn, _scope(run), entries, source, run_id)


def undo_approval(conn: Connection, run_id: str, snapshot: RunSnapshot) -> int:
    """A snapshot this run had approved is rejected: if its branch still holds what this run
    accepted, put back what the run was compared with (its baseline; none for a new snapshot)."""
    run = _run(conn, run_id)
    assert run is not None
    identifier = snapshot.identifier
    held = conn.execute(
        "SELECT source_run_id FROM accepted_baselines WHERE repo_id = ? AND run_type = ?"
        " AND branch = ? AND identifier = ?",
        (run.repo_id, run.run_type, run.branch, identifier),
    ).fetchone()
    if held is None or held["source_run_id"] != run_id:
        return 0  # a later run or approval has moved it since: leave that alone
    restored = "" if snapshot.result == SnapshotResult.NEW else snapshot.baseline_hash
    return accept(conn, _scope(run), {identifier: restored}, AcceptSource.REJECTED, run_id)


def on_completed(conn: Connection, run_id: str) -> None:
    """A run just finished processing: on a default branch, carry over what other branches
    accepted (the merge stand-in), then establish the branch's state from the run."""
    run = _run(conn, run_id)
    if run is None or run.status != RunStatus.COMPLETED or run.superseded_by_id:
        return
    if run.branch not in _repo(conn, run).default_branches:
        return
    _approve_accepted_elsewhere(conn, run)
    rows = conn.execute(
        "SELECT identifier, result, current_hash FROM run_snapshots WHERE run_id = ?", (run_id,)
    ).fetchall()
    entries = {
        str(r["identifier"]): "" if r["result"] == SnapshotResult.REMOVED else str(r["current_hash"])
        for r in rows
        if r["result"] != SnapshotResult.REMOVED or not run.is_partial
    }
    accept(conn, _scope(run), entries, AcceptSource.DEFAULT_BRANCH_RUN, run_id)


def _approve_accepted_elsewhere(conn: Connection, run: Run) -> None:
    """Approve the run's pending changes whose new state another branch has accepted."""
    stamp = now()
    conn.execute(
        "UPDATE run_snapshots SET review_state = 'approved', approved_hash = current_hash,"
        " reviewed_at = ? WHERE run_id = ? AND review_state = 'pending'"
        " AND result IN ('changed', 'new', 'removed') AND EXISTS ("
        "  SELECT 1 FROM accepted_baselines a WHERE a.repo_id = ? AND a.run_type = ?"
        "  AND a.branch != ? AND a.identifier = run_snapshots.identifier"
        "  AND a.content_hash = run_snapshots.current_hash)",
        (stamp, run.id, run.repo_id, run.run_type, run.branch),
    )
