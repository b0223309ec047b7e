"""The Sentry snapshots API over live HTTP: shapes, arrival order, renames, thresholds, selection."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from typing import Any

import numpy as np
import pytest
import requests
import zstandard
from PIL import Image

from pytest_visualreview.client.sentry import upload_snapshots
from pytest_visualreview.client.transport import ReviewServerError

from .conftest import Sentry, png, sha
from .seed_shapes import IMAGE_DETAIL, SNAPSHOT_DETAILS
from .test_views import shape

RED = (200, 30, 30, 255)
BLUE = (30, 30, 200, 255)
GREEN = (30, 200, 30, 255)
REPO = "acme/web"

#: The whole Sentry contract runs on both configurations (the objectstore and the comparisons'
#: diff images are in the bucket on the shared one).
pytestmark = pytest.mark.backends()


def vcs(head: int, base: int | None = None, pr: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "head_sha": sha(head),
        "provider": "github",
        "head_repo_name": REPO,
        "head_ref": "feature" if base else "main",
    }
    if base is not None:
        out.update(base_sha=sha(base), base_repo_name=REPO, base_ref="main")
    if pr is not None:
        out["pr_number"] = pr
    return out


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i.get("image_file_name") or i["head_image"]["image_file_name"] for i in items]


# -- upload-options and auth ------------------------------------------------------------------


def test_upload_options_shape_and_auth(sentry: Sentry) -> None:
    path = "/api/0/projects/default/default/preprodartifacts/snapshots/upload-options/"
    ok = sentry.get(path + "?usecase=auto")
    assert ok.status_code == 200
    store = ok.json()["objectstore"]
    assert store["url"] == f"{sentry.url}/api/0/organizations/default/objectstore"
    assert store["scopes"] == [["org", "1"], ["project", "1"]]
    assert store["expirationPolicy"] == "ttl:396 days"
    assert store["authToken"].startswith("vros1.1.w.")
    assert ok.json()["usecase"] == "preprod"
    # ids work where slugs do
    assert sentry.get("/api/0/projects/1/1/preprodartifacts/snapshots/upload-options/").ok

    no_token = requests.get(sentry.url + path, timeout=10)
    assert no_token.status_code == 401 and "detail" in no_token.json()
    wrong_scope = sentry.server.token("visual_review:read")
    denied = sentry.get(path, token=wrong_scope)
    assert denied.status_code == 403 and "project:read" in denied.json()["detail"]
    read_only = sentry.server.token("project:read")
    assert sentry.get(path, token=read_only).json()["objectstore"]["authToken"].startswith("vros1.1.r.")
    missing = sentry.get("/api/0/projects/default/nope/preprodartifacts/snapshots/upload-options/")
    assert missing.status_code == 404 and missing.json()["attr"] == "project_id_or_slug"
    other_org = sentry.get("/api/0/projects/9/1/preprodartifacts/snapshots/upload-options/")
    assert other_org.status_code == 404


# -- objectstore --------------------------------------------------------------------------------


def _os_token(sentry: Sentry, token: str | None = None) -> str:
    path = "/api/0/projects/default/default/preprodartifacts/snapshots/upload-options/"
    return str(sentry.get(path, token=token).json()["objectstore"]["authToken"])


def _batch(parts: list[tuple[str, str, bytes, dict[str, str]]]) -> tuple[str, bytes]:
    boundary = "test-boundary-0123456789"
    body = b""
    for kind, key, payload, extra in parts:
        headers = {
            "Content-Disposition": 'form-data; name="part"',
            "x-sn-batch-operation-kind": kind,
            "x-sn-batch-operation-key": key.replace("/", "%2F"),
            **extra,
        }
        body += f"--{boundary}\r\n".encode()
        body += "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n"
        body += payload + b"\r\n"
    return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()


def _answers(response: requests.Response) -> dict[int, str]:
    assert response.status_code == 200, response.text
    boundary = response.headers["content-type"].split('boundary="')[1].rstrip('"')
    out = {}
    for part in response.content.split(f"--{boundary}".encode())[1:-1]:
        head = part.decode("latin-1").strip("\r\n").split("\r\n\r\n")[0]
        fields = dict(line.split(": ", 1) for line in head.split("\r\n"))
        out[int(fields["x-sn-batch-operation-index"])] = fields["x-sn-batch-operation-status"]
    return out


def test_objectstore_batch_head_insert_put_get(sentry: Sentry) -> None:
    os_url = f"{sentry.url}/api/0/organizations/default/objectstore/v1"
    batch_url = f"{os_url}/objects:batch/preprod/org=1;project=1/"
    auth = {"x-os-auth": f"Bearer {_os_token(sentry)}"}
    data = png(9, 9, GREEN)
    digest = hashlib.sha256(data).hexdigest()
    key = f"1/1/{digest}"
    zstd = {"content-encoding": "zstd", "content-type": "application/octet-stream"}

    ctype, body = _batch([("head", key, b"", {})])
    assert _answers(requests.post(batch_url, data=body, headers={**auth, "content-type": ctype}))[0] == (
        "404 Not Found"
    )

    wrong_key = f"1/1/{'0' * 64}"
    ctype, body = _batch(
        [
            ("insert", key, zstandard.ZstdCompressor().compress(data), zstd),
            ("insert", wrong_key, data, {}),
            ("insert", f"1/1/{hashlib.sha256(b'text').hexdigest()}", b"text", {}),
            ("insert", "1/2/abc", data, {}),
            ("head", key, b"", {}),
        ]
    )
    answers = _answers(requests.post(batch_url, data=body, headers={**auth, "content-type": ctype}))
    assert answers == {
        0: "201 Created",
        1: "400 Bad Request",  # the bytes do not hash to the key
        2: "415 Unsupported Media Type",  # not an image
        3: "400 Bad Request",  # not <org>/<project>/<sha256>
        4: "200 OK",  # operations run in order
    }

    big = png(64, 64, BLUE, dot=True)
    big_key = f"1/1/{hashlib.sha256(big).hexdigest()}"
    put = requests.put(
        f"{os_url}/objects/preprod/org=1;project=1/{big_key}",
        data=zstandard.ZstdCompressor().compress(big),
        headers={**auth, **zstd},
        timeout=10,
    )
    assert put.status_code == 200 and put.json() == {"key": big_key}
    got = requests.get(f"{os_url}/objects/preprod/org=1;project=1/{big_key}", headers=auth)
    assert got.status_code == 200 and got.content == big

    read_only = {"x-os-auth": f"Bearer {_os_token(sentry, sentry.server.token('project:read'))}"}
    ctype, body = _batch([("insert", big_key, big, {})])
    answers = _answers(requests.post(batch_url, data=body, headers={**read_only, "content-type": ctype}))
    assert answers[0] == "403 Forbidden"


@pytest.mark.parametrize(
    ("url_tail", "headers", "body", "status", "attr"),
    [
        ("objects:batch/preprod/org=1;project=1/", {"content-type": "text/plain"}, b"x", 400, "body"),
        ("objects:batch/preprod/org=1/", {}, b"", 400, "scope"),
        ("objects:batch/preprod/org=2;project=1/", {}, b"", 404, "scope"),
        ("objects/preprod/org=1;project=1/1/1/xyz", {}, b"x", 400, "key"),
        (
            f"objects/preprod/org=1;project=1/1/1/{'a' * 64}",
            {"content-encoding": "zstd"},
            b"not zstd",
            400,
            "body",
        ),
    ],
)
def test_objectstore_malformed_requests_are_4xx_naming_the_field(
    sentry: Sentry, url_tail: str, headers: dict[str, str], body: bytes, status: int, attr: str
) -> None:
    url = f"{sentry.url}/api/0/organizations/default/objectstore/v1/{url_tail}"
    auth = {"x-os-auth": f"Bearer {_os_token(sentry)}"}
    method = requests.put if url_tail.startswith("objects/") else requests.post
    response = method(url, data=body, headers={**auth, **headers}, timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["attr"] == attr


def test_objectstore_rejects_bad_and_foreign_tokens(sentry: Sentry) -> None:
    url = f"{sentry.url}/api/0/organizations/default/objectstore/v1/objects/preprod/"
    url += f"org=1;project=1/1/1/{'a' * 64}"
    assert requests.get(url, timeout=10).status_code == 401
    forged = _os_token(sentry)[:-3] + "AAA"
    assert requests.get(url, headers={"x-os-auth": f"Bearer {forged}"}).status_code == 401
    # non-ASCII in the token is a mismatch (secrets are compared as bytes), not a 500
    non_ascii = _os_token(sentry)[:-3] + "ïïï"
    assert requests.get(url, headers={"x-os-auth": f"Bearer {non_ascii}"}).status_code == 401
    # an API token works too, and a missing object is a 404 naming the key
    response = requests.get(url, headers={"x-os-auth": f"Bearer {sentry.token}"}, timeout=10)
    assert response.status_code == 404 and response.json()["attr"] == "key"


# -- POST validation -----------------------------------------------------------------------------


SNAP = "/api/0/projects/default/default/preprodartifacts/snapshots/"


@pytest.mark.parametrize(
    ("body", "detail", "attr"),
    [
        (b"{nope", "Invalid json body", None),
        (
            b'{"images": {}}',
            "The app_id field is required and must be a string with maximum length of 255 characters.",
            "app_id",
        ),
        (
            b'{"app_id": "a", "images": {"x.png": {"width": 1}}}',
            "The images field is required and must be an object mapping image names to image metadata.",
            "images.x.png.content_hash",
        ),
        (
            b'{"app_id": "a", "images": {}, "base_sha": "ABC"}',
            "The base_sha field must be a 40-character hexadecimal SHA1 string (no uppercase letters).",
            "base_sha",
        ),
        (
            b'{"app_id": "a", "images": {}, "selective": true}',
            "selective requires base_sha to be provided.",
            "selective",
        ),
        (
            b'{"app_id": "a", "images": {}, "pr_number": 0}',
            "The pr_number field must be a positive integer.",
            "pr_number",
        ),
    ],
)
def test_post_validation_messages(sentry: Sentry, body: bytes, detail: str, attr: str | None) -> None:
    response = sentry.post(SNAP, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert response.json()["attr"] == attr


def test_post_accepts_zstd_and_refuses_unknown_objects(sentry: Sentry, app_id: str) -> None:
    body = b'{"app_id": "%s", "images": {"a.png": {"content_hash": "%s", "width": 1, "height": 1}}}' % (
        app_id.encode(),
        b"f" * 64,
    )
    response = sentry.post(
        SNAP,
        data=zstandard.ZstdCompressor().compress(body),
        headers={"Content-Type": "application/json", "Content-Encoding": "zstd"},
    )
    assert response.status_code == 409
    assert response.json()["attr"] == "images.a.png.content_hash"
    broken = sentry.post(SNAP, data=b"\x28\xb5\x2f\xfdjunk", headers={"Content-Encoding": "zstd"})
    assert broken.status_code == 400 and broken.json()["attr"] == "body"
    empty = sentry.post(SNAP, json={"app_id": app_id, "images": {}})
    assert empty.status_code == 200
    assert set(empty.json()) == {"artifactId", "snapshotMetricsId", "imageCount", "snapshotUrl"}
    assert empty.json()["imageCount"] == 0


def test_post_needs_a_write_scope(sentry: Sentry, app_id: str) -> None:
    reader = sentry.server.token("project:read")
    response = sentry.post(SNAP, token=reader, json={"app_id": app_id, "images": {}})
    assert response.status_code == 403
    assert "project:write" in response.json()["detail"]


def assert_seed_shape(details: dict[str, Any]) -> None:
    """Seed 001 key for key: top level, vcs_info, image objects and diff pairs (image objects
    may add the optional keys the upload set, after the seed's six)."""
    assert list(details) == list(SNAPSHOT_DETAILS)
    assert list(details["vcs_info"]) == list(SNAPSHOT_DETAILS["vcs_info"])
    image_keys = list(SNAPSHOT_DETAILS["images"][0])
    pair_keys = list(SNAPSHOT_DETAILS["changed"][0])
    for status in ("images", "added", "removed", "unchanged", "skipped"):
        for image in details[status]:
            assert list(image)[: len(image_keys)] == image_keys, (status, image)
    for status in ("changed", "renamed", "errored"):
        for pair in details[status]:
            assert list(pair)[: len(pair_keys)] == pair_keys, (status, pair)
            for side in ("base_image", "head_image"):
                assert list(pair[side])[: len(image_keys)] == image_keys
    for status in ("added", "removed", "renamed", "changed", "unchanged", "errored", "skipped"):
        assert details[f"{status}_count"] == len(details[status])


# -- comparisons ---------------------------------------------------------------------------------


def test_base_first_then_head_matches_the_seeds(sentry: Sentry, app_id: str) -> None:
    meta = {"display_name": "Home", "group": "Phone", "diff_threshold": 0.0}
    base_id = sentry.upload(
        app_id,
        {"home.png": png(10, 10, RED), "same.png": png(4, 4, BLUE), "gone.png": png(3, 3, GREEN)},
        metadata={"home.png": meta},
        vcs=vcs(1),
    )
    base = sentry.details(base_id)
    assert base["comparison_type"] == "solo" and base["comparison_state"] is None
    assert base["changed"] == [] and base["image_count"] == 3

    head_id = sentry.upload(
        app_id,
        {"home.png": png(10, 10, RED, dot=True), "same.png": png(4, 4, BLUE), "new.png": png(5, 5, GREEN)},
        metadata={"home.png": meta},
        vcs=vcs(2, base=1, pr=7),
        diff_threshold=0.005,
    )
    head = sentry.settled(head_id)
    assert list(head) == list(SNAPSHOT_DETAILS)
    assert_seed_shape(head)
    assert head["comparison_state"] == "success" and head["comparison_type"] == "diff"
    assert head["base_artifact_id"] == base_id and head["head_artifact_id"] == head_id
    assert head["vcs_info"]["pr_number"] == 7 and head["diff_threshold"] == 0.005
    assert names(head["changed"]) == ["home.png"] and head["changed"][0]["diff"] == 0.01
    assert names(head["added"]) == ["new.png"] and names(head["removed"]) == ["gone.png"]
    assert names(head["unchanged"]) == ["same.png"]
    assert head["approval_status"] == "requires_approval"

    detail = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{head_id}/images/home.png/"
    ).json()
    assert list(detail) == list(IMAGE_DETAIL)
    assert shape(detail) == shape(IMAGE_DETAIL)
    assert detail["comparison_status"] == "changed" and detail["diff_percentage"] == 0.01
    assert detail["head_image"]["display_name"] == "Home"
    # by content hash, too
    by_hash = sentry.get(
        f"/api/0/organizations/1/preprodartifacts/snapshots/{head_id}/images/"
        f"{detail['head_image']['content_hash']}/"
    ).json()
    assert by_hash["image_file_name"] == "home.png"
    # the diff mask is a real L-mode PNG with exactly one changed pixel
    mask = sentry.get(detail["diff_image_url"])
    assert mask.status_code == 200 and mask.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(mask.content)) as im:
        assert im.mode == "L" and im.size == (10, 10)
        assert int((np.asarray(im) == 255).sum()) == 1
    head_bytes = sentry.get(detail["head_image"]["image_url"])
    assert head_bytes.content == png(10, 10, RED, dot=True)
    removed = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{head_id}/images/gone.png/"
    ).json()
    assert removed["comparison_status"] == "removed" and removed["head_image"] is None
    missing = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{head_id}/images/nope.png/"
    )
    assert missing.status_code == 404 and missing.json()["detail"] == "Image not found in snapshot"

    compact = sentry.details(head_id, compact_metadata="1")
    assert list(compact["changed"][0]["head_image"]) == [
        "display_name",
        "image_file_name",
        "group",
        "description",
    ]


