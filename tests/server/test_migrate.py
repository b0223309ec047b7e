"""``visualreview migrate``: an embedded store moved to PostgreSQL (blobs in a folder, or in an S3
bucket: moto here) serves the same runs, tokens, signed URLs and blobs; a used target is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_visualreview import snapshots_yml

from .live_server import LiveServer
from .s3_server import CREDENTIALS, MotoS3
from .server_helpers import Client, changed, page

pytestmark = pytest.mark.slow


def migrate(source: Path, url: str, *blobs: str | Path) -> subprocess.CompletedProcess[str]:
    """``visualreview migrate`` with ``blobs`` the blob options (``--blob-url`` is the first)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_visualreview.cli", "migrate", "--from", str(source),
         "--to", url, "--blob-url", *map(str, blobs)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **CREDENTIALS},
    )


def embedded_with_a_diff(data_dir: Path) -> tuple[LiveServer, Client, dict[str, Any], dict[str, Any]]:
    """An embedded server (still running) with a baseline on main and a run that changed ``a``:
    the server, its client, that run and its snapshots by identifier."""
    embedded = LiveServer.start(data_dir)
    token, repo = embedded.token(), embedded.repo("acme/web", trust_unsigned=True)
    client = Client(embedded.api(), token, repo)
    base = {"a": page(1), "b": page(2)}
    client.submit(base, branch="main")
    head = {"a": changed(base["a"]), "b": base["b"]}
    run = client.submit(head, baseline_hashes={k: v.hash for k, v in base.items()})
    return embedded, client, run, client.snapshots(run["id"])


def test_migrate_copies_everything_and_verifies(tmp_path: Path, postgres: Any) -> None:
    embedded, client, run, before = embedded_with_a_diff(tmp_path / "embedded")
    token, repo = client.token, client.repo_id
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


def test_migrate_to_s3_copies_and_verifies_and_the_moved_server_serves_old_urls(
    tmp_path: Path, postgres: Any, moto_s3: MotoS3
) -> None:
    source = tmp_path / "embedded"
    embedded, client, run, before = embedded_with_a_diff(source)
    old_url = before["a"]["diff_artifact"]["download_url"]  # signed by the embedded server
    embedded.stop()

    url, prefix = postgres.new_database(), moto_s3.new_prefix()
    done = migrate(source, url, f"s3://{moto_s3.bucket}/{prefix}",
                   "--s3-endpoint-url", moto_s3.endpoint)
    assert done.returncode == 0, done.stderr
    local = {str(p.relative_to(source / "blobs")): p.read_bytes()
             for p in (source / "blobs").rglob("*") if p.is_file() and not p.name.endswith(".tmp")}
    assert f"and {len(local)} blobs; verified" in done.stdout, done.stdout
    # Every blob is in the bucket under PREFIX/blobs/, byte for byte (the hashes match).
    keys = {k.removeprefix(f"{prefix}/blobs/"): k for k in moto_s3.keys(prefix)}
    assert set(keys) == set(local)
    for relative, data in local.items():
        stored = moto_s3.client.get_object(Bucket=moto_s3.bucket, Key=keys[relative])
        assert stored["Body"].read() == data, relative

    moved = LiveServer.start(tmp_path / "moved", port=embedded.port, database_url=url,
                             s3=moto_s3, s3_prefix=prefix)
    try:
        again = Client(moved.api(), client.token, client.repo_id)  # the old token still works
        served = requests.get(old_url, timeout=10)  # the old signed URL, now from the bucket
        assert served.status_code == 200, served.text
        assert served.content == local[next(k for k in local if k.endswith(
            before["a"]["diff_artifact"]["content_hash"]))]
        approved = again.post(f"runs/{run['id']}/approve/",
                              {"snapshots": [{"identifier": "a"}], "commit_to_github": False})
        assert approved.status_code == 200, approved.text
        # Signed with the repo key the migration carried over: the baseline has ``a`` at its new hash.
        baseline = snapshots_yml.loads(approved.json()["baseline_content"]).snapshots
        assert baseline["a"].split(".")[2] == before["a"]["current_artifact"]["content_hash"]
        assert again.snapshots(run["id"])["a"]["review_state"] == "approved"
        assert not list((tmp_path / "moved").rglob("*.png")), "the moved server wrote to disk"
    finally:
        moved.stop()
