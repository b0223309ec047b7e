"""What an unchanged snapshot costs beyond its plain screenshot, ours next to Playwright Test's.

    .venv/bin/python benchmarks/screenshot_bench.py            # ~2 minutes
    .venv/bin/python benchmarks/screenshot_bench.py --repeats 10

One 1280×720 page (text, colours, a table: sub-pixel text and anti-aliased edges), served as a
file, shot in each tool on the system Chromium (/usr/bin/chromium, the plugin's launch arguments):

* Playwright Test (npm ``@playwright/test`` at the version of the Python ``playwright`` package's
  driver, installed into .benchmarks-work/playwright-test with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1):
  ``await page.screenshot({animations: 'disabled', caret: 'hide', scale: 'css'})`` against
  ``await expect(page).toHaveScreenshot(name)`` on an existing, matching baseline;
* ours: ``page.screenshot(...)`` with the same options against ``snapshot(page, name)`` under
  ``--visual-review``, with the baselines the plugin wrote (the browser's PNG bytes: the byte
  comparison path) and again with the same pixels re-encoded by Pillow (no byte match: both PNGs
  are decoded and compared, the path every baseline took before).

Both tools alternate a plain screenshot and an assertion in one page (in alternating order), so
load on the machine hits both alike; the overhead is the median of adjacent (assertion -
screenshot) differences. Prints the overhead of an assertion over its screenshot in
each tool and the ratio of the overheads. Never a test assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a script: the repository root, for the tests package

from pytest_visualreview import imaging  # noqa: E402
from tests.parity import playwright_test  # noqa: E402

WORK = ROOT / ".benchmarks-work" / "screenshot-bench"

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 24px; font: 15px "DejaVu Sans", sans-serif; color: #222; background: #fafafa; }
h1 { font-size: 28px; } td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; }
.card { display: inline-block; width: 180px; height: 70px; margin: 6px; border-radius: 8px; }
</style></head><body><h1>Quarterly overview</h1>
<p>PARAGRAPH</p><div>CARDS</div><table>ROWS</table></body></html>"""

SPEC = r"""
const { test, expect } = require('@playwright/test');
const fs = require('fs');
const path = require('path');
const url = require('url');
test('bench', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(url.pathToFileURL(path.join(__dirname, 'page.html')).href);
  const repeats = Number(process.env.REPEATS);
  const shots = [], asserts = [];
  const shoot = async () => {
    const t = performance.now();
    await page.screenshot({ animations: 'disabled', caret: 'hide', scale: 'css' });
    shots.push(performance.now() - t);
  };
  const assert = async () => {
    const t = performance.now();
    await expect(page).toHaveScreenshot('bench.png');
    asserts.push(performance.now() - t);
  };
  for (let i = 0; i < repeats; i++) {
    // Alternate the order, so neither kind always follows the other.
    if (i % 2) { await shoot(); await assert(); } else { await assert(); await shoot(); }
  }
  if (process.env.OUT) fs.writeFileSync(process.env.OUT, JSON.stringify({ shots, asserts }));
});
"""

OURS = r'''
import json, os, time
from pathlib import Path
from pytest_visualreview import imaging

def test_bench(page, snapshot):
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto((Path(__file__).parent / "page.html").as_uri())
    shots, asserts = [], []

    def shoot():
        t = time.perf_counter()
        png = page.screenshot(animations="disabled", caret="hide", scale="css", type="png")
        shots.append((time.perf_counter() - t) * 1000)
        return png

    def check(i):
        t = time.perf_counter()
        snapshot(page, f"bench-{i}")
        asserts.append((time.perf_counter() - t) * 1000)

    for i in range(int(os.environ["REPEATS"])):
        # Alternate the order, so neither kind always follows the other.
        if i % 2:
            png = shoot()
            check(i)
        else:
            check(i)
            png = shoot()
    baseline = next((Path(__file__).parent / "__visual_snapshots__").rglob("*bench-0.png")).read_bytes()
    byte_match = imaging.split_content_hash(baseline)[0] == png
    if os.environ.get("OUT"):
        Path(os.environ["OUT"]).write_text(
            json.dumps({"shots": shots, "asserts": asserts, "byte_match": byte_match}))
'''


