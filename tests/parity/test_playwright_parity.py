"""The same pages and options through the real Playwright Test (npm, on the system Chromium) and
through the plugin: equal verdicts and equal differing-pixel counts.

Each case has a page A (the baseline is made from it, by each tool with its own stable-shot loop)
and a page B (checked against Playwright's baseline, copied to the plugin's baseline path so the
two comparisons start from the same pixels). The pages cover what decides a verdict beyond the
comparator: animations and transitions, the caret, a spinner that settles, jitter inside the pixel
budget, an element that appears late, sub-pixel text, thresholds either side of the boundary,
pixel and ratio budgets, a size change and masks.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_visualreview import imaging

from . import playwright_test

pytestmark = pytest.mark.slow

STYLE = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #fff; font: 16px "DejaVu Sans", sans-serif; }
.box { position: absolute; left: 20px; top: 20px; width: 100px; height: 50px; background: GREY; }
.patch { position: absolute; left: 150px; top: 100px; width: 20px; height: 10px; background: #000; }
</style>"""

NOISE = """<div id="noise" style="position:absolute;left:260px;top:10px;width:2px;height:2px"></div>
<script>const v = () => Math.floor(Math.random() * 256);
setInterval(() => { document.getElementById('noise').style.background =
  `rgb(${v()}, ${v()}, ${v()})`; }, 16);</script>"""


def page(body: str, grey: int = 128) -> str:
    return STYLE.replace("GREY", f"rgb({grey}, {grey}, {grey})") + f"</head><body>{body}</body></html>"


BOX = '<div class="box" id="box"></div>'
ANIMATED = """<style>
@keyframes slide { from { left: 0 } to { left: 200px } }
#slide { position: absolute; top: 120px; width: 30px; height: 30px; background: teal;
         animation: slide 1.5s linear infinite; }
#grow { position: absolute; top: 160px; left: 20px; height: 20px; width: 20px; background: navy;
        transition: width 3s; }
</style><div id="slide"></div><div id="grow"></div>
<script>requestAnimationFrame(() => { document.getElementById('grow').style.width = '200px'; });</script>"""
CARET = '<input id="field" value="typing here" autofocus style="position:absolute;left:20px;top:90px">'
SPINNER = """<div id="spin" style="position:absolute;left:150px;top:90px;width:30px;height:30px;
border:4px solid #ccc;border-top-color:#333;border-radius:50%"></div>
<script>let angle = 0; const el = document.getElementById('spin');
const timer = setInterval(() => { angle += 7; el.style.transform = `rotate(${angle}deg)`; }, 16);
setTimeout(() => { clearInterval(timer); el.remove(); }, 700);</script>"""
TICKER = """<span id="ticker" style="position:absolute;left:150px;top:140px">0</span><script>
setInterval(() => { document.getElementById('ticker').textContent = performance.now(); }, 5);
</script>"""
LATE = """<script>setTimeout(() => { const p = document.createElement('p'); p.id = 'late';
p.textContent = 'I came late'; p.style.cssText = 'position:absolute;left:20px;top:100px;margin:0';
document.body.appendChild(p); }, 500);</script>"""
PRESENT = '<p id="late" style="position:absolute;left:20px;top:100px;margin:0">I came late</p>'
TEXT = '<p style="position:absolute;left:{x}px;top:90px;margin:0;font-size:13.5px;letter-spacing:.3px">Sub-pixel text 0123 — jumps</p>'
CLOCK = '<span id="clock" style="position:absolute;left:150px;top:20px;font-size:20px">{t}</span>'


def case(name: str, a: str, b: str, target: str = "page", **options: Any) -> dict[str, Any]:
    return {"name": name, "a": a, "b": b, "target": target, "options": options,
            "viewport": {"width": 320, "height": 200}}


