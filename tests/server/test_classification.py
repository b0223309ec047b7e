"""PostHog's classification rules (reference §7.3) as the server applies them, over HTTP."""

from __future__ import annotations

import numpy as np

from pytest_visualreview import snapshots_yml
from pytest_visualreview.server.processing import classify_pair

from .server_helpers import Client, changed, item, make_image, page


def tall_page() -> np.ndarray:
    """A long page with text-like rows: a small change is < 2.5% of its pixels."""
    rgba = np.full((1200, 300, 4), 255, dtype=np.uint8)
    for y in range(20, 1180, 24):
        rgba[y : y + 10, 20 : 20 + (y * 7) % 250, :3] = 40
    return rgba


def test_classification_rules_over_http(client: Client) -> None:
    base_tall = make_image(tall_page())
    structural = tall_page()
    structural[600:640, 20:120, :3] = (200, 40, 40)  # ~1.1% of pixels, a visible block
    structural_img = make_image(structural)
    wide, narrow = page(400, 200, 150), page(401, 200, 150)
    grown = make_image(np.concatenate([narrow.rgba, np.full((30, 200, 4), 255, np.uint8)]))
    missing_base = page(402)

    baseline_images = {"tall": base_tall, "pixel": wide, "size": narrow,
                       "no-base-image": missing_base}
    first = client.submit(baseline_images, branch="main")
    content = client.post(f"runs/{first['id']}/auto-approve/").json()["baseline_content"]
    baseline = snapshots_yml.loads(content).snapshots

    current = {"tall": structural_img, "pixel": changed(wide), "size": grown,
               "no-base-image": changed(missing_base)}
    run = client.submit(current, baseline_hashes=baseline, branch="feat")
    assert run["status"] == "completed"
    snaps = client.snapshots(run["id"])

    tall = snaps["tall"]
    assert tall["result"] == "changed" and tall["change_kind"] == "structural"
    assert tall["diff_percentage"] < 2.5 and 1 - tall["ssim_score"] >= 0.01
    assert tall["diff_artifact"] is not None

    px = snaps["pixel"]
    assert px["change_kind"] == "pixel" and px["diff_percentage"] >= 2.5
    assert px["ssim_score"] is None  # SSIM is skipped once the pixel rule decides

    size = snaps["size"]
    assert size["result"] == "changed" and size["size_mismatch"] is True
    assert size["diff_artifact"]["height"] == 180 and size["diff_artifact"]["width"] == 200

    # diff_percentage is on PostHog's 0-100 scale, rounded to 4 places.
    assert round(px["diff_percentage"], 4) == px["diff_percentage"]
    assert px["diff_percentage"] == round(
        px["diff_pixel_count"] / (wide.width * wide.height) * 100, 4
    )


def test_a_baseline_image_the_server_never_received_leaves_the_snapshot_changed(
    client: Client,
) -> None:
    old, new = page(410), page(411)
    # A baseline from a local snapshots.yml (unsigned, so the repo must trust it) whose image
    # was never uploaded to this server.
    response = client.session.patch(client.api + f"repos/{client.repo_id}/",
                                    json={"trust_unsigned_baselines": True},
                                    headers=client.headers, timeout=10)
    assert response.status_code == 200 and response.json()["trust_unsigned_baselines"] is True
    created = client.create_run([item("x", new)], baseline_hashes={"x": old.hash})
    # The server asks for the baseline image too; the client does not send it.
    assert {u["content_hash"] for u in created["uploads"]} == {new.hash, old.hash}
    client.upload([u for u in created["uploads"] if u["content_hash"] == new.hash],
                  {new.hash: new})
    client.complete(created["run_id"])
    run = client.wait(created["run_id"])
    assert run["status"] == "completed" and run["summary"]["changed"] == 1
    snap = client.snapshots(created["run_id"])["x"]
    assert snap["result"] == "changed" and snap["diff_artifact"] is None
    assert snap["baseline_artifact"] is None


def test_classify_pair_matches_the_thresholds_directly() -> None:
    a = page(420, 200, 150)
    same = classify_pair("s", a.rgba, a.rgba)
    assert same.result == "unchanged" and same.classification_reason == "below_threshold"
    assert same.diff_percentage == 0.0 and same.ssim_score == 1.0
    big = classify_pair("s", a.rgba, changed(a).rgba)
    assert big.result == "changed" and big.change_kind == "pixel" and big.diff_png
