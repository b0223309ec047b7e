"""Two API replicas and two diff workers on one PostgreSQL and one S3 bucket (moto), the
multi-machine deployment: one sharded run, with an API process and a worker holding part of the
run killed (SIGKILL) mid-run. Uploads go straight to the bucket (presigned POSTs, no image byte
through an API process) and the workers read them from it. The run still completes, once, with
the right counts: the dead worker's job goes back to the queue and the other worker finishes it
(a run's slices are separate jobs, so the two workers shared it until then)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from .live_server import LiveServer, start_worker
from .s3_server import MotoS3
from .server_helpers import Client, changed, item, page

pytestmark = pytest.mark.slow

SNAPSHOTS = 160  # enough diff work that the run is still going when its worker is killed


def holder(logs: dict[int, Path], key: str, timeout: float = 60.0) -> int:
    """The pid of the worker whose log says it took job ``key``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, path in logs.items():
            if re.search(rf"worker pid {pid} takes {re.escape(key)}", path.read_text()):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no worker took {key}: " + "".join(p.read_text() for p in logs.values()))


def progress(database_url: str, run_id: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FILTER (WHERE needs_diff = 0), COUNT(*) FROM run_snapshots"
            " WHERE run_id = %s", (run_id,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def jobs_left(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_replicas_and_workers_survive_kill_9_and_finish_the_run_once(
    tmp_path: Path, postgres: Any, moto_s3: MotoS3
) -> None:
    database_url = postgres.new_database()
    prefix = moto_s3.new_prefix()  # the one bucket prefix every process shares
    data = tmp_path / "logs"  # only the processes' logs: no blob touches the local disk
    data.mkdir()
    apis = [
        LiveServer.start(data, database_url=database_url, s3=moto_s3, s3_prefix=prefix,
                         extra_args=("--no-worker",))
        for _replica in ("a", "b")
    ]
    api_a, api_b = apis
    workers = [start_worker(data, database_url, moto_s3, prefix, name) for name in ("one", "two")]
    try:
        token, repo = api_a.token(), api_a.repo("acme/big", trust_unsigned=True)
        on_a, on_b = Client(api_a.api(), token, repo), Client(api_b.api(), token, repo)
        base = {f"s{i:03d}": page(2000 + i, 160, 120) for i in range(SNAPSHOTS)}
        assert on_a.submit(base, branch="main")["status"] == "completed"

        head = {name: changed(image) for name, image in base.items()}
        by_hash = {image.hash: image for image in head.values()}
        run_id = on_a.create_run([], baseline_hashes={n: i.hash for n, i in base.items()})["run_id"]
        names = sorted(head)
        for client, part in ((on_a, names[::2]), (on_b, names[1::2])):  # one shard per replica
            response = client.post(f"runs/{run_id}/add-snapshots/",
                                   {"snapshots": [item(n, head[n]) for n in part]})
            assert response.status_code == 200, response.text
            uploads = response.json()["uploads"]
            assert uploads and all(u["url"].startswith(moto_s3.endpoint) for u in uploads)
            client.upload(uploads, by_hash)  # presigned POSTs straight to the bucket
        api_b.kill()  # a replica dies mid-run: everything it accepted is in the shared store
        assert on_a.complete(run_id)["status"] == "processing"

        logs = {process.pid: log for process, log in workers}
        victim = holder(logs, f"posthog:{run_id}")
        while True:
            done, total = progress(database_url, run_id)
            assert done < total, "the run finished before its worker could be killed"
            if done > 0:
                break
            time.sleep(0.01)
        next(p for p, _ in workers if p.pid == victim).kill()  # kill -9 mid-job

        run = on_a.wait(run_id, timeout=120)
        assert run["status"] == "completed", run
        assert run["summary"]["total"] == SNAPSHOTS
        assert run["summary"]["changed"] == SNAPSHOTS
        snaps = on_a.snapshots(run_id)
        assert len(snaps) == SNAPSHOTS
        assert all(s["result"] == "changed" and s["diff_artifact"] for s in snaps.values())
        blobs = set(api_a.bucket_keys("blobs/"))
        for digest in {s["diff_artifact"]["content_hash"] for s in snaps.values()}:
            assert f"blobs/{digest[:2]}/{digest[2:4]}/{digest}" in blobs, "a diff is not in the bucket"
        assert not list(data.rglob("*.png")), "a blob was written to local disk, not the bucket"
        survivor = next(pid for pid in logs if pid != victim)
        assert f"worker pid {survivor} takes posthog:{run_id}/" in logs[survivor].read_text()
        # The queue drains: slice jobs the sweep queued again and the dead worker's job (retried
        # once its heartbeat is stale) end as no-ops; the run is not touched again.
        deadline = time.monotonic() + 90
        while jobs_left(database_url) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert jobs_left(database_url) == 0
        assert on_a.get(f"runs/{run_id}/").json() == run
    finally:
        for process, _ in workers:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        api_a.stop()
        api_b.kill()
