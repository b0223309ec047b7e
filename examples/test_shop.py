"""An example visual suite: run `pytest --visual-review` here, then change site/style.css."""

import pytest
from PIL import Image, ImageDraw


def test_home_page(page, site_url, snapshot):
    page.set_viewport_size({"width": 800, "height": 400})
    page.goto(f"{site_url}/index.html")
    snapshot(page)  # the whole viewport; the clock is masked by pytest.ini, the spinner is frozen
    snapshot(page.locator("header"), "header")


@pytest.mark.visual_review(max_diff_pixel_ratio=0.01)
def test_product_card(page, site_url, snapshot):
    page.set_viewport_size({"width": 800, "height": 400})
    page.goto(f"{site_url}/index.html")
    snapshot(page.locator(".card").first, "first-card")


def test_chart(snapshot):
    """Not only pages: any image (PIL, numpy array, PNG bytes or path) can be a snapshot."""
    chart = Image.new("RGB", (240, 120), "white")
    draw = ImageDraw.Draw(chart)
    for index, value in enumerate([30, 80, 55, 100, 70]):
        draw.rectangle([20 + index * 44, 110 - value, 50 + index * 44, 110], fill="#2d3a8c")
    snapshot(chart, "sales-chart")