CASES = [
    case("animations", page(BOX + ANIMATED), page(BOX + ANIMATED)),
    case("caret", page(BOX + CARET), page(BOX + CARET)),
    case("spinner-settles", page(BOX), page(BOX + SPINNER)),
    case("jitter-within-budget", page(BOX + NOISE), page(BOX + NOISE), max_diff_pixels=4),
    case("never-settles", page(BOX + TICKER), page(BOX + TICKER), timeout=1),
    case("late-element", page(BOX + PRESENT), page(BOX + LATE), target="#late"),
    case("subpixel-text", page(TEXT.format(x=20.3)), page(TEXT.format(x=20.8))),
    case("threshold-default-pass", page(BOX), page(BOX, grey=128 + 52)),
    case("threshold-default-fail", page(BOX), page(BOX, grey=128 + 53)),
    case("threshold-01-pass", page(BOX), page(BOX, grey=128 + 26), threshold=0.1),
    case("threshold-01-fail", page(BOX), page(BOX, grey=128 + 27), threshold=0.1),
    case("pixels-at-budget", page(BOX), page(BOX + '<div class="patch"></div>'), max_diff_pixels=200),
    case("pixels-over-budget", page(BOX), page(BOX + '<div class="patch"></div>'), max_diff_pixels=199),
    case("ratio-at-budget", page(BOX), page(BOX + '<div class="patch"></div>'),
         max_diff_pixel_ratio=200 / 64000),
    case("ratio-over-budget", page(BOX), page(BOX + '<div class="patch"></div>'),
         max_diff_pixel_ratio=0.003),
    case("both-budgets-smaller-wins", page(BOX), page(BOX + '<div class="patch"></div>'),
         max_diff_pixels=1000, max_diff_pixel_ratio=0.003),
    case("size-change", page(BOX), page(BOX.replace('class="box"', 'class="box" style="height:60px"')),
         target="#box"),
    case("mask-hides-the-change", page(BOX + CLOCK.format(t="10:01")), page(BOX + CLOCK.format(t="10:02")),
         mask=["#clock"]),
    case("mask-and-a-real-change", page(BOX + CLOCK.format(t="10:01")),
         page(BOX + CLOCK.format(t="10:02"), grey=200), mask=["#clock"]),
]

SPEC = r"""
const { test, expect } = require('@playwright/test');
const path = require('path');
const url = require('url');
const cases = require('./cases.json');
for (const c of cases) {
  test(c.name, async ({ page }) => {
    await page.setViewportSize(c.viewport);
    await page.goto(url.pathToFileURL(path.join(__dirname, `${process.env.PARITY_PHASE}_${c.name}.html`)).href);
    const target = c.target === 'page' ? page : page.locator(c.target);
    const o = c.options;
    const options = {};
    if (o.threshold !== undefined) options.threshold = o.threshold;
    if (o.max_diff_pixels !== undefined) options.maxDiffPixels = o.max_diff_pixels;
    if (o.max_diff_pixel_ratio !== undefined) options.maxDiffPixelRatio = o.max_diff_pixel_ratio;
    if (o.timeout !== undefined) options.timeout = o.timeout * 1000;
    if (o.mask) options.mask = o.mask.map(s => page.locator(s));
    await expect(target).toHaveScreenshot(`${c.name}.png`, options);
  });
}
"""

OURS = r'''
import json, os
from pathlib import Path
import pytest

CASES = json.loads(Path(__file__).with_name("cases.json").read_text())

@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(page, snapshot, case):
    page.set_viewport_size(case["viewport"])
    here = Path(__file__).parent
    page.goto((here / f"{os.environ['PARITY_PHASE']}_{case['name']}.html").as_uri())
    target = page if case["target"] == "page" else page.locator(case["target"])
    options = dict(case["options"])
    options["mask"] = [page.locator(s) for s in options.pop("mask", [])]
    record = snapshot(target, case["name"], soft=True, **options)
    (here / f"ours_{case['name']}.json").write_text(json.dumps({
        "outcome": record.outcome.value, "approved": record.approved, "count": record.diff_pixel_count,
        "message": record.message, "baseline": record.baseline_path}))
'''


