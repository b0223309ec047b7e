"""The client's plumbing against real HTTP servers on 127.0.0.1, and CI/git detection."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_visualreview.client import RetryPolicy, ReviewClient, ReviewServerError
from pytest_visualreview.vcs import VcsError, detect


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body)."""

    script: list[tuple[int, dict[str, str], bytes]] = []
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        self.seen.append(f"GET {self.path}")
        status, headers, body = self.script.pop(0)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    Scripted.script, Scripted.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def client_for(server, sleeps):
    return ReviewClient(f"http://127.0.0.1:{server.server_address[1]}", 1, "secret-token",
                        retry=RetryPolicy(attempts=3, backoff=0.01), sleep=sleeps.append)


def test_429_and_5xx_are_retried_honouring_retry_after(scripted):
    ok = json.dumps({"id": "r1", "status": "completed"}).encode()
    Scripted.script = [(429, {"Retry-After": "2"}, b"{}"), (503, {}, b"busy"), (200, {}, ok)]
    sleeps: list[float] = []
    run = client_for(scripted, sleeps).get_run("r1")
    assert run["status"] == "completed"
    assert sleeps == [2.0, 0.02]  # Retry-After first, then exponential backoff
    assert len(Scripted.seen) == 3


def test_gives_up_after_the_attempts_as_a_transient_error(scripted):
    Scripted.script = [(502, {}, b"bad gateway")] * 3
    with pytest.raises(ReviewServerError, match="502 bad gateway .gave up after 3 attempts") as info:
        client_for(scripted, []).get_run("r1")
    assert info.value.transient


def test_client_errors_are_not_retried_and_name_the_field(scripted):
    body = json.dumps({"type": "validation_error", "detail": "must be 40 hex", "attr": "commit_sha"})
    Scripted.script = [(400, {"Content-Type": "application/json"}, body.encode())]
    with pytest.raises(ReviewServerError, match="400 must be 40 hex .field: commit_sha.") as info:
        client_for(scripted, []).get_run("r1")
    assert not info.value.transient and len(Scripted.seen) == 1


def test_the_token_never_appears_in_errors(scripted):
    Scripted.script = [(401, {}, b'{"detail": "Invalid token"}')]
    with pytest.raises(ReviewServerError) as info:
        client_for(scripted, []).get_run("r1")
    assert "check VISUAL_REVIEW_TOKEN" in str(info.value)
    assert "secret-token" not in str(info.value)


def test_github_pull_request_uses_head_branch_sha_and_number(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42, "head": {"sha": "b" * 40}}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "feature/x", "GITHUB_REF_NAME": "42/merge",
           "GITHUB_SHA": "c" * 40, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_EVENT_PATH": str(event)}
    info = detect(tmp_path, env)
    assert (info.branch, info.commit_sha, info.pr_number) == ("feature/x", "b" * 40, 42)


def test_github_push_and_flag_overrides(tmp_path):
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main", "GITHUB_SHA": "d" * 40,
           "GITHUB_REF": "refs/heads/main"}
    assert detect(tmp_path, env).pr_number is None
    assert detect(tmp_path, env).branch == "main"
    assert detect(tmp_path, env, branch="release", pr_number=7).branch == "release"


def test_git_checkout_and_its_absence(tmp_path):
    with pytest.raises(VcsError, match="not a git checkout.*--visual-review-commit"):
        detect(tmp_path, {})
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    info = detect(tmp_path, {})
    assert info.branch == "trunk" and len(info.commit_sha) == 40
