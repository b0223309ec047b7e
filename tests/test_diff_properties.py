"""Properties of the comparator that must hold for any pair of images (hypothesis).

The images are drawn from small palettes, so equal neighbours, edges and anti-aliasing candidates
are common, and include transparent and semi-transparent pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_visualreview import diff

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def image_pairs(draw: st.DrawFn, max_side: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Two images of one size from a shared palette; the second differs in a random subset."""
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    opaque = draw(st.booleans())
    palette = draw(hnp.arrays(np.uint8, (draw(st.integers(2, 5)), 4), elements=st.integers(0, 255)))
    if opaque:
        palette[:, 3] = 255
    pick = hnp.arrays(np.int64, (height, width), elements=st.integers(0, len(palette) - 1))
    img1 = palette[draw(pick)]
    img2 = img1.copy()
    changed = draw(hnp.arrays(np.bool_, (height, width)))
    img2[changed] = palette[draw(pick)][changed]
    return img1, img2


thresholds = st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0])


def _scalar_delta_v5(p1: np.ndarray, p2: np.ndarray) -> float:
    """pixelmatch 5.3.0's colorDelta transcribed line by line, one pixel at a time."""
    r1, g1, b1, a1 = (float(v) for v in p1)
    r2, g2, b2, a2 = (float(v) for v in p2)
    if (r1, g1, b1, a1) == (r2, g2, b2, a2):
        return 0.0
    if a1 < 255:
        a1 /= 255
        r1, g1, b1 = (255 + (c - 255) * a1 for c in (r1, g1, b1))
    if a2 < 255:
        a2 /= 255
        r2, g2, b2 = (255 + (c - 255) * a2 for c in (r2, g2, b2))
    y1 = r1 * 0.29889531 + g1 * 0.58662247 + b1 * 0.11448223
    y2 = r2 * 0.29889531 + g2 * 0.58662247 + b2 * 0.11448223
    y = y1 - y2
    i = (r1 * 0.59597799 - g1 * 0.27417610 - b1 * 0.32180189) - (
        r2 * 0.59597799 - g2 * 0.27417610 - b2 * 0.32180189
    )
    q = (r1 * 0.21147017 - g1 * 0.52261711 + b1 * 0.31114694) - (
        r2 * 0.21147017 - g2 * 0.52261711 + b2 * 0.31114694
    )
    delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    return -delta if y1 > y2 else delta


def _scalar_delta_v7_opaque(p1: np.ndarray, p2: np.ndarray) -> float:
    """pixelmatch 7.2.0's colorDelta for two opaque pixels, transcribed line by line."""
    dr, dg, db = (float(int(u) - int(v)) for u, v in zip(p1[:3], p2[:3], strict=True))
    y = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
    i = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189
    q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694
    delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    return -delta if y > 0 else delta


@SETTINGS
@given(
    pixels=hnp.arrays(np.uint8, (2, 3)),
    nudge=st.integers(-3, 3),
    checkerboard=st.booleans(),
)
def test_threshold_exactly_at_a_pixels_delta(pixels: np.ndarray, nudge: int, checkerboard: bool) -> None:
    """A threshold whose maxDelta lands on (or a few ulps around) a pixel's delta: the decision
    is the one JS's float arithmetic makes, though the fast path computes the delta differently."""
    img1 = np.full((1, 1, 4), 255, dtype=np.uint8)
    img2 = img1.copy()
    img1[0, 0, :3], img2[0, 0, :3] = pixels
    scalar = _scalar_delta_v7_opaque if checkerboard else _scalar_delta_v5
    delta = abs(scalar(img1[0, 0], img2[0, 0]))
    threshold = float(np.sqrt(delta / 35215))
    for _ in range(abs(nudge)):
        threshold = float(np.nextafter(threshold, 2.0 if nudge > 0 else -1.0))
    threshold = min(max(threshold, 0.0), 1.0)
    expected = int(delta > 35215 * threshold * threshold)
    result = diff.compare(img1, img2, threshold=threshold, include_aa=True, checkerboard=checkerboard)
    assert result.diff_pixel_count == expected


