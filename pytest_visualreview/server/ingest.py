"""The one ingest path for uploaded images, both APIs: decode with the guard, verify the key,
write the blob, then the row.

Before any decoding, a PNG's IHDR header is read: its width × height must be within the pixel
limit and equal the size the client declared (the PostHog manifest's ``width``/``height``, signed
into the upload policy), so a small file that would inflate to gigabytes is refused for the price
of reading 24 bytes. Decodes then take one of :data:`DECODE_SLOTS` slots, waiting at most
:data:`DECODE_WAIT_SECONDS` (else 503, which clients retry): the server's peak memory is bounded
by the slots, not by how many uploads arrive at once.

The key is what the uploader claims the bytes are: BLAKE3 of the RGBA pixels for the PostHog API
(so re-encoding never changes an image's identity), SHA-256 of the file bytes for Sentry's
objectstore. Either way the image is decoded first by :func:`~pytest_visualreview.imaging.decode_image`
(one decompression-bomb guard for PNG and JPEG), and a key that lies is refused. The blob goes to
the blob store before the API writes its row, so a row never points at a missing blob.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from ..imaging import PNG_SIGNATURE, ImageError, content_hash, decode_image, png_size
from .blobs import Blobs
from .errors import Unavailable

T = TypeVar("T")
KeyKind = Literal["pixels", "sha256"]
#: Uploads decoded at once (the machine this was sized on has 2 cores; a decode is CPU-bound and
#: holds width × height × 4 bytes and PIL's working copy while it runs).
DECODE_SLOTS = 2
DECODE_WAIT_SECONDS = 30.0
_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)


class KeyMismatch(ValueError):
    """The bytes do not hash to the claimed key; ``actual`` (the one argument) is what they do."""

    @property
    def actual(self) -> str:
        return str(self.args[0])

    def describe(self, claimed: str) -> str:
        """The one wording of a lying pixel key, for the upload endpoint and the worker."""
        return (
            f"claimed {claimed[:12]}… but image hashes to {self.actual[:12]}… "
            "(BLAKE3 of RGBA pixels)"
        )


@dataclass(frozen=True)
class Checked:
    """An upload that decoded within the guard and matches its key: ready to store."""

    key: str
    data: bytes
    media_type: str
    pixel_hash: str
    width: int
    height: int


def check(
    data: bytes,
    key: str,
    *,
    key_kind: KeyKind,
    name: str,
    formats: tuple[str, ...],
    declared: tuple[int, int] | None = None,
) -> Checked:
    """Decode and verify (thread-safe, CPU-bound). Raises ``ImageError`` for a file that is not
    a usable image of ``formats`` or whose PNG header is not ``declared`` (width, height),
    :class:`KeyMismatch` for a key that lies and ``Unavailable`` when no decode slot frees up."""
    if key_kind == "sha256":
        actual = hashlib.sha256(data).hexdigest()
        if actual != key:  # cheap: refuse before decoding
            raise KeyMismatch(actual)
    if data.startswith(PNG_SIGNATURE):
        check_header(data, name=name, declared=declared)
    with decode_slot():  # the decoded pixels are what the slots bound: hashed and freed inside
        rgba, media_type = decode_image(data, name=name, formats=formats)
        pixel_hash = content_hash(rgba)
        height, width = rgba.shape[:2]
        del rgba
    if key_kind == "pixels" and pixel_hash != key:
        raise KeyMismatch(pixel_hash)
    return Checked(key, data, media_type, pixel_hash, int(width), int(height))


def verify_pixels(data: bytes, key: str, *, name: str) -> np.ndarray:
    """The RGBA pixels of a PNG upload whose BLAKE3 of pixels must be ``key``, for the diff
    worker, which diffs the very pixels it verified (one decode, not two). :class:`KeyMismatch`
    if they hash to something else, ``ImageError`` if the file is no usable PNG. No decode slot:
    a worker process decodes one image at a time, so its memory is bounded without one."""
    if data.startswith(PNG_SIGNATURE):
        check_header(data, name=name, declared=None)
    rgba, _media_type = decode_image(data, name=name, formats=("PNG",))
    actual = content_hash(rgba)
    if actual != key:
        raise KeyMismatch(actual)
    return rgba


def check_header(data: bytes, *, name: str, declared: tuple[int, int] | None) -> None:
    """Refuse a PNG by its IHDR alone: over the pixel limit, or not the size declared."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return  # no header to read: the decoder says what is wrong with the file
    width, height = png_size(data, name=name)
    if declared is not None and (width, height) != declared:
        raise ImageError(
            f"{name}: the PNG header says {width}×{height} but the manifest declared "
            f"{declared[0]}×{declared[1]}; upload the image the manifest describes"
        )


@contextmanager
def decode_slot() -> Iterator[None]:
    """One of the :data:`DECODE_SLOTS`, or 503 after :data:`DECODE_WAIT_SECONDS`."""
    if not _decode_slots.acquire(timeout=DECODE_WAIT_SECONDS):
        raise Unavailable(
            f"the server is already decoding {DECODE_SLOTS} uploads; send this one again in a "
            "moment", attr="file",
        )
    try:
        yield
    finally:
        _decode_slots.release()


def store(blobs: Blobs, blob_key: str, data: bytes, write_row: Callable[[], T]) -> T:
    """Write the blob, then the row (``write_row``): a row always has its blob."""
    blobs.put(blob_key, data)
    return write_row()
