"""Crash safety (SIGKILL during processing, restart, the run completes with nothing lost) and the
admin command line."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from pytest_visualreview import snapshots_yml

from .live_server import LiveServer
from .server_helpers import Client, item, make_image

N = 120


def progress(server: LiveServer, run_id: str) -> tuple[int, int]:
    """(diffed, still queued) for a run, read straight from the database."""
    row = server.store.query_one(
        "SELECT SUM(needs_diff = 0), SUM(needs_diff = 1) FROM run_snapshots WHERE run_id = ?",
        (run_id,),
    )
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)


@pytest.mark.slow
def test_kill_during_processing_then_restart_completes_the_run(tmp_path: Path) -> None:
    server = LiveServer.start(tmp_path / "data", extra_args=("--diff-workers", "1"))
    try:
        token, repo = server.token(), server.repo("acme/crash")
        client = Client(server.api(), token, repo)
        base = np.full((844, 390, 4), 255, dtype=np.uint8)
        base[100:300, 40:350, :3] = (30, 140, 60)
        after = base.copy()
        after[400:700, 20:370, :3] = (10, 20, 160)  # ~32% of pixels: a 'pixel' change
        old, new = make_image(base), make_image(after)
        identifiers = [f"screen-{i:03d}" for i in range(N)]

        first = client.submit({i: old for i in identifiers}, branch="main")
        content = client.post(f"runs/{first['id']}/auto-approve/").json()["baseline_content"]
        baseline = snapshots_yml.loads(content).snapshots
        created = client.create_run([item(i, new) for i in identifiers], baseline_hashes=baseline)
        client.upload(created["uploads"], {new.hash: new})
        run_id = created["run_id"]
        assert client.complete(run_id)["status"] == "processing"
        assert client.get("runs/counts/").json()["processing"] == 1

        deadline = time.monotonic() + 60
        while True:  # kill after the first committed batch, before the last
            done, queued = progress(server, run_id)
            if done > 0 and queued > 0:
                break
            assert queued > 0, "processing finished before the kill; raise N"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        server.kill()
        done_at_kill, queued_at_kill = progress(server, run_id)
        assert done_at_kill > 0 and queued_at_kill > 0 and done_at_kill + queued_at_kill == N

        server = server.restart()
        client = Client(server.api(), token, repo)
        run = client.wait(run_id, timeout=120)
        assert run["status"] == "completed", run["error_message"]
        assert run["summary"] == {"total": N, "changed": N, "new": 0, "removed": 0,
                                  "unchanged": 0, "unresolved": N, "tolerated_matched": 0}
        snaps = client.snapshots(run_id)
        assert sorted(snaps) == identifiers
        assert all(s["change_kind"] == "pixel" and s["diff_artifact"] for s in snaps.values())
        assert progress(server, run_id) == (N, 0)
        diff_url = snaps["screen-000"]["diff_artifact"]["download_url"]
        assert requests.get(diff_url, timeout=10).status_code == 200
    finally:
        server.kill()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_visualreview.cli", *args],
        capture_output=True, text=True, timeout=60,
    )


def test_admin_commands_print_only_the_new_value(fresh_server: LiveServer) -> None:
    data = str(fresh_server.data_dir)
    made = run_cli("token", "create", "--data-dir", data, "--scope", "visual_review:read",
                   "--scope", "visual_review:write")
    assert made.returncode == 0, made.stderr
    token = made.stdout
    assert re.fullmatch(r"vrt_[A-Za-z0-9_-]{43}\n", token)
    repo = run_cli("repo", "create", "--data-dir", data, "acme/cli")
    assert repo.returncode == 0, repo.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", repo.stdout)

    headers = {"Authorization": f"Bearer {token.strip()}"}
    got = requests.get(fresh_server.api() + f"repos/{repo.stdout.strip()}/", headers=headers,
                       timeout=10)
    assert got.status_code == 200 and got.json()["repo_full_name"] == "acme/cli"
    # The token is stored hashed: its clear text is nowhere in the database file.
    database = (fresh_server.data_dir / "visualreview.sqlite3").read_bytes()
    assert token.strip().encode() not in database

    revoked = run_cli("token", "revoke", "--data-dir", data, token.strip())
    assert revoked.returncode == 0 and revoked.stdout == "", revoked.stderr
    gone = requests.get(fresh_server.api() + "repos/", headers=headers, timeout=10)
    assert gone.status_code == 401
    again = run_cli("token", "revoke", "--data-dir", data, token.strip())
    assert again.returncode == 2 and "no such active token" in again.stderr

    read_only = run_cli("token", "create", "--data-dir", data, "--scope", "visual_review:read")
    headers = {"Authorization": f"Bearer {read_only.stdout.strip()}"}
    denied = requests.post(fresh_server.api() + "repos/", json={"repo_full_name": "x"},
                           headers=headers, timeout=10)
    assert denied.status_code == 403


def test_admin_command_errors_go_to_stderr(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    bad_scope = run_cli("token", "create", "--data-dir", data, "--scope", "everything")
    assert bad_scope.returncode == 2 and bad_scope.stdout == ""
    assert "area:action" in bad_scope.stderr
    no_project = run_cli("repo", "create", "--data-dir", data, "--project", "7", "acme/x")
    assert no_project.returncode == 2 and no_project.stdout == ""
    assert "project 7" in no_project.stderr
    missing = run_cli("token", "create", "--data-dir", data)
    assert missing.returncode == 2 and "--scope" in missing.stderr
    helped = run_cli("--help")
    assert all(name in helped.stdout for name in ("serve", "token", "repo"))


def test_new_data_dir_has_default_org_and_project_and_a_schema_version(tmp_path: Path) -> None:
    made = run_cli("repo", "create", "--data-dir", str(tmp_path / "d"), "acme/x")
    assert made.returncode == 0, made.stderr
    from pytest_visualreview.server import resolve
    from pytest_visualreview.server.store import MIGRATIONS, Store

    store = Store(tmp_path / "d")
    assert store.schema_version == len(MIGRATIONS)
    org, project = resolve.project(store, "default", "default")
    assert org.id == 1 and project.id == 1
    journal = store.query_one("PRAGMA journal_mode")
    assert journal is not None and journal[0] == "wal"
