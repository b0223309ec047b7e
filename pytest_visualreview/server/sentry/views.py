"""Response bodies of the read APIs, key for key as Sentry's docs (seeds 000 and 001).

Pure functions from stored rows to JSON-ready dicts, so the shapes are tested without a server.
Where the seeds and the reference notes disagree, the seeds win (they are the published
contract): an image object in the details lists carries the six keys of seed 001 always, and
``description``, ``tags``, ``canvas_theme``, ``diff_threshold`` and passthrough sidecar keys only
when the upload set them. ``compact_metadata=1`` keeps ``display_name``, ``image_file_name``,
``group`` and ``description``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .categorize import STATUSES, ImageResult
from .manifest import ImageMeta, Manifest, VcsInfo

#: Sentry's ``MISSING_BASE_GRACE_PERIOD_SECONDS``: waiting_for_base turns into no_base_build.
MISSING_BASE_GRACE_SECONDS = 600
COMPACT_KEYS = ("display_name", "image_file_name", "group", "description")


@dataclass(frozen=True)
class SnapshotRow:
    """One uploaded snapshot (Sentry: PreprodArtifact + PreprodSnapshotMetrics)."""

    id: int
    project_id: int
    app_id: str
    manifest: Manifest
    vcs: VcsInfo
    created_at: float


@dataclass(frozen=True)
class ComparisonRow:
    """One head-vs-base comparison; ``results`` is filled once ``state`` is success."""

    id: int
    head_id: int
    base_id: int
    state: str  # pending | processing | success | failed
    error_message: str | None = None
    results: dict[str, ImageResult] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRow:
    """One objectstore file of a project: its blob, and its pixels' identity once decoded."""

    image_id: str
    blob_key: str
    content_type: str
    size_bytes: int
    pixel_hash: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ApprovalRow:
    """Sentry's PreprodComparisonApproval: ``approved`` or ``needs_approval``."""

    status: str
    approver_id: int | None = None
    approver_name: str | None = None
    approved_at: float | None = None
    auto: bool = False


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


def image_object(name: str, meta: ImageMeta, *, compact: bool = False) -> dict[str, Any]:
    """An image in the details lists (SnapshotImageResponse)."""
    full: dict[str, Any] = {
        "key": meta.content_hash,
        "display_name": meta.display_name,
        "group": meta.group,
        "image_file_name": name,
        "width": meta.width,
        "height": meta.height,
    }
    if compact:
        return {
            "display_name": meta.display_name,
            "image_file_name": name,
            "group": meta.group,
            "description": meta.description,
        }
    for key in ("description", "tags", "canvas_theme", "diff_threshold"):
        value = getattr(meta, key)
        if value is not None:
            full[key] = value
    for key, value in meta.extras.items():
        full.setdefault(key, value)
    return full


def _bare(name: str, content_hash: str | None, width: int | None, height: int | None) -> ImageMeta:
    return ImageMeta(content_hash=content_hash or "", width=width or 0, height=height or 0)


def _base_meta(name: str, result: ImageResult, base: Manifest | None) -> ImageMeta:
    """Base-side metadata, falling back to a bare object built from the result (Sentry's rule)."""
    old = result.previous_image_file_name or name
    if base is not None and old in base.images:
        return base.images[old]
    return _bare(old, result.base_hash, result.before_width, result.before_height)


def _head_meta(name: str, result: ImageResult, head: Manifest) -> ImageMeta:
    if name in head.images:
        return head.images[name]
    return _bare(name, result.head_hash, result.after_width, result.after_height)


def diff_pair(
    name: str, result: ImageResult, head: Manifest, base: Manifest | None, compact: bool
) -> dict[str, Any]:
    """A SnapshotDiffPair: both sides, the mask key and the changed fraction."""
    old = result.previous_image_file_name or name
    pair: dict[str, Any] = {
        "base_image": image_object(old, _base_meta(name, result, base), compact=compact),
        "head_image": image_object(name, _head_meta(name, result, head), compact=compact),
        "diff_image_key": None if result.status == "renamed" else result.diff_mask_image_id,
        "diff": None if result.status == "renamed" else result.diff,
    }
    if result.status == "errored":
        pair["reason"] = result.reason
    return pair


