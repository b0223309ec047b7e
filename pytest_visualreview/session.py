"""Everything the plugin learns during a session, and what it decides at the end.

It collects records (from this process, or from xdist workers through `workeroutput`), knows whether
the run covered the whole suite, finds obsolete baselines and prunes them only when that is safe.
Nothing here imports pytest: the plugin feeds it plain facts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .baselines import IdentifierError, TestLocation, find_obsolete
from .records import SnapshotRecord
from .settings import Mode, Settings

WORKER_OUTPUT_KEY = "visual_review"


@dataclass
class SessionResult:
    records: list[SnapshotRecord]
    obsolete: list[Path]
    deleted: list[Path]
    partial_reasons: list[str]
    duplicate_errors: list[str]


@dataclass
class VisualSession:
    settings: Settings
    records: list[SnapshotRecord] = field(default_factory=list)
    test_files: set[str] = field(default_factory=set)
    collected_tests: set[str] = field(default_factory=set)  # node ids selected to run
    unfinished_tests: set[str] = field(default_factory=set)  # node ids that did not pass
    deselected_tests: set[str] = field(default_factory=set)  # collected, then -k/-m/--lf dropped them
    narrowed_files: set[str] = field(default_factory=set)  # only some tests collected (file::test)
    partial_reasons: list[str] = field(default_factory=list)
    _claimed: dict[str, str] = field(default_factory=dict)

    # -- during the run ------------------------------------------------------------------------

    def prepare_output(self) -> None:
        """Empty the images folder of the previous run, so reports never show stale files."""
        images = self.settings.output_dir / "images"
        try:
            if images.exists():
                shutil.rmtree(images)
            self.settings.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"visual review output folder {self.settings.output_dir} is not writable "
                f"({exc.strerror}); choose another with --visual-review-output"
            ) from exc

    def claim(self, identifier: str, nodeid: str) -> None:
        """Reserve an identifier for a test; two tests with one identifier would share a baseline."""
        owner = self._claimed.setdefault(identifier, nodeid)
        if owner != nodeid:
            raise IdentifierError(
                f"snapshot identifier {identifier!r} is already used by {owner}; "
                "rename one of the snapshots"
            )

    def add(self, record: SnapshotRecord) -> None:
        self.records.append(record)

    def note_unfinished(self, nodeid: str) -> None:
        self.unfinished_tests.add(nodeid)

    def unfinished_prefixes(self) -> set[str]:
        """Identifier prefixes of the tests that did not run to their end."""
        return _prefixes(self.unfinished_tests)

    def note_deselected(self, nodeids: list[str]) -> None:
        self.deselected_tests.update(nodeids)

    def note_narrowed(self, file_path: str) -> None:
        """A test file of which only named tests were collected (`pytest tests/a.py::test_x`)."""
        self.narrowed_files.add(file_path)

    def note_collected(self, nodeids: list[str]) -> None:
        self.collected_tests.update(nodeids)
        self.test_files.update(nodeid.split("::")[0] for nodeid in nodeids)

    def protected_prefixes(self) -> set[str]:
        """Identifier prefixes a baseline may belong to without this session having produced
        it: unfinished and deselected tests, and every test of a file collected only in part."""
        return (
            self.unfinished_prefixes()
            | _prefixes(self.deselected_tests)
            | {TestLocation(path, "").file_prefix for path in self.narrowed_files}
        )

    def finished_prefixes(self) -> set[str]:
        """Identifier prefixes of the tests that ran to their end: their baselines are decided."""
        return _prefixes(self.collected_tests - self.unfinished_tests)

    def note_partial(self, reason: str) -> None:
        if reason not in self.partial_reasons:
            self.partial_reasons.append(reason)

    # -- xdist ---------------------------------------------------------------------------------

    def worker_output(self) -> dict[str, Any]:
        return {
            "records": [record.to_dict() for record in self.records],
            "collected": sorted(self.collected_tests),
            "unfinished": sorted(self.unfinished_tests),
            "deselected": sorted(self.deselected_tests),
            "partial_reasons": list(self.partial_reasons),
        }

    def merge_worker(self, output: dict[str, Any]) -> None:
        self.records.extend(SnapshotRecord.from_dict(data) for data in output["records"])
        self.note_collected(output["collected"])
        self.unfinished_tests.update(output["unfinished"])
        self.deselected_tests.update(output["deselected"])
        for reason in output["partial_reasons"]:
            self.note_partial(reason)

    # -- at the end ----------------------------------------------------------------------------

    def finish(self) -> SessionResult:
        """Find obsolete baselines; with --approve on a whole-suite run, delete them."""
        duplicates = self._cross_worker_duplicates()
        produced = {Path(r.baseline_path) for r in self.records if r.baseline_path}
        obsolete = find_obsolete(
            self.settings.baseline_template,
            self.settings.rootdir,
            self.test_files,
            produced,
            protected_prefixes=self.protected_prefixes(),
            finished_prefixes=self.finished_prefixes(),
        )
        deleted: list[Path] = []
        if self.settings.mode is Mode.APPROVE and not self.partial_reasons and not duplicates:
            for path in obsolete:
                path.unlink(missing_ok=True)
                deleted.append(path)
                if path.parent.is_dir() and not any(path.parent.iterdir()):
                    path.parent.rmdir()
        return SessionResult(
            records=sorted(self.records, key=lambda r: (r.nodeid, r.identifier)),
            obsolete=obsolete,
            deleted=deleted,
            partial_reasons=list(self.partial_reasons),
            duplicate_errors=duplicates,
        )

    def _cross_worker_duplicates(self) -> list[str]:
        """Each worker checks its own identifiers; two workers can still collide."""
        seen: dict[str, str] = {}
        errors = []
        for record in self.records:
            owner = seen.setdefault(record.identifier, record.nodeid)
            if owner != record.nodeid:
                errors.append(
                    f"snapshot identifier {record.identifier!r} is produced by both {owner} and "
                    f"{record.nodeid}; rename one of the snapshots"
                )
        return errors


def _prefixes(nodeids: set[str]) -> set[str]:
    return {TestLocation.from_nodeid(nodeid).identifier_prefix for nodeid in nodeids}
