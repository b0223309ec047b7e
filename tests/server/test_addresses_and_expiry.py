"""Addresses people open (`/`, PostHog's printed run link, the favicon) and pending-run expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .live_server import LiveServer
from .server_helpers import Client, item, page, signed_in


def test_the_root_redirects_to_the_review_pages(server: LiveServer) -> None:
    response = requests.get(server.url + "/", allow_redirects=False, timeout=30)
    assert response.status_code == 307 and response.headers["location"] == "/ui/"


def test_posthogs_run_link_redirects_to_the_runs_page(server: LiveServer, client: Client) -> None:
    run = client.submit({"a": page(601)}, branch="main")
    for suffix in ("", "/"):
        response = requests.get(f"{server.url}/project/1/visual_review/runs/{run['id']}{suffix}",
                                allow_redirects=False, timeout=30)
        assert response.status_code == 307
        assert response.headers["location"] == f"/ui/runs/{run['id']}"
    landed = signed_in(server).get(f"{server.url}/project/1/visual_review/runs/{run['id']}",
                                   timeout=30)
    assert landed.status_code == 200 and landed.url.endswith(f"/ui/runs/{run['id']}")
    assert 'data-group="new"' in landed.text


def test_the_pages_link_a_favicon_that_is_served(server: LiveServer) -> None:
    sign_in = requests.get(server.url + "/ui/sign-in", timeout=30)
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in sign_in.text
    icon = requests.get(server.url + "/favicon.ico", timeout=30)
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg ") and icon.content.endswith(b"</svg>")


EXPIRY_SECONDS = 1.0


@pytest.fixture
def expiring(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path / "data",
                            extra_args=("--pending-expiry-hours", str(EXPIRY_SECONDS / 3600)))
    yield live
    live.stop()


def wait_for_status(client: Client, run_id: str, status: str, attempts: int = 100) -> dict:
    for _ in range(attempts):
        run = client.get(f"runs/{run_id}/").json()
        if run["status"] == status:
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} is {run['status']}, never {status}")


def test_a_run_left_pending_expires_and_says_so(expiring: LiveServer) -> None:
    client = Client(expiring.api(), expiring.token(), expiring.repo("acme/expiry"))
    image = page(602)
    interrupted = client.create_run([item("a", image)], branch="main")["run_id"]
    finished = client.submit({"a": image}, branch="other")
    run = wait_for_status(client, interrupted, "expired")
    assert "expired" in run["error_message"] and "start a new run" in run["error_message"]
    assert client.get(f"runs/{finished['id']}/").json()["status"] == "completed"  # not pending
    late = client.post(f"runs/{interrupted}/add-snapshots/", {"snapshots": [item("b", page(603))]})
    assert late.status_code == 400 and late.json()["code"] == "run_not_pending"
    assert client.post(f"runs/{interrupted}/complete/").json()["status"] == "expired"
    listed = client.get("runs/", params={"branch": "main"}).json()["results"]
    assert [r["status"] for r in listed] == ["expired"]
    browser = signed_in(expiring)
    run_page = browser.get(f"{expiring.url}/ui/runs/{interrupted}", timeout=30).text
    assert 'data-status="expired"' in run_page and "This run expired" in run_page
    runs_page = browser.get(f"{expiring.url}/ui/repos/{client.repo_id}/runs",
                            params={"status": "expired"}, timeout=30).text
    assert interrupted[:8] in runs_page and "ui-badge-expired" in runs_page


def test_runs_do_not_expire_by_default_within_the_day(server: LiveServer, client: Client) -> None:
    created = client.create_run([item("a", page(604))], branch="main")["run_id"]
    time.sleep(1.5)  # longer than the expiring server's age: the default (24 h) keeps it
    assert client.get(f"runs/{created}/").json()["status"] == "pending"
