"""The worker's per-pair path in one process: changed 390×844 pairs per CPU-second.

    .venv/bin/python benchmarks/server_pair_loop.py [N] [--blobs DIR]
    .venv/bin/python benchmarks/server_pair_loop.py [N] --s3

With ``--s3`` the pairs are in a moto bucket (the test suite's, started here) as S3 mode has
them when the worker takes a run: the baseline a verified blob, the changed image an upload the
job reads, verifies, diffs and stores (``DiffJob.receive``), its upload deleted after.

Runs ``processing.diff_snapshots`` (read both PNG blobs, decode, classify, store the diff PNGs)
on N pairs of ``server_bench.py``'s images (a baseline and its changed variant) in chunks of
``processing.CHUNK``, as the worker does, after one warm-up pair, and prints the CPU time.
Under ``valgrind --tool=callgrind`` it gives load-independent instruction counts: make the images
once (``server_pair_loop.py 20 --blobs DIR``), then count ``server_pair_loop.py 0 --blobs DIR``
and ``server_pair_loop.py 20 --blobs DIR`` and divide the difference by 20 (with ``--blobs`` an
image already in DIR is not made again; delete the diff blobs it made to count their writes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from server_bench import screenshot  # noqa: E402

from pytest_visualreview.server import processing  # noqa: E402
from pytest_visualreview.server.blobs import BlobStore  # noqa: E402


def pairs(blobs: BlobStore, count: int) -> list[tuple[str, str]]:
    """``count`` (baseline, changed) key pairs in ``blobs``, made unless listed there already."""
    listing = blobs.root / "pairs.txt"
    known = [line.split() for line in listing.read_text().splitlines()] if listing.exists() else []
    while len(known) < count:
        known.append([])
        for variant in (0, 1):
            key, png = screenshot(len(known) - 1, variant)
            blobs.put(key, png)
            known[-1].append(key)
    listing.write_text("".join(f"{b} {c}\n" for b, c in known))
    return [(b, c) for b, c in known[:count]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=200)
    parser.add_argument("--blobs", help="keep the images in this folder (default: a temporary one)")
    parser.add_argument("--s3", action="store_true", help="the pairs in a moto bucket instead")
    args = parser.parse_args()
    if args.s3:
        return bucket_loop(args.count)
    count = args.count
    with tempfile.TemporaryDirectory(prefix="vr-pairs-") as tmp:
        blobs = BlobStore(args.blobs or tmp)
        keyed = pairs(blobs, count + 1)
        processing.diff_snapshot(blobs, "warm-up", *keyed[0], True)
        start = time.process_time()
        jobs = [processing.DiffJob(str(i), b, c) for i, (b, c) in enumerate(keyed[1:])]
        for first in range(0, len(jobs), processing.CHUNK):
            processing.diff_snapshots(blobs, jobs[first : first + processing.CHUNK])
        cpu = time.process_time() - start
    if count:
        print(f"{count} changed pairs in {cpu:.2f} CPU-s = {count / cpu:.1f} pairs per CPU-second")
    return 0


def bucket_loop(count: int) -> int:
    """:func:`main` on a moto bucket, the changed images waiting as uploads."""
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pytest_visualreview.server.s3 import S3BlobStore, S3Bucket, check_reachable
    from pytest_visualreview.server.s3_uploads import S3Uploads
    from tests.server.s3_server import CREDENTIALS, MotoS3

    os.environ.update(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="vr-pairs-") as tmp:
        moto = MotoS3.start(Path(tmp))
        try:
            bucket = S3Bucket(moto.bucket, "pairs", moto.endpoint)
            check_reachable(bucket)
            blobs, uploads = S3BlobStore(bucket), S3Uploads(bucket)
            jobs = []
            for i in range(count + 1):
                (baseline, before), (changed, after) = screenshot(i, 0), screenshot(i, 1)
                blobs.put(baseline, before)
                bucket.store(uploads.upload_key("bench", changed), after)
                jobs.append(processing.DiffJob(
                    str(i), baseline, changed, repo_id="bench", identifier=f"s{i}",
                    receive=(changed,),
                ))
            processing.diff_snapshots(blobs, jobs[:1], uploads)  # warm-up
            start = time.process_time()
            for first in range(1, len(jobs), processing.CHUNK):
                outcomes = processing.diff_snapshots(
                    blobs, jobs[first : first + processing.CHUNK], uploads
                )
                assert all(o.diff_key and o.rejected is None for o in outcomes), outcomes
            cpu = time.process_time() - start
        finally:
            moto.stop()
    if count:
        print(f"{count} changed pairs from the bucket in {cpu:.2f} CPU-s = "
              f"{count / cpu:.1f} pairs per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
