"""Suite-level behaviour: xdist, obsolete baselines and when they may be pruned, the browser seam."""

from __future__ import annotations

import pytest

TWO_TESTS = """
import numpy as np

def image(value):
    return np.full((8, 8, 3), value, dtype=np.uint8)

def test_a(snapshot):
    snapshot(image(10), "one")
    snapshot(image(20), "two")

def test_b(snapshot):
    snapshot(image(30), "three")
"""


def test_obsolete_baselines_listed_and_pruned_only_on_whole_runs(project):
    project.write_tests(TWO_TESTS)
    project.run("--approve").assert_outcomes(passed=2)
    assert len(project.baselines()) == 3
    project.write_tests(TWO_TESTS.replace('    snapshot(image(20), "two")\n', ""))

    listed = project.run("--visual-review")
    listed.assert_outcomes(passed=2)
    listed.stdout.fnmatch_lines(["*obsolete*test_visual--test_a--two.png*"])
    assert len(project.baselines()) == 3

    for partial in (["-k", "test_a"], ["test_visual.py::test_a"], ["--deselect", "test_visual.py::test_b"]):
        kept = project.run("--approve", *partial)
        kept.stdout.fnmatch_lines(["*obsolete baselines kept: not a whole-suite run*"])
        assert len(project.baselines()) == 3, partial

    pruned = project.run("--approve")
    pruned.assert_outcomes(passed=2)
    pruned.stdout.fnmatch_lines(["*deleted 1 obsolete baseline(s)*"])
    assert project.baselines() == ["test_visual--test_a--one.png", "test_visual--test_b--three.png"]


def test_subsets_do_not_call_the_baselines_of_other_tests_obsolete(project):
    project.write_tests(TWO_TESTS)
    project.run("--approve").assert_outcomes(passed=2)
    for subset in (["-k", "test_a"], ["test_visual.py::test_a"], ["-m", "not slow", "--deselect", "test_visual.py::test_b"]):
        result = project.run("--visual-review", *subset)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*2 unchanged*, 0 obsolete"])
        result.stdout.no_fnmatch_line("*three.png*")
    # A baseline no collected test could have produced is still listed in a subset run.
    stray = project.root / "__visual_snapshots__" / "test_visual" / "test_visual--test_renamed--1.png"
    stray.write_bytes((project.root / "__visual_snapshots__" / "test_visual" / "test_visual--test_b--three.png").read_bytes())
    result = project.run("--visual-review", "-k", "test_a")
    result.stdout.fnmatch_lines(["*1 obsolete", "*test_visual--test_renamed--1.png*"])
    result.stdout.no_fnmatch_line("*three.png*")


def test_plain_runs_and_visual_runs_work_without_xdist(project):
    project.write_tests(TWO_TESTS)
    project.run("-p", "no:xdist").assert_outcomes(passed=2)
    project.run("-p", "no:xdist", "--approve").assert_outcomes(passed=2)
    project.run("-p", "no:xdist", "--visual-review").assert_outcomes(passed=2)


def test_both_fixture_names_are_one_snapshot(project):
    project.write_tests(
        """
        import numpy as np

        def test_both(snapshot, visual_snapshot):
            assert snapshot is visual_snapshot
            visual_snapshot(np.zeros((4, 4, 3), dtype=np.uint8))
            snapshot(np.ones((4, 4, 3), dtype=np.uint8))
        """
    )
    project.run("--approve").assert_outcomes(passed=1)
    assert project.baselines() == ["test_visual--test_both--1.png", "test_visual--test_both--2.png"]


def test_tests_that_did_not_finish_keep_their_baselines(project):
    project.write_tests(TWO_TESTS)
    project.run("--approve").assert_outcomes(passed=2)
    project.write_tests(
        TWO_TESTS.replace("def test_b(snapshot):\n", "def test_b(snapshot):\n    assert False, 'broken'\n")
        .replace("def test_a(snapshot):\n", "import pytest\n@pytest.mark.skip(reason='x')\ndef test_a(snapshot):\n")
    )
    result = project.run("--approve")
    result.assert_outcomes(failed=1, skipped=1)
    assert len(project.baselines()) == 3  # neither the skipped nor the failed test lost a baseline


def test_deleted_test_file_makes_its_baselines_obsolete(project):
    project.write_tests(TWO_TESTS, name="test_old")
    project.write_tests("def test_keep(snapshot):\n    pass\n", name="test_keep")
    project.run("--approve").assert_outcomes(passed=3)
    (project.root / "test_old.py").unlink()
    result = project.run("--approve")
    result.stdout.fnmatch_lines(["*deleted 3 obsolete baseline(s)*"])
    assert project.baselines("test_old") == []


@pytest.mark.slow
def test_xdist_gives_the_same_outcomes_and_one_summary(project):
    project.write_tests(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_page(page, snapshot, n):
            page.set_viewport_size({"width": 200, "height": 100})
            page.goto(PAGE)
            snapshot(page.locator("#box"), f"box")
        """
    )
    first = project.run_subprocess("-n", "2", "--approve")
    first.assert_outcomes(passed=4)
    assert len(project.baselines()) == 4
    first.stdout.fnmatch_lines(["*4 approved*"])
    assert first.stdout.str().count("visual review: ") == 1  # one summary, on the controller

    project.set_page(color="rgb(0, 200, 0)")
    changed = project.run_subprocess("-n", "2", "--visual-review")
    changed.assert_outcomes(failed=4)
    changed.stdout.fnmatch_lines(["*4 changed*"])
    report = (project.output / "report.html").read_text(encoding="utf-8")
    for n in range(4):
        assert f"test_visual--test_page-chromium-{n}--box" in report


def test_user_launch_args_win_over_the_system_chromium(project):
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def browser_type_launch_args(browser_type_launch_args):
            return {**browser_type_launch_args, "executable_path": "/nonexistent/chrome"}
        """
    )
    project.write_tests(
        """
        def test_page(page):
            pass
        """
    )
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*/nonexistent/chrome*"])


def test_user_conftest_chains_on_top_of_the_system_chromium(project):
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def browser_type_launch_args(browser_type_launch_args):
            return {**browser_type_launch_args, "args": [*browser_type_launch_args.get("args", []), "--hide-scrollbars"]}
        """
    )
    project.write_tests(
        """
        def test_page(page, browser_type_launch_args):
            from pytest_visualreview.browser import fallback_launch_args
            fallback = fallback_launch_args()
            assert fallback, "this machine has no Playwright Chromium, so the fallback applies"
            assert browser_type_launch_args["executable_path"] == fallback["executable_path"]
            assert "--no-sandbox" in browser_type_launch_args["args"]
            assert "--hide-scrollbars" in browser_type_launch_args["args"]
            page.goto(PAGE)
        """
    )
    project.run().assert_outcomes(passed=1)


def test_the_system_chromium_is_found_inside_a_running_playwright(project):
    """A test that starts Playwright before any page fixture must not break the seam."""
    project.write_tests(
        """
        def test_playwright_first(playwright):
            from pytest_visualreview import browser
            browser.playwright_chromium_installed.cache_clear()
            assert browser.fallback_launch_args()["executable_path"]

        def test_page_after(page):
            page.goto(PAGE)
        """
    )
    project.run().assert_outcomes(passed=2)
