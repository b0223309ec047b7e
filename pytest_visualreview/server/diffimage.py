"""Diff images to PNG bytes, fast: the server encodes one for every changed snapshot.

A pixelmatch diff image is a faded grey copy of the baseline (a few dozen grey levels) with the
changed pixels painted in one to three colours, so it almost always fits a 256-colour palette. An
indexed PNG is a quarter of the RGBA bytes to deflate: encoding took about a quarter of the time of
``imaging.encode_png`` on a 390×844 diff (profiled in ``benchmarks/server_bench.py``, where the diff
PNG was the largest single cost of a changed snapshot). The palette is exact, so the decoded
pixels are the RGBA image's, bit for bit; an image that does not fit falls back to RGBA.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from ..imaging import PNG_SIGNATURE, encode_png

_OPAQUE = np.uint32(0xFF000000)
_GREY = np.uint32(0x010101)
_LOW_BYTE = np.uint32(0xFF)
_INDEXED = 3  # PNG colour type


def encode_diff_png(rgba: np.ndarray) -> bytes:
    """PNG bytes for a diff image: indexed when its colours fit a palette, else RGBA."""
    indexed = palette_indices(rgba)
    if indexed is None:
        return encode_png(rgba)
    index, palette = indexed
    height, width = index.shape
    rows = np.empty((height, width + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None: the deflate of runs of equal indices is what pays
    rows[:, 1:] = index
    chunks = [
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, _INDEXED, 0, 0, 0)),
        _chunk(b"PLTE", palette[:, :3].tobytes()),
    ]
    if (palette[:, 3] != 255).any():
        chunks.append(_chunk(b"tRNS", palette[:, 3].tobytes()))
    chunks += [_chunk(b"IDAT", zlib.compress(rows.data, 1)), _chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def palette_indices(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(H×W uint8 indices, 256×4 RGBA palette)`` reproducing ``rgba`` exactly, or None.

    Opaque grey pixels index their own grey level; every other colour takes a free index below
    the darkest grey used (the grey background of a diff leaves the low indices free).
    """
    pixels = np.ascontiguousarray(rgba).view(np.uint32).reshape(-1)
    red = pixels & _LOW_BYTE
    grey = pixels == (red * _GREY) | _OPAQUE
    index = red.astype(np.uint8)
    positions = np.flatnonzero(~grey)
    others = pixels[positions]
    room = int(np.where(grey, index, np.uint8(255)).min()) if others.size else 0
    palette = np.empty((256, 4), dtype=np.uint8)
    palette[:, :3] = np.arange(256, dtype=np.uint8)[:, None]
    palette[:, 3] = 255
    slot = 0
    while others.size:
        if slot >= room:
            return None
        colour = others[0]
        same = others == colour
        index[positions[same]] = slot
        palette[slot] = np.array([colour], dtype=np.uint32).view(np.uint8)
        positions, others = positions[~same], others[~same]
        slot += 1
    return index.reshape(rgba.shape[:2]), palette


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
