"""The one org/project resolver: a URL's organization and project, by numeric id or by slug.

Sentry-style URLs name both (``/api/0/projects/{org}/{project}/...``) and sentry-cli sends either
form; the PostHog API names the project by id. Unknown names are 404s naming the URL part. The
answers are frozen records (:class:`Organization`, :class:`Project`), mapped from their rows here
and nowhere else, so callers never index a database row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import NotFound
from .store import Row, Store


@dataclass(frozen=True)
class Organization:
    id: int
    slug: str
    name: str

    @classmethod
    def from_row(cls, row: Row) -> Organization:
        return cls(id=int(row["id"]), slug=str(row["slug"]), name=str(row["name"]))


@dataclass(frozen=True)
class Project:
    id: int
    organization_id: int
    slug: str
    name: str

    @classmethod
    def from_row(cls, row: Row) -> Project:
        return cls(
            id=int(row["id"]), organization_id=int(row["organization_id"]),
            slug=str(row["slug"]), name=str(row["name"]),
        )


def is_id(text: str) -> bool:
    """ASCII digits that fit a 64-bit integer (``str.isdigit`` accepts "²", which int() refuses)."""
    return re.fullmatch(r"[0-9]{1,18}", text) is not None


def organization(store: Store, org: str) -> Organization:
    """The organization named by id or slug, or 404 on ``organization_id_or_slug``."""
    column = "id" if is_id(org) else "slug"
    row = store.query_one(f"SELECT * FROM organizations WHERE {column} = ?", (org,))
    if row is None:
        raise NotFound(f"organization {org!r} not found", attr="organization_id_or_slug")
    return Organization.from_row(row)


def project(store: Store, org: str, project_name: str) -> tuple[Organization, Project]:
    """``(organization, project)`` for a URL's two names, or 404 naming the missing one."""
    found = organization(store, org)
    column = "id" if is_id(project_name) else "slug"
    row = store.query_one(
        f"SELECT * FROM projects WHERE organization_id = ? AND {column} = ?",
        (found.id, project_name),
    )
    if row is None:
        raise NotFound(f"project {project_name!r} not found", attr="project_id_or_slug")
    return found, Project.from_row(row)


def project_by_id(store: Store, project_id: int) -> Project | None:
    """The project with ``project_id`` (a token's), or None."""
    row = store.query_one("SELECT * FROM projects WHERE id = ?", (project_id,))
    return None if row is None else Project.from_row(row)
