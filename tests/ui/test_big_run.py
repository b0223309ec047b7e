"""A run of 5,000 snapshots stays responsive: paged pages, lazily loaded images, fast queries."""

from __future__ import annotations

import pytest
from playwright.sync_api import Request, expect

from .ui_env import Env
from .ui_seed import page_png

SNAPSHOTS = 5000
DISTINCT_IMAGES = 60


@pytest.mark.slow
def test_a_5000_snapshot_run_is_paged_and_loads_images_lazily(view: Env) -> None:
    images = [page_png(f"Page {index}") for index in range(DISTINCT_IMAGES)]
    run_id = view.api.run(
        view.seeded.repo_id,
        {f"s{index:04d}": images[index % DISTINCT_IMAGES] for index in range(SNAPSHOTS)},
        branch="feature/huge",
        run_type="huge",
        pr_number=7,
    )
    page = view.sign_in()
    requested: list[str] = []

    def on_request(request: Request) -> None:
        if "/images/" in request.url:
            requested.append(request.url)

    page.on("request", on_request)
    page.goto(f"{view.url}/ui/runs/{run_id}")  # no time asserted: the page is 50 cards, not 5,000

    cards = page.locator(".ui-snapshots .vr-item")
    assert cards.count() == 50
    assert page.locator(".ui-pager span").inner_text() == "page 1 of 100"
    assert page.locator('.ui-tab[data-group="review"]').inner_text() == f"Changes ({SNAPSHOTS})"
    assert page.locator(".ui-snapshots img").evaluate_all(
        "imgs => imgs.every(i => i.loading === 'lazy')"
    )
    page.wait_for_load_state("networkidle")
    loaded_at_top = len(set(requested))
    assert 0 < loaded_at_top < 25, f"{loaded_at_top} of 50 images fetched before scrolling"

    last_image = cards.last.locator('.vr-pane[data-pane="side"] img')
    assert last_image.evaluate("i => i.naturalWidth") == 0  # far below: not fetched yet
    cards.last.scroll_into_view_if_needed()
    last_image.evaluate(
        "i => new Promise(done => i.complete && i.naturalWidth ? done() : i.addEventListener('load', done))"
    )
    assert len(set(requested)) > loaded_at_top  # the rest arrive as they come into view

    page.goto(f"{view.url}/ui/runs/{run_id}?page=100")
    assert cards.count() == 50
    assert cards.last.get_attribute("data-identifier") == f"s{SNAPSHOTS - 1:04d}"
    assert page.locator('.ui-pager a[rel="next"]').count() == 0

    page.goto(f"{view.url}/ui/runs/{run_id}?q=s49")  # finding one snapshot among thousands
    expect(page.locator(".ui-total")).to_have_text("100 matching")
    assert cards.count() == 50 and cards.first.get_attribute("data-identifier") == "s4900"
    with page.expect_navigation():
        page.locator('.ui-pager a[rel="next"]').click()
    assert "q=s49" in page.url and cards.first.get_attribute("data-identifier") == "s4950"
    page.get_by_label("find").fill("4999")
    with page.expect_navigation():
        page.get_by_role("button", name="Find").click()
    assert cards.count() == 1 and cards.first.get_attribute("data-identifier") == "s4999"
    page.get_by_label("find").fill("s%")  # LIKE wildcards match literally
    with page.expect_navigation():
        page.get_by_role("button", name="Find").click()
    assert cards.count() == 0
    expect(page.locator(".ui-empty")).to_contain_text("s%")
