"""The run manifest: what a session tells a review server, built from its records.

Pure data, JSON round-trippable, so a manifest can be spooled to disk when the server is down and
sent later by `visualreview upload` exactly as it would have been sent.

Each snapshot entry is PostHog's `{identifier, content_hash, width, height, metadata}`. Its
`metadata` carries the plugin's `nodeid` and `name`, the hooks' keys, and `tolerance`: the values
the snapshot was judged with locally, so a server can judge it the same way::

    "metadata": {"nodeid": "...", "name": "box",
                 "tolerance": {"threshold": 0.1, "max_diff_pixels": null, "max_diff_pixel_ratio": null}}

`null` means not set (Playwright's rule: the budget is the smaller of the limits that are set, and
0 pixels when neither is). The tolerance rides inside `metadata`, not as a new per-snapshot key,
because `metadata` is the manifest's documented free-JSON field: PostHog's server stores it
as given, our server keeps it for classification, and older clients and servers that know nothing
of tolerances pass it through untouched. A new top-level key per snapshot would be silently
dropped by both servers' request models (they ignore unknown fields), so a server could not tell
"no tolerance sent" from "old server", and no contract describes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import Outcome, SnapshotRecord
from .vcs import VcsInfo


@dataclass(frozen=True)
class Manifest:
    repo_id: str
    run_type: str
    branch: str
    commit_sha: str
    pr_number: int | None
    purpose: str
    is_partial: bool
    snapshots: list[dict[str, Any]]
    baseline_hashes: dict[str, str]
    images: dict[str, str] = field(default_factory=dict)  # content hash -> PNG path
    metadata: dict[str, Any] = field(default_factory=dict)

    def create_payload(self) -> dict[str, Any]:
        """The body of `POST runs/` (PostHog's create-run contract)."""
        return {
            "repo_id": self.repo_id,
            "run_type": self.run_type,
            "commit_sha": self.commit_sha,
            "branch": self.branch,
            "pr_number": self.pr_number,
            "purpose": self.purpose,
            "is_partial": self.is_partial,
            "metadata": self.metadata,
            "snapshots": self.snapshots,
            "baseline_hashes": self.baseline_hashes,
        }

    def read_image(self, content_hash: str) -> bytes:
        """The PNG bytes of one of the manifest's images."""
        return Path(self.images[content_hash]).read_bytes()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(**data)


def build(
    records: Iterable[SnapshotRecord],
    *,
    repo_id: str,
    run_type: str,
    vcs: VcsInfo,
    purpose: str,
    is_partial: bool,
    baseline_tokens: dict[str, str],
    metadata: dict[str, Any] | None = None,
) -> Manifest:
    """Every snapshot that produced an image goes in; errors have no image and stay local.

    `baseline_tokens` are the entries of snapshots.yml, sent verbatim (signed tokens) so the server
    can verify them. Always the whole file, even for a partial run: the baseline the server returns
    on approval can only keep the entries it was given, and a partial run reports no removals.
    """
    snapshots: list[dict[str, Any]] = []
    images: dict[str, str] = {}
    seen: set[str] = set()
    for record in sorted(records, key=lambda r: r.identifier):
        if record.outcome is Outcome.ERROR or not record.actual_path or record.identifier in seen:
            continue
        seen.add(record.identifier)
        images[record.content_hash] = record.actual_path
        snapshots.append(
            {
                "identifier": record.identifier,
                "content_hash": record.content_hash,
                "width": record.width,
                "height": record.height,
                "metadata": {
                    "nodeid": record.nodeid,
                    "name": record.name,
                    **record.metadata,
                },
            }
        )
    return Manifest(
        repo_id=repo_id,
        run_type=run_type,
        branch=vcs.branch,
        commit_sha=vcs.commit_sha,
        pr_number=vcs.pr_number,
        purpose=purpose,
        is_partial=is_partial,
        snapshots=snapshots,
        baseline_hashes=dict(baseline_tokens),
        images=images,
        metadata=dict(metadata or {}),
    )