def theirs_verdict(result: dict[str, Any], baseline_written: bool | None = None) -> tuple[str, int | None]:
    error = str(result["error"])
    if baseline_written:
        return "written", None
    if "two consecutive stable screenshots" in error:
        return "unstable", None
    if result["status"] == "passed":
        return "pass", None
    count = re.search(r"(\d+) pixels \(ratio", error)
    if count or "Expected an image" in error:
        return "fail", int(count.group(1)) if count else None
    return f"error: {error[:300]}", None


def ours_verdict(data: dict[str, Any]) -> tuple[str, int | None]:
    if data["approved"]:
        return "written", None
    if data["outcome"] == "unchanged":
        return "pass", None
    if data["outcome"] == "changed":
        return "fail", data["count"]
    if "did not settle" in data["message"]:
        return "unstable", None
    return f"error: {data['message'][:300]}", None


@pytest.fixture(scope="module")
def modules() -> Path:
    return playwright_test.ensure_playwright_test()


@pytest.mark.parametrize("half", [0, 1], ids=["first-half", "second-half"])
def test_same_verdicts_and_counts_as_playwright_test(project, modules, monkeypatch, half):
    """Two halves of the cases, so pytest-xdist can run them side by side."""
    cases = CASES[half::2]
    root = project.root
    project.pytester.makeini("[pytest]\n")
    (root / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    for c in cases:
        for phase in ("a", "b"):
            (root / f"{phase}_{c['name']}.html").write_text(c[phase], encoding="utf-8")
    (root / "parity.spec.js").write_text(SPEC, encoding="utf-8")
    project.write_tests(OURS, name="test_parity")

    # Phase A: each tool makes its own baseline with its own stable-shot loop.
    playwright_test.write_config(root, modules, update="missing")
    theirs_a = playwright_test.run(root, modules, env={"PARITY_PHASE": "a"})
    monkeypatch.setenv("PARITY_PHASE", "a")
    project.run("--approve", "-p", "no:randomly")
    ours_a = {c["name"]: json.loads((root / f"ours_{c['name']}.json").read_text()) for c in cases}

    mismatches = []
    for c in cases:
        name = c["name"]
        written = (root / "snaps" / f"{name}.png").is_file()
        theirs = theirs_verdict(theirs_a[name], written)
        ours = ours_verdict(ours_a[name])
        if theirs != ours:
            mismatches.append(f"baseline of {name}: Playwright {theirs}, ours {ours}")
        elif written and name != "jitter-within-budget":  # the captures themselves agree
            pw = imaging.read_png(root / "snaps" / f"{name}.png")
            mine = imaging.read_png(ours_a[name]["baseline"])
            if pw.shape != mine.shape or (pw != mine).any():
                mismatches.append(f"baseline of {name}: the two captures differ")
        if written:  # phase B starts from the same pixels in both tools
            shutil.copyfile(root / "snaps" / f"{name}.png", ours_a[name]["baseline"])

    # Phase B: page B against the baseline.
    playwright_test.write_config(root, modules, update="none")
    theirs_b = playwright_test.run(root, modules, env={"PARITY_PHASE": "b"})
    monkeypatch.setenv("PARITY_PHASE", "b")
    for c in cases:
        (root / f"ours_{c['name']}.json").unlink(missing_ok=True)
    project.run("--visual-review", "-p", "no:randomly")
    checked = 0
    for c in cases:
        name = c["name"]
        if not (root / "snaps" / f"{name}.png").is_file():
            continue
        theirs = theirs_verdict(theirs_b[name])
        ours = ours_verdict(json.loads((root / f"ours_{name}.json").read_text()))
        checked += 1
        if theirs[0] != ours[0] or (theirs[1] is not None and theirs[1] != ours[1]):
            mismatches.append(f"check of {name}: Playwright {theirs}, ours {ours}")
    assert not mismatches, "\n".join(mismatches)
    assert checked == sum(c["name"] != "never-settles" for c in cases)  # it has no baseline
