"""imaging: every bad input is an ImageError whose message names the input and says what to do."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_visualreview import imaging
from pytest_visualreview.imaging import ImageError


def _png_bytes(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width×height RGBA pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    # One compressed row of zeros stands in for the data: the header alone must be refused.
    idat = zlib.compress(b"\0" * (1 + 4 * min(width, 1024)), 9)
    return imaging.PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_round_trip_keeps_pixels_and_hash() -> None:
    rgba = np.arange(3 * 5 * 4, dtype=np.uint8).reshape(3, 5, 4)
    decoded = imaging.decode_png(imaging.encode_png(rgba), name="round-trip")
    assert np.array_equal(decoded, rgba)
    assert imaging.content_hash(decoded) == imaging.content_hash(rgba)
    # The hash is of pixels, not of the file: another encoder setting gives the same identity.
    again = imaging.decode_png(imaging.encode_png(rgba, compress_level=9), name="level 9")
    assert imaging.content_hash(again) == imaging.content_hash(rgba)


def test_rgb_array_becomes_opaque_rgba() -> None:
    rgb = np.full((2, 3, 3), 7, dtype=np.uint8)
    rgba = imaging.as_rgba(rgb, name="rgb")
    assert rgba.shape == (2, 3, 4)
    assert (rgba[..., 3] == 255).all() and (rgba[..., :3] == 7).all()


def test_palette_png_expands_like_pngjs() -> None:
    """Palette + transparency becomes RGBA with the palette's alpha (pngjs's decoding)."""
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((1, 0), 1)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=bytes([255, 0]))
    rgba = imaging.decode_png(buffer.getvalue(), name="palette")
    assert rgba.tolist() == [[[255, 0, 0, 255], [0, 0, 255, 0]]]


def test_wrong_dtype_names_input_and_fix() -> None:
    with pytest.raises(ImageError, match=r"baseline\.png: pixel dtype is float64.*uint8"):
        imaging.as_rgba(np.zeros((2, 2, 4)), name="baseline.png")


@pytest.mark.parametrize("shape", [(2, 2), (2, 2, 2), (2, 2, 5), (2, 2, 4, 1)])
def test_wrong_channel_count_names_input(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match=r"capture 'home': array shape is .*expected \(height"):
        imaging.as_rgba(np.zeros(shape, dtype=np.uint8), name="capture 'home'")


@pytest.mark.parametrize("shape", [(0, 5, 4), (5, 0, 4), (0, 0, 3)])
def test_empty_image_names_input(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match=r"header: image is empty"):
        imaging.as_rgba(np.zeros(shape, dtype=np.uint8), name="header")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _bomb_png(8_000, 8_000)  # 64 M pixels from a file of a few hundred bytes
    assert len(data) < 1000
    with pytest.raises(ImageError, match=r"upload\.png: image is 8000×8000 .*decompression-bomb"):
        imaging.decode_png(data, name="upload.png")


def test_huge_bomb_is_refused_by_pillows_guard_too() -> None:
    """Past Pillow's own limit (89 M pixels) Pillow refuses at open; the message still names the
    input and says what to do."""
    data = _bomb_png(20_000, 20_000)
    with pytest.raises(ImageError, match=r"upload\.png: image too large .*capture a smaller region"):
        imaging.decode_png(data, name="upload.png")


def test_png_over_byte_limit_is_refused() -> None:
    data = imaging.PNG_SIGNATURE + b"\0" * imaging.MAX_PNG_BYTES
    with pytest.raises(ImageError, match=r"big\.png: PNG is \d+ bytes, over the"):
        imaging.decode_png(data, name="big.png")


def test_truncated_png_names_input_and_fix() -> None:
    rng = np.random.default_rng(1)
    data = _png_bytes(rng.integers(0, 256, size=(64, 64, 4), dtype=np.uint8))
    with pytest.raises(ImageError, match=r"baselines/home\.png: cannot decode PNG .*--approve"):
        imaging.decode_png(data[: len(data) // 2], name="baselines/home.png")


def test_truncated_png_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "home.png"
    path.write_bytes(_png_bytes(np.zeros((32, 32, 4), dtype=np.uint8))[:40])
    with pytest.raises(ImageError, match=str(path)):
        imaging.read_png(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.png"
    with pytest.raises(ImageError, match=r"missing\.png: cannot read image"):
        imaging.load_rgba(path)


@pytest.mark.parametrize("data", [b"GIF89a\x01\x00\x01\x00", b"", b"\xff\xd8\xff\xe0 JPEG"])
def test_non_png_bytes_name_input(data: bytes) -> None:
    with pytest.raises(ImageError, match=r"snapshot 'chart': not a PNG file"):
        imaging.load_rgba(data, name="snapshot 'chart'")


@pytest.mark.parametrize("value", [123, None, [[0, 0, 0, 0]], {"png": b""}])
def test_unknown_type_names_input_and_accepted_types(value: object) -> None:
    with pytest.raises(ImageError, match=r"footer: cannot use a .* as an image; pass .*PNG bytes"):
        imaging.load_rgba(value, name="footer")


def test_load_rgba_accepts_every_documented_source(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (1, 2, 3, 4)
    data = _png_bytes(rgba)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    sources: list[object] = [rgba, data, bytearray(data), path, str(path), Image.open(path)]
    for source in sources:
        assert np.array_equal(imaging.load_rgba(source, name="src"), rgba), type(source)


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    """Atomic writes go through a private temporary file; the result must not stay 0600."""
    path = tmp_path / "baseline.png"
    imaging.write_png(path, np.zeros((1, 1, 4), dtype=np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.tmp"))


def test_decode_image_takes_png_and_jpeg_behind_one_guard() -> None:
    from pytest_visualreview.imaging import decode_image, decode_png, encode_png

    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(12, dtype=np.uint8) * 20
    rgba[..., 3] = 200
    png = encode_png(rgba)
    decoded, media = decode_image(png)
    assert media == "image/png" and np.array_equal(decoded, decode_png(png))
    assert decoded.flags.writeable and decoded.flags.c_contiguous
    out = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 200, 30)).save(out, format="JPEG")
    jpeg, media = decode_image(out.getvalue())
    assert media == "image/jpeg" and jpeg.shape == (4, 6, 4) and (jpeg[..., 3] == 255).all()
    with pytest.raises(ImageError, match="upload: not a PNG file"):
        decode_image(out.getvalue(), name="upload", formats=("PNG",))
    big = io.BytesIO()
    Image.new("L", (8000, 7000)).save(big, format="JPEG")  # 56 M pixels, over the limit
    with pytest.raises(ImageError, match="pixel limit|decompression-bomb"):
        decode_image(big.getvalue())


def _saved(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _pil_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return imaging.pil_to_rgba(image)


@pytest.mark.skipif(imaging._spng is None, reason="libspng (the server extra) is not installed")
def test_libspng_decodes_rgba_and_rgb_to_pils_pixels() -> None:
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, size=(37, 53, 4), dtype=np.uint8)
    rgba[:10] = (10, 200, 30, 255)  # flat rows, the usual screenshot case
    for data in (
        _saved(Image.fromarray(rgba, "RGBA")),
        _saved(Image.fromarray(rgba, "RGBA"), compress_level=9, optimize=True),
        _saved(Image.fromarray(rgba[..., :3].copy(), "RGB")),
    ):
        assert imaging._spng_decodes(data)
        assert np.array_equal(imaging.decode_png(data), _pil_pixels(data))


def test_other_png_kinds_keep_pils_conversions() -> None:
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), "L")
    rgb = Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8), "RGB")
    for data in (
        _saved(grey),
        _saved(grey.convert("P")),
        _saved(rgb, transparency=(0, 0, 0)),  # an RGB transparency key (tRNS)
        _saved(Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16))),  # 16-bit grey
    ):
        assert not imaging._spng_decodes(data)
        assert np.array_equal(imaging.decode_png(data), _pil_pixels(data))


def test_write_atomic_all_writes_every_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    """Several files, one round of fsyncs: each ends whole under its name, no temp file stays."""
    items = [(tmp_path / f"{i:02x}" / f"blob{i}", bytes([i]) * (1000 + i)) for i in range(5)]
    imaging.write_atomic_all(items)
    assert [path.read_bytes() for path, _ in items] == [data for _, data in items]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"blob{i}" for i in range(5)]


def test_write_atomic_all_failing_midway_leaves_no_half_file(tmp_path: Path) -> None:
    """A failure before the renames (here: a target whose folder is a file) leaves neither a
    temporary file nor any target under its final name."""
    (tmp_path / "taken").write_bytes(b"a file, not a folder")
    items = [(tmp_path / "ok" / "first", b"x" * 100), (tmp_path / "taken" / "second", b"y")]
    with pytest.raises(OSError):
        imaging.write_atomic_all(items)
    assert not (tmp_path / "ok" / "first").exists()
    assert list((tmp_path / "ok").iterdir()) == []
