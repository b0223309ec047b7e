"""Diff images to PNG bytes, fast: the server encodes one for every changed snapshot.

A pixelmatch diff image is a faded grey copy of the baseline (a few dozen grey levels) with the
changed pixels painted in one to three colours, so ``diff.compare(..., indexed=True)`` draws it as
palette indices (:class:`~pytest_visualreview.diff.IndexedImage`). An indexed PNG is a quarter of
the RGBA bytes to deflate: encoding took about a quarter of the time of ``imaging.encode_png`` on a
390×844 diff (profiled in ``benchmarks/server_bench.py``, where the diff PNG was the largest single
cost of a changed snapshot), and ISA-L deflates it with a tenth of zlib's instructions. The
palette is exact, so the decoded pixels are the RGBA image's, bit
for bit; a picture that did not fit a palette comes as RGBA and is encoded as such.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

from ..diff import IndexedImage
from ..imaging import PNG_SIGNATURE, encode_png

_INDEXED = 3  # PNG colour type


def encode_diff_png(image: IndexedImage | np.ndarray) -> bytes:
    """PNG bytes for a diff image: indexed for an :class:`IndexedImage`, else RGBA."""
    if not isinstance(image, IndexedImage):
        return encode_png(image)
    height, width = image.index.shape
    rows = np.empty((height, width + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None: the deflate of runs of equal indices is what pays
    rows[:, 1:] = image.index
    chunks = [
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, _INDEXED, 0, 0, 0)),
        _chunk(b"PLTE", image.palette[:, :3].tobytes()),
    ]
    if (image.palette[:, 3] != 255).any():
        chunks.append(_chunk(b"tRNS", image.palette[:, 3].tobytes()))
    # ISA-L's deflate: a tenth of zlib's instructions at level 1 on a diff, and smaller output
    chunks += [_chunk(b"IDAT", isal_zlib.compress(rows.data, 1)), _chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