def make_page() -> str:
    words = "revenue margin forecast pipeline churn retention growth quarter".split()
    paragraph = " ".join(words[i % len(words)] for i in range(160))
    cards = "".join(
        f'<span class="card" style="background:hsl({i * 37 % 360},55%,{55 + i % 3 * 8}%)"></span>'
        for i in range(12)
    )
    rows = "".join(
        f"<tr><td>Region {i}</td><td>{1000 + i * 37:,}</td><td>{(i * 7) % 23}.{i % 10}%</td></tr>"
        for i in range(8)
    )
    return PAGE.replace("PARAGRAPH", paragraph).replace("CARDS", cards).replace("ROWS", rows)


def run_playwright_test(modules: Path, repeats: int) -> dict[str, list[float]]:
    project = WORK / "playwright-test"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    (project / "page.html").write_text(make_page(), encoding="utf-8")
    (project / "bench.spec.js").write_text(SPEC, encoding="utf-8")
    playwright_test.write_config(project, modules, update="missing")
    playwright_test.run(project, modules, env={"REPEATS": "1"})  # writes the baseline
    out = project / "times.json"
    playwright_test.write_config(project, modules, update="none")
    result = playwright_test.run(project, modules, env={"REPEATS": str(repeats), "OUT": str(out)})
    if result["bench"]["status"] != "passed":
        raise SystemExit(f"Playwright Test failed: {result['bench']['error']}")
    return json.loads(out.read_text())


def run_ours(repeats: int, reencode: bool) -> dict[str, list[float]]:
    project = WORK / "ours"
    shutil.rmtree(project, ignore_errors=True)  # --approve never rewrites an existing baseline
    project.mkdir(parents=True)
    (project / "page.html").write_text(make_page(), encoding="utf-8")
    (project / "test_bench.py").write_text(OURS, encoding="utf-8")
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = {**os.environ, "REPEATS": str(repeats)}
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    subprocess.run([*pytest_cmd, "--approve"], cwd=project, env=env, check=True, capture_output=True)
    if reencode:
        for baseline in (project / "__visual_snapshots__").rglob("*.png"):
            baseline.write_bytes(imaging.encode_png(imaging.read_png(baseline)))
    out = project / "times.json"
    done = subprocess.run([*pytest_cmd, "--visual-review"], cwd=project, env={**env, "OUT": str(out)},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"our run failed:\n{done.stdout[-3000:]}")
    return json.loads(out.read_text())


def summarise(label: str, times: dict[str, Any]) -> dict[str, Any]:
    """Medians, and the overhead as the median of adjacent (assertion - screenshot) pairs, which
    cancels most of the load that other work puts on the machine."""
    shot = statistics.median(times["shots"])
    assertion = statistics.median(times["asserts"])
    overhead = statistics.median(a - b for a, b in zip(times["asserts"], times["shots"], strict=True))
    note = "" if "byte_match" not in times else f"  (browser bytes = baseline: {times['byte_match']})"
    print(f"{label:34} screenshot {shot:6.1f} ms   assertion {assertion:6.1f} ms   "
          f"overhead {overhead:6.1f} ms = {overhead / shot * 100:5.1f}% of the screenshot{note}")
    return {"shot_ms": shot, "assert_ms": assertion, "overhead_ms": overhead,
            "overhead_share": overhead / shot, **({"byte_match": times["byte_match"]} if note else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    modules = playwright_test.ensure_playwright_test(ROOT / ".benchmarks-work" / "playwright-test")
    print(f"Playwright Test {playwright_test.driver_version()}, {args.repeats} assertions each, "
          f"load average {os.getloadavg()[0]:.1f}")
    results = {
        "playwright_test": summarise(
            "Playwright Test toHaveScreenshot", run_playwright_test(modules, args.repeats)
        ),
        "ours_bytes": summarise("ours, baseline = browser's PNG", run_ours(args.repeats, reencode=False)),
        "ours_decode": summarise("ours, baseline re-encoded (decode)", run_ours(args.repeats, reencode=True)),
    }
    theirs = results["playwright_test"]["overhead_ms"]
    for key in ("ours_bytes", "ours_decode"):
        ours = results[key]["overhead_ms"]
        print(f"{key}: overhead ÷ Playwright Test's overhead = {ours / theirs:.2f}")
    results["load_average_after"] = os.getloadavg()[0]  # type: ignore[assignment]
    args.json.write_text(json.dumps(results, indent=2))
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
