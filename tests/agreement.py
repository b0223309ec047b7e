"""Local verdict vs server classification, per snapshot, on real Chromium pages.

`verdicts(project, live, pages)` writes one test per page into a pytester project wired to a live
server, establishes the baselines with `--approve` through the server, swaps every page for its
changed version, runs `--visual-review`, and returns what the plugin said (the test passed:
`unchanged`; failed: `changed`) beside what the server classified the same snapshot as, and the
snapshot's metadata as the server stored it (where the tolerance travels).

The pages sit around the tolerance boundary (BOUNDARY): a solid block on white changes colour,
and the block's size against the snapshot's pixel budget decides the local verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.server.live_server import LiveServer

WIDTH, HEIGHT = 200, 100  # 20,000 pixels
PAGE = """<!doctype html><html><head><style>
body {{ margin: 0; background: white; }}
#block {{ position: absolute; left: 20px; top: 20px; width: {w}px; height: {h}px;
          background: {color}; }}
</style></head><body><div id="block"></div></body></html>"""


@dataclass(frozen=True)
class BoundaryPage:
    """A block of `w`x`h` pixels that is `before` in the baseline and `after` in the rerun."""

    w: int
    h: int
    before: str
    after: str
    tolerance: dict[str, Any] = field(default_factory=dict)  # snapshot(...) keyword arguments

    def html(self, changed: bool) -> str:
        return PAGE.format(w=self.w, h=self.h, color=self.after if changed else self.before)


WHITE, GREY, BLACK = "rgb(255, 255, 255)", "rgb(150, 150, 150)", "rgb(0, 0, 0)"

#: name -> page; the comment is the local verdict (pixelmatch at the snapshot's threshold)
BOUNDARY: dict[str, BoundaryPage] = {
    "identical": BoundaryPage(40, 40, GREY, GREY),  # unchanged: nothing differs
    "small-change-no-budget": BoundaryPage(4, 4, WHITE, GREY),  # changed: 16 px, 0 allowed
    "exactly-the-budget": BoundaryPage(10, 10, WHITE, BLACK, {"max_diff_pixels": 100}),  # unchanged
    "one-row-over-budget": BoundaryPage(10, 11, WHITE, BLACK, {"max_diff_pixels": 100}),  # changed
    "within-a-ratio": BoundaryPage(60, 50, WHITE, BLACK, {"max_diff_pixel_ratio": 0.2}),  # unchanged: 15%
    # a 50-step grey counts at threshold 0.1 (YIQ delta 1263 > 352) but not at 0.3 (< 3169)
    "below-a-loose-threshold": BoundaryPage(100, 50, WHITE, "rgb(205, 205, 205)", {"threshold": 0.3}),
    "large-change": BoundaryPage(100, 60, WHITE, BLACK),  # changed: 30%
}

TESTS = """
import json, pytest
from pathlib import Path

PAGES = json.loads((Path(__file__).parent / "pages.json").read_text())

@pytest.mark.parametrize("name", sorted(PAGES))
def test_page(page, snapshot, name):
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.goto((Path(__file__).parent / "pages" / f"{name}.html").as_uri())
    snapshot(page, name, **PAGES[name])
""".replace("WIDTH", str(WIDTH)).replace("HEIGHT", str(HEIGHT))


@dataclass(frozen=True)
class Verdict:
    local: str  # "unchanged" (the test passed) or "changed" (it failed)
    server: str  # the server's `result`
    metadata: dict[str, Any]  # the snapshot's metadata on the server


def verdicts(project: Any, live: LiveServer, pages: dict[str, BoundaryPage],
             monkeypatch: pytest.MonkeyPatch) -> dict[str, Verdict]:
    """Run the plugin twice against `live` (baseline, then changed pages); name -> Verdict."""
    token = live.token()
    monkeypatch.setenv("VISUAL_REVIEW_TOKEN", token)
    project.pytester.makeini(
        "[pytest]\n"
        f"visual_review_url = {live.url}\n"
        "visual_review_project = 1\n"
        f"visual_review_repo = {live.repo('acme/agreement')}\n"
        "visual_review_branch = main\n"
        f"visual_review_commit = {'b' * 40}\n"
        "visual_review_deadline = 120\n"
    )
    (project.root / "pages.json").write_text(
        json.dumps({name: page.tolerance for name, page in pages.items()}), encoding="utf-8")
    _write_pages(project, pages, changed=False)
    project.write_tests(TESTS)
    established = project.run("--approve", "-p", "no:randomly")
    assert established.ret == 0, established.stdout.str()
    _write_pages(project, pages, changed=True)
    rerun = project.run("--visual-review", "-p", "no:randomly")
    local = {}
    for report in rerun.reprec.getreports("pytest_runtest_logreport"):
        if report.when == "call":
            name = report.nodeid.split("[chromium-")[1].rstrip("]")
            local[name] = "unchanged" if report.passed else "changed"
    line = next(line for line in rerun.outlines if line.startswith("review server: run "))
    run_id = line.split()[3].rstrip(":")
    response = requests.get(f"{live.api()}runs/{run_id}/snapshots/?limit=100",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    server = {s["metadata"]["name"]: s for s in response.json()["results"]}
    return {name: Verdict(local[name], server[name]["result"], server[name]["metadata"])
            for name in pages}


def _write_pages(project: Any, pages: dict[str, BoundaryPage], *, changed: bool) -> None:
    folder = project.root / "pages"
    folder.mkdir(exist_ok=True)
    for name, page in pages.items():
        (folder / f"{name}.html").write_text(page.html(changed), encoding="utf-8")