def comparison_state(
    snapshot: SnapshotRow,
    latest: ComparisonRow | None,
    base_exists: bool,
    now: float,
) -> str | None:
    """Sentry's derived state (reference notes §4.3)."""
    if latest is not None:
        return latest.state
    if snapshot.vcs.has_commit and snapshot.vcs.base_sha:
        late = now - snapshot.created_at > MISSING_BASE_GRACE_SECONDS
        return "no_base_build" if late and not base_exists else "waiting_for_base"
    return None


def approval_status(approvals: list[ApprovalRow]) -> str | None:
    if not approvals:
        return None
    latest = approvals[-1]
    if latest.status == "approved":
        return "auto_approved" if latest.auto else "approved"
    return "requires_approval"


def approver_object(row: ApprovalRow) -> dict[str, Any]:
    return {
        "id": str(row.approver_id) if row.approver_id is not None else None,
        "name": row.approver_name,
        "email": None,
        "username": row.approver_name,
        "avatar_url": None,
        "approved_at": iso(row.approved_at),
        "source": "sentry",
    }


def details(
    snapshot: SnapshotRow,
    *,
    latest: ComparisonRow | None,
    success: ComparisonRow | None,
    base: SnapshotRow | None,
    base_exists: bool,
    approvals: list[ApprovalRow],
    compact: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """``GET .../snapshots/{id}/``: seed 001. ``success`` is the latest successful comparison
    (its base is ``base``); the category lists are filled only from it."""
    head = snapshot.manifest
    vcs = snapshot.vcs if snapshot.vcs.has_commit else VcsInfo()
    shown = success or latest
    if shown is not None:
        comparison_type = "diff"
    elif vcs.base_sha:
        comparison_type = "waiting_for_base"
    else:
        comparison_type = "solo"
    lists: dict[str, list[dict[str, Any]]] = {status: [] for status in STATUSES}
    if success is not None:
        base_manifest = base.manifest if base is not None else None
        for name in sorted(success.results):
            result = success.results[name]
            if result.status in ("changed", "renamed", "errored"):
                lists[result.status].append(diff_pair(name, result, head, base_manifest, compact))
            elif result.status in ("added", "unchanged"):
                lists[result.status].append(
                    image_object(name, _head_meta(name, result, head), compact=compact)
                )
            else:  # removed, skipped: the base image
                lists[result.status].append(
                    image_object(name, _base_meta(name, result, base_manifest), compact=compact)
                )
        lists["changed"].sort(key=lambda pair: -(pair["diff"] or 0.0))
    out: dict[str, Any] = {
        "head_artifact_id": str(snapshot.id),
        "base_artifact_id": str(shown.base_id) if shown is not None else None,
        "project_id": str(snapshot.project_id),
        "comparison_type": comparison_type,
        "state": "UPLOADED",
        "vcs_info": vcs.to_dict(),
        "app_id": snapshot.app_id,
        "is_selective": head.selective,
        "images": [image_object(n, head.images[n], compact=compact) for n in sorted(head.images)],
        "image_count": len(head.images),
    }
    for status in ("added", "removed", "renamed", "changed", "unchanged", "errored", "skipped"):
        out[status] = lists[status]
        out[f"{status}_count"] = len(lists[status])
    out["diff_threshold"] = head.diff_threshold
    out["comparison_state"] = comparison_state(
        snapshot, latest, base_exists, time.time() if now is None else now
    )
    out["approval_status"] = approval_status(approvals)
    out["comparison_error_message"] = (
        latest.error_message if latest is not None and latest.state == "failed" else None
    )
    out["approvers"] = [approver_object(a) for a in approvals if a.status == "approved" and not a.auto]
    return out


def detail_image(name: str, meta: ImageMeta, manifest: Manifest, image_url: str) -> dict[str, Any]:
    """One side of the image-detail response (seed 000)."""
    threshold = meta.diff_threshold
    if threshold is None:
        threshold = manifest.diff_threshold
    out: dict[str, Any] = {
        "content_hash": meta.content_hash,
        "display_name": meta.display_name,
        "group": meta.group,
        "image_file_name": name,
        "width": meta.width,
        "height": meta.height,
        "diff_threshold": threshold,
        "description": meta.description,
        "tags": meta.tags,
        "image_url": image_url,
    }
    for key, value in meta.extras.items():
        out.setdefault(key, value)
    return out


def find_image(identifier: str, head: Manifest, results: dict[str, ImageResult] | None) -> str | None:
    """Resolve an image identifier: head file name, head content hash, then (with a comparison)
    a result name or base hash, which finds removed and skipped images."""
    if identifier in head.images:
        return identifier
    for name in sorted(head.images):
        if head.images[name].content_hash == identifier:
            return name
    if results:
        if identifier in results:
            return identifier
        for name in sorted(results):
            if results[name].base_hash == identifier:
                return name
    return None


def image_detail(
    name: str,
    *,
    head: Manifest,
    base: Manifest | None,
    result: ImageResult | None,
    files_url: str,
) -> dict[str, Any]:
    """``GET .../snapshots/{id}/images/{identifier}/``: seed 000.

    ``files_url`` is ``/api/0/projects/{org}/{project}/files/images/``; image ids are appended.
    """

    def url(image_id: str) -> str:
        return f"{files_url}{image_id}/"

    def side(side_name: str, meta: ImageMeta, manifest: Manifest | None) -> dict[str, Any]:
        return detail_image(side_name, meta, manifest or Manifest(images={}), url(meta.content_hash))

    head_image: dict[str, Any] | None = None
    base_image: dict[str, Any] | None = None
    if name in head.images:
        head_image = side(name, head.images[name], head)
    status = result.status if result is not None else None
    if result is not None and status != "added":
        base_meta = _base_meta(name, result, base)
        base_image = side(result.previous_image_file_name or name, base_meta, base)
        if status == "skipped":
            head_image = base_image
        if status == "removed":
            head_image = None
    diff_url = None
    diff_percentage = None
    if result is not None and status == "changed":
        diff_url = url(result.diff_mask_image_id) if result.diff_mask_image_id else None
        diff_percentage = result.diff
    return {
        "image_file_name": name,
        "comparison_status": status,
        "head_image": head_image,
        "base_image": base_image,
        "diff_image_url": diff_url,
        "diff_percentage": diff_percentage,
        "previous_image_file_name": result.previous_image_file_name if result else None,
    }


def latest_base(
    snapshot: SnapshotRow, project_slug: str, files_url: str, *, compact: bool = False
) -> dict[str, Any]:
    """``GET .../snapshots/latest-base/``: the base a local ``snapshots diff`` should use."""
    vcs = snapshot.vcs if snapshot.vcs.has_commit else VcsInfo()
    images = []
    for name in sorted(snapshot.manifest.images):
        meta = snapshot.manifest.images[name]
        image = image_object(name, meta, compact=compact)
        image["image_url"] = f"{files_url}{meta.content_hash}/"
        images.append(image)
    return {
        "head_artifact_id": str(snapshot.id),
        "project_id": str(snapshot.project_id),
        "project_slug": project_slug,
        "app_id": snapshot.app_id,
        "image_count": len(images),
        "images": images,
        "diff_threshold": snapshot.manifest.diff_threshold,
        "date_added": iso(snapshot.created_at),
        "vcs_info": {
            "head_sha": vcs.head_sha,
            "base_sha": vcs.base_sha,
            "head_ref": vcs.head_ref,
            "base_ref": vcs.base_ref,
            "head_repo_name": vcs.head_repo_name,
            "pr_number": vcs.pr_number,
        },
    }
