"""Every error a user can cause gets a message naming the thing and what to do; nothing is lost."""

from __future__ import annotations

import pytest


def test_unknown_target_type(project):
    project.write_tests(
        """
        def test_bad(snapshot):
            snapshot({"not": "an image"}, "dict")
        """
    )
    result = project.run("--visual-review")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SnapshotUsageError: snapshot 'dict' in test_visual.py::test_bad: *cannot use a builtins.dict as an image; pass a Playwright*"])


def test_locator_matching_nothing_and_zero_size_element(project):
    project.write_tests(
        """
        def test_missing(page, snapshot):
            page.goto(PAGE)
            snapshot(page.locator("#does-not-exist"), "missing", timeout=0.5)

        def test_empty(page, snapshot):
            page.goto(PAGE)
            snapshot(page.locator("#empty"), "empty", timeout=0.5)

        def test_many(page, snapshot):
            page.goto(PAGE)
            snapshot(page.locator("div"), "many")
        """
    )
    result = project.run("--visual-review")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        ["*snapshot 'missing': locator '#does-not-exist' matched no element within the 0.5s timeout*"]
    )
    result.stdout.fnmatch_lines(["*snapshot 'empty': locator '#empty' has no area to capture (0×0)*"])
    result.stdout.fnmatch_lines(["*locator 'div' matched 3 elements; narrow it to one*"])


def test_a_late_element_is_waited_for_within_the_timeout(project):
    """Playwright's screenshot waits for the element to be attached and visible; so do we."""
    project.write_tests(
        """
        def test_late(page, snapshot):
            page.goto(PAGE)
            page.evaluate(\"\"\"setTimeout(() => {
                const el = document.createElement('p');
                el.id = 'late'; el.textContent = 'here at last';
                document.body.appendChild(el);
            }, 600)\"\"\")
            snapshot(page.locator("#late"), "late")
        """
    )
    project.run("--approve").assert_outcomes(passed=1)
    project.run("--visual-review").assert_outcomes(passed=1)


@pytest.mark.parametrize("damage", ["truncated", "bad signature"])
def test_unreadable_baseline_fails_and_approve_replaces_it(project, damage):
    project.write_tests(
        """
        def test_chart(snapshot):
            import numpy as np
            snapshot(np.zeros((4, 4, 3), dtype=np.uint8), "chart")
        """
    )
    project.run("--approve").assert_outcomes(passed=1)
    baseline = project.root / "__visual_snapshots__" / "test_visual" / "test_visual--test_chart--chart.png"
    good = baseline.read_bytes()
    corrupt = good[:40] if damage == "truncated" else b"GIF89a" + good[6:]
    baseline.write_bytes(corrupt)
    result = project.run("--visual-review")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{baseline}: *run with --approve*"])
    assert baseline.read_bytes() == corrupt  # a check run never touches a baseline

    approve = project.run("--approve")
    approve.assert_outcomes(passed=1)
    approve.stdout.fnmatch_lines([f"*APPROVED*test_visual--test_chart--chart*: replaced an unreadable baseline {baseline}"])
    assert baseline.read_bytes() == good  # the same pixels, encoded the same way
    project.run("--visual-review").assert_outcomes(passed=1)


def test_duplicate_names(project):
    project.write_tests(
        """
        import numpy as np

        def test_twice(snapshot):
            image = np.zeros((4, 4, 3), dtype=np.uint8)
            snapshot(image, "same")
            snapshot(image, "same")
        """
    )
    result = project.run("--approve")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SnapshotUsageError: snapshot 'same' in test_visual.py::test_twice: the name 'same' is used twice*give each snapshot*"])


