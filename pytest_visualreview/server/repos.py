"""Repos: the unit that owns runs, images (artifacts), signing keys and review history.

A repo belongs to one project. Its signing keys are generated on creation (PostHog generates them
on first use; generating up front means the first approval never races key creation).
``trust_unsigned_baselines`` lets a team moving from local baselines to the server use hashes from
a ``snapshots.yml`` the server never signed; without it such entries count as "no baseline".
"""

from __future__ import annotations

from typing import Any

from . import resolve, signing
from .errors import Invalid, NotFound
from .review.contracts import Repo
from .store import Store, dumps, new_id, now

NAME_MAX = 255


def create_repo(
    store: Store,
    project_id: int,
    name: str,
    *,
    external_id: int | None = None,
    trust_unsigned: bool = False,
) -> Repo:
    """Create a repo named ``name`` (usually ``owner/name``) in ``project_id``."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise Invalid(f"repo_full_name must be 1..{NAME_MAX} characters", attr="repo_full_name")
    if external_id is not None and not 0 <= external_id < 2**63:
        raise Invalid("repo_external_id must be a positive 64-bit integer",
                      attr="repo_external_id")
    if resolve.project_by_id(store, project_id) is None:
        raise NotFound(f"project {project_id} not found", attr="project")
    repo_id = new_id()
    kid, secret = signing.new_key()
    stamp = now()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO repos (id, project_id, repo_full_name, repo_external_id, signing_keys,"
            " trust_unsigned_baselines, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (repo_id, project_id, name, external_id, dumps({kid: secret}), int(trust_unsigned),
             stamp, stamp),
        )
    return get_repo(store, project_id, repo_id)


def get_repo(store: Store, project_id: int, repo_id: str, *, attr: str = "repo_id") -> Repo:
    """The repo, or 404 when it does not exist in this project."""
    row = store.query_one(
        "SELECT * FROM repos WHERE id = ? AND project_id = ?", (str(repo_id), project_id)
    )
    if row is None:
        raise NotFound(f"repo {repo_id} not found", attr=attr)
    return Repo.from_row(row)


def list_repos(store: Store, project_id: int) -> list[Repo]:
    return [Repo.from_row(row) for row in store.query(
        "SELECT * FROM repos WHERE project_id = ? ORDER BY created_at", (project_id,)
    )]


def update_repo(store: Store, project_id: int, repo_id: str, **changes: Any) -> Repo:
    """Update settable fields: ``repo_full_name``, ``baseline_file_paths``,
    ``trust_unsigned_baselines``, ``default_branches``."""
    get_repo(store, project_id, repo_id)
    columns: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "repo_full_name":
            if not str(value).strip() or len(str(value)) > NAME_MAX:
                raise Invalid(f"repo_full_name must be 1..{NAME_MAX} characters", attr=key)
            columns[key] = str(value).strip()
        elif key == "baseline_file_paths":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise Invalid("baseline_file_paths must map run types to paths", attr=key)
            columns[key] = dumps(value)
        elif key == "trust_unsigned_baselines":
            columns[key] = int(bool(value))
        elif key == "default_branches":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise Invalid("default_branches must be a list of branch names", attr=key)
            columns[key] = dumps(value)
        else:
            raise Invalid(f"unknown repo field {key!r}", attr=key)
    if columns:
        assignments = ", ".join(f"{column} = ?" for column in columns)
        with store.transaction() as conn:
            conn.execute(
                f"UPDATE repos SET {assignments}, updated_at = ? WHERE id = ?",
                (*columns.values(), now(), repo_id),
            )
    return get_repo(store, project_id, repo_id)


def rotate_key(store: Store, project_id: int, repo_id: str) -> str:
    """Add a new signing key (it becomes active if its kid sorts last); old tokens still verify."""
    keys = dict(get_repo(store, project_id, repo_id).signing_keys)
    kid, secret = signing.new_key()
    while kid in keys or kid < max(keys, default=""):
        kid, secret = signing.new_key()
    keys[kid] = secret
    with store.transaction() as conn:
        conn.execute(
            "UPDATE repos SET signing_keys = ?, updated_at = ? WHERE id = ?",
            (dumps(keys), now(), repo_id),
        )
    return kid


def repo_json(repo: Repo) -> dict[str, Any]:
    """The repo as the API returns it (keys are never exposed)."""
    return {
        "id": repo.id,
        "repo_external_id": repo.repo_external_id,
        "repo_full_name": repo.repo_full_name,
        "baseline_file_paths": repo.baseline_file_paths,
        "enable_pr_comments": False,
        "debt_digest_enabled": False,
        "trust_unsigned_baselines": repo.trust_unsigned_baselines,
        "default_branches": repo.default_branches,
        "created_at": repo.created_at,
        "updated_at": repo.updated_at,
    }
