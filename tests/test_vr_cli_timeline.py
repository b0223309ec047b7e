"""The timeline docs/server.md describes, with PostHog's current `vr` CLI flow and real Chromium:
main run, PR run with a change, approve on the server, PR rerun clean, main after the merge."""

from __future__ import annotations

import shutil

import pytest
import requests

from tests.test_vr_cli import SHOTS, capture, cli  # noqa: F401 - cli is a fixture
from tests.vr_cli import EXIT_CLEAN, EXIT_UNRESOLVED

pytestmark = pytest.mark.slow

ALL_UNCHANGED = dict.fromkeys(sorted(SHOTS), "unchanged")


def test_main_pr_approve_rerun_merge(cli, page, tmp_path):  # noqa: F811 - the imported fixture
    main = capture(page, tmp_path / "main", SHOTS)
    first = cli.submit(main, branch="main", commit="1" * 40)
    assert (first.results, first.exit_code) == (dict.fromkeys(sorted(SHOTS), "new"), EXIT_UNRESOLVED)

    pr_shots = tmp_path / "pr"
    shutil.copytree(main, pr_shots)
    capture(page, pr_shots, {"button--danger": ("rgb(230, 120, 0)", "Danger!")})
    pr = cli.submit(pr_shots, branch="feature/danger", commit="2" * 40, pr=21)
    assert pr.results == {**ALL_UNCHANGED, "button--danger": "changed"}
    assert pr.exit_code == EXIT_UNRESOLVED
    assert pr.lines[-1].endswith(f"/project/1/visual_review/runs/{pr.run_id}")  # the review link
    review = requests.get(pr.lines[-1].split(" at: ")[1], allow_redirects=False, timeout=30)
    assert review.headers["location"] == f"/ui/runs/{pr.run_id}"

    approved = requests.post(f"{cli.api}/api/projects/1/visual_review/runs/{pr.run_id}/approve/",
                             json={"approve_all": True},
                             headers={"Authorization": f"Bearer {cli.token}"}, timeout=30)
    assert approved.status_code == 200, approved.text

    rerun = cli.submit(pr_shots, branch="feature/danger", commit="3" * 40, pr=21)
    assert (rerun.results, rerun.exit_code) == (ALL_UNCHANGED, EXIT_CLEAN)

    elsewhere = cli.submit(main, branch="feature/unrelated", commit="4" * 40, pr=22)
    assert (elsewhere.results, elsewhere.exit_code) == (ALL_UNCHANGED, EXIT_CLEAN)  # main kept

    merged = cli.submit(pr_shots, branch="main", commit="5" * 40)
    assert merged.results == {**ALL_UNCHANGED, "button--danger": "changed"}
    danger = next(s for s in merged.snapshots if s["identifier"] == "button--danger")
    assert danger["review_state"] == "approved"  # reviewed in the PR
    assert merged.exit_code == EXIT_CLEAN

    after = cli.submit(pr_shots, branch="main", commit="6" * 40)
    assert (after.results, after.exit_code) == (ALL_UNCHANGED, EXIT_CLEAN)
