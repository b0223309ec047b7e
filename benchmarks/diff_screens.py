"""Realistic screenshot pairs for the comparator benchmark.

A phone-sized (390×844 CSS px at device scale 3 = 1170×2532) page with text, cards, buttons, a
table and rounded, anti-aliased shapes, rendered by a real Chromium twice: the second time with a
few CSS and text changes, the kind a pull request makes (about 2% of the pixels change). When no
Chromium is available the page is synthesised with Pillow's text rendering instead; the benchmark
prints which one it used.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_PARAGRAPH = (
    "Visual regression tests catch the change nobody meant to make: a margin that moved, a font "
    "that fell back, a button that lost its colour. Each snapshot is compared pixel by pixel with "
    "its baseline, and anti-aliasing noise is told apart from real differences."
)

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font-family: 'DejaVu Sans', sans-serif; color: #1d2433; background: #f6f7fb; }
header { background: #1f3a93; color: white; padding: 16px 20px; display: flex; gap: 12px;
         align-items: center; }
header .logo { width: 34px; height: 34px; border-radius: 50%; background: #ffb020; }
header h1 { font-size: 20px; margin: 0; font-weight: 600; }
main { padding: 16px; }
.card { background: white; border-radius: 14px; padding: 16px; margin-bottom: 14px;
        box-shadow: 0 2px 6px rgba(0,0,0,.12); }
.card h2 { font-size: 18px; margin: 0 0 8px; }
.card p { font-size: 14px; line-height: 1.5; margin: 0 0 10px; color: #3a4257; }
.row { display: flex; gap: 8px; flex-wrap: wrap; }
.btn { border-radius: 20px; padding: 8px 16px; font-size: 14px; border: none;
       background: #2f6fed; color: white; }
.btn.secondary { background: #e4e8f4; color: #1f3a93; }
.badge { display: inline-block; border-radius: 10px; padding: 2px 8px; font-size: 12px;
         background: #e6f6ec; color: #18794e; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
td, th { text-align: left; padding: 6px 4px; border-bottom: 1px solid #e4e8f4; }
.avatar { width: 28px; height: 28px; border-radius: 50%; display: inline-block;
          vertical-align: middle; margin-right: 6px; }
"""

#: The "pull request": a changed button colour, a reworded sentence, a new badge, a wider gap.
_CSS_CHANGED = """
.card.pricing .btn { background: #1b9c5a; }
.card.team td.role { letter-spacing: 0.3px; }
"""


def page_html(changed: bool) -> str:
    """The benchmark page; `changed` applies the pull request's edits."""
    cards = []
    colours = ["#ff6b6b", "#4dabf7", "#51cf66", "#fcc419", "#845ef7", "#ff922b"]
    for n in range(6):
        text = _PARAGRAPH
        if changed and n == 2:
            text = text.replace("a button that lost its colour", "a button that changed colour")
        badge = '<span class="badge">new</span>' if (changed and n == 1) else ""
        cards.append(
            f'<section class="card"><h2>Section {n + 1} {badge}</h2><p>{text}</p>'
            '<div class="row"><button class="btn">Approve</button>'
            '<button class="btn secondary">Details</button></div></section>'
        )
    rows = "".join(
        f'<tr><td><span class="avatar" style="background:{colours[i % 6]}"></span>'
        f'Person {i + 1}</td><td class="role">{"Engineer" if i % 2 else "Designer"}</td>'
        f"<td>{(i * 37) % 100}%</td></tr>"
        for i in range(12)
    )
    cards.insert(
        2,
        '<section class="card pricing"><h2>Plans</h2><p>Pick a plan; change it any time.</p>'
        '<div class="row"><button class="btn">Start free</button>'
        '<button class="btn">Team $12</button></div></section>',
    )
    cards.insert(
        4,
        f'<section class="card team"><h2>Team</h2><table><tr><th>Name</th><th>Role</th>'
        f"<th>Load</th></tr>{rows}</table></section>",
    )
    css = _CSS + (_CSS_CHANGED if changed else "")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{css}</style></head><body>"
        f'<header><div class="logo"></div><h1>Visual review</h1></header>'
        f"<main>{''.join(cards)}</main></body></html>"
    )


#: CSS viewport per pair size; both are rendered at device scale 3.
VIEWPORTS = {"phone": (390, 844), "4k": (1280, 720)}


def render_with_chromium(executable: str, size: str = "phone") -> tuple[np.ndarray, np.ndarray]:
    """Screenshot both versions of the page in a real Chromium (the viewport of `size` at scale 3)."""
    from playwright.sync_api import sync_playwright

    from pytest_visualreview.browser import SYSTEM_CHROMIUM_ARGS

    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(SYSTEM_CHROMIUM_ARGS))
        try:
            width, height = VIEWPORTS[size]
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=3)
            for changed in (False, True):
                page.set_content(page_html(changed))
                png = page.screenshot(animations="disabled", caret="hide")
                shots.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
        finally:
            browser.close()
    return shots[0], shots[1]


def synthesise_with_pillow(size: str = "phone") -> tuple[np.ndarray, np.ndarray]:
    """A fallback without a browser: text-like content drawn with Pillow's anti-aliased fonts."""
    width, height = (c * 3 for c in VIEWPORTS[size])
    images = []
    for changed in (False, True):
        image = Image.new("RGBA", (width, height), (246, 247, 251, 255))
        draw = ImageDraw.Draw(image)
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont
        try:
            font = ImageFont.truetype("DejaVuSans.ttf", 40)
        except OSError:
            font = ImageFont.load_default(size=40)
        draw.rectangle((0, 0, width, 150), fill=(31, 58, 147, 255))
        y = 200
        for n in range((height - 200) // 140):
            draw.rounded_rectangle((40, y, width - 40, y + 80), radius=30, fill=(47, 111, 237, 255))
            if changed and n == 3:
                draw.ellipse((60, y + 10, 120, y + 70), fill=(27, 156, 90, 255))
            words = _PARAGRAPH.split()
            if changed and n % 3 == 2:
                words = words[::-1]
            draw.text((60, y + 100), " ".join(words[:6]), font=font, fill=(29, 36, 51, 255))
            y += 96 + 44
        images.append(np.asarray(image))
    return images[0], images[1]


def screenshot_pair(cache_dir: Path, size: str = "phone") -> tuple[np.ndarray, np.ndarray, str]:
    """The realistic pair of `size` ("phone": 1170×2532, "4k": 3840×2160), from the cache when
    present; returns (img1, img2, how it was made)."""
    from pytest_visualreview.browser import find_system_chromium
    from pytest_visualreview.imaging import encode_png, read_png

    cache_dir.mkdir(parents=True, exist_ok=True)
    first = cache_dir / f"screen-{size}-a.png"
    second = cache_dir / f"screen-{size}-b.png"
    how_file = cache_dir / f"screen-{size}-how.txt"
    if first.exists() and second.exists() and how_file.exists():
        return read_png(first), read_png(second), how_file.read_text()
    executable = find_system_chromium()
    if executable:
        img1, img2 = render_with_chromium(executable, size)
        how = f"Chromium screenshots ({executable}) of a generated page, CSS/text edits"
    else:
        img1, img2 = synthesise_with_pillow(size)
        how = "Pillow-synthesised text-like page (no Chromium found)"
    first.write_bytes(encode_png(img1))
    second.write_bytes(encode_png(img2))
    how_file.write_text(how)
    return img1, img2, how
