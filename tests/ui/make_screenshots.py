"""Regenerate the screenshots in docs/review.md: ``.venv/bin/python -m tests.ui.make_screenshots``.

Starts a throwaway server, seeds it through the API (tests/ui/ui_seed.py), and photographs each
review page in Chromium; also the plugin's static report. Writes docs/images/review-*.png and
docs/images/report-*.png.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from pytest_visualreview.browser import fallback_launch_args  # noqa: E402
from pytest_visualreview.diff import compare  # noqa: E402
from pytest_visualreview.imaging import decode_png, encode_png  # noqa: E402
from pytest_visualreview.records import Outcome, SnapshotRecord  # noqa: E402
from pytest_visualreview.report import write_html_report  # noqa: E402
from tests.server.live_server import LiveServer  # noqa: E402
from tests.ui.ui_seed import READ, WRITE, Client, page_png, seed  # noqa: E402

OUT = ROOT / "docs" / "images"


def shoot(page: Page, name: str, *, full: bool = False) -> None:
    path = OUT / name
    page.screenshot(path=str(path), full_page=full, animations="disabled", caret="hide")
    print(path.relative_to(ROOT))


def review_pages(page: Page, server: LiveServer, writer: str) -> None:
    repo = server.repo("acme/web", trust_unsigned=True)
    client = Client(server.api(), writer)
    seeded = seed(client, repo)
    page.goto(server.url + "/ui/sign-in")
    shoot(page, "review-sign-in.png")
    page.get_by_label("API token").fill(writer)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    shoot(page, "review-repos.png")
    page.goto(f"{server.url}/ui/repos/{repo}/runs")
    shoot(page, "review-runs.png")
    page.goto(f"{server.url}/ui/runs/{seeded.pr_run}")
    shoot(page, "review-run.png")
    home = page.locator('.vr-item[data-identifier="home"]')
    home.scroll_into_view_if_needed()
    page.keyboard.press("j")
    page.keyboard.press("3")
    stack = home.locator('.vr-pane[data-pane="slider"] .vr-stack')
    box = stack.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2)
    home.screenshot(path=str(OUT / "review-slider.png"), animations="disabled")
    print("docs/images/review-slider.png")
    page.keyboard.press("2")
    home.screenshot(path=str(OUT / "review-overlay.png"), animations="disabled")
    print("docs/images/review-overlay.png")
    page.keyboard.press("4")
    home.screenshot(path=str(OUT / "review-diff.png"), animations="disabled")
    print("docs/images/review-diff.png")
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("a")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "review-approved.png")
    page.goto(
        f"{server.url}/ui/repos/{repo}/timeline?run_type=playwright&identifier=home"
    )
    shoot(page, "review-timeline.png")
    client.run(repo, {"home": seeded.images["home_changed"]}, branch="feature/dark-mode",
               baselines=seeded.baselines, pr_number=42, commit="4" * 40)
    page.goto(f"{server.url}/ui/runs/{seeded.pr_run}")
    page.locator(".ui-run-head").screenshot(path=str(OUT / "review-stale.png"))
    print("docs/images/review-stale.png")


def report_page(page: Page, folder: Path) -> None:
    images = folder / ".visual-review" / "test_pages"
    images.mkdir(parents=True)

    def save(name: str, png: bytes) -> str:
        path = images / name
        path.write_bytes(png)
        return str(path)

    old, new = page_png("Welcome to Acme"), page_png("Welcome to Acme", button="#16a34a")
    result = compare(decode_png(old[0]), decode_png(new[0]))  # the plugin's own comparator
    assert result.diff_image is not None
    records = [
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_home[chromium]", name="home",
            identifier="test_pages-test_home-chromium-home", outcome=Outcome.CHANGED,
            width=480, height=300, expected_path=save("home-expected.png", old[0]),
            actual_path=save("home-actual.png", new[0]),
            diff_path=save("home-diff.png", encode_png(result.diff_image)),
            diff_pixel_count=result.diff_pixel_count, diff_ratio=result.diff_ratio,
            allowed_diff_pixels=0,
            message=f"home: {result.diff_pixel_count:,} pixels differ, 0 allowed",
        ),
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_signup[chromium]", name="signup",
            identifier="test_pages-test_signup-chromium-signup", outcome=Outcome.NEW,
            width=480, height=300,
            actual_path=save("signup-actual.png", page_png("Create your account")[0]),
            message="no baseline for signup; run with --approve to accept",
        ),
        SnapshotRecord(
            nodeid="tests/test_pages.py::test_pricing[chromium]", name="pricing",
            identifier="test_pages-test_pricing-chromium-pricing", outcome=Outcome.UNCHANGED,
            width=480, height=300,
            actual_path=save("pricing-actual.png", page_png("Pricing")[0]),
        ),
    ]
    report = write_html_report(records, folder / ".visual-review" / "report.html")
    page.goto(report.as_uri())
    shoot(page, "report-page.png")
    page.keyboard.press("3")
    stack = page.locator('.vr-pane[data-pane="slider"] .vr-stack').first
    box = stack.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.locator(".vr-item").first.screenshot(path=str(OUT / "report-slider.png"))
    print("docs/images/report-slider.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    launch: dict[str, Any] = dict(fallback_launch_args())  # before sync_playwright: it starts its own
    work = Path(tempfile.mkdtemp(prefix="vr-shots-"))
    server = LiveServer.start(work / "data")
    try:
        writer = server.token(READ, WRITE, name="reviewer")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**launch)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            review_pages(page, server, writer)
            report_page(browser.new_page(viewport={"width": 1200, "height": 800}), work)
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
