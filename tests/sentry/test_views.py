"""Response shapes of the read APIs, key for key against seeds 000 and 001."""

from __future__ import annotations

import re
from typing import Any

from pytest_visualreview.server.sentry import views as v
from pytest_visualreview.server.sentry.categorize import ImageResult, plan
from pytest_visualreview.server.sentry.manifest import ImageMeta, Manifest, VcsInfo

from .seed_shapes import IMAGE_DETAIL, SNAPSHOT_DETAILS


def shape(value: Any) -> Any:
    """Keys (recursively, lists by their first element), not values."""
    if isinstance(value, dict):
        return {k: shape(x) for k, x in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


HOME = "home_screen_iphone15.png"
VCS = VcsInfo(
    head_sha="a" * 40,
    base_sha="b" * 40,
    provider="github",
    head_repo_name="org/repo",
    base_repo_name="org/repo",
    head_ref="feature-branch",
    base_ref="main",
    pr_number=42,
)


def seed_like() -> tuple[v.SnapshotRow, v.SnapshotRow, v.ComparisonRow]:
    meta = dict(display_name="Home Screen", group="iPhone 15", width=1170, height=2532)
    head = Manifest(images={HOME: ImageMeta("a1b2", **meta)}, diff_threshold=0.01)  # type: ignore[arg-type]
    base = Manifest(images={HOME: ImageMeta("old1", **meta)}, diff_threshold=0.01)  # type: ignore[arg-type]
    p = plan(head, base)
    assert p.candidates == [HOME]
    result = ImageResult(
        "changed",
        head_hash="a1b2",
        base_hash="old1",
        changed_pixels=2,
        total_pixels=100,
        diff_mask_image_id="100/99/diff/home_screen_iphone15.png",
    )
    head_row = v.SnapshotRow(100, 1, "com.example.app", head, VCS, 0.0)
    base_row = v.SnapshotRow(99, 1, "com.example.app", base, VcsInfo(), 0.0)
    comp = v.ComparisonRow(1, 100, 99, "success", results={HOME: result})
    return head_row, base_row, comp


def test_details_matches_seed_001_key_for_key() -> None:
    head, base, comp = seed_like()
    out = v.details(
        head,
        latest=comp,
        success=comp,
        base=base,
        base_exists=True,
        approvals=[v.ApprovalRow("needs_approval")],
    )
    seed = SNAPSHOT_DETAILS
    assert list(out) == list(seed)
    assert shape(out) == shape(seed)
    assert out["changed"][0]["diff"] == 0.02
    assert out["comparison_type"] == "diff" and out["comparison_state"] == "success"
    assert out["approval_status"] == "requires_approval"
    assert out["head_artifact_id"] == "100" and out["base_artifact_id"] == "99"


def test_details_compact_metadata_keeps_four_keys() -> None:
    head, base, comp = seed_like()
    out = v.details(head, latest=comp, success=comp, base=base, base_exists=True, approvals=[], compact=True)
    keys = ["display_name", "image_file_name", "group", "description"]
    assert list(out["images"][0]) == keys
    assert list(out["changed"][0]["head_image"]) == keys
    assert list(out["changed"][0]["base_image"]) == keys


def test_details_without_comparison_waits_then_gives_up() -> None:
    head, _, _ = seed_like()
    out = v.details(head, latest=None, success=None, base=None, base_exists=False, approvals=[], now=10.0)
    assert out["comparison_type"] == "waiting_for_base"
    assert out["comparison_state"] == "waiting_for_base"
    assert out["base_artifact_id"] is None and out["changed"] == [] and out["image_count"] == 1
    late = v.details(head, latest=None, success=None, base=None, base_exists=False, approvals=[], now=601.0)
    assert late["comparison_state"] == "no_base_build"
    solo = v.SnapshotRow(5, 1, "x", head.manifest, VcsInfo(head_sha="c" * 40), 0.0)
    out = v.details(solo, latest=None, success=None, base=None, base_exists=False, approvals=[])
    assert out["comparison_type"] == "solo" and out["comparison_state"] is None
    # head_sha alone is no commit (Sentry needs head_sha, provider, repo and ref)
    assert out["vcs_info"]["head_sha"] is None


def test_image_detail_matches_seed_000_key_for_key() -> None:
    head, base, comp = seed_like()
    files = "/api/0/projects/org-slug/project-slug/files/images/"
    out = v.image_detail(
        HOME, head=head.manifest, base=base.manifest, result=comp.results[HOME], files_url=files
    )
    seed = IMAGE_DETAIL
    assert list(out) == list(seed)
    assert shape(out) == shape(seed)
    assert out["head_image"]["image_url"] == f"{files}a1b2/"
    assert out["base_image"]["image_url"] == f"{files}old1/"
    assert out["diff_image_url"] == f"{files}100/99/diff/home_screen_iphone15.png/"
    assert out["diff_percentage"] == 0.02
    assert out["head_image"]["diff_threshold"] == 0.01


def test_image_detail_removed_renamed_and_no_comparison() -> None:
    head = Manifest(images={"new.png": ImageMeta("h", 1, 1)})
    base = Manifest(images={"old.png": ImageMeta("h", 1, 1), "gone.png": ImageMeta("g", 2, 2)})
    results = plan(head, base).results
    files = "/f/"
    renamed = v.image_detail("new.png", head=head, base=base, result=results["new.png"], files_url=files)
    assert renamed["comparison_status"] == "renamed"
    assert renamed["previous_image_file_name"] == "old.png"
    assert renamed["base_image"]["image_file_name"] == "old.png"
    assert v.find_image("g", head, results) == "gone.png"
    removed = v.image_detail("gone.png", head=head, base=base, result=results["gone.png"], files_url=files)
    assert removed["head_image"] is None and removed["base_image"]["content_hash"] == "g"
    solo = v.image_detail("new.png", head=head, base=None, result=None, files_url=files)
    assert solo["comparison_status"] is None and solo["base_image"] is None
    assert v.find_image("h", head, None) == "new.png"
    assert v.find_image("nope", head, results) is None


def test_approvals_and_iso_times() -> None:
    assert v.approval_status([]) is None
    assert v.approval_status([v.ApprovalRow("needs_approval"), v.ApprovalRow("approved")]) == ("approved")
    assert v.approval_status([v.ApprovalRow("approved", auto=True)]) == "auto_approved"
    stamp = v.iso(0.5)
    assert stamp is not None and re.match(r"^1970-01-01T00:00:00\.500000Z$", stamp)