@SETTINGS
@given(pair=image_pairs(), threshold=thresholds, checkerboard=st.booleans(), aa=st.booleans())
def test_identical_images_give_zero(
    pair: tuple[np.ndarray, np.ndarray], threshold: float, checkerboard: bool, aa: bool
) -> None:
    img = pair[0]
    result = diff.compare(img, img.copy(), threshold=threshold, checkerboard=checkerboard, include_aa=aa)
    assert result.diff_pixel_count == 0 and result.identical


@SETTINGS
@given(pair=image_pairs(), threshold=thresholds, checkerboard=st.booleans(), aa=st.booleans())
def test_swapping_inputs_keeps_the_count(
    pair: tuple[np.ndarray, np.ndarray], threshold: float, checkerboard: bool, aa: bool
) -> None:
    img1, img2 = pair
    kwargs: dict[str, Any] = dict(threshold=threshold, checkerboard=checkerboard, include_aa=aa)
    forward = diff.compare(img1, img2, diff_image=False, **kwargs)
    backward = diff.compare(img2, img1, diff_image=False, **kwargs)
    assert forward.diff_pixel_count == backward.diff_pixel_count


@SETTINGS
@given(pair=image_pairs(), threshold=thresholds)
def test_count_without_aa_is_pixels_over_threshold(
    pair: tuple[np.ndarray, np.ndarray], threshold: float
) -> None:
    """With include_aa the count is exactly the pixels whose colour delta exceeds maxDelta,
    checked against a one-pixel-at-a-time transcription of pixelmatch 5.3.0."""
    img1, img2 = pair
    max_delta = 35215 * threshold * threshold
    flat1, flat2 = img1.reshape(-1, 4), img2.reshape(-1, 4)
    expected = sum(abs(_scalar_delta_v5(p, q)) > max_delta for p, q in zip(flat1, flat2, strict=True))
    result = diff.compare(img1, img2, threshold=threshold, include_aa=True)
    assert result.diff_pixel_count == expected


@SETTINGS
@given(
    pair=image_pairs(),
    y=st.integers(0, 19),
    x=st.integers(0, 19),
    colour=hnp.arrays(np.uint8, (3,)),
    checkerboard=st.booleans(),
)
def test_single_changed_pixel_above_threshold_is_found(
    pair: tuple[np.ndarray, np.ndarray],
    y: int,
    x: int,
    colour: np.ndarray,
    checkerboard: bool,
) -> None:
    img1 = pair[0].copy()
    img1[..., 3] = 255
    y, x = y % img1.shape[0], x % img1.shape[1]
    img2 = img1.copy()
    img2[y, x, :3] = colour
    delta = abs(_scalar_delta_v5(img1[y, x], img2[y, x]))  # opaque: v5 and v7 agree
    threshold = 0.05
    above = delta > 35215 * threshold * threshold
    result = diff.compare(img1, img2, threshold=threshold, include_aa=True, checkerboard=checkerboard)
    assert result.diff_pixel_count == int(above)
    if above:
        assert result.diff_image is not None
        assert tuple(result.diff_image[y, x]) == (255, 0, 0, 255)
    # On a flat background a lone changed pixel can never pass for anti-aliasing.
    flat = np.empty_like(img1)
    flat[...] = img1[0, 0]
    flat2 = flat.copy()
    flat2[y, x, :3] = colour
    delta = abs(_scalar_delta_v5(flat[y, x], flat2[y, x]))
    lone = diff.compare(flat, flat2, threshold=threshold, checkerboard=checkerboard)
    assert lone.diff_pixel_count == int(delta > 35215 * threshold * threshold)


@SETTINGS
@given(
    pair=image_pairs(),
    low=thresholds,
    high=thresholds,
    checkerboard=st.booleans(),
    aa=st.booleans(),
)
def test_threshold_monotonicity(
    pair: tuple[np.ndarray, np.ndarray], low: float, high: float, checkerboard: bool, aa: bool
) -> None:
    low, high = min(low, high), max(low, high)
    img1, img2 = pair
    kwargs: dict[str, Any] = dict(checkerboard=checkerboard, include_aa=aa, diff_image=False)
    loose = diff.compare(img1, img2, threshold=high, **kwargs).diff_pixel_count
    strict = diff.compare(img1, img2, threshold=low, **kwargs).diff_pixel_count
    assert strict >= loose


