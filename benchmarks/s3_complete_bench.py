"""Where S3 mode checks new images: N new images uploaded, then ``complete`` and the run's
processing timed, on the folder backend (uploads checked as they arrive at ``/uploads/``) and on
S3 (presigned POSTs into a moto bucket; ``complete`` only lists the bucket, the diff worker reads
and checks every object).

    .venv/bin/python benchmarks/s3_complete_bench.py --images 100

Uses the test suite's live server and moto helpers (tests/server/), so it measures the same
``visualreview serve`` processes the tests talk to. Prints one line per backend.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a script: the tests package

from tests.server.live_server import LiveServer  # noqa: E402
from tests.server.s3_server import MotoS3  # noqa: E402
from tests.server.server_helpers import Client, item, page  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="new images in the run")
    parser.add_argument("--width", type=int, default=390)
    parser.add_argument("--height", type=int, default=844)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s3-bench-"))
    moto = MotoS3.start(work)
    try:
        for backend in ("folder", "s3"):
            live = LiveServer.start(work / backend, s3=moto if backend == "s3" else None)
            try:
                client = Client(live.api(), live.token(), live.repo("acme/bench"))
                images = {
                    f"shot-{i}": page(1000 + i, args.width, args.height) for i in range(args.images)
                }
                created = client.create_run([item(k, v) for k, v in images.items()])
                started = time.perf_counter()
                client.upload(created["uploads"], {v.hash: v for v in images.values()})
                uploaded = time.perf_counter()
                answer = client.complete(created["run_id"])
                completed = time.perf_counter()
                done = client.wait(created["run_id"], timeout=600)
                finished = time.perf_counter()
                print(
                    f"{backend}: {args.images} images {args.width}x{args.height}: upload "
                    f"{uploaded - started:.2f} s, complete {completed - uploaded:.2f} s "
                    f"({answer['status']}), then {finished - completed:.2f} s to {done['status']}"
                )
            finally:
                live.stop()
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
