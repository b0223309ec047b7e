"""A 500 is a bug: every field of every request body, set to each awkward value, gets a 4xx or a
2xx, never a 5xx, and the server keeps answering."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .live_server import LiveServer
from .server_helpers import Client, item, page

AWKWARD: list[Any] = [
    None, -1, 2**70, 1.5, "", "x" * 5000, "nul\x00byte", "ünïcødé/../", [], {}, [{"a": 1}],
    {"nested": {"deep": [1, 2, {"x": None}]}}, True,
]

pytestmark = pytest.mark.backends()

@pytest.fixture(scope="module")
def target(server: LiveServer) -> dict[str, Any]:
    client = Client(server.api(), server.token(), server.repo("acme/fuzz"))
    image = page(7)
    created = client.create_run([item("x", image)])
    client.upload(created["uploads"], {image.hash: image})
    client.complete(created["run_id"])
    client.wait(created["run_id"])
    snapshot = client.snapshots(created["run_id"])["x"]
    return {"client": client, "run": created["run_id"], "snapshot": snapshot["id"],
            "hash": image.hash}


def bodies(t: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    repo = t["client"].repo_id
    snap = {"identifier": "y", "content_hash": "b" * 64, "width": 10, "height": 10,
            "metadata": {}}
    return [
        ("runs/", {"repo_id": repo, "run_type": "t", "commit_sha": "c", "branch": "b",
                   "snapshots": [snap], "pr_number": 1, "baseline_hashes": {"y": "a" * 64},
                   "unchanged_count": 0, "removed_identifiers": [], "purpose": "review",
                   "metadata": {}, "is_partial": False}),
        ("runs/{run}/add-snapshots/", {"snapshots": [snap], "baseline_hashes": {}}),
        ("runs/{run}/approve/", {"snapshots": [{"identifier": "x", "new_hash": t["hash"]}],
                                 "approve_all": False, "commit_to_github": False}),
        ("runs/{run}/finalize/", {"approve_all": False, "commit_to_github": False}),
        ("runs/{run}/tolerate/", {"snapshot_id": t["snapshot"]}),
        ("runs/{run}/reject/", {"snapshot_id": t["snapshot"], "comment": ""}),
        ("runs/{run}/complete/", {"check_run_id": "1"}),
        ("repos/", {"repo_full_name": "a/b", "repo_external_id": 1,
                    "trust_unsigned_baselines": False}),
        ("repos/{repo}/quarantine/playwright/", {"identifier": "x", "reason": "r",
                                                 "expires_at": None, "source_run_id": None}),
        ("repos/{repo}/quarantine/playwright/expire/", {"identifier": "x"}),
    ]


def test_awkward_values_in_every_field_never_cause_a_500(target: dict[str, Any]) -> None:
    client: Client = target["client"]
    failures: list[str] = []
    for path, body in bodies(target):
        url = path.format(run=target["run"], repo=client.repo_id)
        cases: list[Any] = [{**body, field: value} for field in body for value in AWKWARD]
        cases += [{field: value} for field in body for value in AWKWARD[:3]]
        cases += [[], "text", 5, None]
        for case in cases:
            response = client.post(url, case)
            if response.status_code >= 500:
                failures.append(f"{url} {str(case)[:200]} -> {response.status_code} "
                                f"{response.text[:200]}")
            elif response.status_code >= 400:
                body_json = response.json()
                assert body_json["detail"], (url, case)
    assert failures == []


def test_awkward_query_and_path_values_never_cause_a_500(target: dict[str, Any]) -> None:
    client: Client = target["client"]
    paths = [
        "runs/{v}/", "runs/{v}/snapshots/", "repos/{v}/", "repos/{v}/runs/counts/",
        "repos/{repo}/snapshots/{v}/{v}/", "runs/?review_state={v}", "runs/?pr_number={v}",
        "runs/{run}/snapshots/?limit={v}", "runs/{run}/snapshots/?offset={v}",
        "runs/{run}/snapshots/?include_quarantined={v}", "repos/{repo}/quarantine/?identifier={v}",
    ]
    values = ["0", "-1", "99999999999999999999999", "%00", "%2F..%2F", "x" * 3000, "null"]
    for path in paths:
        for value in values:
            url = path.format(v=value, run=target["run"], repo=client.repo_id)
            response = client.get(url)
            assert response.status_code < 500, (url, response.status_code, response.text[:300])
    assert requests.get(client.api.split("/api/")[0] + "/healthz", timeout=10).ok