def test_head_first_waits_then_base_triggers_the_comparison(sentry: Sentry, app_id: str) -> None:
    head_id = sentry.upload(app_id, {"a.png": png(6, 6, RED, dot=True)}, vcs=vcs(11, base=10))
    waiting = sentry.details(head_id)
    assert waiting["comparison_type"] == "waiting_for_base"
    assert waiting["comparison_state"] == "waiting_for_base"
    assert waiting["base_artifact_id"] is None and waiting["changed_count"] == 0

    base_id = sentry.upload(app_id, {"a.png": png(6, 6, RED)}, vcs=vcs(10))
    done = sentry.settled(head_id)
    assert done["base_artifact_id"] == base_id
    assert names(done["changed"]) == ["a.png"]


def test_renames_pair_by_hash_and_by_name_similarity(sentry: Sentry, app_id: str) -> None:
    shared = png(7, 7, BLUE)
    sentry.upload(
        app_id,
        {"dark/btn.png": shared, "light/btn.png": shared, "old.png": png(8, 8, GREEN)},
        vcs=vcs(21),
    )
    head_id = sentry.upload(
        app_id,
        {"dark/button.png": shared, "light/button.png": shared, "new.png": png(8, 8, GREEN)},
        vcs=vcs(22, base=21),
    )
    done = sentry.settled(head_id)
    pairs = {p["head_image"]["image_file_name"]: p["base_image"]["image_file_name"] for p in done["renamed"]}
    assert pairs == {
        "dark/button.png": "dark/btn.png",
        "light/button.png": "light/btn.png",
        "new.png": "old.png",
    }
    assert done["added"] == [] and done["removed"] == [] and done["renamed"][0]["diff"] is None
    detail = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{head_id}/images/new.png/"
    ).json()
    assert detail["comparison_status"] == "renamed"
    assert detail["previous_image_file_name"] == "old.png"


