"""What one `snapshot(...)` call produced: the unit the session collects, reports and uploads.

Records are plain, JSON-serialisable data so xdist workers can send them to the controller and the
report and manifest can be built from them without touching pytest.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: the metadata key of the tolerance a snapshot was judged with (threshold, max_diff_pixels,
#: max_diff_pixel_ratio): sent to review servers so they can judge it the same way
TOLERANCE_KEY = "tolerance"
#: metadata keys the plugin sets itself (the manifest's node id and name, the verdict's tolerance)
RESERVED_METADATA = frozenset({"nodeid", "name", TOLERANCE_KEY})


class MetadataError(ValueError):
    """Metadata from a hook that cannot travel with the record (not a dict of JSON values)."""


class Outcome(StrEnum):
    """How a snapshot compared with its baseline."""

    UNCHANGED = "unchanged"  # within tolerance of the baseline (or identical)
    CHANGED = "changed"  # differs beyond tolerance, or changed size
    NEW = "new"  # no baseline yet
    ERROR = "error"  # could not be captured or compared (the message says why)


@dataclass(frozen=True)
class SnapshotRecord:
    """One snapshot's result. Paths are absolute strings; None where the file does not exist."""

    nodeid: str
    name: str
    identifier: str
    outcome: Outcome
    width: int = 0
    height: int = 0
    content_hash: str = ""
    baseline_path: str | None = None
    expected_path: str | None = None  # copy of the baseline in the output folder, for reports
    actual_path: str | None = None
    diff_path: str | None = None
    diff_pixel_count: int | None = None
    diff_ratio: float | None = None
    allowed_diff_pixels: int | None = None
    size_mismatch: bool = False
    expected_size: tuple[int, int] | None = None  # (width, height) of the baseline
    approved: bool = False  # a new/changed snapshot accepted as the baseline by --approve
    message: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Did this snapshot fail its test (before --approve accepted it)?"""
        return self.outcome is not Outcome.UNCHANGED and not self.approved

    def with_metadata(self, extras: Iterable[Mapping[str, Any] | None], source: str) -> SnapshotRecord:
        """This record with `extras` merged into its metadata; the first to set a key wins (pluggy
        calls a conftest.py's hook before an installed plugin's). Checked here, on the worker,
        because the record crosses to the xdist controller and the spool as JSON."""
        __tracebackhide__ = True
        merged: dict[str, Any] = {}
        for extra in reversed(list(extras)):
            if extra is None:
                continue
            if not isinstance(extra, Mapping) or _not_json(extra):
                raise MetadataError(
                    f"{source} returned {extra!r:.200} for snapshot {self.identifier}; return a "
                    "dict of JSON values (str keys; str, number, bool, None, lists, dicts), or None"
                )
            if reserved := sorted(RESERVED_METADATA & extra.keys()):
                raise MetadataError(
                    f"{source} set {', '.join(reserved)} for snapshot {self.identifier}; the "
                    "plugin sets those itself: choose other keys"
                )
            merged.update(extra)
        if not merged:
            return self
        return dataclasses.replace(self, metadata={**self.metadata, **merged})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnapshotRecord:
        values = dict(data)
        values["outcome"] = Outcome(values["outcome"])
        if values.get("expected_size") is not None:
            values["expected_size"] = tuple(values["expected_size"])
        return cls(**values)


def _not_json(value: Mapping[str, Any]) -> bool:
    """Would `value` change (or fail) on its way through JSON? Tuples, int keys, objects do."""
    try:
        return bool(json.loads(json.dumps(value)) != value)
    except (TypeError, ValueError):
        return True
