"""The auth matrix (401/403/404) and malformed requests (4xx JSON naming the field, never 500)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .live_server import LiveServer
from .server_helpers import Client, item, page

RUN = "00000000-0000-4000-8000-000000000000"
#: (method, path, body, scope it needs) for every endpoint.
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "runs/counts/", None, "read"),
    ("GET", "runs/", None, "read"),
    ("POST", "runs/", {}, "write"),
    ("GET", "runs/{run}/", None, "read"),
    ("POST", "runs/{run}/add-snapshots/", {"snapshots": []}, "write"),
    ("POST", "runs/{run}/complete/", None, "write"),
    ("GET", "runs/{run}/snapshots/", None, "read"),
    ("POST", "runs/{run}/approve/", {"approve_all": True}, "write"),
    ("POST", "runs/{run}/auto-approve/", None, "write"),
    ("POST", "runs/{run}/finalize/", {"commit_to_github": False}, "write"),
    ("POST", "runs/{run}/recompute/", None, "write"),
    ("POST", "runs/{run}/tolerate/", {"snapshot_id": "x"}, "write"),
    ("POST", "runs/{run}/reject/", {"snapshot_id": "x"}, "write"),
    ("GET", "runs/{run}/tolerated-hashes/?identifier=x", None, "read"),
    ("GET", "runs/{run}/snapshot-history/?identifier=x", None, "read"),
    ("GET", "repos/", None, "read"),
    ("GET", "repos/{repo}/", None, "read"),
    ("GET", "repos/{repo}/runs/counts/", None, "read"),
    ("GET", "repos/{repo}/snapshots/playwright/x/", None, "read"),
    ("GET", "repos/{repo}/quarantine/", None, "read"),
    ("POST", "repos/{repo}/quarantine/playwright/", {"identifier": "x"}, "write"),
]


@pytest.fixture(scope="module")
def world(server: LiveServer) -> dict[str, Any]:
    """Project 1 with a repo and a run; project 2 with its own token, repo and run."""
    project2 = server.store.create_project("other")
    tokens = {
        "read": server.token("visual_review:read"),
        "write": server.token("visual_review:write"),
        "none": server.token("other:read"),
        "p2": server.token("visual_review:write", project=project2),
    }
    repo1, repo2 = server.repo("acme/auth-1"), server.repo("acme/auth-2", project=project2)
    run1 = Client(server.api(), tokens["write"], repo1).create_run([item("x", page(1))])
    run2 = Client(server.api(project2), tokens["p2"], repo2).create_run([item("x", page(1))])
    return {"tokens": tokens, "repo1": repo1, "repo2": repo2, "run1": run1["run_id"],
            "run2": run2["run_id"], "project2": project2}


def call(server: LiveServer, method: str, path: str, body: Any, token: str | None,
         project: int = 1, headers: dict[str, str] | None = None) -> requests.Response:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, server.api(project) + path, json=body, headers=all_headers,
                            timeout=30)


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS)
def test_auth_matrix(server: LiveServer, world: dict[str, Any], method: str, path: str,
                     body: Any, scope: str) -> None:
    own = path.format(run=world["run1"], repo=world["repo1"])
    tokens = world["tokens"]

    for token, extra in ((None, {}), ("vrt_unknown", {}), (None, {"Authorization": "Basic x"})):
        response = call(server, method, own, body, token, headers=extra)
        assert response.status_code == 401, (token, response.text)
        assert response.json()["type"] == "authentication_error"

    response = call(server, method, own, body, tokens["none"])
    assert response.status_code == 403 and "visual_review:" in response.json()["detail"]
    if scope == "write":
        response = call(server, method, own, body, tokens["read"])
        assert response.status_code == 403, response.text
    else:
        assert call(server, method, own, body, tokens["read"]).status_code == 200

    # Another project's path, or another project's objects under our path: 404.
    other_project = call(server, method, own, body, tokens["write"], project=world["project2"])
    assert other_project.status_code == 404
    if "{run}" in path or "{repo}" in path:
        foreign = path.format(run=world["run2"], repo=world["repo2"])
        response = call(server, method, foreign, body, tokens["write"])
        assert response.status_code == 404, response.text
        # ...which the other project's own token can see.
        response = call(server, method, foreign, body, tokens["p2"], project=world["project2"])
        assert response.status_code != 404 or "snapshot" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "attr"),
    [
        ("runs/", {"run_type": "x"}, "repo_id"),
        ("runs/", {"repo_id": "r", "commit_sha": "c", "branch": "b", "snapshots": "nope"},
         "snapshots"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b",
                   "snapshots": [{"identifier": "x", "content_hash": "XYZ"}]},
         "snapshots[0].content_hash"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b",
                   "snapshots": [{"identifier": "", "content_hash": "a" * 64}]},
         "snapshots[0].identifier"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b",
                   "snapshots": [{"identifier": "a/b", "content_hash": "a" * 64}]},
         "snapshots[0].identifier"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b",
                   "snapshots": [{"identifier": "x", "content_hash": "a" * 64, "width": -1}]},
         "snapshots[0].width"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b", "snapshots": [],
                   "purpose": "ship-it"}, "purpose"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "", "snapshots": []},
         "branch"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b", "snapshots": [],
                   "run_type": "has space"}, "run_type"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b", "snapshots": [],
                   "pr_number": "seven"}, "pr_number"),
        ("runs/", {"repo_id": "{repo}", "commit_sha": "c", "branch": "b", "snapshots": [],
                   "baseline_hashes": {"x": 5}}, "baseline_hashes.x"),
        ("runs/{run}/add-snapshots/", {}, "snapshots"),
        ("runs/{run}/approve/", {}, "snapshots"),
        ("runs/{run}/approve/", {"approve_all": "maybe"}, "approve_all"),
        ("runs/{run}/tolerate/", {}, "snapshot_id"),
        ("runs/{run}/complete/", {"check_run_id": "abc"}, "check_run_id"),
        ("repos/", {"repo_full_name": ""}, "repo_full_name"),
        ("repos/{repo}/quarantine/playwright/", {"identifier": "x", "expires_at": "soon"},
         "expires_at"),
        ("repos/{repo}/quarantine/playwright/", {"reason": "flaky"}, "identifier"),
    ],
)
def test_malformed_requests_name_the_field(
    server: LiveServer, world: dict[str, Any], path: str, body: Any, attr: str
) -> None:
    payload = fill(body, world["repo1"])
    url = path.format(run=world["run1"], repo=world["repo1"])
    response = call(server, "POST", url, payload, world["tokens"]["write"])
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["attr"] == attr, response.text
    assert attr.split(".")[0].split("[")[0] in response.json()["detail"]


def fill(value: Any, repo_id: str) -> Any:
    """Replace the ``{repo}`` placeholder anywhere in a request body."""
    if isinstance(value, dict):
        return {k: fill(v, repo_id) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, repo_id) for v in value]
    return repo_id if value == "{repo}" else value


def test_bodies_that_are_not_json_or_not_objects(server: LiveServer, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {world['tokens']['write']}",
               "Content-Type": "application/json"}
    for data in (b"{not json", b"[1, 2]", b'"text"', b"", b"[" * 100_000 + b"]" * 100_000):
        response = requests.post(server.api() + "runs/", data=data, headers=headers, timeout=10)
        assert response.status_code == 400, (data, response.text)
        assert response.json()["detail"]


def test_unknown_ids_and_bad_query_parameters(server: LiveServer, world: dict[str, Any]) -> None:
    token = world["tokens"]["write"]
    assert call(server, "GET", f"runs/{RUN}/", None, token).status_code == 404
    assert call(server, "GET", "runs/not-a-uuid/", None, token).status_code == 404
    assert call(server, "GET", "repos/nope/runs/counts/", None, token).status_code == 404
    response = call(server, "GET", "runs/?review_state=bogus", None, token)
    assert response.status_code == 400 and response.json()["attr"] == "review_state"
    response = call(server, "GET", "runs/?pr_number=x", None, token)
    assert response.status_code == 400 and response.json()["attr"] == "pr_number"
    response = requests.get(f"{server.url}/api/projects/abc/visual_review/runs/",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 400 and response.json()["attr"] == "project_id"
    assert requests.get(f"{server.url}/nowhere", timeout=10).json()["code"] == "not_found"


def test_state_errors_are_4xx(server: LiveServer, world: dict[str, Any]) -> None:
    client = Client(server.api(), world["tokens"]["write"], server.repo("acme/states"))
    image = page(5)
    created = client.create_run([item("x", image)])
    run_id = created["run_id"]
    # Not completed yet: cannot approve, tolerate, finalize or recompute.
    for path, body in (("approve/", {"approve_all": True}), ("auto-approve/", None),
                       ("finalize/", {"commit_to_github": False}), ("recompute/", None)):
        response = client.post(f"runs/{run_id}/{path}", body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["attr"] == "status"
    client.upload(created["uploads"], {image.hash: image})
    client.complete(run_id)
    late = client.post(f"runs/{run_id}/add-snapshots/", {"snapshots": [item("y", page(6))]})
    assert late.status_code == 400 and late.json()["code"] == "run_not_pending"
    # complete is idempotent
    assert client.complete(run_id)["status"] == "completed"
    missing = client.post(f"runs/{run_id}/approve/", {"snapshots": [{"identifier": "nope"}]})
    assert missing.status_code == 400 and missing.json()["attr"] == "snapshots[0].identifier"
    unknown = client.post(f"runs/{run_id}/tolerate/", {"snapshot_id": RUN})
    assert unknown.status_code == 404 and unknown.json()["attr"] == "snapshot_id"
