"""Pixels in, pixels out: every image the project touches becomes an H×W×4 uint8 RGBA array here.

One place decides what an image *is* (its decoded RGBA pixels, never its PNG bytes), so the plugin,
the comparator and the server agree on content hashes whatever encoder produced the file.
Decoding is guarded against decompression bombs and truncated files, because baselines and uploads
come from outside.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from blake3 import blake3
from PIL import Image

try:  # the server extra's PNG decoder (libspng), about 4x faster than PIL's on screenshots
    import pyspng as _spng
except ImportError:  # a core install: PIL decodes everything
    _spng = None

#: Largest image we decode, in pixels (PostHog's limit: 50 M pixels, e.g. 7071×7071).
MAX_PIXELS = 50_000_000
#: Largest PNG file we read, in bytes (PostHog's limit).
MAX_PNG_BYTES = 64 * 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
#: What :func:`decode_image` accepts: PIL format name -> (file signature, media type).
IMAGE_FORMATS = {"PNG": (PNG_SIGNATURE, "image/png"), "JPEG": (JPEG_SIGNATURE, "image/jpeg")}


def _read_umask() -> int:
    """The process umask (os.umask can only be read by setting it; done once, at import)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class ImageError(ValueError):
    """An input that is not a usable image. The message names the input and what to do."""


class UnsupportedImageSource(ImageError):
    """A value of a type that is no image at all (a mistake in the caller, not a bad file)."""


def content_hash(rgba: np.ndarray) -> str:
    """Lower-case hex BLAKE3 of the RGBA pixel bytes: PostHog's image identity.

    Hashing pixels rather than files means re-encoding a PNG never changes its identity.
    """
    return blake3(np.ascontiguousarray(rgba).data).hexdigest()


def decode_png(data: bytes, *, name: str = "image") -> np.ndarray:
    """Decode PNG bytes to RGBA, refusing bombs and truncated files with a message naming `name`
    and saying what a test author can do (the server's uploads go through `decode_image`)."""
    return _decode(data, name, ("PNG",), _PLUGIN_HINTS)[0]


#: what a test author can do about each refusal (a server client gets the bare reason)
_PLUGIN_HINTS = {
    "size": "capture a smaller region (clip or a locator) instead of the whole page",
    "signature": "pass PNG bytes or a PNG file (for a baseline: run with --approve to replace it)",
    "bomb": "capture a smaller region (clip or a locator)",
    "corrupt": "delete it and re-create it (for a baseline: run with --approve)",
}


def _not_a_png(name: str) -> ImageError:
    return ImageError(f"{name}: not a PNG file (bad signature); {_PLUGIN_HINTS['signature']}")


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG file to RGBA; errors name the file."""
    return decode_png(read_png_bytes(path), name=str(path))


def read_png_bytes(path: str | os.PathLike[str]) -> bytes:
    """A PNG file's bytes, refusing files over the size limit; errors name the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_PNG_BYTES:
            raise ImageError(f"{path}: PNG is {size} bytes, over the {MAX_PNG_BYTES}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read image ({exc.strerror})") from exc


