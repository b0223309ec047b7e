"""Baselines: verifying the client's signed ``snapshots.yml`` entries and signing the one a run produces."""

from __future__ import annotations

from ... import snapshots_yml
from .. import signing
from ..errors import Invalid
from ..repos import get_repo
from ..store import Connection, Store
from .contracts import HASH_RE, IDENTIFIER_MAX
from .enums import ReviewState, SnapshotResult
from .queries import get_run


def validate_baseline_hashes(baseline_hashes: dict[str, str]) -> None:
    for identifier, token in baseline_hashes.items():
        if not identifier or len(identifier) > IDENTIFIER_MAX:
            raise Invalid("baseline_hashes keys must be identifiers", attr="baseline_hashes")
        if not isinstance(token, str) or len(token) > 256:
            raise Invalid(
                f"baseline_hashes[{identifier!r}] must be a hash or a signed token",
                attr=f"baseline_hashes.{identifier}",
            )

def stored_baseline(conn: Connection, run_id: str, identifier: str) -> str | None:
    row = conn.execute(
        "SELECT content_hash FROM run_baselines WHERE run_id = ? AND identifier = ?",
        (run_id, identifier),
    ).fetchone()
    return str(row[0]) if row and row[0] else None

def verify_token(
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

def build_baseline(store: Store, project_id: int, run_id: str, api_url: str = "") -> str:
    """The signed ``snapshots.yml`` after this run: the client's verified baseline, minus removed
    identifiers, with approved snapshots at their new hash; unapproved new snapshots are left out
    and unapproved or tolerated changes keep their old baseline."""
    run = get_run(store, project_id, run_id)
    repo = get_repo(store, project_id, run.repo_id)
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
        if row["result"] == SnapshotResult.REMOVED:
            if row["review_state"] == ReviewState.APPROVED:
                entries.pop(identifier, None)
        elif row["review_state"] == ReviewState.APPROVED:
            entries[identifier] = str(row["approved_hash"] or row["current_hash"])
        elif row["result"] == SnapshotResult.UNCHANGED:
            entries[identifier] = str(row["baseline_hash"] or row["current_hash"])
    keys = repo.signing_keys
    tokens = {
        identifier: signing.sign_with(keys, repo.id, identifier, content_hash)
        for identifier, content_hash in entries.items()
    }
    config = {"api": api_url, "team": str(project_id), "repo": repo.id} if api_url else {
        "team": str(project_id), "repo": repo.id}
    return snapshots_yml.dumps(tokens, config)
