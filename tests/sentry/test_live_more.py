"""Errored images, the admin CLI's Sentry scopes, restart resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pytest_visualreview.client.sentry import upload_snapshots
from tests.server.live_server import LiveServer

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
