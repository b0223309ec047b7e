"""The object store going away under a running deployment (API replica and diff worker on
PostgreSQL + S3, each reaching the bucket through a TCP link the test cuts): ``complete`` while
the API cannot reach the bucket is a 503 that says so and changes nothing; diffs while the worker
cannot reach it wait, with the reason on the run, instead of getting a verdict; once the store is
back the run completes with the right verdict for every snapshot, nothing uploaded lost."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .live_server import LiveServer, start_worker
from .s3_server import MotoS3
from .server_helpers import Client, changed, item, page
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def run_until(client: Client, run_id: str, done: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the run until ``done(run)``."""
    deadline = time.monotonic() + timeout
    while True:
        run = dict(client.get(f"runs/{run_id}/").json())
        if done(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run never got there: {run}")
        time.sleep(0.2)


def test_a_bucket_outage_is_a_503_then_waiting_diffs_then_the_right_verdicts(
    tmp_path: Path, postgres: Any, moto_s3: MotoS3
) -> None:
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
        client = Client(api.api(), api.token(), api.repo("acme/outage", trust_unsigned=True))
        base = {"edited": page(41), "same": page(42)}
        assert client.submit(base, branch="main")["status"] == "completed"
        head = {"edited": changed(base["edited"]), "same": base["same"], "added": page(43)}
        created = client.create_run([item(n, i) for n, i in head.items()],
                                    baseline_hashes={n: i.hash for n, i in base.items()})
        run_id = created["run_id"]
        client.upload(created["uploads"], {i.hash: i for i in head.values()})

        api_link.cut()  # the API replica loses the bucket
        refused = client.post(f"runs/{run_id}/complete/")
        assert refused.status_code == 503, refused.text
        detail = refused.json()["detail"]
        assert "object storage did not answer" in detail and "retry" in detail
        assert client.get(f"runs/{run_id}/").json()["status"] == "pending", "nothing changed"

        api_link.restore()
        worker_link.cut()  # now the worker loses it: the run's two image jobs cannot be done
        assert client.complete(run_id)["status"] == "processing"
        waiting = run_until(client, run_id, lambda r: r["waiting_reason"])
        assert waiting["status"] == "processing", "no verdict while the images are out of reach"
        assert waiting["diffs_waiting"] == 2
        assert "object storage did not answer" in waiting["waiting_reason"]

        worker_link.restore()
        done = run_until(client, run_id, lambda r: r["status"] != "processing", timeout=90)
        assert done["status"] == "completed", done
        summary = done["summary"]
        assert (summary["changed"], summary["new"], summary["unchanged"]) == (1, 1, 1)
        snaps = client.snapshots(run_id)
        assert snaps["edited"]["diff_artifact"] is not None
        assert "error" not in (snaps["edited"].get("diff_metadata") or {})
        assert done["waiting_reason"] is None
    finally:
        worker.terminate()
        worker.wait(30)
        api.stop()
        api_link.cut()
        worker_link.cut()
        print(worker_log.read_text()[-3000:])
