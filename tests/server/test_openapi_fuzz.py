"""The schema at /openapi.json is the server's: schemathesis fuzzes every operation it lists against
a live server, with a write token, a read-only token and no token, and finds no 5xx, no status
code the schema does not declare, no response outside its declared schema or content type, and no
request the schema calls invalid that the server accepts (``negative_data_rejection``).

Bounded: ``EXAMPLES`` generated requests per operation, generation mode (valid / invalid data) and
token, derandomised so a failure reproduces; failures are collected, not shrunk, so the number of
requests stays fixed. Valid data gets the ids of a real repo and a real completed run, so requests
reach the handlers instead of stopping at 404.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pytest_visualreview.client.sentry import upload_snapshots

from .live_server import LiveServer
from .server_helpers import Client, page

pytestmark = [pytest.mark.slow]

#: Requests per operation, generation mode and token (3 tokens x 2 modes x 41 operations);
#: ``VR_FUZZ_EXAMPLES=100`` for a deeper run by hand.
EXAMPLES = int(os.environ.get("VR_FUZZ_EXAMPLES", "8"))
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A private server: write tokens create and change repos and runs at random."""
    server = LiveServer.start(tmp_path_factory.mktemp("vr-fuzz"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, Any]:
    """A real repo with a completed run, and a real Sentry snapshot, for valid-data requests."""
    client = Client(live.api(), live.token(), live.repo("acme/fuzz"))
    image = page(3)
    run = client.submit({"home": image})
    sentry = upload_snapshots(live.url, org="default", project="default",
                              auth_token=live.token("project:write"), app_id="fuzz",
                              images=[("home.png", image.png, image.width, image.height, {})])
    return {"repo_id": client.repo_id, "run_id": run["id"], "org": "default", "project": "default",
            "project_id": 1, "snapshot_id": sentry.artifact_id, "artifact_id": sentry.artifact_id,
            "image_id": hashlib.sha256(image.png).hexdigest()}


#: Values for free-text path parameters in invalid-data mode: a plain string cannot be made
#: invalid in a URL, and hypothesis would spend its budget trying; the rest of the request is.
PATH_VALUES = {"usecase": "preprod", "scope": "org=1;project=1", "key": "1/1/" + "0" * 64,
               "image_identifier": "home.png", "identifier": "home", "run_type": "playwright"}


@pytest.mark.parametrize("who", ["write", "read", "anonymous"])
def test_schema_holds_under_fuzzing(live: LiveServer, world: dict[str, Any], who: str) -> None:
    tokens = {"write": live.token("visual_review:write", "project:write"),
              "read": live.token("visual_review:read", "project:read"), "anonymous": None}
    token = tokens[who]
    fuzzer = Fuzzer(requests.Session(), {"Authorization": f"Bearer {token}"} if token else {})
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        names = {p.name for p in operation.path_parameters}
        if operation.method.upper() == "DELETE":
            names.discard("snapshot_id")  # keep the Sentry snapshot for the other operations
        fuzzer.run(operation, GenerationMode.POSITIVE,
                   {name: world[name] for name in names if name in world})
        values = {**world, **PATH_VALUES}
        fuzzer.run(operation, GenerationMode.NEGATIVE,
                   {name: values[name] for name in names if name in values and name != "project_id"})

    print(f"{who}: {operations} operations, {sum(fuzzer.statuses.values())} requests, "
          f"statuses {dict(sorted(fuzzer.statuses.items()))}")
    assert operations >= 40
    assert not fuzzer.failures, (f"{len(fuzzer.failures)} failures:\n"
                                 + "\n".join(fuzzer.failures[:20]))
    assert requests.get(live.url + "/healthz", timeout=10).status_code == 200


class Fuzzer:
    """Sends ``EXAMPLES`` generated requests per operation and mode, and keeps what failed."""

    def __init__(self, session: requests.Session, headers: dict[str, str]) -> None:
        self.session = session
        self.headers = headers
        self.failures: list[str] = []
        self.statuses: Counter[int] = Counter()

    def run(self, operation: Any, mode: GenerationMode, path: dict[str, Any]) -> None:
        label = f"{operation.label} [{mode.value}]"

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
        def fuzz(case: schemathesis.Case) -> None:
            try:
                response = case.call(session=self.session, headers=self.headers, timeout=30)
                self.statuses[response.status_code] += 1
                case.validate_response(response, checks=CHECKS, headers=self.headers)
            except FailureGroup as group:
                self.failures.append(f"{label}: {group}")
            except requests.RequestException as exc:
                self.failures.append(f"{label}: {exc!r}")

        try:
            fuzz()
        except Unsatisfiable:  # nothing in this operation can be made invalid
            assert mode is GenerationMode.NEGATIVE, label
