"""Quarantine: flaky identifiers whose changes do not block a run, stamped per run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import Invalid, NotFound
from ..repos import get_repo
from ..store import Connection, Store, new_id, now
from .contracts import IDENTIFIER_MAX, RUN_TYPE_RE, Quarantine, Run
from .queries import get_run


def active_quarantined(conn: Connection, repo_id: str, run_type: str) -> set[str]:
    """Identifiers with an active quarantine (expires_at NULL or in the future)."""
    return {
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT identifier FROM quarantined_identifiers WHERE repo_id = ?"
            " AND run_type = ? AND (expires_at IS NULL OR expires_at > ?)",
            (repo_id, run_type, now()),
        )
    }

def restamp_quarantine(conn: Connection, run: Run) -> None:
    quarantined = active_quarantined(conn, str(run.repo_id), str(run.run_type))
    marks = ",".join("?" * len(quarantined))
    conn.execute("UPDATE run_snapshots SET is_quarantined = 0 WHERE run_id = ?", (run.id,))
    if quarantined:
        conn.execute(
            f"UPDATE run_snapshots SET is_quarantined = 1 WHERE run_id = ?"
            f" AND identifier IN ({marks})",
            (run.id, *quarantined),
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
) -> Quarantine:
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
        if source_run.repo_id != repo_id:
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
    return Quarantine.from_row(row)

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
) -> list[Quarantine]:
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
    return [Quarantine.from_row(r) for r in store.query(sql + " ORDER BY seq DESC", tuple(params))]

def _normalise_time(value: str, attr: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{attr} must be an ISO-8601 timestamp", attr=attr) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
