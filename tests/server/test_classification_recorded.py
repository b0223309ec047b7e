"""The worker's per-pair path classifies a fixed set of pairs exactly as recorded.

Speed work on the worker (issue 12: decoding, the comparison, the diff image, its PNG) must never
change a classification. The pairs cover each outcome PostHog's rules give (changed by pixels,
unchanged, a size mismatch, below threshold after SSIM, structural) plus anti-aliased edges and
translucent pixels; the records were taken with the code before that work (main at 5f3c9aa) and
are pixelmatch-exact counts. The diff image is compared by the content hash of its decoded pixels,
so a different PNG encoding of the same picture passes and a different picture fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_visualreview.imaging import content_hash, decode_image, encode_png
from pytest_visualreview.server.blobs import BlobStore
from pytest_visualreview.server.processing import diff_snapshot

W, H = 390, 844  # a phone-size screenshot


def _screen(seed: int, height: int = H) -> np.ndarray:
    """Screenshot-like: an app bar and cards with text-like lines."""
    rng = np.random.default_rng(seed)
    rgba = np.full((height, W, 4), 255, dtype=np.uint8)
    rgba[:56, :, :3] = rng.integers(0, 255, 3, dtype=np.uint8)
    y = 80
    while y < height - 40:
        h = int(rng.integers(60, 160))
        rgba[y : y + h, 16 : W - 16, :3] = (245, 246, 248)
        for line in range(y + 12, y + h - 12, 18):
            rgba[line : line + 8, 32 : 32 + int(rng.integers(80, W - 48)), :3] = (60, 64, 72)
        y += h + 16
    return rgba


def _disc(rgba: np.ndarray, cx: float, cy: float, r: float, colour: tuple[int, int, int]) -> None:
    """Paint an anti-aliased disc (soft one-pixel edge), deterministic float math."""
    yy, xx = np.mgrid[0 : rgba.shape[0], 0 : rgba.shape[1]]
    cover = np.clip(r + 0.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)[..., None]
    rgb = rgba[..., :3].astype(np.float64)
    rgba[..., :3] = np.round(rgb * (1 - cover) + np.array(colour) * cover).astype(np.uint8)


def _tall(block: bool) -> np.ndarray:
    rgba = np.full((1200, 300, 4), 255, dtype=np.uint8)
    for y in range(20, 1180, 24):
        rgba[y : y + 10, 20 : 20 + (y * 7) % 250, :3] = 40
    if block:
        rgba[600:640, 20:120, :3] = (200, 40, 40)
    return rgba


def pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (baseline, current) RGBA pixels."""
    base = _screen(1)
    banner = base.copy()
    banner[300:420, 16 : W - 16, :3] = (20, 90, 200)  # ~11% of the pixels
    grown = np.concatenate([_screen(2), np.full((56, W, 4), 255, np.uint8)])
    nudged = _screen(3)
    nudged[400, 200, :3] = 255 - nudged[400, 200, :3]
    soft_a, soft_b = _screen(4), _screen(4)
    for y in range(100, 800, 90):
        _disc(soft_a, 120.0, y + 20.0, 14.0, (30, 30, 30))
        _disc(soft_b, 120.6, y + 20.3, 14.0, (30, 30, 30))  # moved by a fraction of a pixel
    soft_c = soft_b.copy()
    soft_c[300:420, 16 : W - 16, :3] = (20, 90, 200)  # and a banner: changed, with AA pixels
    glass_a = _screen(5)
    glass_a[200:500, 40:300, 3] = 128  # translucent panel
    glass_b = glass_a.copy()
    glass_b[250:450, 60:280, :3] = (240, 200, 40)
    glass_b[250:450, 60:280, 3] = 90
    return {
        "changed": (base, banner),
        "unchanged": (_screen(6), _screen(6)),
        "size_mismatch": (_screen(2), grown),
        "below_threshold": (_screen(3), nudged),
        "structural": (_tall(False), _tall(True)),
        "antialiased": (soft_a, soft_b),
        "antialiased_changed": (soft_a, soft_c),
        "translucent": (glass_a, glass_b),
    }


