"""PostHog's current `vr` CLI flow (tests/vr_cli.py) against a live server: first runs, auto-approve,
paging, shards. The CLI sends no `baseline_hashes`; what the server compares later runs with is in
tests/test_vr_cli_server_baselines.py and tests/test_vr_cli_timeline.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from PIL import Image

from pytest_visualreview import imaging
from tests.vr_cli import EMPTY_BASELINE, EXIT_CLEAN, EXIT_FAILED, EXIT_UNRESOLVED, VrCli, baseline_hashes

pytestmark = pytest.mark.slow

COMMIT = "c" * 40
PAGE = """<!doctype html><html><head><style>
body {{ margin: 0; background: white; }}
#box {{ width: 80px; height: 40px; margin: 8px; background: {color}; }}
</style></head><body><div id="box"></div><p style="font: 14px sans-serif">{text}</p></body></html>"""


@pytest.fixture
def cli(live, tmp_path) -> VrCli:
    baseline = tmp_path / "checkout" / "snapshots.yml"
    baseline.parent.mkdir()
    baseline.write_text(EMPTY_BASELINE, encoding="utf-8")
    return VrCli(api=live.url, team="1", repo=live.repo("acme/storybook"), token=live.token(),
                 baseline=baseline, poll_interval=0.2)


def capture(page, folder: Path, shots: dict[str, tuple[str, str]]) -> Path:
    """Real Chromium screenshots: name -> (box colour, text), one PNG each in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 160, "height": 90})
    for name, (color, text) in shots.items():
        page.set_content(PAGE.format(color=color, text=text))
        page.screenshot(path=str(folder / f"{name}.png"))
    return folder


SHOTS = {"button--primary": ("rgb(40, 80, 200)", "Primary"),
         "button--danger": ("rgb(200, 40, 40)", "Danger"),
         "card--default": ("rgb(40, 160, 80)", "Card")}


def test_the_first_submit_is_all_new_and_exits_1(cli, page, tmp_path):
    shots = capture(page, tmp_path / "shots", SHOTS)
    outcome = cli.submit(shots, branch="main", commit=COMMIT)
    assert outcome.exit_code == EXIT_UNRESOLVED, outcome.lines
    assert outcome.results == dict.fromkeys(sorted(SHOTS), "new")
    assert outcome.run["summary"]["new"] == 3
    assert outcome.lines[0].endswith("Done: 3 snapshots — 0 unchanged, 0 changed, 3 new, 0 removed")
    assert f"/project/1/visual_review/runs/{outcome.run_id}" in outcome.lines[-1]


@pytest.mark.backends()
def test_auto_approve_writes_a_baseline_file_whose_hashes_are_the_pngs(cli, page, tmp_path):
    shots = capture(page, tmp_path / "shots", SHOTS)
    outcome = cli.submit(shots, branch="feature/login", commit=COMMIT, pr=7, auto_approve=True)
    assert outcome.exit_code == EXIT_CLEAN, outcome.lines
    written = baseline_hashes(cli.baseline)
    on_disk = {png.stem: imaging.content_hash(imaging.read_png(png)) for png in shots.glob("*.png")}
    assert written == on_disk
    tokens = yaml.safe_load(cli.baseline.read_text(encoding="utf-8"))["snapshots"].values()
    assert all(entry["hash"].startswith("v1.") for entry in tokens)  # signed by the server


def test_the_snapshot_report_is_read_in_pages_of_100(cli, page, tmp_path):
    """101 snapshots: the second page of GET runs/{id}/snapshots/?limit=100 must be read too."""
    source = capture(page, tmp_path / "one", {"wide": ("rgb(40, 80, 200)", "x" * 40)})
    with Image.open(source / "wide.png") as image:
        shots = tmp_path / "many"
        shots.mkdir()
        for n in range(101):  # distinct crops of one real screenshot: distinct hashes
            image.crop((0, 0, 50 + n, 60)).save(shots / f"crop--{n:03d}.png")
    outcome = cli.submit(shots, branch="main", commit=COMMIT)
    assert outcome.exit_code == EXIT_UNRESOLVED
    assert len(outcome.snapshots) == 101
    assert len(outcome.results) == 101


@pytest.mark.backends()
def test_shards_fill_one_run_and_complete_exits_1_with_new_snapshots(cli, page, tmp_path, monkeypatch):
    monkeypatch.setenv("JOB_CHECK_RUN_ID", "72855643533")
    code, run_id = cli.run_create(branch="main", commit=COMMIT)
    assert code == EXIT_CLEAN and run_id, run_id
    first = capture(page, tmp_path / "shard-1", dict(list(SHOTS.items())[:2]))
    second = capture(page, tmp_path / "shard-2", dict(list(SHOTS.items())[2:]))
    assert cli.run_upload(run_id, first) == EXIT_CLEAN
    assert cli.run_upload(run_id, second) == EXIT_CLEAN
    assert cli.run_upload(run_id, tmp_path / "no-such-shard") == EXIT_CLEAN  # a no-op
    outcome = cli.run_complete(run_id)
    assert outcome.exit_code == EXIT_UNRESOLVED, outcome.lines
    assert outcome.results == dict.fromkeys(sorted(SHOTS), "new")


def test_an_empty_sharded_run_is_clean_and_a_failed_command_exits_2(cli):
    code, run_id = cli.run_create(branch="main", commit=COMMIT)
    assert code == EXIT_CLEAN
    assert cli.run_complete(run_id).exit_code == EXIT_CLEAN
    missing = cli.run_complete("00000000-0000-0000-0000-000000000000")
    assert missing.exit_code == EXIT_FAILED
    assert "404" in missing.lines[0]


def test_without_a_baseline_file_the_cli_skips_and_exits_0(cli, tmp_path):
    cli.baseline.unlink()
    outcome = cli.submit(tmp_path, branch="main", commit=COMMIT)
    assert outcome.exit_code == EXIT_CLEAN and outcome.run_id is None
    assert "Baseline file not found" in outcome.lines[0]
