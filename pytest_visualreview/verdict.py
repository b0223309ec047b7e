"""Decide a snapshot's outcome from its pixels and its baseline's: the one place tolerance is applied.

The fast path asks the comparator only "within budget?" (no diff image, anti-aliasing work stops once
the answer is known); the exact count and the diff image are computed only for a failure, where a
person will read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import diff
from .records import Outcome
from .settings import Tolerance


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    diff_pixel_count: int = 0
    diff_ratio: float = 0.0
    allowed_diff_pixels: int = 0
    size_mismatch: bool = False
    expected_size: tuple[int, int] | None = None
    actual_size: tuple[int, int] | None = None
    diff_image: np.ndarray | None = None


class BaselineCheck:
    """The budgeted comparison with one baseline, remembered for the last image it was asked
    about, so the capture loop's "does the first shot match?" and the verdict on that same shot
    cost one comparator call, not two."""

    def __init__(self, expected: np.ndarray, tolerance: Tolerance) -> None:
        self.expected = expected
        self.tolerance = tolerance
        self._last: tuple[np.ndarray, diff.DiffResult | None] | None = None

    def quick(self, actual: np.ndarray) -> diff.DiffResult | None:
        """The comparator's cheap answer, or None when sizes differ (that always fails).

        Within budget its count is exact; over budget it may be a lower bound."""
        if self._last is not None and self._last[0] is actual:
            return self._last[1]
        result = None
        if self.expected.shape == actual.shape:
            allowed = self.tolerance.allowed_pixels(actual.shape[0] * actual.shape[1])
            result = diff.compare(
                self.expected,
                actual,
                threshold=self.tolerance.threshold,
                diff_image=False,
                max_diff_pixels=allowed,
            )
        self._last = (actual, result)
        return result

    def matches(self, actual: np.ndarray) -> bool:
        """True when `actual` would pass; cheap for the identical case."""
        result = self.quick(actual)
        return result is not None and bool(result.within_budget)


def judge(check: BaselineCheck | None, actual: np.ndarray) -> Verdict:
    """Compare a capture with its baseline (`check` is None: there is none)."""
    actual_size = (actual.shape[1], actual.shape[0])
    if check is None:
        return Verdict(Outcome.NEW, actual_size=actual_size)
    expected, tolerance = check.expected, check.tolerance
    quick = check.quick(actual)
    if quick is not None and quick.within_budget:
        return Verdict(
            Outcome.UNCHANGED,
            diff_pixel_count=quick.diff_pixel_count,
            diff_ratio=quick.diff_ratio,
            allowed_diff_pixels=tolerance.allowed_pixels(quick.total_pixels),
            expected_size=actual_size,
            actual_size=actual_size,
        )
    # A failure: a person will read the exact count and look at the diff image.
    result = diff.compare(expected, actual, threshold=tolerance.threshold, diff_image=True)
    return Verdict(
        outcome=Outcome.CHANGED,
        diff_pixel_count=result.diff_pixel_count,
        diff_ratio=result.diff_ratio,
        allowed_diff_pixels=tolerance.allowed_pixels(result.total_pixels),
        size_mismatch=result.size_mismatch,
        expected_size=result.expected_size,
        actual_size=result.actual_size,
        diff_image=result.diff_image,
    )
