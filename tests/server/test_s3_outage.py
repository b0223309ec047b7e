"""The object store misbehaving under a running deployment (an API replica and a diff worker on
PostgreSQL + S3, each reaching the bucket through a TCP link the test can cut):

- ``complete`` while the API cannot reach the bucket is a 503 that says so and changes nothing;
  diffs while the worker cannot reach it wait, with the reason on the run, instead of getting a
  verdict; once the store is back the run completes with the right verdict for every snapshot;
- an upload the store refuses to hand out (an object archived to Glacier: 403) waits the same
  way, so a run never completes with an image it could not check;
- an upload that vanished before the worker read it is not replaced by another repo's blob of
  the same hash: the run fails, naming it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .live_server import LiveServer, start_worker
from .s3_server import MotoS3
from .server_helpers import Client, Image, changed, item, page
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


@dataclass
class Deployment:
    api: LiveServer
    api_link: TcpProxy
    worker_link: TcpProxy
    moto: MotoS3

    def client(self, repo: str) -> Client:
        return Client(self.api.api(), self.api.token(), self.api.repo(repo, trust_unsigned=True))

    def upload_key(self, client: Client, image: Image) -> str:
        return f"{self.api.s3_prefix}/uploads/visual_review/{client.repo_id}/{image.hash[:2]}/{image.hash}"


@pytest.fixture
def deployment(tmp_path: Path, postgres: Any, moto_s3: MotoS3) -> Iterator[Deployment]:
    moto_port = int(urlsplit(moto_s3.endpoint).port or 0)
    api_link, worker_link = TcpProxy(moto_port), TcpProxy(moto_port)

    def through(link: TcpProxy) -> MotoS3:
        return MotoS3(link.url, moto_s3.process, moto_s3.bucket)

    database_url, prefix = postgres.new_database(), moto_s3.new_prefix()
    logs = tmp_path / "logs"
    logs.mkdir()
    api = LiveServer.start(logs, database_url=database_url, s3=through(api_link),
                           s3_prefix=prefix, extra_args=("--no-worker",))
    worker, worker_log = start_worker(logs, database_url, through(worker_link), prefix, "one")
    try:
        yield Deployment(api, api_link, worker_link, moto_s3)
    finally:
        worker.terminate()
        worker.wait(30)
        api.stop()
        api_link.cut()
        worker_link.cut()
        print(worker_log.read_text()[-3000:])


def test_a_bucket_outage_is_a_503_then_waiting_diffs_then_the_right_verdicts(
    deployment: Deployment,
) -> None:
    client = deployment.client("acme/outage")
    base = {"edited": page(41), "same": page(42)}
    assert client.submit(base, branch="main")["status"] == "completed"
    head = {"edited": changed(base["edited"]), "same": base["same"], "added": page(43)}
    created = client.create_run([item(n, i) for n, i in head.items()],
                                baseline_hashes={n: i.hash for n, i in base.items()})
    run_id = created["run_id"]
    client.upload(created["uploads"], {i.hash: i for i in head.values()})

    deployment.api_link.cut()  # the API replica loses the bucket
    refused = client.post(f"runs/{run_id}/complete/")
    assert refused.status_code == 503, refused.text
    detail = refused.json()["detail"]
    assert refused.json()["code"] == "storage_unavailable"
    assert "object storage did not answer" in detail and "retry" in detail
    assert client.get(f"runs/{run_id}/").json()["status"] == "pending", "nothing changed"

    deployment.api_link.restore()
    deployment.worker_link.cut()  # now the worker loses it: the run's two image jobs wait
    assert client.complete(run_id)["status"] == "processing"
    waiting = client.poll(run_id, lambda r: r["waiting_reason"])
    assert waiting["status"] == "processing", "no verdict while the images are out of reach"
    assert waiting["diffs_waiting"] == 2
    assert "object storage did not answer" in waiting["waiting_reason"]

    deployment.worker_link.restore()
    done = client.poll(run_id, lambda r: r["status"] != "processing", timeout=90)
    assert done["status"] == "completed", done
    summary = done["summary"]
    assert (summary["changed"], summary["new"], summary["unchanged"]) == (1, 1, 1)
    snaps = client.snapshots(run_id)
    assert snaps["edited"]["diff_artifact"] is not None
    assert "error" not in (snaps["edited"].get("diff_metadata") or {})
    assert done["waiting_reason"] is None


def test_an_upload_the_store_will_not_hand_out_waits_instead_of_completing(
    deployment: Deployment,
) -> None:
    client = deployment.client("acme/archived")
    image = page(44)
    created = client.create_run([item("home", image)])
    client.upload(created["uploads"], {image.hash: image})
    key = deployment.upload_key(client, image)
    s3 = deployment.moto.client
    s3.put_object(Bucket=deployment.moto.bucket, Key=key, Body=image.png, StorageClass="GLACIER")

    client.complete(created["run_id"])
    waiting = client.poll(created["run_id"], lambda r: r["waiting_reason"])
    assert waiting["status"] == "processing", waiting
    assert "could not be checked" in waiting["waiting_reason"]
    assert "403" in waiting["waiting_reason"]

    s3.put_object(Bucket=deployment.moto.bucket, Key=key, Body=image.png)  # thawed
    done = client.poll(created["run_id"], lambda r: r["status"] != "processing", timeout=90)
    assert done["status"] == "completed" and done["summary"]["new"] == 1, done
    assert client.snapshots(created["run_id"])["home"]["current_artifact"] is not None


def test_a_vanished_upload_is_not_replaced_by_another_repos_blob(
    deployment: Deployment,
) -> None:
    image = page(45)
    other = deployment.client("acme/other-tenant")
    assert other.submit({"home": image})["status"] == "completed"  # its blob is in the bucket

    client = deployment.client("acme/late")
    created = client.create_run([item("home", image)])
    assert [t["content_hash"] for t in created["uploads"]] == [image.hash]
    client.upload(created["uploads"], {image.hash: image})
    deployment.worker_link.cut()  # the worker cannot take the run yet
    assert client.complete(created["run_id"])["status"] == "processing"
    client.poll(created["run_id"], lambda r: r["waiting_reason"])
    key = deployment.upload_key(client, image)
    deployment.moto.client.delete_object(Bucket=deployment.moto.bucket, Key=key)  # expired
    deployment.worker_link.restore()

    done = client.poll(created["run_id"], lambda r: r["status"] != "processing", timeout=90)
    assert done["status"] == "failed", done
    assert "gone from the bucket" in done["error_message"]
    held = deployment.api.store.query(
        "SELECT 1 FROM artifacts WHERE repo_id = ? AND content_hash = ?",
        (client.repo_id, image.hash),
    )
    assert not held, "the other repo's blob did not become this repo's image"
