"""The one transport (retries, transient vs refused) against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_visualreview.client import posthog, sentry
from pytest_visualreview.client.posthog import PostHogClient
from pytest_visualreview.client.transport import RetryPolicy, ReviewServerError, Transport


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body)."""

    script: list[tuple[int, dict[str, str], bytes]] = []
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer("POST")

    def _answer(self, method):
        self.seen.append(f"{method} {self.path}")
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


def transport(sleeps):
    return Transport("secret-token", retry=RetryPolicy(attempts=3, backoff=0.01),
                     sleep=sleeps.append, hints=posthog.hints)


def client_for(server, sleeps):
    return PostHogClient(f"http://127.0.0.1:{server.server_address[1]}", 1, transport(sleeps))


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
    with pytest.raises(ReviewServerError, match="HTTP 502: bad gateway .gave up after 3 attempts") as info:
        client_for(scripted, []).get_run("r1")
    assert info.value.transient


def test_client_errors_are_not_retried_and_name_the_field(scripted):
    body = json.dumps({"type": "validation_error", "detail": "must be 40 hex", "attr": "commit_sha"})
    Scripted.script = [(400, {"Content-Type": "application/json"}, body.encode())]
    with pytest.raises(ReviewServerError, match="HTTP 400: must be 40 hex .field: commit_sha.") as info:
        client_for(scripted, []).get_run("r1")
    assert not info.value.transient and len(Scripted.seen) == 1


def test_the_token_never_appears_in_errors(scripted):
    Scripted.script = [(401, {}, b'{"detail": "Invalid token"}')]
    with pytest.raises(ReviewServerError) as info:
        client_for(scripted, []).get_run("r1")
    assert "check VISUAL_REVIEW_TOKEN" in str(info.value)
    assert "secret-token" not in str(info.value)


def test_connection_refused_is_retried_then_transient():
    with ThreadingHTTPServer(("127.0.0.1", 0), Scripted) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    sleeps: list[float] = []
    client = PostHogClient(f"http://127.0.0.1:{port}", 1, transport(sleeps))
    with pytest.raises(ReviewServerError, match="cannot reach the server .ConnectionError.") as info:
        client.get_run("r1")
    assert info.value.transient and info.value.status is None
    assert sleeps == [0.01, 0.02]


def test_a_url_that_is_not_http_is_refused_not_an_outage():
    with pytest.raises(ReviewServerError, match="InvalidSchema") as info:
        PostHogClient("ftp://127.0.0.1:1", 1, transport([])).get_run("r1")
    assert not info.value.transient


def test_sentry_uploads_retry_outages_like_posthog_runs(scripted):
    """The Sentry protocol goes through the same transport: 5xx is retried, then transient."""
    Scripted.script = [(503, {}, b'{"detail": "down for maintenance"}')] * 3
    sleeps: list[float] = []
    with pytest.raises(ReviewServerError, match="upload-options: HTTP 503: down for maintenance") as info:
        sentry.upload_snapshots(
            f"http://127.0.0.1:{scripted.server_address[1]}", org="o", project="p",
            auth_token="secret-token", app_id="web", images=[], transport=transport(sleeps),
        )
    assert info.value.transient and len(Scripted.seen) == 3 and sleeps == [0.01, 0.02]


def test_sentry_refusals_are_not_retried_and_name_the_step(scripted):
    Scripted.script = [(403, {}, b'{"detail": "You do not have permission"}')]
    with pytest.raises(ReviewServerError, match="upload-options: HTTP 403: You do not have permission; "
                       "the token needs the project:write scope") as info:
        sentry.upload_snapshots(
            f"http://127.0.0.1:{scripted.server_address[1]}", org="o", project="p",
            auth_token="secret-token", app_id="web", images=[],
            transport=Transport("secret-token", sleep=[].append, hints=sentry.hints),
        )
    assert not info.value.transient and info.value.status == 403 and len(Scripted.seen) == 1


def test_a_presigned_upload_answered_409_after_a_retry_counts_as_uploaded(scripted):
    """A policy is single-use once its image is stored: when the answer to the first POST is
    lost (here a 503), the retry's 409 means the image is there."""
    used = b'{"code": "upload_used", "detail": "this presigned upload was already used"}'
    Scripted.script = [(503, {}, b"busy"), (409, {}, used)]
    base = f"http://127.0.0.1:{scripted.server_address[1]}"
    target = {"content_hash": "ab" * 32, "url": base + "/uploads/", "fields": {"key": "k"}}
    client_for(scripted, []).upload(target, b"png")
    assert Scripted.seen == ["POST /uploads/", "POST /uploads/"]
    Scripted.script = [(403, {}, b'{"detail": "upload policy signature does not match"}')]
    with pytest.raises(ReviewServerError, match="HTTP 403"):
        client_for(scripted, []).upload(target, b"png")
