"""pytest hooks only: options, ini keys, the marker, fixtures, session start and finish.

Every decision is delegated: settings.py resolves options, fixture.py turns a call into a record,
session.py collects records (across xdist workers) and finds obsolete baselines, report.py writes
the summary and the HTML report, client/ sends the run. The hooks of hookspecs.py are called here.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import hookspecs, playwright_seam, report
from .baselines import TestLocation, identifier_for
from .client.delivery import submit_session
from .client.target import ServerReport
from .fixture import Snapshot, SnapshotMismatch, soft_mismatch
from .records import SnapshotRecord
from .session import WORKER_OUTPUT_KEY, SessionResult, VisualSession
from .settings import INI_OPTIONS, SERVER_OPTIONS, Mode, SettingsError, from_pytest_config

SESSION_KEY = pytest.StashKey[VisualSession]()
RESULT_KEY = pytest.StashKey[SessionResult]()
SERVER_KEY = pytest.StashKey[ServerReport]()
ITEM_RECORDS_KEY = pytest.StashKey[list[SnapshotRecord]]()
ITEM_SNAPSHOT_KEY = pytest.StashKey[Snapshot]()
SOFT_FAILURES_KEY = pytest.StashKey[list[str]]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("visualreview", "visual regression testing (pytest-visualreview)")
    group.addoption(
        "--visual-review",
        action="store_true",
        dest="visual_review",
        help="compare every snapshot() with its baseline (off by default: snapshots pass)",
    )
    group.addoption(
        "--approve",
        action="store_true",
        dest="visual_review_approve",
        help="accept new and changed snapshots as baselines (implies --visual-review); "
        "on a whole-suite run also delete obsolete baselines",
    )
    group.addoption(
        "--visual-review-output",
        dest="visual_review_output",
        metavar="DIR",
        help="folder for actual/expected/diff images and report.html (default .visual-review)",
    )
    for name, (help_text, kind, default) in INI_OPTIONS.items():
        parser.addini(name, help_text, type=kind, default=default)  # type: ignore[arg-type]
    server = parser.getgroup("visualreview-server", "visual review server (pytest-visualreview)")
    for key, (flag, help_text) in SERVER_OPTIONS.items():
        server.addoption(flag, dest=f"visual_review_server_{key}", metavar=key.upper(), help=help_text)
        parser.addini(f"visual_review_{key}", help_text, default="")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "visual_review(threshold=None, max_diff_pixels=None, max_diff_pixel_ratio=None, "
        "full_page=None, soft=None): per-test defaults for snapshot()",
    )
    try:
        settings = from_pytest_config(config)
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from exc
    session = VisualSession(settings)
    config.stash[SESSION_KEY] = session
    if settings.enabled and not _is_xdist_worker(config):
        try:
            session.prepare_output()
        except OSError as exc:
            raise pytest.UsageError(str(exc)) from exc
    if reason := _selection_is_partial(config):
        session.note_partial(reason)
    for file_path in _narrowed_files(config):
        session.note_narrowed(file_path)
    config.pluginmanager.register(SessionHooks(session), "visualreview-session")
    if any(config.pluginmanager.hasplugin(name) for name in ("xdist", "xdist.plugin")):
        # Only now: pluggy rejects a hook it has no spec for, and pytest_testnodedown's spec
        # comes from xdist (absent, or disabled with -p no:xdist).
        config.pluginmanager.register(XdistHooks(session), "visualreview-xdist")
    if not config.pluginmanager.hasplugin("syrupy"):
        # Beside syrupy the name `snapshot` stays syrupy's; ours is always `visual_snapshot`.
        config.pluginmanager.register(SnapshotFixture(), "visualreview-snapshot-fixture")
    if config.pluginmanager.hasplugin("playwright"):
        # Registered here (trylast) so our override sits above pytest-playwright's fixture and a
        # user's conftest override still sits above ours.
        config.pluginmanager.register(playwright_seam, "visualreview-system-chromium")


def _selection_is_partial(config: pytest.Config) -> str:
    """Why this run is not the whole suite ('' when it is): obsolete baselines are then kept."""
    option = config.option
    if getattr(option, "keyword", ""):
        return "-k selected a subset of tests"
    if getattr(option, "markexpr", ""):
        return "-m selected a subset of tests"
    if getattr(option, "lf", False):
        return "--lf ran only the last failures"
    if getattr(option, "deselect", None):
        return "--deselect removed tests"
    if any("::" in str(arg) for arg in config.args):
        return "explicit test node ids were given"
    return ""


def _narrowed_files(config: pytest.Config) -> set[str]:
    """Test files (rootdir-relative, as in node ids) named with `::` on the command line: their
    other tests were never collected, so their baselines cannot be judged obsolete."""
    files = set()
    for arg in config.args:
        file_part, sep, _ = str(arg).partition("::")
        if not sep:
            continue
        path = (config.invocation_params.dir / file_part).resolve()
        try:
            files.add(path.relative_to(config.rootpath).as_posix())
        except ValueError:
            continue  # outside the rootdir: no baseline folder of ours
    return files


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _session(config: pytest.Config) -> VisualSession:
    return config.stash[SESSION_KEY]


# -- collection and results --------------------------------------------------------------------


class SessionHooks:
    """Hooks that feed facts to this session's VisualSession (registered in pytest_configure)."""

    def __init__(self, visual: VisualSession) -> None:
        self.visual = visual

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if items:
            self.visual.note_partial(f"{len(items)} tests were deselected")
            self.visual.note_deselected([item.nodeid for item in items])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.testsfailed:
            self.visual.note_partial("collection errors")
        self.visual.note_collected([item.nodeid for item in session.items])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed or report.skipped:
            self.visual.note_unfinished(report.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """A test whose soft snapshots failed fails at its end, with all of them listed."""
        __tracebackhide__ = True
        yield
        failures = item.stash.get(SOFT_FAILURES_KEY, [])
        if failures:
            raise soft_mismatch(failures)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        test_report = yield
        if call.when == "call":
            _attach_to_pytest_html(item, test_report)
            if call.excinfo is not None and isinstance(call.excinfo.value, SnapshotMismatch):
                _summary_line_is_the_verdict(test_report, call.excinfo.value)
        return test_report


class XdistHooks:
    """The xdist controller's side of the session: merge what each worker found."""

    def __init__(self, visual: VisualSession) -> None:
        self.visual = visual

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if output:
            self.visual.merge_worker(output)


def _summary_line_is_the_verdict(test_report: pytest.TestReport, exc: SnapshotMismatch) -> None:
    """pytest's short summary shows the crash line, which starts with the exception's dotted
    class name and is cut to the terminal width before the verdict; make it the verdict itself."""
    crash = getattr(test_report.longrepr, "reprcrash", None)
    first_line = next(iter(str(exc).splitlines()), "")
    if crash is not None and first_line:
        crash.message = first_line


def _attach_to_pytest_html(item: pytest.Item, test_report: pytest.TestReport) -> None:
    """Put expected/actual/diff into pytest-html's report when that plugin is active."""
    records = item.stash.get(ITEM_RECORDS_KEY, [])
    if not records or not item.config.pluginmanager.hasplugin("html"):
        return
    from pytest_html import extras as html_extras

    extras = list(getattr(test_report, "extras", []))
    for record in records:
        for kind in ("expected", "actual", "diff"):
            path = getattr(record, f"{kind}_path")
            if path and Path(path).is_file():
                encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
                extras.append(html_extras.png(encoded, f"{record.name}: {kind}"))
    setattr(test_report, "extras", extras)  # noqa: B010 - pytest-html reads this attribute


# -- fixtures --------------------------------------------------------------------------------


def _snapshot(request: pytest.FixtureRequest) -> Snapshot:
    """The fixture value behind both names: one Snapshot per test, whichever name it asks for
    (two would number unnamed snapshots twice and write one baseline from both)."""
    if ITEM_SNAPSHOT_KEY in request.node.stash:
        return request.node.stash[ITEM_SNAPSHOT_KEY]
    config = request.config
    visual = _session(config)
    marker = request.node.get_closest_marker("visual_review")
    records = request.node.stash.setdefault(ITEM_RECORDS_KEY, [])
    hook = config.hook

    def record(taken: SnapshotRecord) -> SnapshotRecord:
        __tracebackhide__ = True
        extras = hook.pytest_visualreview_snapshot_metadata(item=request.node, record=taken)
        taken = taken.with_metadata(extras, source="pytest_visualreview_snapshot_metadata")
        records.append(taken)
        visual.add(taken)
        return taken

    def identify(location: TestLocation, name: str) -> str:
        __tracebackhide__ = True
        chosen = hook.pytest_visualreview_identifier(location=location, name=name)
        return identifier_for(location, name, chosen)

    snapshot = Snapshot(
        settings=visual.settings,
        nodeid=request.node.nodeid,
        marker_options=dict(marker.kwargs) if marker else {},
        claim=visual.claim,
        record=record,
        identify=identify,
        soft_failures=request.node.stash.setdefault(SOFT_FAILURES_KEY, []),
    )
    request.node.stash[ITEM_SNAPSHOT_KEY] = snapshot
    return snapshot


@pytest.fixture
def visual_snapshot(request: pytest.FixtureRequest) -> Snapshot:
    """Compare a Playwright page/locator or any image with its baseline (see docs/)."""
    return _snapshot(request)


class SnapshotFixture:
    """`snapshot`, the short name, registered only where no other plugin (syrupy) owns it."""

    @pytest.fixture
    def snapshot(self, request: pytest.FixtureRequest) -> Snapshot:
        """Compare a Playwright page/locator or any image with its baseline (see docs/)."""
        return _snapshot(request)


# -- session end -------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    visual = _session(config)
    if not visual.settings.enabled:
        return
    if session.shouldstop or session.shouldfail:
        visual.note_partial("the run stopped early")
    if _is_xdist_worker(config):
        config.workeroutput[WORKER_OUTPUT_KEY] = visual.worker_output()  # type: ignore[attr-defined]
        return
    if visual.unfinished_tests and config.hook.pytest_visualreview_identifier.get_hookimpls():
        # Baselines of unfinished tests are protected by their identifier prefix, which a custom
        # scheme need not keep: keep every baseline, and let the server report nothing removed.
        visual.note_partial("some tests did not finish and pytest_visualreview_identifier names snapshots")
    result = visual.finish()
    config.stash[RESULT_KEY] = result
    if result.records or result.obsolete:
        report.write_html_report(
            result.records,
            visual.settings.output_dir / "report.html",
            obsolete=[str(path) for path in result.obsolete],
        )
    if result.duplicate_errors:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if visual.settings.server is not None:
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        server_report = submit_session(
            visual.settings.server,
            result.records,
            rootdir=visual.settings.rootdir,
            spool_root=visual.settings.output_dir / "spool",
            partial=bool(result.partial_reasons),
            unfinished_prefixes=visual.unfinished_prefixes(),
            approve=visual.settings.mode is Mode.APPROVE,
            progress=(lambda line: terminal.write_line(line)) if terminal else (lambda line: None),
        )
        config.stash[SERVER_KEY] = server_report
        if server_report.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.hook.pytest_visualreview_session_finish(result=result)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    result = config.stash.get(RESULT_KEY, None)
    if result is None:
        return
    visual = _session(config)
    terminalreporter.section("visual review")
    for line in report.terminal_summary_lines(result.records, [str(p) for p in result.obsolete]):
        terminalreporter.write_line(line)
    for error in result.duplicate_errors:
        terminalreporter.write_line(f"ERROR: {error}", red=True)
    if result.deleted:
        terminalreporter.write_line(f"deleted {len(result.deleted)} obsolete baseline(s)")
    elif result.obsolete and result.partial_reasons:
        terminalreporter.write_line(
            "obsolete baselines kept: not a whole-suite run ("
            + "; ".join(result.partial_reasons)
            + ")"
        )
    elif result.obsolete:
        terminalreporter.write_line("run with --approve on the whole suite to delete them")
    for note in visual.settings.notes:
        terminalreporter.write_line(note)
    server_report = config.stash.get(SERVER_KEY, None)
    if server_report is not None:
        for line in server_report.lines:
            terminalreporter.write_line(line, red=server_report.failed)
    report_path = visual.settings.output_dir / "report.html"
    if report_path.exists() and (result.records or result.obsolete):
        terminalreporter.write_line(f"report: {report_path}")
