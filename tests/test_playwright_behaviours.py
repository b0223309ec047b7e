"""Behaviours taken from Playwright Test's toHaveScreenshot: soft snapshots, a stable-shot loop that
forgives what the assertion forgives, and opt-in platform suffixes. Real Chromium, real files."""

from __future__ import annotations

import sys

from pytest_visualreview import imaging

SOFT_TESTS = """
import os
import pytest
from pathlib import Path

def shoot(page, snapshot, **options):
    page.set_viewport_size({"width": 300, "height": 200})
    page.goto(PAGE)
    snapshot(page, "page", **options)
    snapshot(page.locator("#box"), "box", **options)
    test_name = os.environ["PYTEST_CURRENT_TEST"].split("::")[1].split("[")[0]
    Path(page.url.replace("file://", "")).with_name(test_name).write_text("ran")

def test_call(page, snapshot):
    shoot(page, snapshot, soft=True)

@pytest.mark.visual_review(soft=True)
def test_marker(page, snapshot):
    shoot(page, snapshot)

def test_hard(page, snapshot):
    shoot(page, snapshot)
"""


def test_soft_snapshots_take_compare_and_report_every_snapshot(project):
    project.write_tests(SOFT_TESTS)
    project.run("--approve").assert_outcomes(passed=3)
    project.set_page(color="rgb(200, 40, 40)")  # both snapshots of every test change
    for name in ("test_call", "test_marker", "test_hard"):
        (project.root / name).unlink()

    result = project.run("--visual-review")
    result.assert_outcomes(failed=3)
    text = result.stdout.str()
    for soft_test in ("test_call", "test_marker"):
        assert (project.root / soft_test).read_text() == "ran"  # the test went on to its end
    assert not (project.root / "test_hard").exists()  # a hard snapshot stops its test
    assert text.count("2 soft snapshots failed:") == 2
    result.stdout.fnmatch_lines(["*visual review: 0 unchanged, 5 changed*"])  # hard: 1 of 2 taken
    report = (project.output / "report.html").read_text(encoding="utf-8")
    for soft_test in ("test_call", "test_marker"):
        for name in ("page", "box"):
            assert f"test_visual--{soft_test}-chromium--{name}" in report

    project.pytester.makeini("[pytest]\nvisual_review_mask = .clock\nvisual_review_soft = true\n")
    (project.root / "test_hard").unlink(missing_ok=True)
    from_ini = project.run("--visual-review")
    from_ini.assert_outcomes(failed=3)
    assert (project.root / "test_hard").read_text() == "ran"
    assert from_ini.stdout.str().count("2 soft snapshots failed:") == 3


JITTER_PAGE = """<!doctype html>
<html><head><style>
body { margin: 0; background: white; }
#box { width: 120px; height: 60px; margin: 10px; background: BOX; }
#noise { position: absolute; left: 200px; top: 20px; width: 2px; height: 2px; }
</style></head><body><div id="box"></div><div id="noise"></div>
<script>
const level = () => Math.floor(Math.random() * 256);
setInterval(() => { document.getElementById("noise").style.background =
  `rgb(${level()}, ${level()}, ${level()})`; }, 16);
</script></body></html>
"""

JITTER_TESTS = """
def test_jitter(page, snapshot):
    page.set_viewport_size({"width": 300, "height": 100})
    page.goto(PAGE)
    snapshot(page, "page", max_diff_pixels=MAX)
"""


def test_jitter_within_the_budget_settles_and_a_real_change_reports_a_count(project):
    project.set_page(color="", html=JITTER_PAGE.replace("BOX", "rgb(40, 80, 200)"))
    project.pytester.makeini("[pytest]\n")
    project.write_tests(JITTER_TESTS.replace("MAX", "4"))
    project.run("--approve").assert_outcomes(passed=1)  # 4 flickering pixels are within budget
    project.run("--visual-review").assert_outcomes(passed=1)

    project.set_page(color="", html=JITTER_PAGE.replace("BOX", "rgb(200, 40, 40)"))
    changed = project.run("--visual-review")
    changed.assert_outcomes(failed=1)
    text = changed.stdout.str()
    assert "did not settle" not in text
    assert "differs from its baseline: 72" in text  # 7200 box pixels (+ up to 4 of noise)

    # (A page that never settles within its tolerance: test_unmasked_clock_never_settles.)


BOX_TEST = """
def test_page(page, snapshot):
    page.goto(PAGE)
    snapshot(page.locator("#box"), "box")
"""


def test_platform_suffix_and_template_field_are_opt_in(project):
    project.write_tests(BOX_TEST)
    project.pytester.makeini(
        "[pytest]\nvisual_review_platform = true\n"
        "visual_review_baseline_template = {rootdir}/shots/{platform}/{identifier}.png\n"
    )
    project.run("--approve").assert_outcomes(passed=1)
    platform = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    written = project.root / "shots" / platform / f"test_visual--test_page-chromium--box-{platform}.png"
    assert written.is_file(), sorted(str(p) for p in (project.root / "shots").rglob("*"))
    assert imaging.read_png(written).shape == (60, 120, 4)
    project.run("--visual-review").assert_outcomes(passed=1)


def test_baselines_are_the_browsers_png_with_their_hash_so_unchanged_is_a_byte_compare(project):
    project.write_tests(BOX_TEST)
    project.run("--approve").assert_outcomes(passed=1)
    baseline = next(project.root.rglob("test_visual--test_page-chromium--box.png"))  # any folder
    data = baseline.read_bytes()
    original, recorded = imaging.split_content_hash(data)
    assert recorded == imaging.content_hash(imaging.decode_png(data))
    assert original != data and b"visualreview-rgba-blake3" in data

    # Another encoding of the same pixels (no recorded hash) is still unchanged: the comparator
    # decides when the bytes differ.
    baseline.write_bytes(imaging.encode_png(imaging.decode_png(data), compress_level=9))
    project.run("--visual-review").assert_outcomes(passed=1)
