"""One verdict, unit level: `classify_pair` with a client's tolerance agrees with the plugin's
`verdict.judge` on both sides of every boundary (pixel budget, ratio, both, neither, threshold,
size), and a malformed `metadata.tolerance` is refused at ingest naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_visualreview import verdict
from pytest_visualreview.records import Outcome
from pytest_visualreview.server.processing import classify_pair
from pytest_visualreview.server.review.tolerance import tolerance_of
from pytest_visualreview.settings import Tolerance
from pytest_visualreview.shot import Shot

from .server_helpers import Client, item, make_image, nudged, page

W, H = 100, 100  # 10,000 pixels


def white() -> np.ndarray:
    return np.full((H, W, 4), 255, dtype=np.uint8)


def with_block(pixels: int, value: int = 0, base: np.ndarray | None = None) -> np.ndarray:
    """`base` (white) with its first `pixels` pixels, row by row, set to grey `value`."""
    rgba = (white() if base is None else base).copy()
    flat = rgba.reshape(-1, 4)
    flat[:pixels, :3] = value
    return rgba


def text_like() -> np.ndarray:
    """Thin dark strokes with soft edges: pixels pixelmatch may call anti-aliasing."""
    rgba = white()
    for y in range(10, 90, 12):
        rgba[y, 10:90, :3] = 30
        rgba[y + 1, 10:90, :3] = 160  # a soft lower edge
    return rgba


def plugin_says(expected: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> str:
    check = verdict.BaselineCheck(Shot(rgba=expected), tolerance)
    return "changed" if verdict.judge(check, Shot(rgba=actual)).outcome == Outcome.CHANGED else "unchanged"


def server_says(expected: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> str:
    return str(classify_pair("s", expected, actual, tolerance).result)


def shifted_text() -> np.ndarray:
    rgba = white()
    for y in range(11, 91, 12):  # every stroke one row lower
        rgba[y, 10:90, :3] = 30
        rgba[y + 1, 10:90, :3] = 160
    return rgba


CASES = {
    # name: (expected, actual, tolerance, the verdict both must give)
    "one pixel, nothing allowed": (white(), with_block(1), Tolerance(), "changed"),
    "16 pixels, nothing allowed": (white(), with_block(16), Tolerance(), "changed"),
    "exactly the pixel budget": (white(), with_block(100), Tolerance(max_diff_pixels=100), "unchanged"),
    "one over the pixel budget": (white(), with_block(101), Tolerance(max_diff_pixels=100), "changed"),
    "exactly the ratio": (white(), with_block(300), Tolerance(max_diff_pixel_ratio=0.03), "unchanged"),
    "one over the ratio": (white(), with_block(301), Tolerance(max_diff_pixel_ratio=0.03), "changed"),
    "both set, the smaller (pixels) wins": (
        white(), with_block(51), Tolerance(max_diff_pixels=50, max_diff_pixel_ratio=0.5), "changed"),
    "both set, within the smaller": (
        white(), with_block(50), Tolerance(max_diff_pixels=50, max_diff_pixel_ratio=0.5), "unchanged"),
    "both set, the smaller (ratio) wins": (
        white(), with_block(11), Tolerance(max_diff_pixels=5000, max_diff_pixel_ratio=0.001), "changed"),
    "30% within a 40% ratio": (white(), with_block(3000), Tolerance(max_diff_pixel_ratio=0.4), "unchanged"),
    "a light grey under a loose threshold": (white(), with_block(5000, 205), Tolerance(threshold=0.3), "unchanged"),
    "the same grey under a strict threshold": (white(), with_block(5000, 205), Tolerance(threshold=0.1), "changed"),
    "identical": (text_like(), text_like(), Tolerance(), "unchanged"),
    "text moved a row, a generous budget": (text_like(), shifted_text(), Tolerance(max_diff_pixels=2000), "unchanged"),
    "text moved a row, no budget": (text_like(), shifted_text(), Tolerance(), "changed"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_server_classifies_with_the_tolerance_as_the_plugin_judges(name: str) -> None:
    expected, actual, tolerance, want = CASES[name]
    assert (plugin_says(expected, actual, tolerance), server_says(expected, actual, tolerance)) == (
        want, want)


def test_a_size_change_is_changed_whatever_the_budget() -> None:
    taller = np.concatenate([white(), np.full((1, W, 4), 255, np.uint8)])
    outcome = classify_pair("s", white(), taller, Tolerance(max_diff_pixel_ratio=1.0))
    assert (outcome.result, outcome.change_kind) == ("changed", "layout")
    assert outcome.diff_png  # a person will look at it


def test_without_a_tolerance_posthogs_rule_still_applies() -> None:
    """One changed pixel is below PostHog's 2.5 % and SSIM; the plugin allows none by default."""
    base = page(7)
    small = nudged(base)
    assert classify_pair("s", base.rgba, small.rgba).result == "unchanged"
    assert classify_pair("s", base.rgba, small.rgba, Tolerance()).result == "changed"


def test_the_outcome_records_the_tolerance_it_was_judged_with() -> None:
    outcome = classify_pair("s", white(), with_block(40), Tolerance(threshold=0.1, max_diff_pixels=50))
    assert outcome.result == "unchanged" and outcome.classification_reason == "below_threshold"
    assert outcome.diff_metadata["tolerance"] == {"threshold": 0.1, "allowed_diff_pixels": 50}
    assert outcome.diff_pixel_count == 40


@pytest.mark.parametrize(("tolerance", "attr"), [
    ({"threshold": 2}, "snapshots[0].metadata.tolerance.threshold"),
    ({"max_diff_pixels": -1}, "snapshots[0].metadata.tolerance.max_diff_pixels"),
    ({"max_diff_pixels": 1.5}, "snapshots[0].metadata.tolerance.max_diff_pixels"),
    ({"max_diff_pixel_ratio": "half"}, "snapshots[0].metadata.tolerance.max_diff_pixel_ratio"),
    ({"max_diff_pixels": True}, "snapshots[0].metadata.tolerance.max_diff_pixels"),
    ({"pixels": 3}, "snapshots[0].metadata.tolerance.pixels"),
    ([0.1], "snapshots[0].metadata.tolerance"),
])
def test_a_malformed_tolerance_is_refused_naming_the_field(client: Client, tolerance, attr) -> None:
    snapshot = {**item("x", make_image(white())), "metadata": {"tolerance": tolerance}}
    body = client.create_run([snapshot], expect=400)
    assert body["attr"] == attr, body


def test_a_stored_tolerance_that_does_not_parse_gets_posthogs_rule() -> None:
    """Rows written before ingest checked the tolerance must not wedge the worker."""
    assert tolerance_of({"metadata": '{"tolerance": {"threshold": 7}}'}) is None
    assert tolerance_of({"metadata": "{}"}) is None
    assert tolerance_of({"metadata": '{"tolerance": {"max_diff_pixels": 3}}'}) == Tolerance(
        max_diff_pixels=3)
