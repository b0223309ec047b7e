"""The terminal summary and the static HTML report, the latter driven in real Chromium from file://.

The report is built from real PNG files and real SnapshotRecords; every viewer mode is checked by
what the browser actually paints (pixel colours of element screenshots), not only by classes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Dialog, Page, Playwright, expect

from pytest_visualreview import viewer
from pytest_visualreview.browser import SYSTEM_CHROMIUM_ARGS, find_system_chromium
from pytest_visualreview.imaging import write_png
from pytest_visualreview.records import Outcome, SnapshotRecord
from pytest_visualreview.report import (
    count_records,
    format_percent,
    render_html_report,
    terminal_summary_lines,
    write_html_report,
)

RED = (220, 30, 30)
BLUE = (30, 30, 220)
GREEN = (30, 170, 30)
GREY = (128, 128, 128)
MAGENTA = (255, 0, 255)

EVIL_MESSAGE = "<script>alert('msg')</script> & <b>bold</b>"
EVIL_NAME = "<img src=x onerror=alert('name')>"


def _png(path: Path, color: tuple[int, int, int], width: int = 300, height: int = 200) -> str:
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., :3] = color
    pixels[..., 3] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, pixels)
    return str(path)


def _launch_args(playwright: Playwright) -> dict[str, Any]:
    """Playwright's own Chromium when installed, else the system one (the plugin's fallback).

    Computed from the running Playwright: browser.fallback_launch_args() starts its own
    sync_playwright, which cannot run inside pytest-playwright's session-wide one.
    """
    if os.path.exists(playwright.chromium.executable_path):
        return {}
    executable = find_system_chromium()
    assert executable, "no Chromium: install the Debian package `chromium`"
    return {"executable_path": executable, "args": list(SYSTEM_CHROMIUM_ARGS)}


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(**_launch_args(playwright))
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report over one snapshot of every kind; image folders with a space and a '#'."""
    root = tmp_path_factory.mktemp("project")
    out = root / ".visual-review"
    images = out / "images #1"  # must be URL-quoted to load from file://
    baselines = root / "tests" / "__visual_snapshots__"
    records = [
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_home[chromium]",
            name="home",
            identifier="test_pages-test_home-chromium-home",
            outcome=Outcome.CHANGED,
            width=300,
            height=200,
            baseline_path=_png(baselines / "home.png", RED),
            expected_path=_png(images / "home-expected.png", RED),
            actual_path=_png(images / "home-actual.png", BLUE),
            diff_path=_png(images / "home-diff.png", MAGENTA),
            diff_pixel_count=60000,
            diff_ratio=1.0,
            allowed_diff_pixels=0,
            message=EVIL_MESSAGE,
        ),
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_wide",
            name="wide",
            identifier="test_pages-test_wide-wide",
            outcome=Outcome.CHANGED,
            width=2400,
            height=60,
            expected_path=_png(images / "wide-expected.png", RED, 2400, 60),
            actual_path=_png(images / "wide-actual.png", BLUE, 2400, 60),
            diff_path=_png(images / "wide-diff.png", MAGENTA, 2400, 60),
            diff_pixel_count=12,
            diff_ratio=12 / 144000,
            allowed_diff_pixels=5,
        ),
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_fresh",
            name=EVIL_NAME,
            identifier="test_pages-test_fresh-new",
            outcome=Outcome.NEW,
            width=300,
            height=200,
            actual_path=_png(images / "fresh-actual.png", GREEN),
        ),
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_broken",
            name="broken",
            identifier="test_pages-test_broken-broken",
            outcome=Outcome.ERROR,
            message="locator '.missing' matched nothing",
        ),
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_same",
            name="same",
            identifier="test_pages-test_same-same",
            outcome=Outcome.UNCHANGED,
            width=300,
            height=200,
            baseline_path=_png(baselines / "same.png", GREY),
        ),
    ]
    return write_html_report(
        records,
        out / "report.html",
        title="Report <for> me",
        obsolete=["tests/__snapshots__/gone <old>.png"],
    )


@pytest.fixture
def page(chromium: Browser, report: Path) -> Iterator[Page]:
    """The report opened from file://; fails the test on any JS error or dialog."""
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    yield page
    context.close()
    assert problems == []


