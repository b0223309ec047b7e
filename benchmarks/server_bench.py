"""Review server throughput, end to end over HTTP.

    .venv/bin/python benchmarks/server_bench.py [--snapshots 5000] [--changed 1000]
    .venv/bin/python benchmarks/server_bench.py --database-url postgresql://.../EMPTY_DB \
        --blob-url s3://BUCKET/PREFIX --s3-endpoint-url http://... --worker-processes 2 --diff-workers 1
    .venv/bin/python benchmarks/server_bench.py --shared --worker-processes 2 --diff-workers 1

With ``--database-url`` the server runs on the shared store (PostgreSQL + the blobs in a folder,
or with ``--blob-url s3://...`` in a bucket, uploads presigned straight to it; credentials from the
``AWS_*`` environment) and, with ``--worker-processes N``, as an API-only ``serve --no-worker``
plus N ``visualreview worker`` processes. ``--shared`` starts both itself, as the test suite does
(tests/server/postgres.py: a PostgreSQL cluster in a temporary folder; tests/server/s3_server.py:
a moto S3 server on 127.0.0.1). CPU seconds are those of the server, the workers and their
children; PostgreSQL's and moto's own are reported beside them, not counted (they stand for a
database and an object store that run elsewhere, as the embedded store's disk does).

Two windows: from ``complete`` to the run completed (the diffing alone on the embedded store,
whose uploads were verified as they arrived), and from ``create`` to completed, which holds the
same work on both stores (in S3 mode the uploads are verified by the diff worker after
``complete``), so the stores are compared on it.

What it does (issue 4, "Speed"):

1. starts ``visualreview serve`` on a temporary data dir and a free port;
2. setup (reported, not the measured run): a baseline run on ``main`` with N distinct 390×844
   screenshots, uploaded, completed and auto-approved, giving a signed ``snapshots.yml``;
3. run 1, on a PR branch against that baseline, with ``--changed`` of the images changed:
   create -> upload the changed images (8 concurrent, like PostHog's CLI) -> complete -> poll
   until completed; seconds per phase and images diffed per second per core;
4. run 2, identical to run 1: the upload dedupe rate (uploads requested / images in the run:
   target 0) and create + complete as a share of run 1's time (target under 5%).

Images are synthetic but screenshot-like (flat regions, a header, text-like blocks) and each is
distinct, so dedupe is only what the server's content addressing gives.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import requests

from pytest_visualreview.imaging import content_hash, encode_png

WIDTH, HEIGHT = 390, 844


def screenshot(index: int, variant: int) -> tuple[str, bytes]:
    """A distinct screenshot-like image for ``index``; ``variant`` 1 is a clear change."""
    rng = np.random.default_rng(index)
    rgba = np.full((HEIGHT, WIDTH, 4), 255, dtype=np.uint8)
    rgba[:56, :, :3] = rng.integers(0, 255, 3, dtype=np.uint8)  # app bar
    y = 80
    while y < HEIGHT - 40:  # cards with text-like lines
        h = int(rng.integers(60, 160))
        rgba[y : y + h, 16 : WIDTH - 16, :3] = (245, 246, 248)
        for line in range(y + 12, y + h - 12, 18):
            length = int(rng.integers(80, WIDTH - 48))
            rgba[line : line + 8, 32 : 32 + length, :3] = (60, 64, 72)
        y += h + 16
    bits = [(index >> b) & 1 for b in range(16)]  # make every index unique
    for b, bit in enumerate(bits):
        if bit:
            rgba[HEIGHT - 12 : HEIGHT - 4, 8 + b * 12 : 16 + b * 12, :3] = (200, 30, 30)
    if variant:
        rgba[300:420, 16 : WIDTH - 16, :3] = (20, 90, 200)  # a new banner: ~11% of pixels
    return content_hash(rgba), encode_png(rgba)


def make_images(count: int, variant: int, workers: int) -> list[tuple[str, bytes]]:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(screenshot, range(count), [variant] * count, chunksize=64))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(
        self, data_dir: Path, diff_workers: int | None, storage: list[str], workers: int = 0
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cli = [sys.executable, "-m", "pytest_visualreview.cli"]
        self.workers = [
            subprocess.Popen(
                [*cli, "worker", *storage, "--diff-workers", str(diff_workers or 1)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        args = [
            *cli,
            "serve",
            *storage,
            *(["--no-worker"] if workers else []),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        if diff_workers:
            args += ["--diff-workers", str(diff_workers)]
        self.log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("server did not start; see server.log")
            time.sleep(0.05)

    @property
    def pids(self) -> list[int]:
        return [self.process.pid, *(w.pid for w in self.workers)]

    def stop(self) -> None:
        for process in (self.process, *self.workers):
            process.send_signal(signal.SIGTERM)
        for process in (self.process, *self.workers):
            process.wait(30)
        self.log.close()


def admin(storage: list[str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "pytest_visualreview.cli", *args, *storage],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class Client:
    def __init__(self, base: str, token: str, repo_id: str, concurrency: int) -> None:
        self.api = f"{base}/api/projects/1/visual_review/"
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency * 2)
        self.session.mount("http://", adapter)
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.repo_id = repo_id
        self.concurrency = concurrency

    def post(self, path: str, body: Any = None) -> Any:
        response = self.session.post(self.api + path, json=body, timeout=600)
        if response.status_code >= 400:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def create(
        self, identifiers: list[str], images: list[tuple[str, bytes]], branch: str, baseline: dict[str, str]
    ) -> dict[str, Any]:
        snapshots = [
            {"identifier": ident, "content_hash": h, "width": WIDTH, "height": HEIGHT}
            for ident, (h, _png) in zip(identifiers, images, strict=True)
        ]
        return dict(
            self.post(
                "runs/",
                {
                    "repo_id": self.repo_id,
                    "run_type": "playwright",
                    "commit_sha": "bench",
                    "branch": branch,
                    "pr_number": 1,
                    "snapshots": snapshots,
                    "baseline_hashes": baseline,
                },
            )
        )

    def upload(self, uploads: list[dict[str, Any]], pngs: dict[str, bytes]) -> None:
        def one(target: dict[str, Any]) -> None:
            form: list[tuple[str, Any]] = [(k, (None, v)) for k, v in target["fields"].items()]
            form += [
                ("Content-Type", (None, "image/png")),
                ("file", ("s.png", pngs[target["content_hash"]], "image/png")),
            ]
            response = self.session.post(target["url"], files=form, timeout=120)
            if response.status_code != 204:
                raise SystemExit(f"upload failed: {response.status_code} {response.text}")

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(one, uploads))

    def wait(self, run_id: str) -> dict[str, Any]:
        while True:
            run = self.session.get(f"{self.api}runs/{run_id}/", timeout=60).json()
            if run["status"] in ("completed", "failed"):
                return dict(run)
            time.sleep(0.1)


def cpu_seconds(root_pid: int) -> tuple[float, float]:
    """CPU time (user + system) of a process and its live descendants, and of the process alone,
    from /proc.

    Less load-dependent than wall time: on a busy machine the diff rate per wall second drops,
    the images per CPU second much less (hyper-threads and memory bandwidth are still shared)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, frontier = 0.0, {root_pid}
    while frontier:
        total += sum(stats[pid][1] for pid in frontier if pid in stats)
        frontier = {pid for pid, (ppid, _cpu) in stats.items() if ppid in frontier}
    return total, stats.get(root_pid, (0, 0.0))[1]


