"""The local workflow end to end, through pytester with real Chromium screenshots of local HTML."""

from __future__ import annotations

import re

from pytest_visualreview import imaging

PAGE_TEST = """
def test_page(page, snapshot):
    page.set_viewport_size({"width": 300, "height": 200})
    page.goto(PAGE)
    snapshot(page)
    snapshot(page.locator("#box"), "box")
"""


def test_without_visual_review_nothing_is_captured(project):
    project.write_tests(PAGE_TEST)
    result = project.run()
    result.assert_outcomes(passed=1)
    assert project.baselines() == []
    assert not (project.output / "images").exists()


def test_new_then_approve_then_clean_then_changed(project):
    project.write_tests(PAGE_TEST)

    first = project.run("--visual-review")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*snapshot '1' is new: no baseline yet; run with --approve to accept it"])
    first.stdout.fnmatch_lines(["*id*test_visual--test_page-chromium--1 (threshold 0.2)"])
    assert (project.output / "images" / "test_visual--test_page-chromium--1" / "actual.png").is_file()
    assert project.baselines() == []  # nothing is accepted without --approve

    approve = project.run("--approve")
    approve.assert_outcomes(passed=1)
    assert project.baselines() == [
        "test_visual--test_page-chromium--1.png",
        "test_visual--test_page-chromium--box.png",
    ]
    approve.stdout.fnmatch_lines(["*APPROVED*test_visual--test_page-chromium--box*new baseline*"])
    box = project.root / "__visual_snapshots__" / "test_visual" / "test_visual--test_page-chromium--box.png"
    assert imaging.read_png(box).shape == (60, 120, 4)
    stamp = box.stat().st_mtime_ns

    clean = project.run("--visual-review")
    clean.assert_outcomes(passed=1)
    clean.stdout.fnmatch_lines(["*2 unchanged*"])

    again = project.run("--approve")  # a passing baseline is never rewritten
    again.assert_outcomes(passed=1)
    assert box.stat().st_mtime_ns == stamp

    project.set_page(color="rgb(200, 40, 40)")
    changed = project.run("--visual-review")
    changed.assert_outcomes(failed=1)
    text = changed.stdout.str()
    match = re.search(r"snapshot '1' differs: (\d+) px \(([\d.]+)%\), 0 allowed", text)
    assert match, text
    # The short test summary starts with the verdict, not the exception's dotted class name.
    changed.stdout.fnmatch_lines(["FAILED test_visual.py::test_page?chromium? - snapshot '1' differs: *"])
    assert int(match.group(1)) == 120 * 60  # exactly the box changed colour
    diff_png = project.output / "images" / "test_visual--test_page-chromium--1" / "diff.png"
    assert diff_png.is_file()
    report = (project.output / "report.html").read_text(encoding="utf-8")
    assert "test_visual--test_page-chromium--1" in report
    assert imaging.read_png(box).shape == (60, 120, 4)
    assert box.stat().st_mtime_ns == stamp  # a failing run never touches a baseline

    accept = project.run("--approve")
    accept.assert_outcomes(passed=1)
    assert imaging.read_png(box)[30, 60].tolist() == [200, 40, 40, 255]
    project.run("--visual-review").assert_outcomes(passed=1)


def test_tolerance_from_marker_call_and_ini(project):
    project.write_tests(
        """
        import pytest

        @pytest.mark.visual_review(max_diff_pixels=7200)
        def test_marker(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page.locator("#box"), "box")

        def test_call(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page.locator("#box"), "box", max_diff_pixel_ratio=1.0)

        def test_strict(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page.locator("#box"), "box")

        def test_threshold(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page.locator("#box"), "box", threshold=1.0)
        """
    )
    project.run("--approve").assert_outcomes(passed=4)
    project.set_page(color="rgb(40, 160, 200)")  # every box pixel changes
    result = project.run("--visual-review")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_strict*"])
    assert "test_marker" not in "".join(result.outlines[-5:])