def _pixel(png: bytes, x: float, y: float) -> tuple[int, int, int]:
    """RGB at a fraction (x, y) of an element screenshot."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    px = image.getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(px, tuple)
    return (px[0], px[1], px[2])


def _close(actual: tuple[int, int, int], expected: Sequence[float], tol: int = 6) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def _viewer(page: Page, identifier: str) -> Any:
    return page.locator(f'.vr-item[data-identifier="{identifier}"] .vr-viewer')


HOME = "test_pages-test_home-chromium-home"


# --- the HTML report in Chromium --------------------------------------------------------------


def test_counts_and_attention_first(page: Page) -> None:
    counts = {
        key: page.locator(f'.vr-counts li[data-count="{key}"] b').inner_text()
        for key in ("unchanged", "changed", "new", "approved", "error", "obsolete")
    }
    assert counts == {
        "unchanged": "1",
        "changed": "2",
        "new": "1",
        "approved": "0",
        "error": "1",
        "obsolete": "1",
    }
    groups = page.locator("main > [data-group]").evaluate_all(
        "els => els.map(e => e.dataset.group)"
    )
    assert groups == ["changed", "new", "error", "unchanged", "obsolete"]
    assert page.locator("details#unchanged").get_attribute("open") is None
    assert not page.locator('.vr-item[data-identifier="test_pages-test_same-same"]').is_visible()
    assert "gone <old>.png" in page.locator("#obsolete").inner_text()


def test_images_are_relative_and_load_from_file_url(page: Page) -> None:
    viewer = _viewer(page, HOME)
    srcs = viewer.locator('.vr-pane[data-pane="side"] img').evaluate_all(
        "imgs => imgs.map(i => i.getAttribute('src'))"
    )
    assert srcs == [
        "images%20%231/home-expected.png",
        "images%20%231/home-actual.png",
        "images%20%231/home-diff.png",
    ]
    widths = viewer.locator('.vr-pane[data-pane="side"] img').evaluate_all(
        "imgs => Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth)))"
    )
    assert widths == [300, 300, 300]


def test_side_by_side_shows_the_three_images(page: Page) -> None:
    viewer = _viewer(page, HOME)
    assert viewer.get_attribute("data-mode") == "side"
    side = viewer.locator('.vr-pane[data-pane="side"]')
    assert side.is_visible()
    assert side.locator("figcaption").all_inner_texts() == ["expected", "actual", "diff"]
    colours = [_pixel(img.screenshot(), 0.5, 0.5) for img in side.locator("img").all()]
    assert _close(colours[0], RED) and _close(colours[1], BLUE) and _close(colours[2], MAGENTA)
    assert not viewer.locator('.vr-pane[data-pane="overlay"]').is_visible()


def test_overlay_blends_with_the_chosen_opacity(page: Page) -> None:
    viewer = _viewer(page, HOME)
    viewer.get_by_role("button", name="Overlay").click()
    assert viewer.get_attribute("data-mode") == "overlay"
    stack = viewer.locator('.vr-pane[data-pane="overlay"] .vr-stack')
    half = _pixel(stack.screenshot(), 0.5, 0.5)  # default 50%
    assert _close(half, [(r + b) / 2 for r, b in zip(RED, BLUE, strict=True)], tol=8)

    viewer.locator(".vr-opacity input").fill("20")
    top = viewer.locator('.vr-pane[data-pane="overlay"] img.vr-top')
    assert top.evaluate("img => getComputedStyle(img).opacity") == "0.2"
    blended = _pixel(stack.screenshot(), 0.5, 0.5)
    assert _close(blended, [0.8 * r + 0.2 * b for r, b in zip(RED, BLUE, strict=True)], tol=8)
    # The opacity control only shows in overlay mode.
    assert viewer.locator(".vr-opacity").is_visible()
    viewer.get_by_role("button", name="Side by side").click()
    assert not viewer.locator(".vr-opacity").is_visible()


def test_slider_drag_moves_the_divider(page: Page) -> None:
    viewer = _viewer(page, HOME)
    viewer.get_by_role("button", name="Slider").click()
    stack = viewer.locator('.vr-pane[data-pane="slider"] .vr-stack')
    top = stack.locator("img.vr-top")
    assert top.evaluate("img => getComputedStyle(img).clipPath") == "inset(0px 0px 0px 50%)"

    box = stack.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    clip = top.evaluate("img => getComputedStyle(img).clipPath")
    assert clip.startswith("inset(0px 0px 0px 2") and clip != "inset(0px 0px 0px 50%)"
    shot = stack.screenshot()
    # Left of the divider: expected; right of it: actual.
    assert _close(_pixel(shot, 0.1, 0.5), RED)
    assert _close(_pixel(shot, 0.4, 0.5), BLUE)
    assert _close(_pixel(shot, 0.9, 0.5), BLUE)

    handle = stack.locator(".vr-handle")
    before = float(handle.get_attribute("aria-valuenow") or "nan")
    handle.focus()
    page.keyboard.press("ArrowRight")
    assert float(handle.get_attribute("aria-valuenow") or "nan") == pytest.approx(before + 2, abs=1)


def test_diff_only_mode(page: Page) -> None:
    page.keyboard.press("4")
    viewer = _viewer(page, HOME)
    assert viewer.get_attribute("data-mode") == "diff"
    diff = viewer.locator('.vr-pane[data-pane="diff"] img')
    assert diff.is_visible()
    assert diff.get_attribute("data-role") == "diff"
    assert _close(_pixel(diff.screenshot(), 0.5, 0.5), MAGENTA)
    assert not viewer.locator('.vr-pane[data-pane="side"]').is_visible()
    assert viewer.get_by_role("button", name="Diff").get_attribute("aria-pressed") == "true"


def test_zoom_fit_and_100_percent(page: Page) -> None:
    viewer = _viewer(page, "test_pages-test_wide-wide")
    viewer.get_by_role("button", name="Diff").click()
    diff = viewer.locator('.vr-pane[data-pane="diff"] img')
    fitted = diff.bounding_box()
    assert fitted is not None and fitted["width"] < 1100  # scaled down to the stage
    viewer.get_by_role("button", name="100%").click()
    full = diff.bounding_box()
    assert full is not None and full["width"] == pytest.approx(2400, abs=1)
    page.keyboard.press("z")
    back = diff.bounding_box()
    assert back is not None and back["width"] == pytest.approx(fitted["width"], abs=1)


def test_keyboard_moves_between_snapshots_and_modes(page: Page) -> None:
    def current() -> str | None:
        return page.locator(".vr-item.vr-current").get_attribute("data-identifier")

    page.keyboard.press("j")
    assert current() == HOME
    page.keyboard.press("j")
    assert current() == "test_pages-test_wide-wide"
    page.keyboard.press("n")
    assert current() == "test_pages-test_fresh-new"
    page.keyboard.press("k")
    assert current() == "test_pages-test_wide-wide"
    # The unchanged snapshot is out of reach until its group is opened.
    for _ in range(5):
        page.keyboard.press("j")
    assert current() == "test_pages-test_broken-broken"
    page.locator("details#unchanged > summary").click()
    page.keyboard.press("j")
    assert current() == "test_pages-test_same-same"
    assert page.locator(".vr-item.vr-current").is_visible()

    for key, mode in (("2", "overlay"), ("3", "slider"), ("1", "side"), ("m", "overlay")):
        page.keyboard.press(key)
        assert _viewer(page, HOME).get_attribute("data-mode") == mode


def test_new_snapshot_shows_actual_only(page: Page) -> None:
    viewer = _viewer(page, "test_pages-test_fresh-new")
    assert viewer.get_by_role("button", name="Overlay").is_disabled()
    assert viewer.get_by_role("button", name="Slider").is_disabled()
    assert viewer.get_by_role("button", name="Diff").is_disabled()
    page.keyboard.press("2")  # page-wide overlay: the new snapshot stays side by side
    assert _viewer(page, HOME).get_attribute("data-mode") == "overlay"
    assert viewer.get_attribute("data-mode") == "side"
    imgs = viewer.locator('.vr-pane[data-pane="side"] img')
    assert imgs.count() == 1 and imgs.get_attribute("data-role") == "actual"


def test_user_text_is_escaped(page: Page) -> None:
    assert page.title() == "Report <for> me"
    home = page.locator(f'.vr-item[data-identifier="{HOME}"]')
    assert home.locator(".vr-message").inner_text() == EVIL_MESSAGE
    assert home.locator(".vr-message b, .vr-message script").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    fresh = page.locator('.vr-item[data-identifier="test_pages-test_fresh-new"]')
    assert EVIL_NAME in fresh.locator(".vr-meta").inner_text()
    # The page fixture also fails the test if any alert() ran.


# --- pure functions ----------------------------------------------------------------------------


def _record(outcome: Outcome, ident: str, **kw: Any) -> SnapshotRecord:
    return SnapshotRecord(
        nodeid=f"t.py::{ident}", name=ident, identifier=ident, outcome=outcome, **kw
    )


def test_terminal_summary_counts_then_attention_then_obsolete() -> None:
    records = [
        _record(Outcome.UNCHANGED, "same"),
        _record(Outcome.NEW, "fresh", actual_path="/out/fresh.png"),
        _record(
            Outcome.CHANGED,
            "home",
            diff_pixel_count=1234,
            diff_ratio=0.0123,
            allowed_diff_pixels=10,
            diff_path="/out/home-diff.png",
        ),
        _record(Outcome.ERROR, "broken", message="cannot decode PNG"),
        _record(Outcome.CHANGED, "ok-now", approved=True, baseline_path="/b/ok-now.png"),
        _record(Outcome.NEW, "added", approved=True, baseline_path="/b/added.png"),
    ]
    lines = terminal_summary_lines(records, ["/b/gone.png"], report_path="/out/report.html")
    assert lines == [
        "visual review: 1 unchanged, 1 changed, 1 new, 2 approved, 1 error, 1 obsolete",
        "  CHANGED  home  (t.py::home): 1,234 pixels (1.23%) differ, 10 allowed;"
        " diff: /out/home-diff.png",
        "  NEW      fresh  (t.py::fresh): no baseline; actual: /out/fresh.png",
        "  ERROR    broken  (t.py::broken): cannot decode PNG",
        "  APPROVED added  (t.py::added): new baseline /b/added.png",
        "  APPROVED ok-now  (t.py::ok-now): baseline updated /b/ok-now.png",
        "obsolete baselines (1, no test produced them):",
        "  /b/gone.png",
        "visual review report: /out/report.html",
    ]


def test_terminal_summary_of_a_clean_suite_is_one_line() -> None:
    lines = terminal_summary_lines(
        [_record(Outcome.UNCHANGED, "a"), _record(Outcome.UNCHANGED, "b")]
    )
    assert lines == [
        "visual review: 2 unchanged, 0 changed, 0 new, 0 approved, 0 error, 0 obsolete"
    ]


def test_terminal_summary_names_a_size_change() -> None:
    record = _record(
        Outcome.CHANGED, "grown", width=120, height=80, size_mismatch=True, expected_size=(100, 80)
    )
    (line,) = terminal_summary_lines([record])[1:]
    assert line == "  CHANGED  grown  (t.py::grown): size 100x80 -> 120x80"


def test_count_records_puts_each_record_in_one_bucket() -> None:
    records = [
        _record(Outcome.CHANGED, "a", approved=True),
        _record(Outcome.CHANGED, "b"),
        _record(Outcome.ERROR, "c"),
    ]
    counts = count_records(records, ["x", "y"])
    assert counts == {
        "unchanged": 0,
        "changed": 1,
        "new": 0,
        "approved": 1,
        "error": 1,
        "obsolete": 2,
    }


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(None, "?"), (0.0, "0%"), (0.00000001, "<0.01%"), (0.0123, "1.23%"), (0.5, "50.0%")],
)
def test_format_percent(ratio: float | None, text: str) -> None:
    assert format_percent(ratio) == text


def test_clean_report_says_so_and_needs_no_images(tmp_path: Path) -> None:
    html = render_html_report([_record(Outcome.UNCHANGED, "a")], tmp_path)
    assert "No visual changes" in html
    assert '<details class="vr-section" id="unchanged"' in html


def test_write_html_report_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.html"
    assert write_html_report([], target) == target
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_viewer_assets_are_inlinable() -> None:
    text = viewer.assets()
    assert text.count("<script>") == 1 and text.count("</script>") == 1
    assert "window.VisualReview" in text and ".vr-viewer" in text
    markup = viewer.viewer_html(expected='a".png', actual="b.png", label="<x>")
    assert 'src="a&quot;.png"' in markup and 'aria-label="&lt;x&gt;"' in markup
    assert 'data-modes="side overlay slider"' in markup


def test_images_of_different_sizes_share_one_scale(chromium: Browser, tmp_path: Path) -> None:
    """A size change: expected and actual are drawn at one scale, aligned top-left."""
    record = SnapshotRecord(
        nodeid="t.py::test_grown",
        name="grown",
        identifier="t-test_grown",
        outcome=Outcome.CHANGED,
        width=3000,
        height=100,
        size_mismatch=True,
        expected_size=(1500, 100),
        expected_path=_png(tmp_path / "img" / "expected.png", RED, 1500, 100),
        actual_path=_png(tmp_path / "img" / "actual.png", BLUE, 3000, 100),
        diff_path=_png(tmp_path / "img" / "diff.png", MAGENTA, 3000, 100),
    )
    report = write_html_report([record], tmp_path / "report.html")
    page = chromium.new_page(viewport={"width": 1000, "height": 700})
    try:
        page.goto(report.as_uri())
        page.keyboard.press("2")
        stack = page.locator('.vr-pane[data-pane="overlay"] img')
        stack.first.evaluate("i => i.decode()")
        stack.last.evaluate("i => i.decode()")
        page.keyboard.press("1")
        page.keyboard.press("2")  # re-layout with both images decoded
        widths = stack.evaluate_all("imgs => imgs.map(i => i.getBoundingClientRect().width)")
        assert widths[1] < 1000  # fitted to the page
        assert widths[0] == pytest.approx(widths[1] / 2, abs=1)
        lefts = stack.evaluate_all("imgs => imgs.map(i => i.getBoundingClientRect().left)")
        assert lefts[0] == lefts[1]
    finally:
        page.close()


def test_collapsed_viewers_are_sized_when_opened(page: Page) -> None:
    """Viewers in the closed 'unchanged' group show at the right size once opened."""
    img = page.locator('.vr-item[data-identifier="test_pages-test_same-same"] img').first
    assert not img.is_visible()
    page.locator("details#unchanged > summary").click()
    expect(img).to_be_visible()
    page.wait_for_function("i => i.style.width === '300px'", arg=img.element_handle())
    box = img.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (300, 200)


@pytest.mark.slow
def test_a_report_of_thousands_of_snapshots_opens_and_switches_modes(chromium: Browser, tmp_path: Path) -> None:
    """Laying out thousands of viewers must not force one browser layout each (it hung before).

    No time is asserted (the house rule: machines here are noisy); a hang still fails on the
    navigation timeout, and every changed viewer must take the new mode."""
    same = _png(tmp_path / "img" / "same.png", GREY, 480, 300)
    old = _png(tmp_path / "img" / "old.png", RED, 480, 300)
    new = _png(tmp_path / "img" / "new.png", BLUE, 480, 300)
    # No sizes in the records: the viewer learns them as images load (the slow case).
    records = [_record(Outcome.UNCHANGED, f"same-{i:04d}", actual_path=same) for i in range(5000)]
    records += [
        _record(Outcome.CHANGED, f"changed-{i:03d}", expected_path=old, actual_path=new, diff_path=old)
        for i in range(200)
    ]
    report = write_html_report(records, tmp_path / "report.html")
    page = chromium.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(report.as_uri(), timeout=60_000)
        assert page.locator(".vr-viewer").count() == 5200
        page.evaluate("() => VisualReview.setMode('slider')")
        assert page.locator(".vr-viewer[data-mode='slider']").count() == 200
    finally:
        page.close()


def test_each_image_opens_alone_from_its_caption(page: Page) -> None:
    links = _viewer(page, HOME).locator("figcaption a")
    assert links.evaluate_all("as => as.map(a => [a.textContent, a.getAttribute('href'), a.target])") == [
        ["expected", "images%20%231/home-expected.png", "_blank"],
        ["actual", "images%20%231/home-actual.png", "_blank"],
        ["diff", "images%20%231/home-diff.png", "_blank"],
    ]
