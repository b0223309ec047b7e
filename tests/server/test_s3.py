"""S3 mode against a real S3 API (moto's server): presigned POSTs straight to the bucket,
verification by the diff worker, blobs served from the bucket, and start-up errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_visualreview.server import s3
from pytest_visualreview.server.ui.session import SESSION_COOKIE, sign_in

from .http_proxy import HttpProxy
from .live_server import LiveServer
from .s3_server import CREDENTIALS, MotoS3
from .server_helpers import Client, changed, item, page, upload_file

pytestmark = pytest.mark.backends("shared")

MIB = 1024 * 1024


def policy_of(target: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(target["fields"]["policy"])))


def artifacts(server: LiveServer, repo_id: str) -> set[str]:
    rows = server.store.query(
        "SELECT content_hash FROM artifacts WHERE repo_id = ?", (repo_id,)
    )
    return {str(r["content_hash"]) for r in rows}


def test_uploads_are_presigned_posts_into_the_bucket_with_posthogs_policy(
    server: LiveServer, client: Client
) -> None:
    image = page(1)
    created = client.create_run([item("home", image)])
    (target,) = created["uploads"]
    assert server.s3 is not None
    assert target["url"].startswith(server.s3.endpoint), "the client uploads to the bucket"
    key = f"{server.s3_prefix}/uploads/visual_review/{client.repo_id}/{image.hash[:2]}/{image.hash}"
    assert target["fields"]["key"] == key
    assert {"x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date"} <= set(
        target["fields"]
    )
    policy = policy_of(target)
    assert {"key": key} in policy["conditions"]
    assert ["content-length-range", 0, 10 * MIB] in policy["conditions"]
    assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 14 * 60 < expires - time.time() <= 15 * 60 + 5


def test_images_go_to_the_bucket_never_through_the_api_and_are_verified_by_the_worker(
    server: LiveServer, client: Client
) -> None:
    images = {"home": page(2), "cart": page(3)}
    created = client.create_run([item(name, image) for name, image in images.items()])
    by_hash = {image.hash: image for image in images.values()}
    client.upload(created["uploads"], by_hash)

    uploaded = server.bucket_keys("uploads/")
    assert sorted(k.rsplit("/", 1)[1] for k in uploaded) == sorted(by_hash)
    assert not artifacts(server, client.repo_id) & set(by_hash), (
        "the API holds nothing before complete: the bytes went to the bucket only"
    )

    client.complete(created["run_id"])
    run = client.wait(created["run_id"])
    assert run["status"] == "completed", run
    assert artifacts(server, client.repo_id) >= set(by_hash)
    blobs = server.bucket_keys("blobs/")
    for digest in by_hash:
        assert f"blobs/{digest[:2]}/{digest[2:4]}/{digest}" in blobs
    assert not set(server.bucket_keys("uploads/")) & set(uploaded), "verified uploads are removed"

    # Served back from the bucket through the signed download URL.
    snap = client.snapshots(created["run_id"])["home"]
    served = requests.get(snap["current_artifact"]["download_url"], timeout=10)
    assert served.status_code == 200
    assert served.content == images["home"].png
    cookie, _ = sign_in(server.store, client.token)
    page_image = requests.get(
        f"{server.url}/ui/repos/{client.repo_id}/images/{images['cart'].hash}",
        cookies={SESSION_COOKIE: cookie}, timeout=10,
    )
    assert page_image.status_code == 200, page_image.text
    assert page_image.content == images["cart"].png, "review-page images come from the bucket too"

    rerun = client.create_run([item(name, image) for name, image in images.items()])
    assert rerun["uploads"] == [], "an identical rerun uploads nothing"


def test_an_object_with_other_pixels_under_the_right_key_fails_the_run(
    server: LiveServer, client: Client
) -> None:
    honest, claimed = page(4), page(5)
    created = client.create_run([item("home", honest), item("about", claimed)])
    targets = {t["content_hash"]: t for t in created["uploads"]}
    assert upload_file(targets[honest.hash], honest.png).status_code == 204
    liar = changed(claimed)
    assert upload_file(targets[claimed.hash], liar.png).status_code == 204  # S3 cannot know

    assert client.complete(created["run_id"])["status"] in ("processing", "failed")
    done = client.wait(created["run_id"])
    assert done["status"] == "failed"
    message = done["error_message"]
    assert message.startswith("Upload integrity check failed for 1 image(s) in object storage: about")
    assert f"claimed {claimed.hash[:12]}" in message and f"{liar.hash[:12]}" in message
    assert "Upload the image again" in message
    assert claimed.hash not in artifacts(server, client.repo_id)
    assert not [k for k in server.bucket_keys("blobs/") if k.endswith(claimed.hash)]


def test_a_baseline_image_uploaded_to_the_bucket_is_verified_and_diffed(server: LiveServer) -> None:
    client = Client(server.api(), server.token(), server.repo("acme/baselines", trust_unsigned=True))
    before, after = page(8), changed(page(8))
    created = client.create_run([item("home", after)], baseline_hashes={"home": before.hash})
    assert {t["content_hash"] for t in created["uploads"]} == {before.hash, after.hash}
    client.upload(created["uploads"], {before.hash: before, after.hash: after})
    client.complete(created["run_id"])
    assert client.wait(created["run_id"])["status"] == "completed"
    snap = client.snapshots(created["run_id"])["home"]
    assert snap["result"] == "changed"
    assert snap["diff_artifact"] is not None, "the baseline image was taken from the bucket"
    assert before.hash in artifacts(server, client.repo_id)


@pytest.mark.parametrize("liar", ["current", "baseline"])
def test_a_changed_snapshot_whose_upload_lies_fails_the_run_in_the_worker(
    server: LiveServer, liar: str
) -> None:
    client = Client(server.api(), server.token(), server.repo(f"acme/lie-{liar}", trust_unsigned=True))
    before, after = page(9), changed(page(9))
    created = client.create_run([item("home", after)], baseline_hashes={"home": before.hash})
    sent = {before.hash: before.png, after.hash: after.png}
    lied = before if liar == "baseline" else after
    sent[lied.hash] = page(10).png  # another image under the right key
    for target in created["uploads"]:
        assert upload_file(target, sent[target["content_hash"]]).status_code == 204
    assert client.complete(created["run_id"])["status"] == "processing", "checked by the worker"
    done = client.wait(created["run_id"])
    assert done["status"] == "failed", done
    assert done["error_message"].startswith(
        "Upload integrity check failed for 1 image(s) in object storage: home"
    )
    assert f"claimed {lied.hash[:12]}" in done["error_message"]
    assert lied.hash not in artifacts(server, client.repo_id)
    assert not [k for k in server.bucket_keys("blobs/") if k.endswith(lied.hash)]


def test_one_image_shown_by_many_snapshots_is_verified_once_and_stored(
    server: LiveServer, client: Client
) -> None:
    image = page(11)
    created = client.create_run([item(f"screen-{n}", image) for n in range(20)])
    assert [t["content_hash"] for t in created["uploads"]] == [image.hash]
    client.upload(created["uploads"], {image.hash: image})
    client.complete(created["run_id"])
    run = client.wait(created["run_id"])
    assert run["status"] == "completed", run
    assert run["summary"]["new"] == 20
    assert image.hash in artifacts(server, client.repo_id)
    assert [k for k in server.bucket_keys("blobs/") if k.endswith(image.hash)]
    assert not [k for k in server.bucket_keys("uploads/") if client.repo_id in k], (
        "the verified upload is removed"
    )


def test_a_missing_object_is_reported_as_a_missing_upload(client: Client) -> None:
    image = page(6)
    created = client.create_run([item("home", image)])
    done = client.complete(created["run_id"])
    assert done["status"] == "failed"
    assert done["error_message"].startswith("Upload missing for 1 snapshot(s): home")


def test_an_object_over_the_size_limit_fails_the_run(server: LiveServer, client: Client) -> None:
    image = page(7)
    created = client.create_run([item("home", image)])
    (target,) = created["uploads"]
    assert server.s3 is not None
    # Written past the policy (moto does not enforce POST policies; S3 and MinIO do).
    server.s3.put(target["fields"]["key"], image.png + b"\0" * (10 * MIB))
    client.complete(created["run_id"])
    done = client.wait(created["run_id"])
    assert done["status"] == "failed"
    assert "over the 10485760-byte limit" in done["error_message"]


def serve(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_visualreview.cli", "serve", "--data-dir",
         str(server.data_dir / "other"), "--port", "0", *args],
        capture_output=True, text=True, timeout=60, env={"PATH": "", **CREDENTIALS},
    )


def test_serve_with_a_bucket_it_cannot_reach_or_a_bad_blob_url_exits_2_in_one_line(
    server: LiveServer,
) -> None:
    assert server.s3 is not None
    missing = serve(server, "--blob-url", "s3://no-such-bucket/x",
                    "--s3-endpoint-url", server.s3.endpoint)
    assert missing.returncode == 2, missing.stderr
    assert "bucket 'no-such-bucket'" in missing.stderr and "--s3-endpoint-url" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = serve(server, "--blob-url", "ftp://somewhere/x")
    assert bad.returncode == 2
    assert "use s3://BUCKET/PREFIX, file:///ABSOLUTE/PATH or a folder" in bad.stderr


def test_object_reads_and_writes_go_through_the_environments_proxy_like_boto3(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    proxy = HttpProxy()
    try:
        bucket = s3.S3Bucket(moto_s3.bucket, moto_s3.new_prefix(), moto_s3.endpoint)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setattr(s3, "_SIGNERS", {})  # signers read the environment when made
        bucket.store(bucket.key("a"), b"through the proxy")
        assert bucket.read(bucket.key("a"), 100) == b"through the proxy"
        assert bucket.read(bucket.key("missing"), 100) is None
        assert [r.split(" ", 1)[0] for r in proxy.requests] == ["PUT", "GET", "GET"]
        assert all(r.split(" ", 1)[1].startswith(moto_s3.endpoint) for r in proxy.requests)

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setattr(s3, "_SIGNERS", {})
        assert bucket.read(bucket.key("a"), 100) == b"through the proxy"
        assert len(proxy.requests) == 3, "NO_PROXY hosts are reached directly"
    finally:
        proxy.stop()


def test_a_bucket_that_is_gone_is_a_503_that_names_it_not_a_500(
    moto_s3: MotoS3, postgres: Any, tmp_path: Path
) -> None:
    doomed = MotoS3(moto_s3.endpoint, moto_s3.process, "vr-doomed")
    moto_s3.client.create_bucket(Bucket=doomed.bucket)
    live = LiveServer.start(tmp_path / "data", database_url=postgres.new_database(), s3=doomed)
    try:
        client = Client(live.api(), live.token(), live.repo("acme/doomed"))
        image = page(12)
        created = client.create_run([item("home", image)])
        client.upload(created["uploads"], {image.hash: image})
        for key in moto_s3.client.list_objects_v2(Bucket=doomed.bucket).get("Contents", []):
            moto_s3.client.delete_object(Bucket=doomed.bucket, Key=key["Key"])
        moto_s3.client.delete_bucket(Bucket=doomed.bucket)  # removed under the running server

        refused = client.post(f"runs/{created['run_id']}/complete/")
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["code"] == "storage_refused"
        assert "object storage refused the request" in body["detail"] and "NoSuchBucket" in body["detail"]
        assert client.get(f"runs/{created['run_id']}/").json()["status"] == "pending"
    finally:
        live.stop()
