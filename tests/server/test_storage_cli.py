"""The storage options every server command shares: the shared store through the admin commands,
and one-line errors (exit 2) naming the option for combinations that cannot work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from .live_server import LiveServer
from .test_restart_and_cli import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "create", "--scope", "visual_review:read"),
         "give --data-dir (embedded store) or --database-url"),
        (("token", "create", "--scope", "visual_review:read", "--database-url", "mysql://u@h/db"),
         "is not a PostgreSQL URL"),
        (("repo", "create", "--database-url", "postgresql://u@127.0.0.1:1/db", "acme/x"),
         "--database-url needs --blob-url"),
        (("serve", "--no-worker", "--data-dir", "{tmp}"), "--no-worker needs --database-url"),
        (("worker", "--data-dir", "{tmp}"), "worker needs --database-url"),
    ],
)
def test_impossible_storage_options_are_one_line_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_admin_commands_on_the_shared_store(tmp_path: Path, postgres: Any) -> None:
    url, blobs = postgres.new_database(), str(tmp_path / "blobs")
    token = run_cli("token", "create", "--database-url", url, "--blob-url", blobs,
                    "--scope", "visual_review:write")
    assert token.returncode == 0, token.stderr
    repo = run_cli("repo", "create", "--database-url", url, "--blob-url", blobs, "acme/web")
    assert repo.returncode == 0, repo.stderr
    live = LiveServer.start(tmp_path, database_url=url)
    try:
        answer = requests.get(f"{live.api()}repos/{repo.stdout.strip()}/",
                              headers={"Authorization": f"Bearer {token.stdout.strip()}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["repo_full_name"] == "acme/web"
    finally:
        live.stop()
    revoked = run_cli("token", "revoke", "--database-url", url, "--blob-url", blobs,
                      token.stdout.strip())
    assert revoked.returncode == 0, revoked.stderr
