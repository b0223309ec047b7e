"""The one org/project resolver: a URL's organization and project, by numeric id or by slug.

Sentry-style URLs name both (``/api/0/projects/{org}/{project}/...``) and sentry-cli sends either
form; the PostHog API names the project by id. Unknown names are 404s naming the URL part.
"""

from __future__ import annotations

import re

from .errors import NotFound
from .store import Row, Store


def is_id(text: str) -> bool:
    """ASCII digits that fit a 64-bit integer (``str.isdigit`` accepts "²", which int() refuses)."""
    return re.fullmatch(r"[0-9]{1,18}", text) is not None


def organization(store: Store, org: str) -> Row:
    """The organization named by id or slug, or 404 on ``organization_id_or_slug``."""
    column = "id" if is_id(org) else "slug"
    row = store.query_one(f"SELECT * FROM organizations WHERE {column} = ?", (org,))
    if row is None:
        raise NotFound(f"organization {org!r} not found", attr="organization_id_or_slug")
    return row


def project(store: Store, org: str, project_name: str) -> tuple[Row, Row]:
    """``(organization, project)`` rows for a URL's two names, or 404 naming the missing one."""
    org_row = organization(store, org)
    column = "id" if is_id(project_name) else "slug"
    row = store.query_one(
        f"SELECT * FROM projects WHERE organization_id = ? AND {column} = ?",
        (org_row["id"], project_name),
    )
    if row is None:
        raise NotFound(f"project {project_name!r} not found", attr="project_id_or_slug")
    return org_row, row
