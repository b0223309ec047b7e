"""The run manifest: what a session tells a review server, built from its records.

Pure data, JSON round-trippable, so a manifest can be spooled to disk when the server is down and
sent later by `visualreview upload` exactly as it would have been sent.
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
                    **{k: v for k, v in record.metadata.items() if k != "threshold"},
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
