"""Constants and the frozen records the review domain takes and returns (PostHog ``facade/contracts.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..store import Row

#: A content hash: BLAKE3 of the RGBA pixels, lower-case hex.
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
IDENTIFIER_MAX = 512
RUN_TYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PURPOSES = ("review", "observe")

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
    rows: list[Row]
    quarantined_count: int

@dataclass(frozen=True)
class RecomputeResult:
    run: Row
    counts_changed: bool
    unresolved: int
    ci_rerun_triggered: bool
    ci_rerun_error: str | None