def test_thresholds_per_image_then_global_strictly_greater(sentry: Sentry, app_id: str) -> None:
    # 10x10 with one changed pixel = 0.01 changed
    images = {n: png(10, 10, RED) for n in ("equal.png", "over.png", "global.png", "size.png")}
    sentry.upload(app_id, images, vcs=vcs(31))
    changed = {n: png(10, 10, RED, dot=True) for n in ("equal.png", "over.png", "global.png")}
    changed["size.png"] = png(10, 11, RED)  # one more row: padded, 10 of 110 pixels differ
    head_id = sentry.upload(
        app_id,
        changed,
        metadata={"equal.png": {"diff_threshold": 0.01}, "over.png": {"diff_threshold": 0.009}},
        vcs=vcs(32, base=31),
        diff_threshold=0.5,
    )
    done = sentry.settled(head_id)
    assert names(done["changed"]) == ["over.png"]  # 0.01 > 0.009
    assert sorted(names(done["unchanged"])) == ["equal.png", "global.png", "size.png"]


def test_selective_uploads_skip_and_detect_removals(sentry: Sentry, app_id: str) -> None:
    sentry.upload(app_id, {n: png(4, 4, GREEN) for n in ("a.png", "b.png", "c.png")}, vcs=vcs(41))
    partial = sentry.upload(app_id, {"a.png": png(4, 4, GREEN)}, vcs=vcs(42, base=41), selective=True)
    done = sentry.settled(partial)
    assert done["is_selective"] is True
    assert names(done["skipped"]) == ["b.png", "c.png"] and done["removed"] == []
    listed = sentry.upload(
        app_id,
        {"a.png": png(4, 4, GREEN)},
        vcs=vcs(43, base=41),
        all_image_file_names=["a.png", "b.png"],
    )
    done = sentry.settled(listed)
    assert names(done["skipped"]) == ["b.png"] and names(done["removed"]) == ["c.png"]
    detail = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{listed}/images/b.png/"
    ).json()
    assert detail["comparison_status"] == "skipped"
    assert detail["head_image"] == detail["base_image"]


