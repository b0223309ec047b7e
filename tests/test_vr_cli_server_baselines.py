"""PostHog's current `vr` CLI against a server that keeps the baselines (issue 13, server half).

The CLI sends no `baseline_hashes`: the second run is only `unchanged` / `changed` / `removed`
when the server compares it with the baseline the first run established (accepted by
`--auto-approve`'s finalize): the server keeps that baseline (server/review/accepted.py).
"""

from __future__ import annotations

import shutil

import pytest

from tests.test_vr_cli import COMMIT, SHOTS, capture, cli  # noqa: F401 - cli is a fixture
from tests.vr_cli import EXIT_CLEAN, EXIT_UNRESOLVED

pytestmark = pytest.mark.slow


@pytest.fixture
def established(cli, page, tmp_path):  # noqa: F811 - the imported fixture
    """The default branch's baseline, accepted by `vr submit --auto-approve` on main."""
    shots = capture(page, tmp_path / "main", SHOTS)
    first = cli.submit(shots, branch="main", commit=COMMIT, auto_approve=True)
    assert first.exit_code == EXIT_CLEAN, first.lines
    return shots


def test_a_rerun_without_baseline_hashes_is_unchanged_and_exits_0(cli, established):  # noqa: F811
    again = cli.submit(established, branch="main", commit="d" * 40)
    assert again.results == dict.fromkeys(sorted(SHOTS), "unchanged")
    assert again.exit_code == EXIT_CLEAN


def test_changed_new_and_removed_come_from_the_servers_baseline(cli, established, page, tmp_path):  # noqa: F811
    shots = tmp_path / "pr"
    shutil.copytree(established, shots)
    (shots / "card--default.png").unlink()  # removed
    capture(page, shots, {"button--danger": ("rgb(230, 120, 0)", "Danger!"),  # changed
                          "badge--new": ("rgb(120, 0, 200)", "New")})  # new
    outcome = cli.submit(shots, branch="feature/badge", commit="e" * 40, pr=12)
    assert outcome.results == {"badge--new": "new", "button--danger": "changed",
                               "button--primary": "unchanged", "card--default": "removed"}
    assert outcome.exit_code == EXIT_UNRESOLVED


def test_a_pr_branch_falls_back_to_the_default_branchs_baseline(cli, established):  # noqa: F811
    outcome = cli.submit(established, branch="feature/untouched", commit="f" * 40, pr=13)
    assert outcome.results == dict.fromkeys(sorted(SHOTS), "unchanged")
    assert outcome.exit_code == EXIT_CLEAN


def test_sharded_rerun_of_the_baseline_completes_clean(cli, established):  # noqa: F811
    code, run_id = cli.run_create(branch="main", commit="a" * 40)
    assert code == EXIT_CLEAN
    assert cli.run_upload(run_id, established) == EXIT_CLEAN
    outcome = cli.run_complete(run_id)
    assert outcome.results == dict.fromkeys(sorted(SHOTS), "unchanged")
    assert outcome.exit_code == EXIT_CLEAN
