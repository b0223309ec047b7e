"""The diff PNG encoder: indexed when the colours fit, always the same pixels as the RGBA image."""

from __future__ import annotations

import numpy as np

from pytest_visualreview import diff
from pytest_visualreview.imaging import decode_image, decode_png
from pytest_visualreview.server.diffimage import encode_diff_png, palette_indices

from .server_helpers import page


def test_a_pixelmatch_diff_is_indexed_and_decodes_to_the_same_pixels() -> None:
    base = page(11).rgba
    changed = base.copy()
    changed[40:80, 10:120, :3] = (20, 90, 200)
    image = diff.compare(base, changed, include_aa=False, diff_image=True).diff_image
    assert image is not None
    png = encode_diff_png(image)
    assert png[25] == 3  # IHDR colour type: indexed
    assert np.array_equal(decode_png(png), image)


def test_colours_that_do_not_fit_a_palette_fall_back_to_rgba() -> None:
    rng = np.random.default_rng(5)
    noisy = rng.integers(0, 255, (64, 64, 4), dtype=np.uint8)
    assert palette_indices(noisy) is None
    png = encode_diff_png(noisy)
    assert png[25] == 6  # RGBA
    assert np.array_equal(decode_png(png), noisy)


def test_translucent_colours_keep_their_alpha() -> None:
    image = np.full((8, 8, 4), 240, dtype=np.uint8)
    image[..., 3] = 255
    image[2:4, 2:4] = (255, 0, 0, 128)
    assert np.array_equal(decode_image(encode_diff_png(image))[0], image)
