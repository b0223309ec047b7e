"""Where baselines live and what they are called: identifiers, baseline paths, obsolete files.

The identifier is a contract shared with review servers (PostHog's CLI sanitises the same way), so it
is derived only from the node id and the snapshot name: stable across machines and runs.
"""

from __future__ import annotations

import re
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
    def identifier_prefix(self) -> str:
        """Every identifier of this test starts with this; used to protect the baselines of
        tests that did not run to the end from being called obsolete."""
        return f"{_part(self.file_stem)}--{_part(self.test_name)}--"


def make_identifier(location: TestLocation, name: str) -> str:
    """`<file stem>--<test name with params>--<snapshot name>`, restricted to [A-Za-z0-9_-]."""
    if not name or not name.strip():
        raise IdentifierError("snapshot name is empty; pass a name such as snapshot(page, 'header')")
    return location.identifier_prefix + _part(name)


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
        )
    )
    return path if path.is_absolute() else rootdir / path


def find_obsolete(
    template: str,
    rootdir: Path,
    test_files: Iterable[str],
    produced: set[Path],
    protected_prefixes: Iterable[str],
) -> list[Path]:
    """Baseline files in the baseline folders of `test_files` that no snapshot of this session
    produced. Files whose name starts with a protected prefix (tests that did not run to the end)
    are never obsolete, because we cannot know which snapshots those tests would have taken."""
    prefixes = tuple(protected_prefixes)
    folders: set[Path] = set()
    for file_path in test_files:
        location = TestLocation(file_path, "x")
        folder = baseline_path(template, rootdir, location, "x").parent
        folders.add(folder)
        if folder.name == location.file_stem and folder.parent.is_dir():
            # Per-file folders: a folder whose test file is gone is obsolete as a whole.
            test_dir = (rootdir / file_path).parent
            folders.update(
                sibling
                for sibling in folder.parent.iterdir()
                if sibling.is_dir() and not (test_dir / f"{sibling.name}.py").exists()
            )
    produced_resolved = {path.resolve() for path in produced}
    obsolete = []
    for folder in sorted(folders):
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.glob("*.png")):
            if candidate.resolve() in produced_resolved or candidate.name.startswith(prefixes):
                continue
            obsolete.append(candidate)
    return obsolete
