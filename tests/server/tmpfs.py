"""A live server whose data folder and blob folder are small tmpfs mounts a test can fill.

For disk-full tests done for real: ``fill(folder)`` writes a file until the kernel answers ENOSPC,
deleting it gives the space back. Mounting needs root; elsewhere the fixture skips and says why.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live_server import LiveServer


def _mount(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until not one more byte fits; returns it (delete to free)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(bytes(size))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


@pytest.fixture
def full_disk_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server on a 24 MiB tmpfs data folder whose ``blobs/`` is a 2 MiB tmpfs of its own."""
    data = tmp_path / "data"
    mounts = [data, data / "blobs"]
    _mount(data, "24m")
    try:
        _mount(data / "blobs", "2m")
        live = LiveServer.start(data)
        try:
            yield live
        finally:
            live.stop()
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