def test_approval_flow(sentry: Sentry, app_id: str) -> None:
    sentry.upload(app_id, {"a.png": png(4, 4, RED)}, vcs=vcs(51))
    head_id = sentry.upload(app_id, {"a.png": png(4, 4, BLUE)}, vcs=vcs(52, base=51))
    assert sentry.settled(head_id)["approval_status"] == "requires_approval"
    url = f"/api/0/organizations/default/preprodartifacts/{head_id}/approve/"
    bad = sentry.post(url, json={"feature_type": "pixels"})
    assert bad.status_code == 400 and bad.json()["attr"] == "feature_type"
    first = sentry.post(url, json={"feature_type": "snapshots"})
    assert (first.status_code, first.json()["detail"]) == (201, "Approved")
    again = sentry.post(url, json={"feature_type": "snapshots"})
    assert (again.status_code, again.json()["detail"]) == (200, "Already approved")
    after = sentry.details(head_id)
    assert after["approval_status"] == "approved"
    assert after["approvers"][0]["name"] == "ci-bot"
    assert after["approvers"][0]["source"] == "sentry"


def test_snapshots_are_private_to_their_project(sentry: Sentry, app_id: str) -> None:
    snapshot_id = sentry.upload(app_id, {"a.png": png(2, 2, RED)})
    path = f"/api/0/organizations/default/preprodartifacts/snapshots/{snapshot_id}/"
    assert sentry.get(path).status_code == 200
    assert sentry.get(path.replace("default", "nope")).status_code == 404
    assert sentry.get(path.replace(snapshot_id, "abc")).status_code == 404
    assert sentry.get(path.replace(snapshot_id, "999999")).json()["detail"] == "Snapshot not found"


