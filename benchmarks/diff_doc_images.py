"""Regenerate the pictures in docs/comparator.md from pixelmatch's fixture images.

    .venv/bin/python benchmarks/diff_doc_images.py

Writes docs/images/diff-*.png. The screenshot example is drawn from the benchmark's Chromium pair
when .benchmarks-work/ has it (run benchmarks/diff_bench.py first); otherwise it is left as is.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_visualreview import diff, imaging  # noqa: E402

INPUTS = ROOT / "tests" / "fixtures" / "pixelmatch" / "inputs"
OUT = ROOT / "docs" / "images"


def picture(name: str, img1: np.ndarray, img2: np.ndarray, **options: Any) -> int:
    """Write the diff image of one comparison; returns its count for the caption."""
    result = diff.compare(img1, img2, **options)
    assert result.diff_image is not None
    imaging.write_png(OUT / f"diff-{name}.png", imaging.encode_png(result.diff_image, compress_level=9))
    return result.diff_pixel_count


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    a1, b1 = imaging.read_png(INPUTS / "1a.png"), imaging.read_png(INPUTS / "1b.png")
    a7, b7 = imaging.read_png(INPUTS / "7a.png"), imaging.read_png(INPUTS / "7b.png")
    for stem, img in (("input-1a", a1), ("input-1b", b1)):
        imaging.write_png(OUT / f"diff-{stem}.png", imaging.encode_png(img, compress_level=9))
    counts = {
        "default": picture("default", a1, b1),
        "threshold-0.05": picture("threshold-0.05", a1, b1, threshold=0.05),
        "include-aa": picture("include-aa", a1, b1, include_aa=True),
        "mask": picture("mask", a1, b1, diff_mask=True),
        "alpha-0.5": picture("alpha-0.5", a1, b1, alpha=0.5),
        "colors": picture("colors", a1, b1, aa_color=(0, 192, 0), diff_color=(255, 0, 255)),
        "alt": picture("alt", a7, b7, diff_color_alt=(0, 255, 0)),
    }
    work = ROOT / ".benchmarks-work"
    first, second = work / "screen-phone-a.png", work / "screen-phone-b.png"
    if first.exists() and second.exists():
        crops = {
            "text": np.s_[2360:2480, 60:1110],  # the reworded sentence in section 3
            "buttons": np.s_[1900:2060, 60:1110],  # the re-coloured buttons of the Plans card
        }
        full_a, full_b = imaging.read_png(first), imaging.read_png(second)
        for name, crop in crops.items():
            a, b = full_a[crop], full_b[crop]
            for side, img in (("a", a), ("b", b)):
                imaging.write_png(
                    OUT / f"diff-screenshot-{name}-{side}.png", imaging.encode_png(img, compress_level=9)
                )
            counts[f"screenshot-{name}"] = picture(f"screenshot-{name}", a, b)
            counts[f"screenshot-{name}-include-aa"] = picture(
                f"screenshot-{name}-include-aa", a, b, include_aa=True
            )
    for name, count in counts.items():
        print(f"docs/images/diff-{name}.png: {count} differing pixels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
