"""The diff PNG encoder: indexed when the picture fits a palette, always the same pixels as RGBA."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_visualreview import diff
from pytest_visualreview.imaging import decode_png
from pytest_visualreview.server.diffimage import encode_diff_png

from .server_helpers import page


def _changed(base: np.ndarray) -> np.ndarray:
    current = base.copy()
    current[40:80, 10:120, :3] = (20, 90, 200)
    current[90:100, 10:60, :3] = 255 - current[90:100, 10:60, :3]  # darker and brighter pixels
    return current


@pytest.mark.parametrize(
    "options",
    [{}, {"include_aa": True}, {"diff_color_alt": (0, 200, 0)}, {"checkerboard": True, "alpha": 0.5}],
)
def test_an_indexed_diff_decodes_to_the_rgba_diff(options: dict[str, object]) -> None:
    base = page(11).rgba
    rgba = diff.compare(base, _changed(base), **options).diff_image  # type: ignore[arg-type]
    indexed = diff.compare(base, _changed(base), indexed=True, **options).diff_indexed  # type: ignore[arg-type]
    assert rgba is not None and indexed is not None
    assert np.array_equal(indexed.rgba(), rgba)
    png = encode_diff_png(indexed)
    assert png[25] == 3  # IHDR colour type: indexed
    assert np.array_equal(decode_png(png), rgba)


def test_a_picture_without_free_palette_slots_comes_as_rgba() -> None:
    black = np.zeros((32, 32, 4), dtype=np.uint8)
    black[..., 3] = 255
    current = black.copy()
    current[4:8, 4:8, :3] = 200
    result = diff.compare(black, current, alpha=1.0, indexed=True)  # grey level 0 is used
    assert result.diff_indexed is None and result.diff_image is not None
    png = encode_diff_png(result.diff_image)
    assert png[25] == 6  # RGBA
    assert np.array_equal(decode_png(png), result.diff_image)


def test_a_diff_mask_comes_as_rgba() -> None:
    base = page(12).rgba
    result = diff.compare(base, _changed(base), diff_mask=True, indexed=True)
    assert result.diff_indexed is None and result.diff_image is not None
