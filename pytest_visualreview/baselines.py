"""Where baselines live and what they are called: identifiers, baseline paths, obsolete files.

The identifier is a contract shared with review servers (PostHog's CLI sanitises the same way), so it
is derived only from the node id and the snapshot name: stable across machines and runs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class IdentifierError(ValueError):
    """A snapshot name that cannot be used (empty, or a duplicate within the session)."""


def sanitize(text: str) -> str:
    """Characters outside [A-Za-z0-9_-] become '-', as the PostHog CLI does."""
    return _UNSAFE.sub("-", text)


def _part(text: str) -> str:
    """One '--'-separated part of an identifier: `test_x[chromium]` -> `test_x-chromium`."""
    return sanitize(text).strip("-") or "-"


@dataclass(frozen=True)
class TestLocation:
    """The parts of a pytest node id that name a baseline."""

    __test__ = False  # not a pytest test class despite the name

    file_path: str  # relative to rootdir, with '/' separators, e.g. "tests/ui/test_home.py"
    test_name: str  # e.g. "TestCart::test_empty[chromium]"

    @classmethod
    def from_nodeid(cls, nodeid: str) -> TestLocation:
        file_path, _, test_name = nodeid.partition("::")
        return cls(file_path=file_path, test_name=test_name or Path(file_path).stem)

    @property
    def nodeid(self) -> str:
        return f"{self.file_path}::{self.test_name}"

    @property
    def file_stem(self) -> str:
        return Path(self.file_path).stem

    @property
    def file_prefix(self) -> str:
        """Every identifier of a test in this file starts with this."""
        return f"{_part(self.file_stem)}--"

    @property
    def identifier_prefix(self) -> str:
        """Every identifier of this test starts with this; used to protect the baselines of
        tests that did not run to the end (or were deselected) from being called obsolete."""
        return f"{self.file_prefix}{_part(self.test_name)}--"


def make_identifier(location: TestLocation, name: str) -> str:
    """`<file stem>--<test name with params>--<snapshot name>`, restricted to [A-Za-z0-9_-]; the
    fixture adds the opt-in `-<platform>` suffix (Playwright always adds it) to any scheme's."""
    if not name or not name.strip():
        raise IdentifierError("snapshot name is empty; pass a name such as snapshot(page, 'header')")
    return location.identifier_prefix + _part(name)


def current_platform() -> str:
    """Node's `process.platform` spelling, which Playwright puts in file names: linux, darwin,
    win32 (Python's sys.platform agrees for these; 'freebsd14' becomes 'freebsd')."""
    return sys.platform.rstrip("0123456789") or sys.platform


def identifier_for(location: TestLocation, name: str, chosen: object) -> str:
    """The identifier a `pytest_visualreview_identifier` hook chose, checked against the
    contract; the default scheme when no hook chose one (None)."""
    __tracebackhide__ = True
    if chosen is None:
        return make_identifier(location, name)
    if not isinstance(chosen, str) or not chosen or _UNSAFE.search(chosen):
        raise IdentifierError(
            f"pytest_visualreview_identifier returned {chosen!r} for snapshot {name!r} of "
            f"{location.nodeid}; return a non-empty str of [A-Za-z0-9_-] (sanitize() from "
            "pytest_visualreview.baselines makes one), or None for the default identifier"
        )
    return chosen


def baseline_path(template: str, rootdir: Path, location: TestLocation, identifier: str) -> Path:
    """The baseline file of a snapshot, from the (validated) template."""
    test_file = rootdir / location.file_path
    path = Path(
        template.format(
            test_dir=str(test_file.parent),
            test_file_stem=location.file_stem,
            identifier=identifier,
            rootdir=str(rootdir),
            platform=current_platform(),
        )
    )
    return path if path.is_absolute() else rootdir / path


def find_obsolete(
    template: str,
    rootdir: Path,
    test_files: Iterable[str],
    produced: set[Path],
    protected_prefixes: Iterable[str] = (),
    finished_prefixes: Iterable[str] = (),
) -> list[Path]:
    """Baseline files in the baseline folders of `test_files` that no collected test could have
    produced.

    A file this session did not produce is obsolete when it belongs to a test that ran to its end
    (a prefix in `finished_prefixes`: a renamed or removed snapshot), or to no test we know of
    (a renamed test), or sits in the folder of a deleted test file. Files of tests whose snapshots
    we cannot know are kept: tests that were collected but did not run to their end or were
    deselected (-k, -m, --lf) and every test of a file collected only in part (`file.py::test`),
    all under `protected_prefixes`; and, in a folder several test files share, those of files
    that were not collected."""
    protected = tuple(protected_prefixes)
    finished = tuple(finished_prefixes)
    files = tuple(TestLocation(file_path, "").file_prefix for file_path in test_files)
    folders: set[Path] = set()
    orphaned: set[Path] = set()  # per-file folders whose test file is gone
    for file_path in test_files:
        location = TestLocation(file_path, "x")
        folder = baseline_path(template, rootdir, location, "x").parent
        folders.add(folder)
        if folder.name == location.file_stem and folder.parent.is_dir():
            test_dir = (rootdir / file_path).parent
            orphaned.update(
                sibling
                for sibling in folder.parent.iterdir()
                if sibling.is_dir() and not (test_dir / f"{sibling.name}.py").exists()
            )
    produced_resolved = {path.resolve() for path in produced}
    obsolete = []
    for folder in sorted(folders | orphaned):
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.glob("*.png")):
            name = candidate.name
            if folder not in orphaned and (
                not name.startswith(files)  # a file not collected shares this folder
                or (name.startswith(protected) and not name.startswith(finished))
            ):
                continue
            if candidate.resolve() not in produced_resolved:
                obsolete.append(candidate)
    return obsolete
