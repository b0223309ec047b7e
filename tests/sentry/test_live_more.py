"""Errored images, the admin CLI's Sentry scopes, CI environment detection, restart resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from server.live_server import LiveServer

from pytest_visualreview.records import Outcome, SnapshotRecord
from pytest_visualreview.sentry_client import images_from_records, upload_snapshots, vcs_from_env

from .conftest import Sentry, png
from .test_live_api import BLUE, RED, names, vcs


def test_oversized_canvas_is_errored_with_its_reason(sentry: Sentry, app_id: str) -> None:
    sentry.upload(app_id, {"a.png": png(4, 4, RED), "b.png": png(4, 4, RED)}, vcs=vcs(71))
    # The manifest claims 8001x5000 (> 40M pixels): Sentry errors the pair before diffing.
    items = {"a.png": png(4, 4, BLUE), "b.png": png(4, 4, BLUE)}
    result = sentry.upload(app_id, items, vcs=vcs(72, base=71))
    done = sentry.settled(result)
    assert names(done["changed"]) == ["a.png", "b.png"]  # real sizes: diffed normally

    claimed = upload_snapshots(
        sentry.url,
        org="default",
        project="default",
        auth_token=sentry.token,
        app_id=app_id,
        images=[("a.png", png(4, 4, BLUE), 8001, 5000, {}), ("b.png", png(4, 4, RED), 4, 4, {})],
        vcs=vcs(73, base=71),
    )
    done = sentry.settled(claimed.artifact_id)
    assert names(done["errored"]) == ["a.png"]
    assert done["errored"][0]["reason"] == "exceeds_pixel_limit"
    assert names(done["unchanged"]) == ["b.png"]
    detail = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{claimed.artifact_id}/images/a.png/"
    ).json()
    assert detail["comparison_status"] == "errored" and detail["diff_percentage"] is None


def test_admin_cli_creates_tokens_with_sentry_scopes(sentry: Sentry) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_visualreview.cli",
            "token",
            "create",
            "--data-dir",
            str(sentry.server.data_dir),
            "--scope",
            "project:write",
            "--name",
            "cli",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = proc.stdout.strip()
    path = "/api/0/projects/default/default/preprodartifacts/snapshots/upload-options/"
    assert sentry.get(path, token=token).status_code == 200


def test_vcs_from_github_actions_environment(tmp_path: Path) -> None:
    assert vcs_from_env({}) == {}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "h" * 40}, "base": {"sha": "b" * 40}}}))
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/web",
        "GITHUB_SHA": "m" * 40,  # the merge commit: not what Sentry wants
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_BASE_REF": "main",
    }
    assert vcs_from_env(env) == {
        "provider": "github",
        "head_repo_name": "acme/web",
        "base_repo_name": "acme/web",
        "head_sha": "h" * 40,
        "head_ref": "feature",
        "base_sha": "b" * 40,
        "base_ref": "main",
        "pr_number": 42,
    }
    push = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/web",
        "GITHUB_SHA": "c" * 40,
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF_NAME": "main",
    }
    assert vcs_from_env(push) == {
        "provider": "github",
        "head_repo_name": "acme/web",
        "base_repo_name": "acme/web",
        "head_sha": "c" * 40,
        "head_ref": "main",
    }


@pytest.mark.slow
def test_a_restarted_server_finishes_interrupted_comparisons(tmp_path: Path) -> None:
    server = LiveServer.start(tmp_path / "data")
    try:
        client = Sentry(server, server.token("project:write"))
        client.upload("resume", {"a.png": png(5, 5, RED)}, vcs=vcs(81))
        head = client.upload("resume", {"a.png": png(5, 5, BLUE)}, vcs=vcs(82, base=81))
        assert client.settled(head)["changed_count"] == 1
        server.kill()  # a crash ...
        with server.store.transaction() as conn:  # ... that left the job half done
            conn.execute(
                "UPDATE sentry_comparisons SET state = 'processing', results = '{}',"
                " summary = '{}' WHERE head_id = ?",
                (int(head),),
            )
        server = server.restart()
        client.server = server
        done = client.settled(head)
        assert done["comparison_state"] == "success" and names(done["changed"]) == ["a.png"]
        assert requests.get(server.url + "/healthz", timeout=5).ok
    finally:
        server.stop()


def test_plugin_records_upload_as_identifier_png(sentry: Sentry, app_id: str, tmp_path: Path) -> None:
    shot = tmp_path / "actual.png"
    shot.write_bytes(png(6, 4, RED))
    records = [
        SnapshotRecord(
            nodeid="tests/test_web.py::test_home",
            name="home",
            identifier="test_web-test_home-home",
            outcome=Outcome.NEW,
            width=6,
            height=4,
            actual_path=str(shot),
            metadata={"display_name": "Home", "group": "Desktop"},
        ),
        SnapshotRecord(
            nodeid="tests/test_web.py::test_broken",
            name="broken",
            identifier="test_web-test_broken-broken",
            outcome=Outcome.ERROR,
            message="capture failed",
        ),
    ]
    items = images_from_records(records)
    assert [i.file_name for i in items] == ["test_web-test_home-home.png"]
    result = upload_snapshots(
        sentry.url,
        org="default",
        project="default",
        auth_token=sentry.token,
        app_id=app_id,
        images=items,
    )
    image = sentry.details(result.artifact_id)["images"][0]
    assert image["image_file_name"] == "test_web-test_home-home.png"
    assert (image["display_name"], image["group"], image["width"]) == ("Home", "Desktop", 6)
