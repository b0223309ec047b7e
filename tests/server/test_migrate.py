"""``visualreview migrate``: an embedded store moved to PostgreSQL serves the same runs, tokens,
signed URLs and blobs; a used target is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from .live_server import LiveServer
from .server_helpers import Client, changed, page

pytestmark = pytest.mark.slow


def migrate(source: Path, url: str, blobs: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_visualreview.cli", "migrate", "--from", str(source),
         "--to", url, "--blob-url", str(blobs)],
        capture_output=True, text=True, timeout=120,
    )


def test_migrate_copies_everything_and_verifies(tmp_path: Path, postgres: Any) -> None:
    embedded = LiveServer.start(tmp_path / "embedded")
    token, repo = embedded.token(), embedded.repo("acme/web", trust_unsigned=True)
    client = Client(embedded.api(), token, repo)
    base = {"a": page(1), "b": page(2)}
    client.submit(base, branch="main")
    head = {"a": changed(base["a"]), "b": base["b"]}
    run = client.submit(head, baseline_hashes={k: v.hash for k, v in base.items()})
    before = client.snapshots(run["id"])
    embedded.stop()

    url = postgres.new_database()
    shared = tmp_path / "moved"
    done = migrate(tmp_path / "embedded", url, shared / "blobs")
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout

    moved = LiveServer.start(shared, database_url=url)
    try:
        again = Client(moved.api(), token, repo)  # the old token still works
        assert again.get(f"runs/{run['id']}/").json()["summary"] == run["summary"]
        after = again.snapshots(run["id"])
        assert {k: v["result"] for k, v in after.items()} == {k: v["result"] for k, v in before.items()}
        diff = after["a"]["diff_artifact"]
        assert diff and diff["content_hash"] == before["a"]["diff_artifact"]["content_hash"]
        image = requests.get(diff["download_url"], timeout=10)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        # A new token and repo get fresh ids (the sequences moved past the copied rows).
        assert moved.repo("acme/other") and moved.token()
    finally:
        moved.stop()

    refused = migrate(tmp_path / "embedded", url, shared / "blobs")
    assert refused.returncode == 2 and "not empty" in refused.stderr