def test_client_reports_server_errors_with_detail(sentry: Sentry, app_id: str) -> None:
    with pytest.raises(ReviewServerError, match="app_id field is required"):
        upload_snapshots(
            sentry.url,
            org="default",
            project="default",
            auth_token=sentry.token,
            app_id="x" * 300,
            images=[("a.png", png(2, 2, RED), 2, 2, {})],
        )
    with pytest.raises(ReviewServerError, match="upload-options: HTTP 401"):
        upload_snapshots(
            sentry.url,
            org="default",
            project="default",
            auth_token="nope",
            app_id=app_id,
            images=[],
        )
    second = upload_snapshots(
        sentry.url,
        org="default",
        project="default",
        auth_token=sentry.token,
        app_id=app_id,
        images=[("a.png", png(2, 2, GREEN), 2, 2, {}), ("b.png", png(2, 2, GREEN), 2, 2, {})],
    )
    # identical bytes are one object: uploaded once or already there, never twice
    assert second.uploaded + second.already_present == 1


def test_latest_base_and_archive(sentry: Sentry, app_id: str) -> None:
    prefix = "/api/0/organizations/default/preprodartifacts/snapshots/"
    missing = sentry.get(prefix + "latest-base/")
    assert missing.status_code == 400 and missing.json()["attr"] == "app_id"
    none = sentry.get(prefix + "latest-base/", params={"app_id": app_id})
    assert none.status_code == 404 and none.json()["detail"] == "No snapshot found"

    first = sentry.upload(app_id, {"a.png": png(3, 3, RED)}, vcs=vcs(61))
    newest = sentry.upload(app_id, {"a.png": png(3, 3, BLUE), "b/c.png": png(2, 2, RED)}, vcs=vcs(62))
    sentry.upload(app_id, {"a.png": png(3, 3, GREEN)}, vcs=vcs(63, base=62))  # a PR: not a base
    found = sentry.get(prefix + "latest-base/", params={"app_id": app_id, "project": "1"}).json()
    assert found["head_artifact_id"] == newest and first != newest
    assert found["image_count"] == 2 and found["project_slug"] == "default"
    assert found["images"][0]["image_url"].endswith(f"/{found['images'][0]['key']}/")
    assert sentry.get(prefix + "latest-base/", params={"app_id": app_id, "branch": "dev"}).status_code == 404

    assert sentry.get(f"{prefix}{newest}/archive/").json() == {"ready": True}
    assert sentry.post(f"{prefix}{newest}/archive/").status_code == 202
    archive = sentry.get(f"{prefix}{newest}/archive/", params={"download": ""})
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert sorted(zf.namelist()) == ["a.png", "b/c.png"]
        assert zf.read("a.png") == png(3, 3, BLUE)


