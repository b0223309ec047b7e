"""The comparator against pixelmatch's own fixtures: exact counts and byte-equal diff images.

Every v5.3.0 case runs with ``checkerboard=False`` and every v7.2.0 case with ``checkerboard=True``;
a single differing byte in a diff image or an off-by-one count fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_visualreview import diff
from pytest_visualreview.imaging import ImageError, read_png

FIXTURES = Path(__file__).parent / "fixtures" / "pixelmatch"
CASES = [
    case
    for case in json.loads((FIXTURES / "cases.json").read_text())["cases"]
    if case["version"] in ("v5.3.0", "v7.2.0")
]


def _kwargs(case: dict[str, Any]) -> dict[str, Any]:
    """cases.json's pixelmatch options as compare() keywords (null threshold = the default)."""
    names = {
        "threshold": "threshold",
        "includeAA": "include_aa",
        "alpha": "alpha",
        "aaColor": "aa_color",
        "diffColor": "diff_color",
        "diffColorAlt": "diff_color_alt",
        "diffMask": "diff_mask",
    }
    kwargs = {names[k]: v for k, v in case["options"].items() if v is not None}
    kwargs["checkerboard"] = case["version"] == "v7.2.0"
    return kwargs


def test_fixture_set_is_complete() -> None:
    assert len([c for c in CASES if c["version"] == "v5.3.0"]) == 10
    assert len([c for c in CASES if c["version"] == "v7.2.0"]) == 12


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['version']}-{c['name']}")
def test_pixelmatch_fixture(case: dict[str, Any]) -> None:
    img1 = read_png(FIXTURES / case["img1"])
    img2 = read_png(FIXTURES / case["img2"])
    expected_diff = read_png(FIXTURES / case["diff"])
    kwargs = _kwargs(case)

    result = diff.compare(img1, img2, **kwargs)

    assert result.diff_pixel_count == case["expected_mismatch"]
    assert result.diff_image is not None
    assert result.diff_image.shape == expected_diff.shape
    mismatched = np.argwhere((result.diff_image != expected_diff).any(axis=2))
    assert mismatched.size == 0, f"{len(mismatched)} diff pixels differ, first at (y, x) {mismatched[0]}"
    assert result.total_pixels == img1.shape[0] * img1.shape[1]
    assert result.diff_ratio == case["expected_mismatch"] / result.total_pixels
    assert not result.size_mismatch
    assert result.count_is_exact and result.within_budget is None

    # The count is the same without an output image (pixelmatch's own tests assert this too).
    count_only = diff.compare(img1, img2, diff_image=False, **kwargs)
    assert count_only.diff_pixel_count == case["expected_mismatch"]
    assert count_only.diff_image is None


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['version']}-{c['name']}")
def test_budget_agrees_on_fixtures(case: dict[str, Any]) -> None:
    img1 = read_png(FIXTURES / case["img1"])
    img2 = read_png(FIXTURES / case["img2"])
    kwargs = _kwargs(case)
    count = case["expected_mismatch"]
    for budget in sorted({0, max(count - 1, 0), count, count + 1}):
        result = diff.compare(img1, img2, diff_image=False, max_diff_pixels=budget, **kwargs)
        assert result.within_budget == (count <= budget)
        if result.within_budget:
            assert result.count_is_exact and result.diff_pixel_count == count
        else:
            assert budget < result.diff_pixel_count <= count


