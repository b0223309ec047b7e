"""Server mode end to end: pytest sessions against a live reference server over HTTP."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from pytest_visualreview import snapshots_yml
from tests.server.live_server import LiveServer

pytestmark = pytest.mark.slow

PAGES = """
import pytest

@pytest.mark.parametrize("part", ["box", "clock-free"])
def test_page(page, snapshot, part):
    page.set_viewport_size({"width": 300, "height": 200})
    page.goto(PAGE)
    if part == "box":
        snapshot(page.locator("#box"), "box")
    else:
        snapshot(page, "page")
"""
COMMIT = "a" * 40


@pytest.fixture
def wired(project, live, monkeypatch):
    """The project pointed at the live server through ini keys, with a token in the environment."""
    repo = live.repo("acme/shop")
    monkeypatch.setenv("VISUAL_REVIEW_TOKEN", live.token())
    project.pytester.makeini(
        "[pytest]\n"
        "visual_review_mask = .clock\n"
        f"visual_review_url = {live.url}\n"
        "visual_review_project = 1\n"
        f"visual_review_repo = {repo}\n"
        "visual_review_branch = main\n"
        f"visual_review_commit = {COMMIT}\n"
        "visual_review_deadline = 60\n"
    )
    project.write_tests(PAGES)
    project.live = live
    project.repo_id = repo
    return project


def api_get(live: LiveServer, path: str, token: str) -> dict:
    response = requests.get(live.api() + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def run_id_from(result) -> str:
    line = next(line for line in result.outlines if line.startswith("review server: run ") and "changed" in line)
    return line.split()[3].rstrip(":")


@pytest.mark.backends()
def test_approve_review_change_approve_cycle(wired, monkeypatch):
    project, live = wired, wired.live
    token = live.token("visual_review:read")
    baseline_file = project.root / "snapshots.yml"

    first = project.run("--approve")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*review server: run *: 0 changed, 2 new, 0 removed, 0 unchanged*uploaded 2 images*",
                                "review: http://127.0.0.1:*/ui/runs/*",
                                "*approved 2 snapshot(s); wrote *snapshots.yml*"])
    signed = snapshots_yml.read(baseline_file)
    assert sorted(signed.snapshots) == ["test_visual--test_page-chromium-box--box",
                                        "test_visual--test_page-chromium-clock-free--page"]
    assert all(snapshots_yml.is_signed(token_) for token_ in signed.snapshots.values())
    assert signed.config == {}  # the server's own (loopback) address is never written

    clean = project.run("--visual-review")
    clean.assert_outcomes(passed=2)
    clean.stdout.fnmatch_lines(["*0 changed, 0 new, 0 removed, 2 unchanged (0 unresolved); uploaded 0 images*"])

    project.set_page(color="rgb(200, 40, 40)")
    changed = project.run("--visual-review")
    assert changed.ret == 1
    changed.stdout.fnmatch_lines(["*2 changed, 0 new, 0 removed, 0 unchanged (2 unresolved)*",
                                  "*2 unresolved visual change(s) fail this run*"])
    run_id = run_id_from(changed)
    snapshots = api_get(live, f"runs/{run_id}/snapshots/", token)["results"]
    assert {s["result"] for s in snapshots} == {"changed"}
    assert all(s["diff_artifact"] for s in snapshots)

    accepted = project.run("--approve")
    accepted.assert_outcomes(passed=2)
    accepted.stdout.fnmatch_lines(["*approved 2 snapshot(s)*"])
    after = snapshots_yml.read(baseline_file)
    assert after.hashes() != signed.hashes()
    project.run("--visual-review").assert_outcomes(passed=2)


def test_observe_never_fails_the_session(wired):
    wired.run("--approve").assert_outcomes(passed=2)
    wired.set_page(color="rgb(0, 160, 0)")
    result = wired.run("--visual-review", "--visual-review-purpose=observe", "--visual-review-output=obs",
                       "-p", "no:randomly")
    result.assert_outcomes(failed=2)  # the local comparison stands on its own
    assert "fail this run" not in result.stdout.str()


def test_xdist_sends_one_run_with_every_worker_snapshot(wired):
    result = wired.run_subprocess("-n", "2", "--visual-review")
    result.stdout.fnmatch_lines(["*0 changed, 2 new*"])
    run_id = run_id_from(result)
    run = api_get(wired.live, f"runs/{run_id}/", wired.live.token())
    assert run["summary"]["total"] == 2


@pytest.mark.backends()
def test_two_shards_fill_one_run(wired):
    live = wired.live
    env_cli = [sys.executable, "-m", "pytest_visualreview.cli"]
    common = ["--url", live.url, "--project", "1", "--repo", wired.repo_id]
    created = subprocess.run([*env_cli, "run", "create", *common, "--branch", "main", "--commit", COMMIT],
                             capture_output=True, text=True, cwd=wired.root, check=False)
    assert created.returncode == 0, created.stderr
    run_id = created.stdout.strip()
    for part in ("box", "clock-free"):
        shard = wired.run("--visual-review", f"--visual-review-run-id={run_id}", "-k", part)
        shard.stdout.fnmatch_lines([f"*added 1 snapshots to run {run_id}*"])
    completed = subprocess.run([*env_cli, "run", "complete", *common, run_id],
                               capture_output=True, text=True, cwd=wired.root, check=False)
    assert completed.returncode == 1, completed.stderr  # two new snapshots are unresolved
    assert "0 changed, 2 new" in completed.stderr
    run = api_get(live, f"runs/{run_id}/", live.token())
    assert run["summary"]["total"] == 2


def test_outage_spools_the_run_and_upload_sends_it_later(wired):
    live = wired.live
    live.stop()
    result = wired.run("--approve")
    result.assert_outcomes(passed=2)  # the tests' results stand
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*cannot reach the server*gave up after 5 attempts*",
                                 "*the run was saved to *spool*; send it later with: visualreview upload*"])
    spool_root = wired.output / "spool"
    runs = list(spool_root.iterdir())
    assert len(runs) == 1 and len(list((runs[0] / "images").glob("*.png"))) == 2

    restarted = live.restart()
    try:
        sent = subprocess.run([sys.executable, "-m", "pytest_visualreview.cli", "upload", str(spool_root)],
                              capture_output=True, text=True, check=False)
        assert sent.returncode == 1, sent.stderr  # sent; its two new snapshots await review
        assert "0 changed, 2 new" in sent.stderr
        assert list(spool_root.iterdir()) == []
        runs_listed = api_get(restarted, "runs/", restarted.token())
        assert runs_listed["count"] == 1
        assert runs_listed["results"][0]["summary"]["new"] == 2
    finally:
        restarted.kill()


def test_bad_token_is_a_clear_error_and_nothing_is_lost(wired, monkeypatch):
    monkeypatch.setenv("VISUAL_REVIEW_TOKEN", "not-a-token")
    result = wired.run("--approve")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*401*check VISUAL_REVIEW_TOKEN*", "*the run was saved to*"])
    assert "not-a-token" not in result.stdout.str()
    assert len(list((wired.output / "spool").iterdir())) == 1


def test_malformed_answers_are_a_clear_error(wired):
    """A URL that answers 200 with something that is not JSON is named as such; the run is kept."""

    class NotJson(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotJson)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = wired.run("--approve", f"--visual-review-url={url}")
        assert result.ret == 1
        result.stdout.fnmatch_lines(["*answered 200 with something that is not JSON*is --visual-review-url the review server?*",
                                     "*the run was saved to*"])
        assert len(list((wired.output / "spool").iterdir())) == 1
    finally:
        server.shutdown()


def test_missing_token_with_a_configured_url_is_a_usage_error(wired, monkeypatch):
    monkeypatch.delenv("VISUAL_REVIEW_TOKEN")
    result = wired.run("--visual-review")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--visual-review-url is set but VISUAL_REVIEW_TOKEN is not*"])


def test_a_session_goes_to_the_sentry_api_through_the_objectstore(wired, monkeypatch):
    live = wired.live
    monkeypatch.setenv("VISUAL_REVIEW_TOKEN", live.token("project:write", "project:read"))
    args = ("--visual-review", "--visual-review-api=sentry", "--visual-review-org=default",
            "--visual-review-project=default", "--visual-review-app-id=shop")
    first = wired.run("--approve", *args[1:])
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*sentry: run * of app shop: 2 snapshots, uploaded 2 images (0 already stored)*"])
    again = wired.run(*args)
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["*2 snapshots, uploaded 0 images (2 already stored)*"])
    artifact = next(line for line in again.outlines if line.startswith("sentry: run")).split()[2]
    details = requests.get(f"{live.url}/api/0/organizations/default/preprodartifacts/snapshots/{artifact}/",
                           headers={"Authorization": f"Bearer {live.token('project:read')}"}, timeout=10)
    assert details.status_code == 200
    body = details.json()
    assert sorted(image["image_file_name"] for image in body["images"]) == [
        "test_visual--test_page-chromium-box--box.png", "test_visual--test_page-chromium-clock-free--page.png"]


def test_approval_on_the_server_then_pull_makes_the_next_run_clean(wired):
    """The review-page flow: a change is approved on the server (the page calls the same domain
    function as this API call), `visualreview pull` writes it into the working tree, and the next
    run is clean locally and on the server."""
    live = wired.live
    wired.run("--approve").assert_outcomes(passed=2)
    wired.set_page(color="rgb(200, 40, 40)")
    changed = wired.run("--visual-review")
    assert changed.ret == 1
    run_id = run_id_from(changed)
    # the server's loopback address is not in snapshots.yml: name the server as the ini does
    cli = [sys.executable, "-m", "pytest_visualreview.cli", "pull", "--branch", "main",
           "--url", live.url, "--project", "1", "--repo", wired.repo_id]

    refused = subprocess.run(cli, capture_output=True, text=True, cwd=wired.root, check=False)
    assert refused.returncode == 2
    assert "approve or tolerate every change on the review page first" in refused.stderr

    approved = requests.post(f"{live.api()}runs/{run_id}/approve/", json={"approve_all": True},
                             headers={"Authorization": f"Bearer {live.token()}"}, timeout=10)
    assert approved.status_code == 200, approved.text
    pulled = subprocess.run(cli, capture_output=True, text=True, cwd=wired.root, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert f"pulled run {run_id}" in pulled.stderr
    assert pulled.stderr.count("  updated ") == 2
    box = wired.root / "__visual_snapshots__" / "test_visual" / "test_visual--test_page-chromium-box--box.png"
    from pytest_visualreview import imaging
    assert imaging.read_png(box)[30, 60].tolist() == [200, 40, 40, 255]

    clean = wired.run("--visual-review")
    clean.assert_outcomes(passed=2)
    clean.stdout.fnmatch_lines(["*0 changed, 0 new, 0 removed, 2 unchanged (0 unresolved)*"])


def test_a_test_that_did_not_finish_makes_the_run_partial_not_removed(wired):
    wired.run("--approve").assert_outcomes(passed=2)
    skipped = PAGES + "\n\nimport pytest\n\n@pytest.mark.skip(reason='x')\ndef test_other(snapshot):\n    pass\n"
    wired.write_tests(skipped)
    whole = wired.run("--visual-review")
    whole.assert_outcomes(passed=2, skipped=1)
    run = api_get(wired.live, f"runs/{run_id_from(whole)}/", wired.live.token())
    assert run["is_partial"] is False  # a skipped test with no baselines leaves nothing unrendered
    wired.write_tests(PAGES.replace('    if part == "box":\n', '    if part == "box":\n        raise RuntimeError("broken before its snapshot")\n'))
    result = wired.run("--visual-review")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*0 changed, 0 new, 0 removed, 1 unchanged*"])
    run = api_get(wired.live, f"runs/{run_id_from(result)}/", wired.live.token())
    assert run["is_partial"] is True


def test_approving_a_partial_run_keeps_the_baselines_it_did_not_render(wired):
    wired.run("--approve").assert_outcomes(passed=2)
    before = snapshots_yml.read(wired.root / "snapshots.yml").hashes()
    wired.set_page(color="rgb(0, 120, 0)")
    result = wired.run("--approve", "-k", "box")
    result.assert_outcomes(passed=1, deselected=1)
    after = snapshots_yml.read(wired.root / "snapshots.yml").hashes()
    assert set(after) == set(before)  # the deselected test's baseline is still there
    box = "test_visual--test_page-chromium-box--box"
    assert after[box] != before[box]
    page = "test_visual--test_page-chromium-clock-free--page"
    assert after[page] == before[page]


def test_a_sentry_upload_during_an_outage_is_spooled_and_sent_later(wired, monkeypatch):
    live = wired.live
    monkeypatch.setenv("VISUAL_REVIEW_TOKEN", live.token("project:write", "project:read"))
    live.stop()
    result = wired.run("--visual-review", "--visual-review-api=sentry", "--visual-review-project=default",
                       "--approve")
    assert result.ret == 0  # the tests' results stand
    result.stdout.fnmatch_lines(["*sentry upload to http://127.0.0.1:*", "*the run was saved to*"])
    spool_root = wired.output / "spool"
    restarted = live.restart()
    try:
        sent = subprocess.run([sys.executable, "-m", "pytest_visualreview.cli", "upload", str(spool_root)],
                              capture_output=True, text=True, check=False)
        assert sent.returncode == 0, sent.stderr
        assert "2 snapshots, uploaded 2 images" in sent.stderr
        assert list(spool_root.iterdir()) == []
    finally:
        restarted.kill()