def test_selective_base_is_rebuilt_from_its_ancestors(sentry: Sentry, app_id: str) -> None:
    full = {"a.png": png(4, 4, RED), "b.png": png(4, 4, BLUE), "c.png": png(4, 4, GREEN)}
    sentry.upload(app_id, full, vcs=vcs(91))
    sentry.upload(app_id, {"a.png": png(4, 4, GREEN)}, vcs=vcs(92, base=91), selective=True)
    # a later build based on the selective one: b and c come from the selective build's ancestor
    head = sentry.upload(app_id, {**full, "a.png": png(4, 4, GREEN)}, vcs=vcs(93, base=92))
    done = sentry.settled(head)
    assert done["added"] == [] and done["changed"] == []
    assert sorted(names(done["unchanged"])) == ["a.png", "b.png", "c.png"]


def test_missing_ancestor_fails_then_heals_when_it_arrives(sentry: Sentry, app_id: str) -> None:
    images = {"a.png": png(4, 4, RED), "b.png": png(4, 4, BLUE)}
    selective = sentry.upload(app_id, {"a.png": png(4, 4, RED)}, vcs=vcs(94, base=190), selective=True)
    head = sentry.upload(app_id, images, vcs=vcs(95, base=94))
    failed = sentry.settled(head)
    assert failed["comparison_state"] == "failed"
    assert failed["comparison_error_message"] == "Base snapshot chain incomplete (missing ancestor build)."
    sentry.upload(app_id, images, vcs=vcs(190))  # the missing main-branch build arrives late
    deadline = time.monotonic() + 30
    while (healed := sentry.details(head))["comparison_state"] != "success":
        assert time.monotonic() < deadline, healed
        time.sleep(0.05)
    assert healed["comparison_state"] == "success" and healed["comparison_error_message"] is None
    assert sorted(names(healed["unchanged"])) == ["a.png", "b.png"]
    assert sentry.settled(selective)["comparison_state"] == "success"  # head-first, triggered too