def test_float_path_matches_fast_path_on_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routing every candidate through the literal float transcription gives the same answers as
    the integer fast path: the optimisation changes no decision."""
    pairs = [(c, read_png(FIXTURES / c["img1"]), read_png(FIXTURES / c["img2"])) for c in CASES]
    fast = [diff.compare(a, b, **_kwargs(c)) for c, a, b in pairs]

    def all_slow(ctx: Any, sib: Any, which: int, cand: Any, x: Any, y: Any) -> Any:
        return diff._antialiased_float(ctx, sib, which, cand, x, y)

    monkeypatch.setattr(diff, "_antialiased", all_slow)
    for (case, a, b), reference in zip(pairs, fast, strict=True):
        slow = diff.compare(a, b, **_kwargs(case))
        assert slow.diff_pixel_count == reference.diff_pixel_count == case["expected_mismatch"]
        assert slow.diff_image is not None and reference.diff_image is not None
        assert np.array_equal(slow.diff_image, reference.diff_image)


def _png(name: str) -> np.ndarray:
    return read_png(FIXTURES / "inputs" / name)


def test_identical_images_are_free_and_exact() -> None:
    img = _png("1a.png")
    result = diff.compare(img, img.copy(), diff_image=False, max_diff_pixels=0)
    assert result.diff_pixel_count == 0
    assert result.identical and result.within_budget and result.count_is_exact
    assert result.diff_image is None


def test_budget_stops_early_with_a_lower_bound() -> None:
    img1 = _png("4a.png")  # 36049 differing pixels at threshold 0.05
    img2 = _png("4b.png")
    result = diff.compare(img1, img2, threshold=0.05, diff_image=False, max_diff_pixels=10)
    assert result.within_budget is False
    assert 10 < result.diff_pixel_count
    # With a diff image requested the work never stops early: the picture must be complete.
    full = diff.compare(img1, img2, threshold=0.05, diff_image=True, max_diff_pixels=10)
    assert full.diff_pixel_count == 36049 and full.count_is_exact and full.within_budget is False


def test_different_sizes_are_padded_and_reported() -> None:
    white = np.full((4, 6, 4), 255, dtype=np.uint8)
    bigger = np.full((5, 7, 4), 255, dtype=np.uint8)
    bigger[4, 6] = (0, 0, 0, 255)
    result = diff.compare(white, bigger, include_aa=True)
    assert result.size_mismatch
    assert result.expected_size == (6, 4) and result.actual_size == (7, 5)
    assert result.total_pixels == 35
    # v5.3 blends the transparent padding with white: padding next to white never counts; the
    # black corner pixel (transparent in the padded expected image) does.
    assert result.diff_pixel_count == 1
    assert result.diff_image is not None and result.diff_image.shape == (5, 7, 4)
    assert tuple(result.diff_image[4, 6]) == (255, 0, 0, 255)
    assert not result.identical


def test_diff_color_alt_marks_darker_pixels() -> None:
    img1 = np.full((3, 3, 4), 128, dtype=np.uint8)
    img1[..., 3] = 255
    img2 = img1.copy()
    img2[0, 0, :3] = 0  # img2 darker
    img2[2, 2, :3] = 255  # img2 brighter
    result = diff.compare(img1, img2, include_aa=True, diff_color_alt=(0, 255, 0))
    assert result.diff_pixel_count == 2
    assert result.diff_image is not None
    assert tuple(result.diff_image[0, 0]) == (0, 255, 0, 255)
    assert tuple(result.diff_image[2, 2]) == (255, 0, 0, 255)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": "0.1"}, "threshold"),
        ({"alpha": 1.5}, "alpha"),
        ({"diff_color": (255, 0)}, "diff_color"),
        ({"aa_color": (256, 0, 0)}, "aa_color"),
        ({"diff_color_alt": (0.5, 0, 0)}, "diff_color_alt"),
        ({"max_diff_pixels": -1}, "max_diff_pixels"),
        ({"max_diff_pixels": 1.5}, "max_diff_pixels"),
    ],
)
def test_bad_options_are_clear_errors(kwargs: dict[str, Any], message: str) -> None:
    img = np.zeros((2, 2, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match=message):
        diff.compare(img, img, **kwargs)


def test_bad_images_name_the_input() -> None:
    good = np.zeros((2, 2, 4), dtype=np.uint8)
    with pytest.raises(ImageError, match="actual"):
        diff.compare(good, np.zeros((2, 2, 4), dtype=np.float32))
    with pytest.raises(ImageError, match="expected"):
        diff.compare(np.zeros((2, 2)), good)


def test_ssim_identical_is_one_and_change_lowers_it() -> None:
    img = _png("1a.png")
    assert diff.ssim(img, img) == 1.0
    other = _png("1b.png")
    score = diff.ssim(img, other)
    assert 0.0 < score < 1.0
    assert diff.ssim(other, img) == pytest.approx(score, abs=1e-12)


def test_ssim_small_images_use_global_ssim() -> None:
    a = np.zeros((5, 5, 4), dtype=np.uint8)
    b = a.copy()
    b[..., :3] = 255
    b[..., 3] = 255
    # Global SSIM of black vs white: (C1)(C2) / ((255²+C1)(C2)) = C1 / (65025 + C1).
    assert diff.ssim(a, b) == pytest.approx(6.5025 / (65025 + 6.5025))


def test_ssim_reference_value() -> None:
    """A hand-checkable case: a flat image against the same with one bright square."""
    a = np.full((32, 32, 4), 100, dtype=np.uint8)
    b = a.copy()
    b[10:20, 10:20, :3] = 200
    score = diff.ssim(a, b)
    # Pixels whose window never sees the square have SSIM exactly 1: at most the 20×20 region
    # (square plus the 5-pixel window radius) can fall below 1.
    assert 1 - (20 * 20) / (32 * 32) <= score < 1.0


def _naive_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """PostHog's SSIM written the obvious way: reflect-pad, 11×11 sliding means, mean of the map."""
    from numpy.lib.stride_tricks import sliding_window_view

    def grey(img: np.ndarray) -> np.ndarray:
        rgb = img[..., :3].astype(np.float64)
        return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114

    def mean(g: np.ndarray) -> np.ndarray:
        return sliding_window_view(np.pad(g, 5, mode="reflect"), (11, 11)).mean(axis=(2, 3))

    g1, g2 = grey(a), grey(b)
    mu1, mu2 = mean(g1), mean(g2)
    var1, var2 = mean(g1 * g1) - mu1**2, mean(g2 * g2) - mu2**2
    cov = mean(g1 * g2) - mu1 * mu2
    local = ((2 * mu1 * mu2 + 6.5025) * (2 * cov + 58.5225)) / (
        (mu1**2 + mu2**2 + 6.5025) * (var1 + var2 + 58.5225)
    )
    return float(np.clip(local.mean(), 0, 1))


@pytest.mark.parametrize("shape", [(11, 11), (12, 40), (301, 97), (1200, 130)])
def test_ssim_matches_the_obvious_implementation(shape: tuple[int, int]) -> None:
    """The banded running-sum SSIM equals a direct sliding-window one (bands of 1 << 17 pixels
    split the 1200-row case into several)."""
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, size=(*shape, 4), dtype=np.uint8)
    b = a.copy()
    b[shape[0] // 3 : shape[0] // 2, 2:9] = 0
    assert diff.ssim(a, b) == pytest.approx(_naive_ssim(a, b), abs=1e-12)
