"""Every endpoint of the seed (PostHog's published visual_review API docs) answers with every key
of the seed's example response, with the documented status, over real HTTP.

The seed text is copied verbatim to tests/server/data/posthog_visual_review_seed.txt (from
shared/reference/seeds/003) and parsed here, so the test follows the contract, not our memory of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_visualreview import snapshots_yml

from .server_helpers import Client, changed, item, page

SEED = Path(__file__).parent / "data" / "posthog_visual_review_seed.txt"
FREE_FORM = {"property1", "property2"}
pytestmark = pytest.mark.backends()  # the docs' placeholder keys of string maps


def seed_examples() -> dict[tuple[str, str], tuple[int, Any]]:
    """(METHOD, path template) -> (status, example response body)."""
    text = SEED.read_text()
    examples: dict[tuple[str, str], tuple[int, Any]] = {}
    pattern = re.compile(
        r"Example request\s+(GET|POST|PATCH|DELETE) (\S+).*?Status (\d+)\s+RESPONSE\s+", re.S
    )
    decoder = json.JSONDecoder()
    for match in pattern.finditer(text):
        body, _ = decoder.raw_decode(text[match.end():])
        path = match.group(2).split("/visual_review/", 1)[1].rstrip("/")
        examples[(match.group(1), path)] = (int(match.group(3)), body)
    return examples


EXAMPLES = seed_examples()


def assert_shape(ours: Any, seed: Any, where: str) -> None:
    """Every seed key is present in ours, recursively; scalar types agree where ours is set."""
    if isinstance(seed, dict):
        assert isinstance(ours, dict), f"{where}: expected an object, got {ours!r}"
        for key, value in seed.items():
            if key in FREE_FORM:
                continue
            assert key in ours, f"{where}: missing key {key!r} (have {sorted(ours)})"
            if ours[key] is not None:
                assert_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(seed, list):
        assert isinstance(ours, list), f"{where}: expected a list, got {ours!r}"
        if seed and ours:
            for index, element in enumerate(ours):
                assert_shape(element, seed[0], f"{where}[{index}]")
    elif isinstance(seed, bool):
        assert isinstance(ours, bool), f"{where}: expected bool, got {ours!r}"
    elif isinstance(seed, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), (
            f"{where}: expected a number, got {ours!r}"
        )
    elif isinstance(seed, str):
        assert isinstance(ours, str), f"{where}: expected a string, got {ours!r}"


def test_the_seed_parses_into_all_ten_endpoints() -> None:
    assert set(EXAMPLES) == {
        ("GET", "repos/:repo_id/runs/counts"),
        ("GET", "repos/:repo_id/snapshots/:run_type/:identifier"),
        ("POST", "runs"),
        ("GET", "runs/:id"),
        ("POST", "runs/:id/add-snapshots"),
        ("POST", "runs/:id/approve"),
        ("POST", "runs/:id/auto-approve"),
        ("POST", "runs/:id/complete"),
        ("POST", "runs/:id/recompute"),
        ("GET", "runs/:id/snapshots"),
    }


def check(response: Any, method: str, template: str) -> dict[str, Any]:
    status, example = EXAMPLES[(method, template)]
    assert response.status_code == status, response.text
    body = response.json()
    assert_shape(body, example, f"{method} {template}")
    return dict(body)


@pytest.fixture
def reviewed(client: Client) -> dict[str, Any]:
    """A main-branch baseline and a PR run with new, changed and removed snapshots, completed."""
    a, b, c = page(70), page(71), page(72)
    base = client.submit({"a": a, "b": b, "c": c}, branch="main")
    content = client.post(f"runs/{base['id']}/auto-approve/").json()["baseline_content"]
    baseline = snapshots_yml.loads(content).snapshots
    created = client.post("runs/", {
        "repo_id": client.repo_id, "run_type": "playwright", "commit_sha": "abc",
        "branch": "main", "snapshots": [item("a", changed(a))], "pr_number": 3,
        "baseline_hashes": baseline, "unchanged_count": 0, "removed_identifiers": [],
        "purpose": "review", "metadata": {"pr_title": "x"},
    })
    body = check(created, "POST", "runs")
    assert body["uploads"], "the changed image must be requested"
    images = {changed(a).hash: changed(a), page(73).hash: page(73)}
    client.upload(body["uploads"], images)
    added = client.post(f"runs/{body['run_id']}/add-snapshots/",
                        {"snapshots": [item("d", page(73))], "baseline_hashes": baseline})
    added_body = check(added, "POST", "runs/:id/add-snapshots")
    assert added_body["added"] == 1
    client.upload(added_body["uploads"], images)
    return {"run_id": body["run_id"], "baseline": baseline}


def test_every_endpoint_matches_the_seed(client: Client, reviewed: dict[str, Any]) -> None:
    run_id = reviewed["run_id"]
    completed = client.post(f"runs/{run_id}/complete/")
    check(completed, "POST", "runs/:id/complete")
    client.wait(run_id)

    run = check(client.get(f"runs/{run_id}/"), "GET", "runs/:id")
    assert run["summary"]["changed"] == 1 and run["summary"]["new"] == 1
    assert run["summary"]["removed"] == 2

    snapshots = check(client.get(f"runs/{run_id}/snapshots/"), "GET", "runs/:id/snapshots")
    results = {s["identifier"]: s for s in snapshots["results"]}
    # The nested artifact shapes are checked only when present: make sure they are.
    assert results["a"]["diff_artifact"] and results["a"]["baseline_artifact"]

    counts = check(client.get(f"repos/{client.repo_id}/runs/counts/"), "GET",
                   "repos/:repo_id/runs/counts")
    assert counts["needs_review"] == 1

    recomputed = check(client.post(f"runs/{run_id}/recompute/"), "POST", "runs/:id/recompute")
    assert recomputed["unresolved"] == 4 and recomputed["ci_rerun_triggered"] is False

    approved = check(
        client.post(f"runs/{run_id}/approve/",
                    {"snapshots": [{"identifier": "a"}], "commit_to_github": False}),
        "POST", "runs/:id/approve",
    )
    assert approved["run"]["approved"] is False
    auto = check(client.post(f"runs/{run_id}/auto-approve/"), "POST", "runs/:id/auto-approve")
    assert auto["run"]["approved_by"]["id"] > 0  # nested shape checked on a real value
    assert set(snapshots_yml.loads(auto["baseline_content"]).snapshots) == {"a", "d"}

    timeline = check(
        client.get(f"repos/{client.repo_id}/snapshots/playwright/a/"), "GET",
        "repos/:repo_id/snapshots/:run_type/:identifier",
    )
    assert timeline["count"] == 2  # no baseline, then the approved baseline of run 1
    assert [e["result"] for e in timeline["results"]] == ["changed", "new"]
    assert timeline["results"][0]["run_id"] == run_id