@SETTINGS
@given(
    pair=image_pairs(),
    threshold=thresholds,
    checkerboard=st.booleans(),
    budget=st.integers(0, 40),
)
def test_budget_mode_agrees_with_exact_mode(
    pair: tuple[np.ndarray, np.ndarray], threshold: float, checkerboard: bool, budget: int
) -> None:
    img1, img2 = pair
    kwargs: dict[str, Any] = dict(threshold=threshold, checkerboard=checkerboard)
    exact = diff.compare(img1, img2, **kwargs)
    budgeted = diff.compare(img1, img2, diff_image=False, max_diff_pixels=budget, **kwargs)
    assert budgeted.within_budget == (exact.diff_pixel_count <= budget)
    if budgeted.within_budget:
        assert budgeted.count_is_exact
        assert budgeted.diff_pixel_count == exact.diff_pixel_count
    else:
        assert budget < budgeted.diff_pixel_count <= exact.diff_pixel_count
        assert budgeted.count_is_exact == (budgeted.diff_pixel_count == exact.diff_pixel_count)


@SETTINGS
@given(
    pair=image_pairs(max_side=24),
    checkerboard=st.booleans(),
    which=st.sampled_from([0, 1]),
    dense=st.booleans(),
)
def test_fast_aa_path_agrees_with_literal_float_path(
    pair: tuple[np.ndarray, np.ndarray], checkerboard: bool, which: int, dense: bool
) -> None:
    """The integer fast path of the AA detector decides exactly as the literal transcription of
    pixelmatch's float code, on every pixel of the image, with sparse (gathered) and dense
    (shifted-slice) equal-neighbour counts alike."""
    img1, img2 = pair
    height, width = img1.shape[:2]
    opts = diff._Options.make(
        threshold=0.1,
        include_aa=False,
        alpha=0.1,
        aa_color=(255, 255, 0),
        diff_color=(255, 0, 0),
        diff_color_alt=None,
        diff_mask=False,
        checkerboard=checkerboard,
        max_diff_pixels=None,
    )
    ctx = diff._Context(
        img1.view("<u4").reshape(-1),
        img2.view("<u4").reshape(-1),
        img1.reshape(-1, 4),
        img2.reshape(-1, 4),
        width,
        height,
        opts,
    )
    cand = np.arange(width * height, dtype=np.int64)
    y, x = np.divmod(cand, width)
    sparse = diff._Siblings(ctx, None, 0)
    sib = diff._Siblings.for_candidates(ctx, cand, y) if dense else sparse
    assert (sib.maps is not None) == dense
    fast = diff._antialiased(ctx, sib, which, cand, x, y)
    literal = diff._antialiased_float(ctx, sparse, which, cand, x, y)
    assert np.array_equal(fast, literal)


@SETTINGS
@given(
    width=st.integers(1, 50_000_000),
    data=st.data(),
)
def test_float_row_column_split_is_exact(width: int, data: st.DataObject) -> None:
    """The float64 divmod used for candidate coordinates equals integer divmod up to the decoder's
    50 M pixel limit, including the last pixel of a row and the first of the next."""
    height = data.draw(st.integers(1, max(1, 50_000_000 // width)))
    total = width * height
    picks = data.draw(st.lists(st.integers(0, total - 1), min_size=1, max_size=50))
    edges = [i for k in (1, height // 2, height - 1) for i in (k * width - 1, k * width) if 0 <= i < total]
    index = np.array(sorted(set(picks + edges)), dtype=np.int64)
    rows, cols = diff._rows_and_columns(index, width, height)
    expected_rows, expected_cols = np.divmod(index, width)
    assert np.array_equal(rows, expected_rows) and np.array_equal(cols, expected_cols)


def test_row_column_split_falls_back_to_integer_division_past_float_precision() -> None:
    width, height = 1 << 27, 1 << 3  # width² · height = 2**57: floats could round the quotient
    index = np.array([0, width - 1, width, 5 * width + 7, width * height - 1], dtype=np.int64)
    rows, cols = diff._rows_and_columns(index, width, height)
    assert rows.tolist() == [0, 0, 1, 5, height - 1]
    assert cols.tolist() == [0, width - 1, 0, 7, width - 1]
