"""Hooks other plugins, or a project's conftest.py, implement to extend pytest-visualreview.

Registered with `pytest_addhooks`; implement them like any pytest hook (a module-level function of
that name in conftest.py, or in a plugin). docs/hooks.md has an example plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pytest

    from .baselines import TestLocation
    from .records import SnapshotRecord
    from .session import SessionResult

hookspec = pluggy.HookspecMarker("pytest")


@hookspec(firstresult=True)
def pytest_visualreview_identifier(location: TestLocation, name: str) -> str | None:
    """The identifier of snapshot `name` taken in the test at `location`, or None for the default
    (`<file stem>--<test name>--<name>`).

    `location` is a frozen `TestLocation`: `nodeid`, `file_path` (relative to the rootdir, with
    `/`), `test_name` (with parameters, e.g. `TestCart::test_empty[chromium]`), `file_stem`. The
    identifier names the baseline file, the snapshots.yml entry and the snapshot on the review
    server, so it must be stable across runs and machines, unique in the session and made of
    `[A-Za-z0-9_-]` (`pytest_visualreview.baselines.sanitize` replaces the rest with `-`).
    Called on the worker that runs the test, only with visual review on.
    """


@hookspec
def pytest_visualreview_snapshot_metadata(
    item: pytest.Item, record: SnapshotRecord
) -> dict[str, Any] | None:
    """Metadata to merge into the snapshot's manifest metadata (e.g. Sentry's `display_name`,
    `group`, `description`, `tags`), or None.

    Called for every snapshot a test takes (passing, failing or errored), on the worker that runs
    it, before the record is stored: the merged metadata travels with the record to the xdist
    controller, the spool and the server. Values must be JSON (str, number, bool, None, lists and
    dicts of them). `nodeid`, `name` and `tolerance` are the plugin's own and cannot be replaced.
    """


@hookspec
def pytest_visualreview_session_finish(result: SessionResult) -> None:
    """The session's visual result, once, on the controller (never on an xdist worker), after the
    report is written and the run sent to the configured review server: `result.records` (every
    `SnapshotRecord` of every worker, sorted), `result.obsolete`, `result.deleted`,
    `result.partial_reasons`, `result.duplicate_errors`. For other upload targets. Called only
    with visual review on.
    """
