"""Differential test of the comparator against the real pixelmatch, in Node.

    .venv/bin/python benchmarks/diff_crosscheck.py [--cases 400] [--max-side 40] [--seed 1]

Random image pairs from small palettes (so equal neighbours, edges and anti-aliasing candidates are
common), with opaque, transparent and semi-transparent pixels and random options, go through
``diff.compare`` and through npm ``pixelmatch@5.3.0`` (``checkerboard=False``) and ``@7.2.0``
(``checkerboard=True``). Every count and every diff image byte must agree, and budgeted calls must
agree on within/over. Installs both packages (npm aliases) into .benchmarks-work/ on first use.
Exits 1 on any mismatch. Not part of the test suite, which must not need Node: the suite pins the
same behaviour with pixelmatch's own fixtures and hypothesis properties.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_visualreview import diff  # noqa: E402

WORK = ROOT / ".benchmarks-work" / "crosscheck"
PACKAGES = {"v5.3.0": "pm53@npm:pixelmatch@5.3.0", "v7.2.0": "pm72@npm:pixelmatch@7.2.0"}
RUNNER = Path(__file__).resolve().parent / "diff_crosscheck.mjs"


def install() -> Path:
    """Both pixelmatch versions side by side under npm aliases (once)."""
    marker = WORK / "installed.txt"
    if not (marker.exists() and marker.read_text() == " ".join(PACKAGES.values())):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm not found: install Node.js 20 and npm")
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / "package.json").write_text('{"name": "diff-crosscheck", "private": true}\n')
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(WORK), *PACKAGES.values()],
            check=True,
            capture_output=True,
        )
        marker.write_text(" ".join(PACKAGES.values()))
    return WORK / "node_modules"


def random_case(rng: np.random.Generator, k: int, max_side: int) -> dict[str, Any]:
    """One random pair and option set; every fourth kind of palette differs in transparency."""
    height, width = (int(v) for v in rng.integers(1, max_side + 1, size=2))
    colours = int(rng.integers(2, 6))
    palette = rng.integers(0, 256, size=(colours, 4), dtype=np.uint8)
    kind = k % 4
    if kind == 0:
        palette[:, 3] = 255
    elif kind == 1:
        palette[:, 3] = rng.choice([0, 128, 255], size=colours)
    img1 = palette[rng.integers(0, colours, size=(height, width))]
    img2 = img1.copy()
    changed = rng.random((height, width)) < rng.choice([0.05, 0.3, 0.7])
    if kind == 3:
        img2[changed] = rng.integers(0, 256, size=(int(changed.sum()), 4), dtype=np.uint8)
    else:
        img2[changed] = palette[rng.integers(0, colours, size=int(changed.sum()))]
    opts: dict[str, Any] = {
        "threshold": float(rng.choice([0, 0.01, 0.05, 0.1, 0.2, 0.5])),
        "alpha": float(rng.choice([0.1, 0.33, 0.5, 1.0])),
        "includeAA": bool(rng.random() < 0.2),
        "diffMask": bool(rng.random() < 0.2),
    }
    if rng.random() < 0.3:
        opts["diffColorAlt"] = [0, 255, 0]
    return {"w": width, "h": height, "img1": img1, "img2": img2, "opts": opts}


def check(version: str, modules: Path, cases: list[dict[str, Any]]) -> int:
    """Run one pixelmatch version on every case; returns the number of mismatches."""
    checkerboard = version == "v7.2.0"
    payload = []
    for case in cases:
        opts = dict(case["opts"], checkerboard=True) if checkerboard else case["opts"]
        payload.append(
            {
                "w": case["w"],
                "h": case["h"],
                "a": base64.b64encode(case["img1"].tobytes()).decode(),
                "b": base64.b64encode(case["img2"].tobytes()).decode(),
                "opts": opts,
            }
        )
    cases_file = WORK / f"cases-{version}.json"
    cases_file.write_text(json.dumps(payload))
    module = modules / ("pm72" if checkerboard else "pm53")
    subprocess.run(["node", str(RUNNER), str(module), str(cases_file)], check=True)
    answers = json.loads(Path(f"{cases_file}.out").read_text())
    bad = 0
    for case, answer in zip(cases, answers, strict=True):
        opts = case["opts"]
        kwargs: dict[str, Any] = {
            "threshold": opts["threshold"],
            "include_aa": opts["includeAA"],
            "checkerboard": checkerboard,
        }
        result = diff.compare(
            case["img1"],
            case["img2"],
            alpha=opts["alpha"],
            diff_mask=opts["diffMask"],
            diff_color_alt=opts.get("diffColorAlt"),
            **kwargs,
        )
        expected = np.frombuffer(base64.b64decode(answer["diff"]), np.uint8).reshape(case["h"], case["w"], 4)
        assert result.diff_image is not None
        ok = result.diff_pixel_count == answer["n"] and np.array_equal(result.diff_image, expected)
        for budget in {0, answer["n"], max(answer["n"] - 1, 0)}:
            quick = diff.compare(
                case["img1"], case["img2"], diff_image=False, max_diff_pixels=budget, **kwargs
            )
            ok &= quick.within_budget == (answer["n"] <= budget)
            ok &= not quick.within_budget or quick.diff_pixel_count == answer["n"]
        if not ok:
            bad += 1
            if bad <= 5:
                print(
                    f"  mismatch {version}: {case['w']}x{case['h']} {opts}: ours {result.diff_pixel_count}, "
                    f"pixelmatch {answer['n']}"
                )
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--max-side", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    modules = install()
    rng = np.random.default_rng(args.seed)
    cases = [random_case(rng, k, args.max_side) for k in range(args.cases)]
    failures = 0
    for version in PACKAGES:
        bad = check(version, modules, cases)
        print(
            f"pixelmatch {version}: {len(cases) - bad}/{len(cases)} cases agree (count, diff image, budget)"
        )
        failures += bad
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
