"""One image as the plugin holds it: the PNG bytes it came as, and its pixels decoded only when asked.

Decoding a 1280×720 PNG costs about 20 ms, far more than comparing two of them; most snapshots are
unchanged, and the browser encodes equal pixels to equal bytes. So a capture is compared first by
its bytes with the baseline (written as the browser's own PNG, see imaging.with_content_hash), and
pixels are decoded only when the bytes differ or a person needs the images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import imaging


class Shot:
    """PNG bytes and/or RGBA pixels of one image; each derived form is computed once."""

    def __init__(
        self,
        *,
        png: bytes | None = None,
        rgba: np.ndarray | None = None,
        name: str = "image",
    ) -> None:
        if png is None and rgba is None:
            raise ValueError("a Shot needs PNG bytes or pixels")
        self.name = name
        self._rgba = rgba
        self._hash: str | None = None
        self.png: bytes | None = None  # exactly as the encoder (browser) wrote it
        if png is not None:
            self.png, self._hash = imaging.split_content_hash(png)

    @classmethod
    def read(cls, path: Path) -> Shot:
        """A baseline file; errors name it (too big, not a PNG)."""
        shot = cls(png=imaging.read_png_bytes(path), name=str(path))
        _ = shot.size  # a file that is not a PNG fails here, naming the file
        return shot

    @property
    def rgba(self) -> np.ndarray:
        if self._rgba is None:
            assert self.png is not None
            self._rgba = imaging.decode_png(self.png, name=self.name)
        return self._rgba

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), from the PNG header when the pixels are not decoded."""
        if self._rgba is not None:
            return (self._rgba.shape[1], self._rgba.shape[0])
        assert self.png is not None
        return imaging.png_size(self.png, name=self.name)

    @property
    def content_hash(self) -> str:
        if self._hash is None:
            self._hash = imaging.content_hash(self.rgba)
        return self._hash

    def same_bytes(self, other: Shot) -> bool:
        """Equal PNG bytes, hence equal pixels (the converse need not hold)."""
        return self.png is not None and self.png == other.png

    def adopt(self, other: Shot) -> None:
        """`other` has the same bytes: share its pixels and hash instead of recomputing them."""
        if self._rgba is None:
            self._rgba = other._rgba
        if self._hash is None:
            self._hash = other._hash

    def baseline_bytes(self) -> bytes:
        """What to write as a baseline: the original PNG bytes (so the next unchanged capture is a
        byte comparison) with the content hash recorded in them."""
        png = self.png if self.png is not None else imaging.encode_png(self.rgba)
        return imaging.with_content_hash(png, self.content_hash)

    def png_bytes(self) -> bytes:
        """Some PNG encoding of these pixels (the original when there is one)."""
        return self.png if self.png is not None else imaging.encode_png(self.rgba)
