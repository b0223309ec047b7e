"""Unit tests of the plugin's pure parts: identifiers, settings resolution, baselines, session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_visualreview.baselines import (
    IdentifierError,
    TestLocation,
    baseline_path,
    find_obsolete,
    make_identifier,
    sanitize,
)
from pytest_visualreview.records import Outcome, SnapshotRecord
from pytest_visualreview.session import VisualSession
from pytest_visualreview.settings import (
    DEFAULT_BASELINE_TEMPLATE,
    Mode,
    Settings,
    SettingsError,
    Tolerance,
    resolve_tolerance,
    validate_template,
)


@pytest.mark.parametrize(
    ("nodeid", "name", "identifier"),
    [
        ("tests/test_home.py::test_home[chromium]", "header", "test_home--test_home-chromium--header"),
        ("tests/ui/test_cart.py::TestCart::test_empty", "1", "test_cart--TestCart--test_empty--1"),
        ("t.py::test_x[a b/c]", "dark mode ✓", "t--test_x-a-b-c--dark-mode"),
    ],
)
def test_identifiers_are_sanitised_and_stable(nodeid, name, identifier):
    assert make_identifier(TestLocation.from_nodeid(nodeid), name) == identifier


def test_sanitize_keeps_only_the_safe_alphabet():
    assert sanitize("a-Z_09.é/ :") == "a-Z_09-----"


def test_empty_name_is_an_error():
    with pytest.raises(IdentifierError, match="snapshot name is empty"):
        make_identifier(TestLocation.from_nodeid("t.py::test"), " ")


def test_baseline_path_from_template(tmp_path):
    location = TestLocation.from_nodeid("tests/ui/test_cart.py::test_empty")
    path = baseline_path(DEFAULT_BASELINE_TEMPLATE, tmp_path, location, "ident")
    assert path == tmp_path / "tests" / "ui" / "__visual_snapshots__" / "test_cart" / "ident.png"
    custom = baseline_path("{rootdir}/baselines/{identifier}.png", tmp_path, location, "ident")
    assert custom == tmp_path / "baselines" / "ident.png"


@pytest.mark.parametrize(
    "template",
    ["{test_dir}/{identifier}/x.png", "{test_dir}/{name}.png", "{test_dir}/{identifier}.jpg", "{"],
)
def test_bad_templates_are_refused(template):
    with pytest.raises(SettingsError, match="visual_review_baseline_template"):
        validate_template(template)


def test_tolerance_budget_smaller_wins():
    assert Tolerance().allowed_pixels(1000) == 0
    assert Tolerance(max_diff_pixels=50).allowed_pixels(1000) == 50
    assert Tolerance(max_diff_pixel_ratio=0.01).allowed_pixels(1000) == 10
    assert Tolerance(max_diff_pixels=5, max_diff_pixel_ratio=0.01).allowed_pixels(1000) == 5
    assert Tolerance(max_diff_pixels=50, max_diff_pixel_ratio=0.01).allowed_pixels(1000) == 10


def test_tolerance_resolution_order():
    ini = resolve_tolerance(Tolerance(), {"threshold": "0.3", "max_diff_pixels": "4"}, "ini")
    marker = resolve_tolerance(ini, {"max_diff_pixel_ratio": 0.5}, "marker")
    call = resolve_tolerance(marker, {"threshold": 0.05, "max_diff_pixels": None}, "call")
    assert call == Tolerance(threshold=0.05, max_diff_pixels=4, max_diff_pixel_ratio=0.5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"threshold": 1.5}, "threshold must be between 0 and 1"),
        ({"threshold": True}, "expected a number"),
        ({"threshold": "nan"}, "expected a finite number"),
        ({"max_diff_pixels": 2.5}, "must be a whole number"),
        ({"max_diff_pixels": -1}, "must be 0 or more"),
        ({"max_diff_pixel_ratio": 2}, "must be a fraction"),
    ],
)
def test_tolerance_errors_name_the_option(overrides, message):
    with pytest.raises(SettingsError, match=message):
        resolve_tolerance(Tolerance(), overrides, "snapshot()")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"png")
    return path


def test_find_obsolete_respects_produced_and_protected(tmp_path):
    (tmp_path / "test_a.py").write_text("")
    folder = tmp_path / "__visual_snapshots__" / "test_a"
    used = _touch(folder / "test_a--test_x--1.png")
    stale = _touch(folder / "test_a--test_gone--1.png")
    protected = _touch(folder / "test_a--test_skipped--1.png")
    orphan = _touch(tmp_path / "__visual_snapshots__" / "test_deleted" / "test_deleted--t--1.png")
    found = find_obsolete(
        DEFAULT_BASELINE_TEMPLATE, tmp_path, ["test_a.py"], {used}, ["test_a--test_skipped--"]
    )
    assert found == [stale, orphan]
    assert protected.exists()


def test_find_obsolete_judges_only_what_a_collected_test_could_have_produced(tmp_path):
    """-k/file::test selections: baselines of deselected or uncollected tests are not obsolete."""
    shared = "{test_dir}/snaps/{identifier}.png"  # one folder for every test file
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text("")
    folder = tmp_path / "snaps"
    ran = _touch(folder / "test_a--test_ran--gone.png")  # test_ran finished without it
    deselected = _touch(folder / "test_a--test_deselected--1.png")
    renamed = _touch(folder / "test_a--test_old_name--1.png")  # no collected test has this name
    uncollected_file = _touch(folder / "test_b--test_x--1.png")  # test_b.py was not collected
    found = find_obsolete(
        shared, tmp_path, ["test_a.py"], set(),
        protected_prefixes=["test_a--test_deselected--"], finished_prefixes=["test_a--test_ran--"],
    )
    assert found == [renamed, ran]
    # test_a.py collected only in part (test_a.py::test_ran): all its tests are protected but
    # the one that ran to its end.
    found = find_obsolete(
        shared, tmp_path, ["test_a.py"], set(),
        protected_prefixes=["test_a--"], finished_prefixes=["test_a--test_ran--"],
    )
    assert found == [ran]
    assert deselected.exists() and uncollected_file.exists()


def test_session_refuses_an_identifier_claimed_by_another_test(tmp_path):
    session = VisualSession(Settings(mode=Mode.CHECK, rootdir=tmp_path))
    session.claim("x--y--1", "a.py::test_one")
    session.claim("x--y--1", "a.py::test_one")  # the same test again (e.g. a rerun) is fine
    with pytest.raises(IdentifierError, match="already used by a.py::test_one"):
        session.claim("x--y--1", "b.py::test_two")


def test_worker_output_round_trips(tmp_path):
    worker = VisualSession(Settings(mode=Mode.CHECK, rootdir=tmp_path))
    record = SnapshotRecord("a.py::t", "n", "a--t--n", Outcome.CHANGED, 3, 2, "ab",
                            expected_size=(3, 1), metadata={"browser": "chromium"})
    worker.add(record)
    worker.note_collected(["a.py::t"])
    worker.note_deselected(["a.py::u"])
    worker.note_partial("-k selected a subset of tests")
    controller = VisualSession(Settings(mode=Mode.CHECK, rootdir=tmp_path))
    controller.merge_worker(worker.worker_output())
    assert controller.records == [record]
    assert controller.partial_reasons == ["-k selected a subset of tests"]
    assert controller.test_files == {"a.py"}
    assert controller.protected_prefixes() == {"a--u--"}