def test_size_change_fails_with_both_sizes(project):
    project.write_tests(
        """
        def test_size(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page.locator("#box"), "box")
        """
    )
    project.run("--approve").assert_outcomes(passed=1)
    project.set_page(color="rgb(40, 80, 200)", html=None)
    page = (project.root / "page.html").read_text().replace("height: 60px", "height: 70px")
    (project.root / "page.html").write_text(page)
    result = project.run("--visual-review")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*changed size: expected 120×60, got 120×70*"])
    diff = imaging.read_png(project.output / "images" / "test_visual--test_size-chromium--box" / "diff.png")
    assert diff.shape == (70, 120, 4)  # padded to the larger size, so the change is visible


def test_image_targets(project):
    project.write_tests(
        """
        import numpy as np
        from PIL import Image

        def test_images(snapshot, tmp_path):
            array = np.zeros((10, 20, 3), dtype=np.uint8)
            array[:, :10] = 255
            snapshot(array, "array")
            snapshot(Image.fromarray(array), "pil")
            path = tmp_path / "x.png"
            Image.fromarray(array).save(path)
            snapshot(path, "path")
            snapshot(path.read_bytes(), "bytes")
        """
    )
    project.run("--approve").assert_outcomes(passed=1)
    names = project.baselines()
    assert names == [f"test_visual--test_images--{n}.png" for n in ("array", "bytes", "path", "pil")]
    hashes = {imaging.content_hash(imaging.read_png(project.root / "__visual_snapshots__" / "test_visual" / n))
              for n in names}
    assert len(hashes) == 1  # one image, four ways in: one identity
    project.run("--visual-review").assert_outcomes(passed=1)


def test_masks_and_animations_make_live_pages_stable(project):
    project.write_tests(
        """
        def test_live(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page, "masked-by-ini")
            snapshot(page.locator(".spinner"), "spinner")
            snapshot(page, "masked-by-call", mask=[page.locator("#box")])
        """
    )
    project.run("--approve").assert_outcomes(passed=1)
    for _ in range(2):
        project.run("--visual-review").assert_outcomes(passed=1)
    masked = imaging.read_png(
        project.root / "__visual_snapshots__" / "test_visual" / "test_visual--test_live-chromium--masked-by-call.png"
    )
    assert masked[40, 70].tolist() == [255, 0, 255, 255]  # the box is painted over in mask colour


def test_unmasked_clock_never_settles(project):
    project.pytester.makeini("[pytest]\n")
    project.write_tests(
        """
        def test_clock(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            snapshot(page.locator("#clock"), "clock", timeout=1)
        """
    )
    result = project.run("--approve")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*did not settle*mask the moving parts*"])
    assert project.baselines() == []


def test_images_are_attached_to_pytest_html(project):
    project.write_tests(
        """
        import numpy as np

        def test_chart(snapshot):
            snapshot(np.full((6, 6, 3), 200, dtype=np.uint8), "chart")
        """
    )
    result = project.run("--visual-review", "--html=report.html", "--self-contained-html")
    result.assert_outcomes(failed=1)
    html = (project.root / "report.html").read_text(encoding="utf-8")
    assert "chart: actual" in html
    assert "data:image/png;base64," in html


def test_full_page_default_applies_to_pages_not_elements(project):
    project.pytester.makeini("[pytest]\nvisual_review_mask = .clock\nvisual_review_full_page = true\n")
    tall = (project.root / "page.html").read_text().replace("<body>", '<body><div style="height: 900px"></div>')
    (project.root / "page.html").write_text(tall)
    project.write_tests(
        """
        def test_tall(page, snapshot):
            page.set_viewport_size({"width": 300, "height": 200})
            page.goto(PAGE)
            assert snapshot(page, "page").height > 900
            assert snapshot(page.locator("#box"), "box").height == 60
            snapshot(page.locator("#box"), "asked", full_page=True)
        """
    )
    result = project.run("--approve")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*clip and full_page apply to a whole page*"])
    assert len(project.baselines()) == 2