def test_delete_snapshot(sentry: Sentry, app_id: str) -> None:
    base = sentry.upload(app_id, {"a.png": png(3, 3, RED)}, vcs=vcs(101))
    head = sentry.upload(app_id, {"a.png": png(3, 3, BLUE)}, vcs=vcs(102, base=101))
    assert sentry.settled(head)["changed_count"] == 1
    path = f"/api/0/organizations/default/preprodartifacts/snapshots/{base}/"
    reader = sentry.server.token("project:read")
    assert requests.delete(sentry.url + path, headers=sentry.headers(reader), timeout=10).status_code == 403
    assert requests.delete(sentry.url + path, headers=sentry.headers(), timeout=10).status_code == 204
    assert sentry.get(path).status_code == 404
    after = sentry.details(head)  # the head lost its base: back to waiting
    assert after["comparison_state"] == "waiting_for_base" and after["changed"] == []


def test_reencoded_png_is_unchanged_without_a_diff(sentry: Sentry, app_id: str) -> None:
    pixels = Image.open(io.BytesIO(png(8, 8, RED, dot=True)))
    fast, small = io.BytesIO(), io.BytesIO()
    pixels.save(fast, format="PNG", compress_level=0)
    pixels.save(small, format="PNG", compress_level=9)
    assert fast.getvalue() != small.getvalue()
    sentry.upload(app_id, {"a.png": fast.getvalue()}, vcs=vcs(111))
    head = sentry.upload(app_id, {"a.png": small.getvalue()}, vcs=vcs(112, base=111))
    done = sentry.settled(head)
    assert names(done["unchanged"]) == ["a.png"] and done["changed"] == []
    assert done["unchanged"][0]["key"] == hashlib.sha256(small.getvalue()).hexdigest()


def test_auto_approval_when_a_new_commit_repeats_approved_changes(sentry: Sentry, app_id: str) -> None:
    sentry.upload(app_id, {"a.png": png(4, 4, RED), "b.png": png(4, 4, RED)}, vcs=vcs(121))
    change = {"a.png": png(4, 4, BLUE), "b.png": png(4, 4, RED)}
    first = sentry.upload(app_id, change, vcs=vcs(122, base=121, pr=9))
    assert sentry.settled(first)["approval_status"] == "requires_approval"
    url = f"/api/0/organizations/default/preprodartifacts/{first}/approve/"
    assert sentry.post(url, json={"feature_type": "snapshots"}).status_code == 201

    same = sentry.upload(app_id, change, vcs=vcs(123, base=121, pr=9))  # a new commit, same change
    done = sentry.settled(same)
    assert done["approval_status"] == "auto_approved" and done["approvers"] == []
    other_pr = sentry.upload(app_id, change, vcs=vcs(124, base=121, pr=10))
    assert sentry.settled(other_pr)["approval_status"] == "requires_approval"
    more = {**change, "b.png": png(4, 4, GREEN)}
    different = sentry.upload(app_id, more, vcs=vcs(125, base=121, pr=9))
    assert sentry.settled(different)["approval_status"] == "requires_approval"
