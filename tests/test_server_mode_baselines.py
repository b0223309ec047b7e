"""Server mode, issue 13's plugin half: snapshots.yml after --approve, its config block, a run
with no commit to name, and spooled runs sent to another server."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from pytest_visualreview import imaging, snapshots_yml
from tests.agreement import BOUNDARY, verdicts
from tests.server.live_server import free_port
from tests.test_server_mode import COMMIT, api_get, wired  # noqa: F401 - wired is a fixture

pytestmark = pytest.mark.slow


def assert_snapshots_yml_names_the_pngs(root) -> None:
    """Every hash in snapshots.yml is the content hash of the baseline PNG on disk, and back."""
    hashes = snapshots_yml.read(root / "snapshots.yml").hashes()
    baselines = [png for png in root.rglob("*.png") if ".visual-review" not in png.parts]  # wherever
    on_disk = {png.stem: imaging.content_hash(imaging.read_png(png)) for png in baselines}
    assert hashes == on_disk


def test_after_approve_snapshots_yml_holds_the_hashes_of_the_pngs_on_disk(wired):  # noqa: F811
    first = wired.run("--approve")
    first.assert_outcomes(passed=2)
    assert_snapshots_yml_names_the_pngs(wired.root)
    wired.set_page(color="rgb(230, 120, 0)")
    again = wired.run("--approve")
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["*approved 2 snapshot(s)*"])
    assert_snapshots_yml_names_the_pngs(wired.root)
    assert snapshots_yml.read(wired.root / "snapshots.yml").config == {}  # nothing from 127.0.0.1


def test_after_approving_a_change_only_the_plugin_sees_snapshots_yml_still_names_the_pngs(
        project, live, monkeypatch):
    """A 16-pixel change fails locally (0 allowed) and is below PostHog's 2.5%: the server judges
    it with the sent tolerance, so it is `changed` there too and `--approve` takes the new hash."""
    found = verdicts(project, live, {"small-change-no-budget": BOUNDARY["small-change-no-budget"]},
                     monkeypatch)
    assert found["small-change-no-budget"].local == "changed"
    approved = project.run("--approve", "-p", "no:randomly")
    assert approved.ret == 0, approved.stdout.str()
    assert_snapshots_yml_names_the_pngs(project.root)


def test_the_users_config_block_is_kept_and_the_servers_is_not_taken(wired):  # noqa: F811
    server = wired.live
    user_config = {"api": server.url, "team": "1", "repo": wired.repo_id}
    snapshots_yml.write(wired.root / "snapshots.yml", {}, user_config)
    wired.pytester.makeini("[pytest]\nvisual_review_mask = .clock\nvisual_review_branch = main\n"
                           f"visual_review_commit = {COMMIT}\nvisual_review_deadline = 60\n")
    wired.run("--approve").assert_outcomes(passed=2)  # the server comes from the config block
    written = snapshots_yml.read(wired.root / "snapshots.yml")
    assert written.config == user_config
    assert len(written.snapshots) == 2


def test_a_run_with_no_commit_to_name_fails_the_session_clearly(wired, monkeypatch):  # noqa: F811
    """Not a git checkout, no CI variables: the run cannot be sent, and the session says so and
    exits 1 rather than pass with the gate never run."""
    for name in ("GITHUB_ACTIONS", "GITHUB_SHA", "GIT_DIR"):
        monkeypatch.delenv(name, raising=False)
    outside = subprocess.run(["git", "rev-parse", "HEAD"], cwd=wired.root, capture_output=True,
                             check=False)
    assert outside.returncode != 0  # the pytester folder is not in a git checkout
    ini = (wired.root / "tox.ini").read_text(encoding="utf-8")
    wired.pytester.makeini("\n".join(line for line in ini.splitlines()
                                     if not line.startswith(("visual_review_commit", "visual_review_branch"))))
    result = wired.run("--approve")
    result.assert_outcomes(passed=2)  # the tests passed ...
    assert result.ret == 1  # ... but the review did not run
    result.stdout.fnmatch_lines(["*review server: not sent: cannot tell the commit*"
                                 "--visual-review-commit*"])
    assert api_get(wired.live, "runs/", wired.live.token())["count"] == 0


def test_upload_url_sends_a_spooled_run_to_another_server(wired):  # noqa: F811
    server = wired.live
    dead = f"http://127.0.0.1:{free_port()}"
    spooled = wired.run("--approve", f"--visual-review-url={dead}")
    assert spooled.ret == 0  # an outage leaves the tests' results standing
    spool_root = wired.output / "spool"
    (folder,) = list(spool_root.iterdir())
    sent = subprocess.run([sys.executable, "-m", "pytest_visualreview.cli", "upload", "--url", server.url,
                           str(spool_root)], capture_output=True, text=True, check=False)
    assert sent.returncode == 1, sent.stderr  # sent; its two new snapshots await review
    assert not folder.exists()
    runs = requests.get(server.api() + "runs/", headers={"Authorization": f"Bearer {server.token()}"},
                        timeout=10).json()
    assert runs["count"] == 1 and runs["results"][0]["summary"]["new"] == 2
