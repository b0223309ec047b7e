"""/openapi.json describes the server: every path parameter declared and typed, every error status
declared with the one error model, validation answered 400 (never FastAPI's 422), and booleans
strict where the API says boolean (``0``, ``1`` and ``"true"`` are refused, naming the field).
The fuzzing of the same schema against a live server is in test_openapi_fuzz.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from .live_server import LiveServer
from .server_helpers import Client

ERROR = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def schema(server: LiveServer) -> dict[str, Any]:
    response = requests.get(server.url + "/openapi.json", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items()
            for method, op in ops.items()]


def test_every_path_parameter_is_declared_and_typed(schema: dict[str, Any]) -> None:
    missing = []
    for method, path, op in operations(schema):
        declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
        for name in re.findall(r"{(\w+)(?::path)?}", path):
            if name not in declared or "type" not in declared[name]["schema"]:
                missing.append(f"{method} {path}: {name}")
    assert not missing, missing
    projects = [op for _, path, op in operations(schema) if "{project_id}" in path]
    assert len(projects) == 25
    for op in projects:
        (param,) = [p for p in op["parameters"] if p["name"] == "project_id"]
        assert param["schema"]["type"] == "integer"


def test_errors_are_declared_with_the_one_error_model(schema: dict[str, Any]) -> None:
    assert set(schema["components"]["schemas"]["ErrorBody"]["required"]) == {
        "type", "code", "detail", "attr"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    problems = []
    for method, path, op in operations(schema):
        responses = op["responses"]
        wanted = {"400", "403", "404"}
        if path.startswith("/api/"):
            wanted.add("401")
        if "requestBody" in op:
            wanted |= {"413", "507"}
        if "422" in responses:
            problems.append(f"{method} {path}: declares 422")
        for status in sorted(wanted):
            ref = responses.get(status, {}).get("content", {}).get("application/json", {})
            if ref.get("schema", {}).get("$ref") != ERROR:
                problems.append(f"{method} {path}: {status} not declared with ErrorBody")
    assert not problems, problems


def test_review_actions_declare_409(schema: dict[str, Any]) -> None:
    for action in ("approve", "auto-approve", "finalize", "reject"):
        path = f"/api/projects/{{project_id}}/visual_review/runs/{{run_id}}/{action}/"
        assert "409" in schema["paths"][path]["post"]["responses"], action


def test_request_bodies_carry_the_handlers_checks(schema: dict[str, Any]) -> None:
    models = schema["components"]["schemas"]
    run = models["CreateRunIn"]["properties"]
    assert run["purpose"]["enum"] == ["review", "observe"]
    assert run["commit_sha"]["maxLength"] == 64 and run["branch"]["maxLength"] == 255
    assert run["run_type"]["pattern"]
    assert models["SnapshotIn"]["properties"]["content_hash"]["pattern"] == "^[0-9a-f]{64}$"
    assert models["RepoIn"]["properties"]["trust_unsigned_baselines"]["type"] == "boolean"
    sentry = schema["paths"]["/api/0/projects/{org}/{project}/preprodartifacts/snapshots/"]["post"]
    body = sentry["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["app_id", "images"]


def test_the_review_pages_are_not_in_the_schema(schema: dict[str, Any]) -> None:
    assert not [path for path in schema["paths"] if path.startswith("/ui")]


@pytest.mark.parametrize("value", [0, 1, "true", "false", None])
def test_booleans_are_strict(client: Client, value: Any) -> None:
    run = client.create_run([])
    checks = [
        ("repos/", {"repo_full_name": "acme/strict", "trust_unsigned_baselines": value},
         "trust_unsigned_baselines"),
        (f"repos/{client.repo_id}/quarantine/playwright/",
         {"identifier": "x", "notify_owners": value}, "notify_owners"),
        ("runs/", {"repo_id": client.repo_id, "commit_sha": "c", "branch": "b",
                   "is_partial": value}, "is_partial"),
        (f"runs/{run['run_id']}/approve/", {"approve_all": value}, "approve_all"),
        (f"runs/{run['run_id']}/finalize/", {"commit_to_github": value}, "commit_to_github"),
    ]
    for path, body, field in checks:
        response = client.post(path, body)
        assert response.status_code == 400, (path, body, response.text)
        assert response.json()["attr"] == field, (path, response.json())


def test_a_project_id_that_is_not_a_number_is_a_400_naming_it(server: LiveServer) -> None:
    token = server.token()
    response = requests.get(f"{server.url}/api/projects/abc/visual_review/runs/",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["attr"] == "project_id"
