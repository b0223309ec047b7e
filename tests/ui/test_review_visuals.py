"""The review pages' own look, held by this project's `snapshot` fixture (dogfooding the plugin).

Without --visual-review the snapshots capture nothing and the DOM assertions still run; with
``pytest --visual-review tests/ui`` every page is compared with its baseline in
tests/ui/__visual_snapshots__/ (accept a deliberate redesign with ``pytest --approve tests/ui``).
What changes from run to run (dates, ids, random repo names) is masked.
"""

from __future__ import annotations

from playwright.sync_api import expect

from pytest_visualreview.fixture import Snapshot

from .ui_env import Env


def test_review_pages_look_as_approved(view: Env, snapshot: Snapshot) -> None:
    page = view.page()
    page.goto(view.url + "/ui/sign-in")
    expect(page.get_by_label("API token")).to_be_visible()
    snapshot(page, "sign-in")

    page = view.sign_in()
    chrome = [page.locator(".ui-crumbs")]

    page.goto(f"{view.url}/ui/repos/{view.seeded.repo_id}/runs")
    expect(page.locator(".ui-total")).to_have_text("3 runs")
    snapshot(
        page, "runs",
        mask=[*chrome, page.locator("h1"), page.locator("table.ui-runs td:first-child")],
    )

    view.run_page(page)
    expect(page.locator(".ui-snapshots .vr-item")).to_have_count(3)
    head = [page.locator(".ui-run-head h1 code"), page.locator(".ui-facts")]
    snapshot(page, "run", full_page=True, mask=[*chrome, *head])

    home = view.item(page, "home")
    for key, mode in (("2", "overlay"), ("3", "slider"), ("4", "diff")):
        page.keyboard.press(key)
        expect(home.locator(".vr-viewer")).to_have_attribute("data-mode", mode)
        snapshot(home, f"run-{mode}")

    page.goto(
        f"{view.url}/ui/repos/{view.seeded.repo_id}/timeline?run_type=playwright&identifier=home"
    )
    expect(page.locator("article.ui-entry")).to_have_count(2)
    snapshot(
        page,
        "timeline",
        full_page=True,
        mask=[*chrome, page.locator(".ui-main > p.ui-meta"), page.locator("article.ui-entry h3 a")],
    )
