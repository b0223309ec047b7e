"""The object behind the `snapshot` fixture: one call becomes one SnapshotRecord.

It resolves options (call > @pytest.mark.visual_review > ini > defaults), captures, judges against the
baseline, writes what a reviewer needs, and either passes, fails with a message that says everything,
or (with --approve) accepts the new pixels as the baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import imaging
from .baselines import TestLocation, baseline_path, make_identifier
from .capture import CaptureError, CaptureOptions, capture
from .records import TOLERANCE_KEY, Outcome, SnapshotRecord
from .settings import (
    Mode,
    Settings,
    SettingsError,
    Tolerance,
    load_style,
    parse_timeout,
    resolve_tolerance,
)
from .verdict import BaselineCheck, Verdict, judge

MARKER_OPTIONS = ("threshold", "max_diff_pixels", "max_diff_pixel_ratio", "full_page")


class SnapshotMismatch(AssertionError):
    """A snapshot differs from its baseline, has none, or could not be taken."""


class Snapshot:
    """Callable fixture value: `snapshot(target, name=None, **options)`.

    Without --visual-review it captures nothing and returns None, so suites run at full speed by
    default (pytest-mpl's convention).
    """

    def __init__(
        self,
        settings: Settings,
        nodeid: str,
        marker_options: dict[str, Any],
        claim: Callable[[str, str], None],
        record: Callable[[SnapshotRecord], SnapshotRecord],
        identify: Callable[[TestLocation, str], str] = make_identifier,
    ) -> None:
        unknown = set(marker_options) - set(MARKER_OPTIONS)
        if unknown:
            raise SnapshotMismatch(
                f"@pytest.mark.visual_review got unknown option(s) {sorted(unknown)}; "
                f"it takes {', '.join(MARKER_OPTIONS)}"
            )
        self._settings = settings
        self._location = TestLocation.from_nodeid(nodeid)
        self._nodeid = nodeid
        self._marker_options = marker_options
        self._claim = claim
        self._record = record  # stores the record; returns it with the hooks' metadata merged
        self._identify = identify
        self._unnamed = 0
        self._taken: set[str] = set()

    def __call__(
        self,
        target: Any,
        name: str | None = None,
        *,
        threshold: float | None = None,
        max_diff_pixels: int | None = None,
        max_diff_pixel_ratio: float | None = None,
        full_page: bool | None = None,
        clip: dict[str, float] | None = None,
        mask: Sequence[Any] = (),
        mask_color: str | None = None,
        style: str | None = None,
        omit_background: bool = False,
        timeout: float | None = None,
    ) -> SnapshotRecord | None:
        """Compare `target` (Page, Locator, ElementHandle, PIL image, array, PNG bytes or path)
        with its baseline. Returns the record, or None when visual review is off."""
        __tracebackhide__ = True
        if not self._settings.enabled:
            return None
        if name is None:
            self._unnamed += 1
            name = str(self._unnamed)
        identifier = self._identify(self._location, name)
        if identifier in self._taken:
            raise SnapshotMismatch(
                f"snapshot name {name!r} is used twice in {self._nodeid}; give each snapshot in "
                "a test its own name, e.g. snapshot(page, 'after-login')"
            )
        self._taken.add(identifier)
        self._claim(identifier, self._nodeid)
        try:
            tolerance = self._tolerance(threshold, max_diff_pixels, max_diff_pixel_ratio)
            options = self._capture_options(
                full_page, clip, mask, mask_color, style, omit_background, timeout
            )
        except SettingsError as exc:
            raise SnapshotMismatch(str(exc)) from None
        baseline_file = baseline_path(
            self._settings.baseline_template, self._settings.rootdir, self._location, identifier
        )
        base = _Base(self._nodeid, name, identifier, str(baseline_file))
        try:
            expected = imaging.read_png(baseline_file) if baseline_file.exists() else None
            check = BaselineCheck(expected, tolerance) if expected is not None else None
            shot = capture(
                target,
                options,
                matches_baseline=check.matches if check is not None else None,
                name=f"snapshot {name!r}",
            )
        except (CaptureError, imaging.ImageError) as exc:
            raise self._failure(base.error(str(exc))) from None
        verdict = judge(check, shot.rgba)
        record = self._finish(base, expected, shot.rgba, verdict, tolerance, shot.metadata)
        if record.failed:
            raise self._failure(record)
        return self._record(record)

    # -- resolution -------------------------------------------------------------------------

    def _tolerance(
        self, threshold: float | None, pixels: int | None, ratio: float | None
    ) -> Tolerance:
        marked = resolve_tolerance(
            self._settings.tolerance, self._marker_options, "@pytest.mark.visual_review"
        )
        call = {"threshold": threshold, "max_diff_pixels": pixels, "max_diff_pixel_ratio": ratio}
        return resolve_tolerance(marked, call, "snapshot()")

    def _capture_options(
        self,
        full_page: bool | None,
        clip: dict[str, float] | None,
        mask: Sequence[Any],
        mask_color: str | None,
        style: str | None,
        omit_background: bool,
        timeout: float | None,
    ) -> CaptureOptions:
        defaults = self._settings.capture
        requested = bool(full_page)
        if full_page is None:
            full_page = bool(self._marker_options.get("full_page", defaults.full_page))
        style = load_style(style, Path.cwd(), source="snapshot(style=...)")
        styles = [css for css in (defaults.style, style) if css]
        return CaptureOptions(
            full_page=full_page,
            full_page_requested=requested,
            clip=clip,
            mask=tuple(mask),
            mask_selectors=defaults.mask_selectors,
            mask_color=mask_color or defaults.mask_color,
            style="\n".join(styles) or None,
            omit_background=omit_background,
            timeout=parse_timeout(timeout, "snapshot(timeout=...)")
            if timeout is not None
            else defaults.timeout,
        )

    # -- outcome ------------------------------------------------------------------------------

    def _finish(
        self,
        base: _Base,
        expected: np.ndarray | None,
        actual: np.ndarray,
        verdict: Verdict,
        tolerance: Tolerance,
        metadata: dict[str, Any],
    ) -> SnapshotRecord:
        fields: dict[str, Any] = dict(
            width=actual.shape[1],
            height=actual.shape[0],
            content_hash=imaging.content_hash(actual),
            diff_pixel_count=verdict.diff_pixel_count,
            diff_ratio=verdict.diff_ratio,
            allowed_diff_pixels=verdict.allowed_diff_pixels,
            size_mismatch=verdict.size_mismatch,
            expected_size=verdict.expected_size,
            metadata={**metadata, TOLERANCE_KEY: dataclasses.asdict(tolerance)},
        )
        if verdict.outcome is Outcome.UNCHANGED:
            if self._settings.server is not None:  # the server may need these pixels
                fields["actual_path"] = self._unchanged_actual(base, expected, actual)
            return base.record(Outcome.UNCHANGED, **fields)
        approving = self._settings.mode is Mode.APPROVE
        out = self._settings.output_dir / "images" / base.identifier
        actual_png = imaging.encode_png(actual)
        paths: dict[str, Any] = {}
        if not approving:
            paths["actual_path"] = _write(out / "actual.png", actual_png)
        if expected is not None:
            paths["expected_path"] = _write(out / "expected.png", imaging.encode_png(expected))
        if verdict.diff_image is not None:
            paths["diff_path"] = _write(out / "diff.png", imaging.encode_png(verdict.diff_image))
        if approving:
            imaging.write_png(base.baseline_path, actual_png)
            paths["actual_path"] = base.baseline_path
        record = base.record(verdict.outcome, approved=approving, **fields, **paths)
        return _with_message(record, tolerance)

    def _unchanged_actual(self, base: _Base, expected: np.ndarray | None, actual: np.ndarray) -> str:
        """The baseline file itself when the pixels are identical (the common case: no encode),
        else the capture written to the output folder."""
        if expected is not None and np.array_equal(expected, actual):
            return base.baseline_path
        out = self._settings.output_dir / "images" / base.identifier / "actual.png"
        return _write(out, imaging.encode_png(actual))

    def _failure(self, record: SnapshotRecord) -> SnapshotMismatch:
        """Record a failing snapshot and return the exception that fails its test."""
        self._record(record)
        return SnapshotMismatch(record.message)


class _Base:
    """The identity of one call, shared by its success, failure and error records."""

    def __init__(self, nodeid: str, name: str, identifier: str, baseline: str) -> None:
        self.nodeid, self.name, self.identifier, self.baseline_path = (
            nodeid, name, identifier, baseline)

    def record(self, outcome: Outcome, **fields: Any) -> SnapshotRecord:
        return SnapshotRecord(
            nodeid=self.nodeid,
            name=self.name,
            identifier=self.identifier,
            outcome=outcome,
            baseline_path=self.baseline_path,
            **fields,
        )

    def error(self, message: str) -> SnapshotRecord:
        return self.record(Outcome.ERROR, message=message)


def _write(path: Path, data: bytes) -> str:
    try:
        imaging.write_atomic(path, data)
    except OSError as exc:
        raise SnapshotMismatch(
            f"cannot write {path} ({exc.strerror}); make the output folder writable or choose "
            "another with --visual-review-output"
        ) from exc
    return str(path)


def _with_message(record: SnapshotRecord, tolerance: Tolerance) -> SnapshotRecord:
    """Attach the message a person reads in the terminal for a new or changed snapshot."""
    label = f"snapshot {record.name!r} ({record.identifier})"
    if record.approved:
        verb = "accepted as the new baseline" if record.outcome is Outcome.CHANGED else "new baseline"
        return dataclasses.replace(record, message=f"{label}: {verb}: {record.baseline_path}")
    images = [
        f"  {kind:9}{path}"
        for kind, path in (
            ("expected", record.expected_path),
            ("actual", record.actual_path),
            ("diff", record.diff_path),
        )
        if path
    ]
    if record.outcome is Outcome.NEW:
        head = (
            f"no baseline for {label}; run with --approve to accept it "
            f"(it will be written to {record.baseline_path})"
        )
    elif record.size_mismatch and record.expected_size:
        (ew, eh), (aw, ah) = record.expected_size, (record.width, record.height)
        head = (
            f"{label} changed size: expected {ew}×{eh}, got {aw}×{ah} "
            f"({record.diff_pixel_count} pixels differ in the padded comparison)"
        )
    else:
        head = (
            f"{label} differs from its baseline: {record.diff_pixel_count} pixels "
            f"({(record.diff_ratio or 0) * 100:.2f}%) differ, {record.allowed_diff_pixels} allowed "
            f"(threshold {tolerance.threshold:g})"
        )
    tail = "  accept with: pytest --approve" if record.outcome is Outcome.CHANGED else ""
    return dataclasses.replace(record, message="\n".join([head, *images, tail]).rstrip())
