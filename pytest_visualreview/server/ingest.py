"""The one ingest path for uploaded images, both APIs: decode with the guard, verify the key,
write the blob, then the row.

The key is what the uploader claims the bytes are: BLAKE3 of the RGBA pixels for the PostHog API
(so re-encoding never changes an image's identity), SHA-256 of the file bytes for Sentry's
objectstore. Either way the image is decoded first by :func:`~pytest_visualreview.imaging.decode_image`
(one decompression-bomb guard for PNG and JPEG), and a key that lies is refused. The blob goes to
the blob store before the API writes its row, so a row never points at a missing blob.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from ..imaging import content_hash, decode_image
from .blobs import Blobs

T = TypeVar("T")
KeyKind = Literal["pixels", "sha256"]


class KeyMismatch(ValueError):
    """The bytes do not hash to the claimed key; ``actual`` (the one argument) is what they do."""

    @property
    def actual(self) -> str:
        return str(self.args[0])


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
    data: bytes, key: str, *, key_kind: KeyKind, name: str, formats: tuple[str, ...]
) -> Checked:
    """Decode and verify (thread-safe, CPU-bound). Raises ``ImageError`` for a file that is not
    a usable image of ``formats`` and :class:`KeyMismatch` for a key that lies."""
    if key_kind == "sha256":
        actual = hashlib.sha256(data).hexdigest()
        if actual != key:  # cheap: refuse before decoding
            raise KeyMismatch(actual)
    rgba, media_type = decode_image(data, name=name, formats=formats)
    pixel_hash = content_hash(rgba)
    if key_kind == "pixels" and pixel_hash != key:
        raise KeyMismatch(pixel_hash)
    height, width = rgba.shape[:2]
    return Checked(key, data, media_type, pixel_hash, int(width), int(height))


def store(blobs: Blobs, blob_key: str, data: bytes, write_row: Callable[[], T]) -> T:
    """Write the blob, then the row (``write_row``): a row always has its blob."""
    blobs.put(blob_key, data)
    return write_row()