def test_wrong_calls_are_usage_errors_that_name_the_option_and_the_test(project):
    project.write_tests(
        """
        import numpy as np
        import pytest
        from pytest_visualreview.fixture import SnapshotUsageError

        IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)

        def test_typo(snapshot):
            with pytest.raises(TypeError) as caught:
                snapshot(IMAGE, "x", fullpage=True)
            assert isinstance(caught.value, SnapshotUsageError)
            raise caught.value

        def test_string(snapshot):
            snapshot("charts/missing.png", "chart")

        def test_mask_color(snapshot):
            snapshot(IMAGE, "x", mask_color="#12345")

        def test_off_is_still_checked_for_typos(snapshot):
            pass
        """
    )
    result = project.run("--visual-review")
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines(["*UnknownOptionError: snapshot() in test_visual.py::test_typo got an unknown option fullpage=; did you mean full_page=? it takes threshold*"])
    result.stdout.fnmatch_lines(["*SnapshotUsageError: snapshot 'chart' in test_visual.py::test_string: 'charts/missing.png' is neither an existing file*nor PNG bytes; pass the path of a PNG file*"])
    result.stdout.fnmatch_lines(["*SnapshotUsageError: snapshot 'x' in test_visual.py::test_mask_color: snapshot(mask_color=...): '#12345' is not a CSS colour; give a name*"])
    # A typo is caught even when visual review is off: Python itself would refuse the keyword.
    project.run().assert_outcomes(failed=1, passed=3)


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("visual_review_threshold = 2", "*ini option visual_review_threshold: threshold must be between 0 and 1, got '2'*"),
        ("visual_review_max_diff_pixels = many", "*expected a number, got 'many'*"),
        ("visual_review_max_diff_pixel_ratio = 1.5", "*max_diff_pixel_ratio must be a fraction*"),
        ("visual_review_timeout = -1", "*timeout must be a positive number of seconds*"),
        ("visual_review_baseline_template = {test_dir}/{identifier}/x.png",
         "*must end in a file name containing {identifier}*"),
        ("visual_review_style = missing.css", "*cannot read CSS file*missing.css*"),
        ("visual_review_mask_color = notacolor",
         "*ini option visual_review_mask_color: 'notacolor' is not a CSS colour; give a name (magenta)*"),
        ("visual_review_mask_color = #12345", "*'#12345' is not a CSS colour*"),
        ("visual_review_mask_color = transparent", "*would hide nothing; give an opaque CSS colour*"),
        ("visual_review_url = http://127.0.0.1:9", "*VISUAL_REVIEW_TOKEN is not*"),
    ],
)
def test_invalid_ini_values(project, ini, message, monkeypatch):
    monkeypatch.delenv("VISUAL_REVIEW_TOKEN", raising=False)
    project.pytester.makeini(f"[pytest]\n{ini}\n")
    project.write_tests("def test_nothing(snapshot):\n    pass\n")
    # Opt-in: without --visual-review nothing is read or validated.
    project.run().assert_outcomes(passed=1)
    result = project.run("--visual-review")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_invalid_marker_and_call_values(project):
    project.write_tests(
        """
        import numpy as np
        import pytest

        @pytest.mark.visual_review(treshold=0.2)
        def test_typo(snapshot):
            snapshot(np.zeros((4, 4, 3), dtype=np.uint8), "x")

        def test_bad_call(snapshot):
            snapshot(np.zeros((4, 4, 3), dtype=np.uint8), "x", threshold=-1)

        def test_missing_css(snapshot):
            snapshot(np.zeros((4, 4, 3), dtype=np.uint8), "x", style="nowhere.css")
        """
    )
    result = project.run("--visual-review")
    result.assert_outcomes(failed=2, errors=1)
    result.stdout.fnmatch_lines(["*snapshot(style=...): cannot read CSS file *nowhere.css*give CSS text or the path*"])
    result.stdout.fnmatch_lines(["*unknown option(s) ?'treshold'?; it takes threshold*"])
    result.stdout.fnmatch_lines(["*snapshot(): threshold must be between 0 and 1, got -1*"])


def test_a_malformed_snapshots_yml_matters_only_to_visual_runs(project):
    (project.root / "snapshots.yml").write_text("snapshots: [unclosed\n", encoding="utf-8")
    project.write_tests("def test_nothing(snapshot):\n    pass\n")
    project.run().assert_outcomes(passed=1)
    result = project.run("--visual-review")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*snapshots.yml: not valid YAML*", "*fix or delete the file"])


def test_valid_css_colours_are_accepted(project):
    project.write_tests(
        """
        import numpy as np

        def test_colours(snapshot):
            for i, colour in enumerate(["magenta", "#f0f", "#FF00FF80", "rgb(255 0 255 / 50%)", "hsl(300, 100%, 50%)"]):
                snapshot(np.zeros((4, 4, 3), dtype=np.uint8), str(i), mask_color=colour)
        """
    )
    project.run("--approve").assert_outcomes(passed=1)


def test_unwritable_output_folder(project):
    project.write_tests("def test_nothing(snapshot):\n    pass\n")
    blocker = project.root / "blocked"
    blocker.write_text("a file where a folder should be")
    result = project.run("--visual-review", f"--visual-review-output={blocker}/out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*output folder {blocker}/out is not writable*--visual-review-output*"])


def test_async_playwright_objects_get_a_clear_error(project):
    project.write_tests(
        """
        import asyncio
        from playwright.async_api import async_playwright
        from pytest_visualreview.browser import fallback_launch_args

        def test_async(snapshot):
            async def main():
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(**fallback_launch_args())
                    page = await browser.new_page()
                    try:
                        snapshot(page, "async")
                    finally:
                        await browser.close()
            asyncio.run(main())
        """
    )
    result = project.run("--visual-review")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Page is from Playwright's async API*snapshot(await page.screenshot(), 'name')*"])
