"""Malformed requests of every kind get a 4xx JSON answer that says what is wrong, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .conftest import Sentry

ORG = "/api/0/organizations/default/preprodartifacts/snapshots"
PROJ = "/api/0/projects/default/default/preprodartifacts/snapshots"
OS = "/api/0/organizations/default/objectstore/v1"

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", f"{ORG}/²/", {}),
    ("GET", f"{ORG}/99999999999999999999999/", {}),
    ("GET", f"{ORG}/1/images//", {}),
    ("GET", f"{ORG}/1/images/%00/", {}),
    ("GET", "/api/0/organizations/²/preprodartifacts/snapshots/1/", {}),
    ("GET", "/api/0/projects/default/²/preprodartifacts/snapshots/upload-options/", {}),
    ("GET", f"{ORG}/latest-base/", {"params": {"app_id": "x", "project": "²"}}),
    ("GET", "/api/0/projects/default/default/files/images/../../etc/passwd/", {}),
    ("POST", f"{PROJ}/", {"data": b"\xff\xfe"}),
    ("POST", f"{PROJ}/", {"data": b"[]"}),
    ("POST", f"{PROJ}/", {"data": b"null"}),
    (
        "POST",
        f"{PROJ}/",
        {"data": b'{"app_id": "a", "images": {"x": {"content_hash": "h", "width": 1e309}}}'},
    ),
    ("POST", f"{PROJ}/", {"data": b'{"app_id": "a", "images": {}, "diff_threshold": "NaN"}'}),
    ("POST", f"{PROJ}/", {"data": b'{"app_id": "a", "images": {}, "all_image_file_names": "a.png"}'}),
    ("POST", f"{PROJ}/", {"data": b"x", "headers": {"Content-Encoding": "br"}}),
    ("POST", f"{PROJ}/", {"data": b"[" * 100000}),
    ("POST", "/api/0/organizations/default/preprodartifacts/1/approve/", {"data": b"[1]"}),
    ("POST", "/api/0/organizations/default/preprodartifacts/x/approve/", {"json": {}}),
    ("POST", f"{OS}/objects:batch/preprod/org=1;project=²/", {"data": b""}),
    ("POST", f"{OS}/objects:batch/preprod/%ZZ/", {"data": b""}),
    (
        "POST",
        f"{OS}/objects:batch/preprod/org=1;project=1/",
        {"data": b"--b\r\n\r\n--b--", "headers": {"content-type": "multipart/form-data; boundary=b"}},
    ),
    ("PUT", f"{OS}/objects/preprod/org=1;project=1/²/1/{'a' * 64}", {"data": b"x"}),
    ("GET", f"{OS}/objects/preprod/org=1;project=1/1/1/{'a' * 64}/extra", {}),
]


@pytest.mark.parametrize(("method", "path", "kw"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES])
def test_malformed_request_is_a_4xx_with_json(
    sentry: Sentry, method: str, path: str, kw: dict[str, Any]
) -> None:
    headers = {**sentry.headers(), **kw.pop("headers", {})}
    if "/objectstore/" in path:
        headers["x-os-auth"] = f"Bearer {sentry.token}"
    response = requests.request(method, sentry.url + path, headers=headers, timeout=30, **kw)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert body["detail"], body


def test_bodies_are_read_after_auth_and_within_limits(sentry: Sentry) -> None:
    url = sentry.url + "/api/0/organizations/default/preprodartifacts/1/approve/"

    def chunks():  # chunked transfer: no Content-Length to check up front
        for _ in range(20):
            yield b" " * 10_000

    anonymous = requests.post(url, data=chunks(), timeout=30)
    assert anonymous.status_code == 401
    snapshot_id = sentry.post(
        "/api/0/projects/default/default/preprodartifacts/snapshots/", json={"app_id": "x", "images": {}}
    ).json()["artifactId"]
    url = url.replace("/1/approve/", f"/{snapshot_id}/approve/")
    too_big = requests.post(url, data=chunks(), headers=sentry.headers(), timeout=30)
    assert too_big.status_code == 413 and too_big.json()["attr"] == "body"
