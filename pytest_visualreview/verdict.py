"""Decide a snapshot's outcome from its pixels and its baseline's: the one place tolerance is applied.

Three levels of work, each taken only when the one before cannot answer:

* equal PNG bytes: equal pixels, the comparator would count 0 (no decode at all);
* the budgeted comparator: "within budget?" (no diff image, anti-aliasing work stops once the
  answer is known), also used for "are two consecutive screenshots the same?";
* the exact count and the diff image, only for a failure, where a person will read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import diff
from .records import Outcome
from .settings import Tolerance
from .shot import Shot


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    diff_pixel_count: int = 0
    diff_ratio: float = 0.0
    allowed_diff_pixels: int = 0
    size_mismatch: bool = False
    expected_size: tuple[int, int] | None = None
    identical: bool = False  # the capture has the baseline's exact pixels
    diff_image: np.ndarray | None = None


def within_tolerance(expected: Shot, actual: Shot, tolerance: Tolerance) -> diff.DiffResult | None:
    """The comparator's cheap answer for `actual` against `expected` (pixelmatch's img1), or None
    when the sizes differ (that always fails, as in Playwright). Within budget its count is exact;
    over budget it may be a lower bound."""
    if actual.same_bytes(expected):
        actual.adopt(expected)
        width, height = actual.size
        return diff.DiffResult(
            diff_pixel_count=0,
            total_pixels=width * height,
            diff_ratio=0.0,
            diff_image=None,
            expected_size=(width, height),
            actual_size=(width, height),
            size_mismatch=False,
            within_budget=True,
            identical=True,
        )
    if expected.size != actual.size:
        return None
    width, height = actual.size
    return diff.compare(
        expected.rgba,
        actual.rgba,
        threshold=tolerance.threshold,
        diff_image=False,
        max_diff_pixels=tolerance.allowed_pixels(width * height),
    )


def similar(previous: Shot, current: Shot, tolerance: Tolerance) -> bool:
    """Playwright's test for "two consecutive screenshots are the same": the assertion's own
    comparator and tolerance, with the earlier shot as the expectation."""
    result = within_tolerance(previous, current, tolerance)
    return result is not None and bool(result.within_budget)


class BaselineCheck:
    """The budgeted comparison with one baseline, remembered for the last shot it was asked
    about, so the capture loop's "does the first shot match?" and the verdict on that same shot
    cost one comparison, not two."""

    def __init__(self, expected: Shot, tolerance: Tolerance) -> None:
        self.expected = expected
        self.tolerance = tolerance
        self._last: tuple[Shot, diff.DiffResult | None] | None = None

    def quick(self, actual: Shot) -> diff.DiffResult | None:
        if self._last is not None and self._last[0] is actual:
            return self._last[1]
        result = within_tolerance(self.expected, actual, self.tolerance)
        self._last = (actual, result)
        return result

    def matches(self, actual: Shot) -> bool:
        """True when `actual` would pass; a byte comparison for the unchanged case."""
        result = self.quick(actual)
        return result is not None and bool(result.within_budget)


def judge(check: BaselineCheck | None, actual: Shot) -> Verdict:
    """Compare a capture with its baseline (`check` is None: there is none)."""
    if check is None:
        return Verdict(Outcome.NEW)
    expected, tolerance = check.expected, check.tolerance
    quick = check.quick(actual)
    if quick is not None and quick.within_budget:
        return Verdict(
            Outcome.UNCHANGED,
            diff_pixel_count=quick.diff_pixel_count,
            diff_ratio=quick.diff_ratio,
            allowed_diff_pixels=tolerance.allowed_pixels(quick.total_pixels),
            expected_size=actual.size,
            identical=quick.identical,
        )
    # A failure: a person will read the exact count and look at the diff image.
    result = diff.compare(expected.rgba, actual.rgba, threshold=tolerance.threshold, diff_image=True)
    return Verdict(
        outcome=Outcome.CHANGED,
        diff_pixel_count=result.diff_pixel_count,
        diff_ratio=result.diff_ratio,
        allowed_diff_pixels=tolerance.allowed_pixels(result.total_pixels),
        size_mismatch=result.size_mismatch,
        expected_size=result.expected_size,
        diff_image=result.diff_image,
    )
