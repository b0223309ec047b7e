"""The object behind the `snapshot` fixture: one call becomes one SnapshotRecord.

It resolves options (call > @pytest.mark.visual_review > ini > defaults), captures, judges against the
baseline, writes what a reviewer needs, and either passes, fails with a message that says everything,
or (with --approve) accepts the new pixels as the baseline.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict, Unpack

from . import imaging
from .baselines import (
    IdentifierError,
    TestLocation,
    baseline_path,
    current_platform,
    make_identifier,
)
from .capture import CaptureError, CaptureOptions, capture
from .records import TOLERANCE_KEY, Outcome, SnapshotRecord
from .report import REPLACED_UNREADABLE, format_percent
from .settings import (
    Mode,
    Settings,
    SettingsError,
    Tolerance,
    load_style,
    parse_mask_color,
    parse_timeout,
    resolve_tolerance,
)
from .shot import Shot
from .verdict import BaselineCheck, Verdict, judge

MARKER_OPTIONS = ("threshold", "max_diff_pixels", "max_diff_pixel_ratio", "full_page", "soft")


class SnapshotMismatch(AssertionError):
    """A snapshot differs from its baseline, has none, or could not be taken: a visual failure."""


class SnapshotUsageError(ValueError):
    """snapshot() was called wrongly (a bad option value, a duplicate name, a target that is not
    an image): a mistake in the test, not a visual failure, so it is not an AssertionError."""


class UnknownOptionError(SnapshotUsageError, TypeError):
    """snapshot() got a keyword it does not take (also a TypeError, as Python would raise)."""


class SnapshotOptions(TypedDict, total=False):
    """The keyword options of snapshot(); see docs/configuration.md."""

    threshold: float | None
    max_diff_pixels: int | None
    max_diff_pixel_ratio: float | None
    full_page: bool | None
    clip: dict[str, float] | None
    mask: Sequence[Any]
    mask_color: str | None
    style: str | None
    omit_background: bool
    timeout: float | None
    soft: bool | None


CALL_OPTIONS = tuple(SnapshotOptions.__annotations__)


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
        soft_failures: list[str] | None = None,
    ) -> None:
        unknown = set(marker_options) - set(MARKER_OPTIONS)
        if unknown:
            raise SnapshotUsageError(
                f"{nodeid}: @pytest.mark.visual_review got unknown option(s) {sorted(unknown)}; "
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
        #: messages of soft snapshots that failed; the plugin fails the test with them at its end
        self.soft_failures = soft_failures if soft_failures is not None else []

    def __call__(
        self, target: Any, name: str | None = None, **options: Unpack[SnapshotOptions]
    ) -> SnapshotRecord | None:
        """Compare `target` (Page, Locator, ElementHandle, PIL image, array, PNG bytes or path)
        with its baseline. Returns the record, or None when visual review is off."""
        __tracebackhide__ = True
        self._check_option_names(options)
        if not self._settings.enabled:
            return None
        if name is None:
            self._unnamed += 1
            name = str(self._unnamed)
        label = f"snapshot {name!r} in {self._nodeid}"
        try:
            identifier = self._identify(self._location, name)
            if self._settings.platform_suffix:  # opt-in, as Playwright's -linux in file names
                identifier += f"-{current_platform()}"
            if identifier in self._taken:
                raise IdentifierError(
                    f"the name {name!r} is used twice in this test; give each snapshot in a test "
                    "its own name, e.g. snapshot(page, 'after-login')"
                )
            self._taken.add(identifier)
            self._claim(identifier, self._nodeid)
            tolerance = self._tolerance(options)
            capture_options = self._capture_options(options)
        except (IdentifierError, SettingsError) as exc:
            raise SnapshotUsageError(f"{label}: {exc}") from None
        _check_target(target, label)
        soft = options.get("soft")
        if soft is None:
            soft = bool(self._marker_options.get("soft", self._settings.soft))
        baseline_file = baseline_path(
            self._settings.baseline_template, self._settings.rootdir, self._location, identifier
        )
        base = _Base(self._nodeid, name, identifier, str(baseline_file))
        replacing = ""
        try:
            expected, replacing = self._read_baseline(baseline_file)
            check = BaselineCheck(expected, tolerance) if expected is not None else None
            shot = capture(
                target,
                capture_options,
                tolerance=tolerance,
                matches_baseline=check.matches if check is not None else None,
                name=f"snapshot {name!r}",
            )
            verdict = judge(check, shot.shot)
            record = self._finish(base, expected, shot.shot, verdict, tolerance, shot.metadata)
        except CaptureError as exc:
            if isinstance(exc.__cause__, imaging.UnsupportedImageSource):
                raise SnapshotUsageError(f"{label}: {exc.__cause__}") from None
            record = base.error(str(exc))
        except imaging.ImageError as exc:
            record = base.error(str(exc))
        if replacing and not record.failed:
            record = dataclasses.replace(
                record,
                message=f"snapshot {name!r}: {REPLACED_UNREADABLE} ({replacing}): "
                f"{record.baseline_path}",
            )
        if record.failed:
            failure = self._failure(record)
            if not soft:
                raise failure
            self.soft_failures.append(record.message)
            return record
        return self._record(record)

    def _check_option_names(self, options: Mapping[str, object]) -> None:
        """Python's own TypeError names neither the right option nor where it is documented."""
        for option in options:
            if option not in CALL_OPTIONS:
                close = difflib.get_close_matches(option, CALL_OPTIONS, n=1)
                hint = f"did you mean {close[0]}=? " if close else ""
                raise UnknownOptionError(
                    f"snapshot() in {self._nodeid} got an unknown option {option}=; {hint}"
                    f"it takes {', '.join(CALL_OPTIONS)} (docs/configuration.md)"
                )

    def _read_baseline(self, path: Path) -> tuple[Shot | None, str]:
        """The baseline's pixels (None: there is none), and why it is being replaced ('' if not).

        With --approve an unreadable baseline is replaced like a missing one: telling the user to
        approve and then refusing would leave deleting the file by hand as the only way out."""
        if not path.exists():
            return None, ""
        try:
            shot = Shot.read(path)
            if self._settings.mode is Mode.APPROVE:
                _ = shot.rgba  # decoded now, so a file that is broken past its header is replaced
            return shot, ""
        except imaging.ImageError as exc:
            if self._settings.mode is Mode.APPROVE:
                return None, str(exc)
            raise

    # -- resolution -------------------------------------------------------------------------

    def _tolerance(self, options: SnapshotOptions) -> Tolerance:
        marked = resolve_tolerance(
            self._settings.tolerance, self._marker_options, "@pytest.mark.visual_review"
        )
        call = {
            key: options.get(key) for key in ("threshold", "max_diff_pixels", "max_diff_pixel_ratio")
        }
        return resolve_tolerance(marked, call, "snapshot()")

    def _capture_options(self, options: SnapshotOptions) -> CaptureOptions:
        defaults = self._settings.capture
        full_page = options.get("full_page")
        requested = bool(full_page)
        if full_page is None:
            full_page = bool(self._marker_options.get("full_page", defaults.full_page))
        style = load_style(options.get("style"), Path.cwd(), source="snapshot(style=...)")
        styles = [css for css in (defaults.style, style) if css]
        mask_color = options.get("mask_color")
        timeout = options.get("timeout")
        return CaptureOptions(
            full_page=full_page,
            full_page_requested=requested,
            clip=options.get("clip"),
            mask=tuple(options.get("mask", ())),
            mask_selectors=defaults.mask_selectors,
            mask_color=parse_mask_color(mask_color, "snapshot(mask_color=...)")
            if mask_color is not None
            else defaults.mask_color,
            style="\n".join(styles) or None,
            omit_background=bool(options.get("omit_background", False)),
            timeout=parse_timeout(timeout, "snapshot(timeout=...)")
            if timeout is not None
            else defaults.timeout,
        )

    # -- outcome ------------------------------------------------------------------------------

    def _finish(
        self,
        base: _Base,
        expected: Shot | None,
        actual: Shot,
        verdict: Verdict,
        tolerance: Tolerance,
        metadata: dict[str, Any],
    ) -> SnapshotRecord:
        width, height = actual.size
        fields: dict[str, Any] = dict(
            width=width,
            height=height,
            content_hash=actual.content_hash,
            diff_pixel_count=verdict.diff_pixel_count,
            diff_ratio=verdict.diff_ratio,
            allowed_diff_pixels=verdict.allowed_diff_pixels,
            size_mismatch=verdict.size_mismatch,
            expected_size=verdict.expected_size,
            metadata={**metadata, TOLERANCE_KEY: dataclasses.asdict(tolerance)},
        )
        if verdict.outcome is Outcome.UNCHANGED:
            if self._settings.server is not None:  # the server may need these pixels
                fields["actual_path"] = self._unchanged_actual(base, actual, verdict)
            return base.record(Outcome.UNCHANGED, **fields)
        approving = self._settings.mode is Mode.APPROVE
        out = self._settings.output_dir / "images" / base.identifier
        paths: dict[str, Any] = {}
        if not approving:
            paths["actual_path"] = _write(out / "actual.png", actual.png_bytes())
        if expected is not None:
            paths["expected_path"] = _write(out / "expected.png", expected.png_bytes())
        if verdict.diff_image is not None:
            paths["diff_path"] = _write(out / "diff.png", imaging.encode_png(verdict.diff_image))
        if approving:
            imaging.write_png(base.baseline_path, actual.baseline_bytes())
            paths["actual_path"] = base.baseline_path
        record = base.record(verdict.outcome, approved=approving, **fields, **paths)
        return _with_message(record, tolerance)

    def _unchanged_actual(self, base: _Base, actual: Shot, verdict: Verdict) -> str:
        """The baseline file itself when the pixels are identical (the common case: no encode),
        else the capture written to the output folder."""
        if verdict.identical:
            return base.baseline_path
        out = self._settings.output_dir / "images" / base.identifier / "actual.png"
        return _write(out, actual.png_bytes())

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