def encode_png(rgba: np.ndarray, *, compress_level: int = 1) -> bytes:
    """Encode RGBA to PNG. Level 1 is ~5× faster than the default and only slightly larger;
    hashes are of pixels, so the level never changes an image's identity."""
    buffer = io.BytesIO()
    Image.fromarray(as_rgba(rgba), "RGBA").save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes so a reader sees the old file or the new one, never half of either.

    A baseline interrupted mid-write would turn the next run into a confusing decode error; a
    temporary file in the same folder plus os.replace rules that out.
    """
    write_atomic_all([(path, data)], sync_folders=False)


def write_atomic_all(
    items: Sequence[tuple[str | os.PathLike[str], bytes]], *, sync_folders: bool = True
) -> None:
    """:func:`write_atomic` for several files, made durable together: every file is written to
    a temporary name, then all are fsynced, then all renamed, then (``sync_folders``) each
    folder that gained a name is fsynced once.

    Why in that order: a file is whole on disk before its final name exists, so a crash never
    leaves a half file under the name that a later "already have it" check trusts; and once this
    returns the names themselves are on disk, so a database row written afterwards never names
    a file that a crash could take away. Why together: the review server stores a diff blob for
    every changed snapshot, and one fsync per blob right after its write was a large share of
    the worker's CPU time (docs/server.md "Performance"); fsyncing a batch back to back lets
    the file system commit them in fewer journal transactions.
    """
    pending: list[tuple[int, str, Path]] = []
    try:
        for target, data in items:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            pending.append((fd, tmp, path))
            if hasattr(os, "fchmod"):
                # mkstemp makes the file private (0600); a baseline or report image should get
                # the same mode as any file the user creates.
                os.fchmod(fd, 0o666 & ~_UMASK)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        for fd, _tmp, _path in pending:
            os.fsync(fd)
        for index, (fd, tmp, path) in enumerate(pending):
            os.close(fd)
            pending[index] = (-1, tmp, path)
            os.replace(tmp, path)
    except BaseException:
        for fd, tmp, _path in pending:
            if fd >= 0:
                os.close(fd)
            Path(tmp).unlink(missing_ok=True)
        raise
    if sync_folders:
        for folder in dict.fromkeys(path.parent for _fd, _tmp, path in pending):
            _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """fsync a folder, so the names just renamed into it survive a crash (POSIX only)."""
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: a folder cannot be opened; NTFS journals its renames itself
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_png(path: str | os.PathLike[str], image: np.ndarray | bytes) -> None:
    """Write an RGBA array (or ready PNG bytes) atomically."""
    write_atomic(path, image if isinstance(image, bytes) else encode_png(image))


def pil_to_rgba(image: Image.Image, *, name: str = "image") -> np.ndarray:
    """Convert any PIL mode to RGBA pixels (palette, grey, 16-bit, CMYK ...)."""
    _check_pixel_count(image.size, name)
    if image.mode == "RGBA":
        array = np.asarray(image)
    else:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit grey: scale to 8 bits the way browsers display it.
            image = image.point(lambda value: value / 256).convert("L")
        array = np.asarray(image.convert("RGBA"))
    return _finish(array, name)


def as_rgba(value: Any, *, name: str = "image") -> np.ndarray:
    """Normalise an array-like image to a contiguous H×W×4 uint8 array.

    Accepts H×W×4 (RGBA) and H×W×3 (RGB, made opaque) uint8 arrays; anything else is a clear error,
    because silently casting floats or dropping channels would compare the wrong pixels.
    """
    if not isinstance(value, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, got {type(value).__name__}")
    if value.dtype != np.uint8:
        raise ImageError(
            f"{name}: pixel dtype is {value.dtype}, expected uint8; "
            "convert with (array * 255).clip(0, 255).astype('uint8') for floats in 0..1"
        )
    if value.ndim != 3 or value.shape[2] not in (3, 4):
        raise ImageError(
            f"{name}: array shape is {value.shape}, expected (height, width, 4) RGBA "
            "or (height, width, 3) RGB"
        )
    if value.shape[2] == 3:
        alpha = np.full(value.shape[:2] + (1,), 255, dtype=np.uint8)
        value = np.concatenate([value, alpha], axis=2)
    return _finish(value, name)


def load_rgba(source: Any, *, name: str = "image") -> np.ndarray:
    """Turn any supported image source into RGBA pixels.

    Sources: PNG bytes, a path to a PNG file, a PIL image, or an H×W×3/H×W×4 uint8 numpy array.
    """
    if isinstance(source, np.ndarray):
        return as_rgba(source, name=name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_png(bytes(source), name=name)
    if isinstance(source, (str, os.PathLike)):
        return read_png(source)
    if isinstance(source, Image.Image):
        return pil_to_rgba(source, name=name)
    raise UnsupportedImageSource(
        f"{name}: cannot use a {type(source).__module__}.{type(source).__qualname__} as an image; "
        "pass a Playwright Page/Locator/ElementHandle, PNG bytes, a path to a PNG, "
        "a PIL image or a uint8 numpy array"
    )


def _check_pixel_count(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: image is empty ({width}×{height}); nothing to compare")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: image is {width}×{height} = {width * height} pixels, over the "
            f"{MAX_PIXELS}-pixel limit (decompression-bomb guard); capture a smaller region"
        )


def _finish(array: np.ndarray, name: str) -> np.ndarray:
    height, width = array.shape[:2]
    _check_pixel_count((width, height), name)
    return np.ascontiguousarray(array, dtype=np.uint8)


# -- the browser's own PNG bytes as baselines (the cheap exact path) -------------------------------

_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_HASH_KEYWORD = b"visualreview-rgba-blake3"
_HASH_CHUNK_LEN = 4 + 4 + len(_HASH_KEYWORD) + 1 + 64 + 1 + 64 + 4


def png_size(data: bytes, *, name: str = "image") -> tuple[int, int]:
    """(width, height) from the IHDR chunk, without decoding; checked against the pixel limit."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        raise _not_a_png(name)
    size = (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
    _check_pixel_count(size, name)
    return size


def with_content_hash(png: bytes, rgba_hash: str) -> bytes:
    """`png` with a tEXt chunk recording the content hash of its pixels, bound to the bytes.

    A baseline written this way is the browser's PNG plus 166 bytes: the next unchanged capture
    is then a byte comparison, and its content hash is read here instead of decoding the file."""
    if not png.endswith(_IEND):
        return png
    data = _HASH_KEYWORD + b"\x00" + (blake3(png).hexdigest() + " " + rgba_hash).encode("ascii")
    chunk = len(data).to_bytes(4, "big") + b"tEXt" + data
    chunk += zlib.crc32(chunk[4:]).to_bytes(4, "big")
    return png[: -len(_IEND)] + chunk + _IEND


def split_content_hash(png: bytes) -> tuple[bytes, str | None]:
    """Undo `with_content_hash`: (the PNG as the browser wrote it, its recorded content hash).

    The hash is returned only when the chunk is ours and was written for exactly these bytes, so
    a file re-encoded by another tool (an optimiser keeping text chunks) never lends its old hash."""
    end = len(png) - len(_IEND)
    start = end - _HASH_CHUNK_LEN
    if start < 0 or png[end:] != _IEND or png[start + 4 : start + 8 + len(_HASH_KEYWORD)] != (
        b"tEXt" + _HASH_KEYWORD
    ):
        return png, None
    original = png[:start] + _IEND
    text = png[start + 8 + len(_HASH_KEYWORD) + 1 : end - 4].decode("ascii", "replace")
    bytes_hash, _, rgba_hash = text.partition(" ")
    if bytes_hash != blake3(original).hexdigest() or len(rgba_hash) != 64:
        return png, None
    return original, rgba_hash


def decode_image(
    data: bytes, *, name: str = "image", formats: tuple[str, ...] = ("PNG", "JPEG")
) -> tuple[np.ndarray, str]:
    """Decode uploaded PNG or JPEG bytes to RGBA and their media type, behind one guard.

    The review server's decoder (its PostHog and Sentry ingest and its diff worker); the plugin's
    `decode_png` is the same code with advice for test authors. The byte limit, the signature,
    PIL's decompression-bomb check and our pixel limit apply to every format alike. ``formats``
    narrows what is accepted (the PostHog API takes PNG only).
    """
    return _decode(data, name, formats, {})


def _decode(
    data: bytes, name: str, formats: tuple[str, ...], hints: dict[str, str]
) -> tuple[np.ndarray, str]:
    """The one decoder behind `decode_png` and `decode_image`; `hints` extend its refusals."""

    def refuse(kind: str, reason: str) -> ImageError:
        return ImageError(f"{name}: {reason}; {hints[kind]}" if kind in hints else f"{name}: {reason}")

    label = " or ".join(formats)
    if len(data) > MAX_PNG_BYTES:
        what = label if len(formats) == 1 else "image"
        raise refuse("size", f"{what} is {len(data)} bytes, over the {MAX_PNG_BYTES}-byte limit")
    kind = next((f for f in formats if data.startswith(IMAGE_FORMATS[f][0])), None)
    if kind is None:
        raise refuse("signature", f"not a {label} file (bad signature)")
    if kind == "PNG" and (damage := _png_chunk_damage(data)):
        raise refuse("corrupt", f"cannot decode PNG ({damage}); the file is corrupt or truncated")
    if kind == "PNG" and _spng_decodes(data):
        try:
            return _finish(_spng.load(data, "RGBA"), name), IMAGE_FORMATS[kind][1]
        except RuntimeError as exc:
            raise refuse("corrupt", f"cannot decode PNG ({exc}); the file is corrupt or truncated") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                _check_pixel_count(image.size, name)
                image.load()
                if image.mode != "RGBA":
                    return pil_to_rgba(image, name=name), IMAGE_FORMATS[kind][1]
                return _copy_rgba(image), IMAGE_FORMATS[kind][1]
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise refuse(
            "bomb", f"image too large to decode safely ({exc}); refused by the decompression-bomb guard"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise refuse("corrupt", f"cannot decode {kind} ({exc}); the file is corrupt or truncated") from exc


def _spng_decodes(data: bytes) -> bool:
    """Whether libspng may decode this PNG: 8-bit RGBA, or 8-bit RGB without a transparency key,
    within the pixel limit.

    Those have one true decoding (RGB only gains opaque alpha), so libspng's pixels are PIL's bit
    for bit (tests/test_imaging.py checks). Every other kind (palette, grey, 16-bit, tRNS) keeps
    PIL's conversions, which the content hashes of existing baselines were computed with. The
    decoded server-side profile of a changed screenshot pair was half PNG decoding (PIL's
    unfiltering and zlib's checksum), see docs/server.md "Performance"."""
    if _spng is None or len(data) < 33 or data[12:16] != b"IHDR" or data[24] != 8:
        return False
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not 0 < width * height <= MAX_PIXELS:  # PIL's path refuses these with its own messages
        return False
    if data[25] == 6:
        return True
    return data[25] == 2 and data.find(b"tRNS", 33, max(data.find(b"IDAT", 33), 33)) < 0


def _png_chunk_damage(data: bytes) -> str:
    """What is wrong with a PNG's chunk structure ('' when nothing): PIL ignores the chunk
    checksums (CRC) while decoding IDAT, so a damaged file would otherwise be taken as is.
    zlib.crc32 runs in C over bytes already in memory, so the walk costs little next to decoding."""
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        end = offset + 8 + length
        if end + 4 > len(data):
            return f"chunk at byte {offset} runs past the end"
        kind = data[offset + 4 : offset + 8]
        if zlib.crc32(data[offset + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            return f"{kind.decode('latin-1')!r} chunk at byte {offset} fails its CRC checksum"
        if kind == b"IEND":
            return ""
        offset = end + 4
    return ""


def _copy_rgba(image: Image.Image) -> np.ndarray:
    """The pixels of a loaded RGBA image as a new array, copied straight into numpy memory.

    ``np.asarray(image)`` goes through ``Image.tobytes``, which packs the pixels in 64 KiB pieces
    and joins them: about 1.4 ms for a 390×844 screenshot, more than decoding the PNG. An image
    made by ``Image.fromarray`` shares the array's memory, so pasting into its core writes the
    pixels there in one pass (about 0.05 ms). A PIL that copied instead of sharing would leave
    the array untouched, so that case takes the slow road.
    """
    width, height = image.size
    out = np.empty((height, width, 4), dtype=np.uint8)
    target = Image.fromarray(out)
    if not target.readonly:  # not a view of ``out``
        return np.array(image, dtype=np.uint8)
    target.im.paste(image.im, (0, 0, width, height))
    return out