def processes_cpu(pids: list[int]) -> tuple[float, float]:
    """CPU seconds of the API process and the worker processes with their children, and of the
    API process alone (``pids[0]``)."""
    trees = [cpu_seconds(pid) for pid in pids]
    return sum(tree for tree, _alone in trees), trees[0][1]


def timed_run(
    server_pids: list[int],
    service_pids: list[int],
    client: Client,
    identifiers: list[str],
    images: list[tuple[str, bytes]],
    baseline: dict[str, str],
    branch: str,
) -> dict[str, Any]:
    pngs = dict(images)
    cpu_start = processes_cpu(server_pids)
    services_start = processes_cpu(service_pids)[0] if service_pids else 0.0
    t0 = time.perf_counter()
    created = client.create(identifiers, images, branch, baseline)
    t1 = time.perf_counter()
    client.upload(created["uploads"], pngs)
    t2 = time.perf_counter()
    cpu_before = processes_cpu(server_pids)
    client.post(f"runs/{created['run_id']}/complete/")
    t3 = time.perf_counter()
    run = client.wait(created["run_id"])
    t4 = time.perf_counter()
    cpu_after = processes_cpu(server_pids)
    services_after = processes_cpu(service_pids)[0] if service_pids else 0.0
    if run["status"] != "completed":
        raise SystemExit(f"run failed: {run['error_message']}")
    return {
        "run_id": created["run_id"],
        "summary": run["summary"],
        "uploads": len(created["uploads"]),
        "create_s": t1 - t0,
        "upload_s": t2 - t1,
        "complete_s": t3 - t2,
        "processing_s": t4 - t3,
        "total_s": t4 - t0,
        "complete_to_done_cpu_s": cpu_after[0] - cpu_before[0],
        "create_to_done_cpu_s": cpu_after[0] - cpu_start[0],
        "services_cpu_s": services_after - services_start,
        "server_process_cpu_s": cpu_after[1] - cpu_before[1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=5000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--upload-concurrency", type=int, default=8)
    parser.add_argument(
        "--diff-workers", type=int, default=None,
        help="server diff worker processes (default: CPU count)",
    )
    parser.add_argument(
        "--database-url", default=None, help="run on PostgreSQL (an empty database) instead"
    )
    parser.add_argument(
        "--blob-url", default=None,
        help="with --database-url: a folder or s3://BUCKET/PREFIX (default: a temporary folder)",
    )
    parser.add_argument("--s3-endpoint-url", default=None, help="S3-compatible endpoint")
    parser.add_argument(
        "--shared", action="store_true",
        help="start a PostgreSQL cluster and a moto S3 server (the test suite's) and run on them",
    )
    parser.add_argument(
        "--worker-processes", type=int, default=0,
        help="with --database-url: separate 'visualreview worker' processes (0: in 'serve')",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    args = parser.parse_args()
    cores = (args.diff_workers or os.cpu_count() or 1) * max(1, args.worker_processes)

    tmp = Path(tempfile.mkdtemp(prefix="vr-bench-"))
    services: list[Any] = []
    try:
        if args.shared:
            args.database_url, args.blob_url, args.s3_endpoint_url = start_shared(tmp, services)
        t = time.perf_counter()
        base_images = make_images(args.snapshots, 0, os.cpu_count() or 1)
        changed_images = make_images(args.changed, 1, os.cpu_count() or 1)
        gen_s = time.perf_counter() - t
        identifiers = [f"page-{i:05d}--light" for i in range(args.snapshots)]
        current = changed_images + base_images[args.changed :]
        print(f"generated {args.snapshots + args.changed} PNGs ({WIDTH}x{HEIGHT}) in {gen_s:.1f}s")

        data = tmp / "data"
        data.mkdir()
        storage = ["--data-dir", str(data)]
        if args.database_url:
            storage = ["--database-url", args.database_url,
                       "--blob-url", args.blob_url or str(data / "blobs")]
            if args.s3_endpoint_url:
                storage += ["--s3-endpoint-url", args.s3_endpoint_url]
        token = admin(storage, "token", "create", "--scope", "visual_review:write")
        repo_id = admin(storage, "repo", "create", "bench/app")
        server = Server(data, args.diff_workers, storage, args.worker_processes)
        try:
            client = Client(server.url, token, repo_id, args.upload_concurrency)
            pid = server.pids
            service_pids = [service.pid for service in services]
            setup = timed_run(pid, service_pids, client, identifiers, base_images, {}, "main")
            approved = client.post(f"runs/{setup['run_id']}/auto-approve/")
            from pytest_visualreview import snapshots_yml

            baseline = snapshots_yml.loads(approved["baseline_content"]).snapshots
            print(
                f"setup: baseline run of {args.snapshots} new snapshots: "
                f"create {setup['create_s']:.2f}s, upload {setup['uploads']} in "
                f"{setup['upload_s']:.2f}s ({setup['uploads'] / setup['upload_s']:.0f}/s), "
                f"complete {setup['complete_s']:.2f}s, processing {setup['processing_s']:.2f}s"
            )

            # A steady-state server has its diff workers running: start them with a small run.
            warm = min(args.changed, 8)
            timed_run(pid, service_pids, client, identifiers[:warm], current[:warm], baseline,
                      "warm-up")
            run1 = timed_run(pid, service_pids, client, identifiers, current, baseline, "feature")
            run2 = timed_run(pid, service_pids, client, identifiers, current, baseline, "feature")
        finally:
            server.stop()
        assert run1["summary"]["changed"] == args.changed, run1["summary"]
        rate = args.changed / run1["processing_s"]
        cc_share = (run2["create_s"] + run2["complete_s"]) / run1["total_s"]
        for name, run in (("run 1", run1), ("run 2", run2)):
            print(
                f"{name}: create {run['create_s']:.2f}s | upload {run['uploads']} images "
                f"{run['upload_s']:.2f}s | complete {run['complete_s']:.2f}s | processing "
                f"{run['processing_s']:.2f}s | total {run['total_s']:.2f}s"
            )
        print(
            f"diffed {args.changed} changed images in {run1['processing_s']:.2f}s: "
            f"{rate:.0f} images/s, {rate / cores:.0f} images/s per core ({cores} diff workers); "
            f"{run1['complete_to_done_cpu_s']:.1f} CPU-s in the server and its workers = "
            f"{args.changed / run1['complete_to_done_cpu_s']:.0f} images per CPU-second "
            f"(server process {run1['server_process_cpu_s']:.1f} CPU-s, diff workers "
            f"{run1['complete_to_done_cpu_s'] - run1['server_process_cpu_s']:.1f})"
        )
        print(
            f"from create to completed (uploads verified and diffs, on either store): "
            f"{run1['create_to_done_cpu_s']:.1f} CPU-s = "
            f"{args.changed / run1['create_to_done_cpu_s']:.0f} diffs per CPU-second"
            + (f" (PostgreSQL and moto beside it: {run1['services_cpu_s']:.1f} CPU-s, not counted)"
               if services else "")
        )
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"second identical run: {run2['uploads']} uploads requested of {args.snapshots} "
            f"images (dedupe {1 - run2['uploads'] / args.snapshots:.1%}); create + complete "
            f"{run2['create_s'] + run2['complete_s']:.2f}s = {cc_share:.1%} of run 1's "
            f"{run1['total_s']:.2f}s (target < 5%)"
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "setup": setup,
                        "run1": run1,
                        "run2": run2,
                        "cores": cores,
                        "diffs_per_s_per_core": rate / cores,
                        "run2_cc_share": cc_share,
                        "diffs_per_cpu_s": args.changed / run1["complete_to_done_cpu_s"],
                        "loadavg": os.getloadavg()[0],
                    }
                )
            )
    finally:
        for service in reversed(services):
            service.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def start_shared(tmp: Path, services: list[Any]) -> tuple[str, str, str]:
    """PostgreSQL and moto S3 as the test suite starts them: (database URL, blob URL, endpoint).
    Their credentials go into this process's environment, which the server processes inherit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.server.postgres import Postgres
    from tests.server.s3_server import CREDENTIALS, MotoS3

    os.environ.update(CREDENTIALS)
    postgres = Postgres.start()
    services.append(postgres)
    moto = MotoS3.start(tmp)
    services.append(moto)
    return postgres.new_database("bench"), f"s3://{moto.bucket}/bench", moto.endpoint


if __name__ == "__main__":
    sys.exit(main())
