"""The worker's per-pair path in one process: changed 390×844 pairs per CPU-second.

    .venv/bin/python benchmarks/server_pair_loop.py [N] [--blobs DIR]

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
    args = parser.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
