"""The byte-comparison path and the tolerant "same shot" test, on real PNG bytes."""

from __future__ import annotations

import numpy as np

from pytest_visualreview import imaging
from pytest_visualreview.records import Outcome
from pytest_visualreview.settings import Tolerance
from pytest_visualreview.shot import Shot
from pytest_visualreview.verdict import BaselineCheck, judge, similar, within_tolerance


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, size=(30, 40, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    return rgba


def test_recorded_hash_round_trips_and_is_bound_to_the_bytes():
    rgba = _image()
    png = imaging.encode_png(rgba)
    stamped = imaging.with_content_hash(png, imaging.content_hash(rgba))
    assert imaging.split_content_hash(stamped) == (png, imaging.content_hash(rgba))
    assert np.array_equal(imaging.decode_png(stamped), rgba)  # still an ordinary PNG
    assert imaging.png_size(stamped) == (40, 30)

    # Another encoder keeping our chunk must not lend the old hash to its bytes.
    other = imaging.encode_png(_image(1), compress_level=9)
    chunk = stamped[len(png) - 12 : -12]
    forged = other[:-12] + chunk + other[-12:]
    assert imaging.split_content_hash(forged) == (forged, None)
    assert imaging.split_content_hash(png) == (png, None)


def test_equal_bytes_are_unchanged_without_decoding():
    rgba = _image()
    png = imaging.encode_png(rgba)
    baseline = Shot(png=Shot(png=png).baseline_bytes())
    capture = Shot(png=png)
    result = within_tolerance(baseline, capture, Tolerance())
    assert result is not None and result.identical and result.within_budget
    assert capture._rgba is None  # nothing was decoded
    assert capture.content_hash == imaging.content_hash(rgba)  # read from the baseline's chunk
    verdict = judge(BaselineCheck(baseline, Tolerance()), capture)
    assert verdict.outcome is Outcome.UNCHANGED and verdict.identical


def test_other_bytes_of_the_same_pixels_are_judged_by_the_comparator():
    rgba = _image()
    baseline = Shot(png=imaging.encode_png(rgba, compress_level=9))
    capture = Shot(png=imaging.encode_png(rgba, compress_level=1))
    verdict = judge(BaselineCheck(baseline, Tolerance()), capture)
    assert verdict.outcome is Outcome.UNCHANGED and verdict.identical


def test_consecutive_shots_are_the_same_within_the_assertions_tolerance():
    base = np.full((20, 20, 4), 255, dtype=np.uint8)
    jitter = base.copy()
    jitter[5, 5] = (0, 0, 0, 255)
    jitter[5, 6] = (0, 0, 0, 255)
    a, b = Shot(rgba=base), Shot(rgba=jitter)
    assert not similar(a, b, Tolerance())
    assert not similar(a, b, Tolerance(max_diff_pixels=1))
    assert similar(a, b, Tolerance(max_diff_pixels=2))
    assert similar(a, b, Tolerance(max_diff_pixel_ratio=2 / 400))
    assert not similar(a, Shot(rgba=base[:10]), Tolerance(max_diff_pixels=1000))  # sizes differ