def classify_all(root: Path) -> dict[str, dict[str, object]]:
    """Every pair through ``diff_snapshot`` (PNG blobs in, a stored diff PNG out)."""
    blobs = BlobStore(root)
    records: dict[str, dict[str, object]] = {}
    for name, (expected, actual) in pairs().items():
        keys = []
        for rgba in (expected, actual):
            keys.append(content_hash(rgba))
            blobs.put(keys[-1], encode_png(rgba))
        outcome = diff_snapshot(blobs, name, keys[0], keys[1], True)
        picture = None
        if outcome.diff_key is not None:
            picture = content_hash(decode_image(blobs.get(outcome.diff_key))[0])
        records[name] = {
            "result": str(outcome.result),
            "reason": str(outcome.classification_reason),
            "change_kind": outcome.change_kind,
            "diff_percentage": outcome.diff_percentage,
            "diff_pixel_count": outcome.diff_pixel_count,
            "ssim_score": outcome.ssim_score,
            "metadata": outcome.diff_metadata,
            "diff_size": outcome.diff_size,
            "diff_pixels": picture,
        }
    return records


RECORDED: dict[str, dict[str, object]] = {
    "antialiased": {
        "change_kind": "",
        "diff_percentage": 0.0012,
        "diff_pixel_count": 4,
        "diff_pixels": None,
        "diff_size": None,
        "metadata": {"size_mismatch": False},
        "reason": "below_threshold",
        "result": "unchanged",
        "ssim_score": 0.998278,
    },
    "antialiased_changed": {
        "change_kind": "pixel",
        "diff_percentage": 13.0122,
        "diff_pixel_count": 42831,
        "diff_pixels": "1c916bdf3c2dbff09bca6c53112dbe430d4aa4b5e936b8d94b859e52771b77b2",
        "diff_size": (390, 844),
        "metadata": {"size_mismatch": False},
        "reason": "",
        "result": "changed",
        "ssim_score": None,
    },
    "below_threshold": {
        "change_kind": "",
        "diff_percentage": 0.0003,
        "diff_pixel_count": 1,
        "diff_pixels": None,
        "diff_size": None,
        "metadata": {"size_mismatch": False},
        "reason": "below_threshold",
        "result": "unchanged",
        "ssim_score": 0.999786,
    },
    "changed": {
        "change_kind": "pixel",
        "diff_percentage": 13.0514,
        "diff_pixel_count": 42960,
        "diff_pixels": "3d7364145abe212b5d89e557cdd6205cdcd6138bfbecd604ee4552a6b596cc65",
        "diff_size": (390, 844),
        "metadata": {"size_mismatch": False},
        "reason": "",
        "result": "changed",
        "ssim_score": None,
    },
    "size_mismatch": {
        "change_kind": "structural",
        "diff_percentage": 0.0,
        "diff_pixel_count": 0,
        "diff_pixels": "dd8243e0728f1ec9c256424d447d00a59681bf88caa792aaa8e943c18a52d90d",
        "diff_size": (390, 900),
        "metadata": {"size_mismatch": True},
        "reason": "",
        "result": "changed",
        "ssim_score": 0.932225,
    },
    "structural": {
        "change_kind": "structural",
        "diff_percentage": 1.1111,
        "diff_pixel_count": 4000,
        "diff_pixels": "d399bfae673459119f657eb6e32e54ec97d93f8215c33fe3e3f32d06f34b54d7",
        "diff_size": (300, 1200),
        "metadata": {"size_mismatch": False},
        "reason": "",
        "result": "changed",
        "ssim_score": 0.988069,
    },
    "translucent": {
        "change_kind": "pixel",
        "diff_percentage": 13.3674,
        "diff_pixel_count": 44000,
        "diff_pixels": "518d2a8b93327584fc807e6d5ad5f2efc9c08018645ab59a2b564b803aeab1b8",
        "diff_size": (390, 844),
        "metadata": {"size_mismatch": False},
        "reason": "",
        "result": "changed",
        "ssim_score": None,
    },
    "unchanged": {
        "change_kind": "",
        "diff_percentage": 0.0,
        "diff_pixel_count": 0,
        "diff_pixels": None,
        "diff_size": None,
        "metadata": {"size_mismatch": False},
        "reason": "below_threshold",
        "result": "unchanged",
        "ssim_score": 1.0,
    },
}


@pytest.fixture(scope="module")
def classified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    return classify_all(tmp_path_factory.mktemp("blobs"))


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_classification_is_as_recorded(name: str, classified: dict[str, dict[str, object]]) -> None:
    assert classified[name] == RECORDED[name]


def test_every_pair_has_a_record(classified: dict[str, dict[str, object]]) -> None:
    assert sorted(classified) == sorted(RECORDED)