def soft_mismatch(messages: Sequence[str]) -> SnapshotMismatch:
    """The failure a test with failing soft snapshots ends with: every mismatch, in call order."""
    count = f"{len(messages)} soft snapshot{'s' if len(messages) != 1 else ''} failed"
    return SnapshotMismatch("\n\n".join([f"{count}:", *messages]))


def _check_target(target: Any, label: str) -> None:
    """A string or path is taken as a file name; one that names no file is a mistake in the test
    (often PNG data passed as text, or a path relative to another folder)."""
    if isinstance(target, (str, os.PathLike)):
        try:
            exists = Path(target).is_file()
        except OSError:  # e.g. a name too long for the file system
            exists = False
        if not exists:
            shown = str(target) if len(str(target)) <= 80 else str(target)[:77] + "..."
            raise SnapshotUsageError(
                f"{label}: {shown!r} is neither an existing file (looked in {Path.cwd()}) nor PNG "
                "bytes; pass the path of a PNG file, PNG bytes (not str), a PIL image, a uint8 "
                "numpy array or a Playwright page/locator"
            )


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
    """Attach the message a person reads in the terminal for a new or changed snapshot.

    Its first line is the verdict, starting with the snapshot's name: pytest's short test summary
    shows only that line, cut to the terminal width."""
    label = f"snapshot {record.name!r}"
    if record.approved:
        verb = "accepted as the new baseline" if record.outcome is Outcome.CHANGED else "new baseline"
        return dataclasses.replace(record, message=f"{label}: {verb}: {record.baseline_path}")
    details = [f"  {'id':9}{record.identifier} (threshold {tolerance.threshold:g})"]
    details += [
        f"  {kind:9}{path}"
        for kind, path in (
            ("baseline", record.baseline_path if record.outcome is Outcome.NEW else None),
            ("expected", record.expected_path),
            ("actual", record.actual_path),
            ("diff", record.diff_path),
        )
        if path
    ]
    if record.outcome is Outcome.NEW:
        head = f"{label} is new: no baseline yet; run with --approve to accept it"
    elif record.size_mismatch and record.expected_size:
        (ew, eh), (aw, ah) = record.expected_size, (record.width, record.height)
        head = (
            f"{label} changed size: expected {ew}×{eh}, got {aw}×{ah} "
            f"({record.diff_pixel_count} px differ in the padded comparison)"
        )
    else:
        head = (
            f"{label} differs: {record.diff_pixel_count} px "
            f"({format_percent(record.diff_ratio)}), {record.allowed_diff_pixels} allowed"
        )
    tail = "  accept with: pytest --approve" if record.outcome is Outcome.CHANGED else ""
    return dataclasses.replace(record, message="\n".join([head, *details, tail]).rstrip())
