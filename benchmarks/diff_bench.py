"""Benchmark of the comparator against its peers, in one run from a clean clone.

    .venv/bin/python benchmarks/diff_bench.py            # full run (a few minutes)
    .venv/bin/python benchmarks/diff_bench.py --quick    # fewer repeats, smaller pure-Python crops

Pairs: an identical 1170×2532 pair, a real screenshot pair of that size with about 2% of the pixels
changed (Chromium renders a generated page twice, the second time with CSS/text edits; see
diff_screens.py), a 3840×2160 pair made the same way, and a pair where every pixel differs (the
screenshot against its colour inverse).

Peers: pixelmatch 5.3.0 in Node (timed inside Node, raw RGBA in, no PNG decode), odiff (npm
odiff-bin, the whole process: PNG decode, diff, PNG encode), the pure-Python ``pixelmatch`` from
PyPI (on a crop when the whole image would take too long, scaled per megapixel), and
``numpy.array_equal`` for the identical pair. npm and PyPI peers are installed on first use into
.benchmarks-work/ (git-ignored). Prints ms per megapixel, each peer's time divided by ours, and our
peak extra memory (tracemalloc) against the size of the two inputs. Never a test assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import diff_screens  # noqa: E402

from pytest_visualreview import diff, imaging  # noqa: E402

WORK = ROOT / ".benchmarks-work"
NPM_DIR = WORK / "npm"
PYPI_DIR = WORK / "pypi"
NPM_PEERS = ("pixelmatch@5.3.0", "odiff-bin@4.5.0")
PYPI_PEER = "pixelmatch==0.4.0"
NODE_RUNNER = Path(__file__).resolve().parent / "diff_node_pixelmatch.js"


@dataclass
class Row:
    pair: str
    tool: str
    config: str
    ms: float
    megapixels: float
    note: str = ""
    ratio_to_ours: float | None = None
    count: int | None = None

    @property
    def ms_per_mp(self) -> float:
        return self.ms / self.megapixels


# ------------------------------------------------------------------------------------------------
# Peers


def install_npm_peers() -> Path | None:
    """pixelmatch 5.3.0 and odiff-bin into .benchmarks-work/npm (once)."""
    marker = NPM_DIR / "installed.txt"
    if marker.exists() and marker.read_text() == " ".join(NPM_PEERS):
        return NPM_DIR
    npm = shutil.which("npm")
    if npm is None:
        print("! npm not found: Node peers skipped (install Node.js 20 and npm)")
        return None
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    (NPM_DIR / "package.json").write_text('{"name": "diff-bench-peers", "private": true}\n')
    print(f"installing {' '.join(NPM_PEERS)} into {NPM_DIR} ...", flush=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR), *NPM_PEERS],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"! npm install failed, Node peers skipped:\n{done.stderr[-2000:]}")
        return None
    marker.write_text(" ".join(NPM_PEERS))
    return NPM_DIR


def install_pypi_peer() -> bool:
    """The pure-Python pixelmatch into .benchmarks-work/pypi (once), importable from there."""
    if not (PYPI_DIR / "pixelmatch").exists():
        print(f"installing {PYPI_PEER} into {PYPI_DIR} ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PYPI_DIR), PYPI_PEER],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"! pip install {PYPI_PEER} failed, pure-Python peer skipped:\n{done.stderr[-2000:]}")
            return False
    sys.path.insert(0, str(PYPI_DIR))
    return True


def odiff_binary(npm_dir: Path) -> Path | None:
    """The native odiff executable the npm package ships for this platform."""
    found = sorted((npm_dir / "node_modules" / "@odiff").glob("*/odiff"))
    return found[0] if found else None


# ------------------------------------------------------------------------------------------------
# Timing


def best_ms(
    func: Callable[[], Any], repeats: int, min_seconds: float = 1.0, max_runs: int = 60
) -> tuple[float, Any]:
    """Best wall time after one warm-up run: at least `repeats` runs, more (up to `max_runs`)
    while less than `min_seconds` has been spent, so that a busy machine still offers a quiet
    moment to the fast cases. Returns (ms, last result)."""
    result = func()
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats or (spent < min_seconds and len(times) < max_runs):
        start = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - start
        times.append(elapsed * 1e3)
        spent += elapsed
    return min(times), result


def peak_extra_mb(func: Callable[[], Any]) -> float:
    """Peak memory allocated while `func` runs (numpy buffers included), in MB."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def node_pixelmatch(
    npm_dir: Path, pair_dir: Path, shape: tuple[int, int], include_aa: bool, output: bool, repeats: int
) -> tuple[float, int]:
    height, width = shape
    module = npm_dir / "node_modules" / "pixelmatch"
    done = subprocess.run(
        [
            "node",
            str(NODE_RUNNER),
            str(module),
            str(width),
            str(height),
            str(pair_dir / "a.rgba"),
            str(pair_dir / "b.rgba"),
            "1" if include_aa else "0",
            "1" if output else "0",
            str(repeats + 1),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    return min(report["times_ms"][1:]), int(report["count"])


def odiff_ms(binary: Path, pair_dir: Path, antialiasing: bool, repeats: int) -> tuple[float, int]:
    args = [str(binary), str(pair_dir / "a.png"), str(pair_dir / "b.png"), str(pair_dir / "odiff.png")]
    args.append("--parsable-stdout")
    if antialiasing:
        args.append("--antialiasing")
    times = []
    out = ""
    for _ in range(repeats + 1):
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        times.append((time.perf_counter() - start) * 1e3)
        out = done.stdout.strip()
    count = int(out.split(";")[0]) if out and out[0].isdigit() else 0
    return min(times[1:]), count


def pure_python_ms(img1: np.ndarray, img2: np.ndarray, include_aa: bool) -> tuple[float, int]:
    from pixelmatch import pixelmatch  # type: ignore[import-not-found]

    height, width = img1.shape[:2]
    a, b = img1.tobytes(), img2.tobytes()
    start = time.perf_counter()
    count = pixelmatch(a, b, width, height, threshold=0.1, includeAA=include_aa)
    return (time.perf_counter() - start) * 1e3, int(count)


def _pipeline(folder: Path) -> bytes:
    """What a failing snapshot costs end to end: decode both PNGs, compare, encode the diff PNG."""
    result = diff.compare(imaging.read_png(folder / "a.png"), imaging.read_png(folder / "b.png"))
    assert result.diff_image is not None
    return imaging.encode_png(result.diff_image)


def representative_crop(img1: np.ndarray, img2: np.ndarray, rows: int) -> slice:
    """A band of `rows` rows whose share of differing pixels is closest to the whole image's."""
    if rows >= img1.shape[0]:
        return slice(0, img1.shape[0])
    differ = (img1.view("<u4")[..., 0] != img2.view("<u4")[..., 0]).mean(axis=1)
    whole = differ.mean()
    best, best_gap = 0, float("inf")
    for top in range(0, img1.shape[0] - rows + 1, max(1, rows // 4)):
        gap = abs(differ[top : top + rows].mean() - whole)
        if gap < best_gap:
            best, best_gap = top, gap
    return slice(best, best + rows)


# ------------------------------------------------------------------------------------------------
# Pairs


def make_pairs() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    phone_a, phone_b, how = diff_screens.screenshot_pair(WORK, size="phone")
    desk_a, desk_b, _ = diff_screens.screenshot_pair(WORK, size="4k")
    inverted = phone_a.copy()
    inverted[..., :3] = 255 - inverted[..., :3]
    pairs = {
        "identical 1170x2532": (phone_a, phone_a.copy()),
        "screenshot 1170x2532": (phone_a, phone_b),
        "screenshot 3840x2160": (desk_a, desk_b),
        "all differ 1170x2532": (phone_a, inverted),
    }
    return pairs, how


def write_pair_files(name: str, img1: np.ndarray, img2: np.ndarray) -> Path:
    folder = WORK / "pairs" / name.replace(" ", "-")
    folder.mkdir(parents=True, exist_ok=True)
    for stem, img in (("a", img1), ("b", img2)):
        raw = folder / f"{stem}.rgba"
        if not raw.exists() or raw.stat().st_size != img.nbytes:
            img.tofile(raw)
            (folder / f"{stem}.png").write_bytes(imaging.encode_png(img))
    return folder


# ------------------------------------------------------------------------------------------------
# Main


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "node": node or "absent",
        "os": platform.platform(),
    }


def bench_pair(
    name: str,
    img1: np.ndarray,
    img2: np.ndarray,
    *,
    repeats: int,
    quick: bool,
    npm_dir: Path | None,
    odiff: Path | None,
    have_pypi: bool,
) -> tuple[list[Row], list[dict[str, Any]]]:
    """Every measurement of one pair: ours, the peers, and our peak memory."""
    rows: list[Row] = []
    memory: list[dict[str, Any]] = []
    megapixels = img1.shape[0] * img1.shape[1] / 1e6
    folder = write_pair_files(name, img1, img2)
    ours: dict[tuple[bool, bool], float] = {}
    for include_aa in (False, True):
        for with_image in (False, True):
            ms, result = best_ms(
                partial(diff.compare, img1, img2, include_aa=include_aa, diff_image=with_image),
                repeats,
            )
            ours[(include_aa, with_image)] = ms
            rows.append(
                Row(
                    name,
                    "ours",
                    _config(include_aa, with_image),
                    ms,
                    megapixels,
                    count=result.diff_pixel_count,
                )
            )
    budget_ms, budgeted = best_ms(
        lambda: diff.compare(img1, img2, diff_image=False, max_diff_pixels=0),
        repeats,
    )
    rows.append(
        Row(
            name,
            "ours",
            "budget 0 px, AA detection, count only",
            budget_ms,
            megapixels,
            note=f"within={budgeted.within_budget} exact={budgeted.count_is_exact}",
            count=budgeted.diff_pixel_count,
        )
    )
    for with_image in (False, True):
        peak = peak_extra_mb(partial(diff.compare, img1, img2, diff_image=with_image))
        inputs = (img1.nbytes + img2.nbytes) / 1e6
        memory.append(
            {
                "pair": name,
                "config": "with diff image" if with_image else "count only",
                "peak_mb": peak,
                "inputs_mb": inputs,
                "ratio": peak / inputs,
            }
        )
    pipeline_ms, _ = best_ms(
        partial(_pipeline, folder),
        max(1, repeats // 2),
    )
    rows.append(
        Row(
            name,
            "ours",
            "whole pipeline: decode 2 PNGs, AA detection, diff image, encode PNG",
            pipeline_ms,
            megapixels,
        )
    )
    if name.startswith("identical"):
        ms, _ = best_ms(lambda: np.array_equal(img1, img2), repeats)
        rows.append(
            Row(
                name,
                "numpy.array_equal",
                "same arrays",
                ms,
                megapixels,
                ratio_to_ours=ms / ours[(False, False)],
            )
        )
    if npm_dir:
        for include_aa in (False, True):
            for with_image in (False, True):
                ms, count = node_pixelmatch(npm_dir, folder, img1.shape[:2], include_aa, with_image, repeats)
                rows.append(
                    Row(
                        name,
                        "pixelmatch 5.3.0 (Node)",
                        _config(include_aa, with_image),
                        ms,
                        megapixels,
                        ratio_to_ours=ms / ours[(include_aa, with_image)],
                        count=count,
                    )
                )
    if odiff:
        for antialiasing in (True, False):
            ms, count = odiff_ms(odiff, folder, antialiasing, repeats)
            ours_ms = ours[(not antialiasing, True)]
            rows.append(
                Row(
                    name,
                    "odiff 4.5.0 (whole process)",
                    ("--antialiasing" if antialiasing else "no AA") + ", decode + diff + encode PNG",
                    ms,
                    megapixels,
                    note="ratio vs our compare with diff image (no PNG I/O)",
                    ratio_to_ours=ms / ours_ms,
                    count=count,
                )
            )
    if have_pypi:
        crop_rows = img1.shape[0]
        if not name.startswith(("identical", "screenshot 1170")) or quick:
            crop_rows = max(1, int(round(0.25e6 / img1.shape[1])))
        band = representative_crop(img1, img2, crop_rows)
        c1, c2 = np.ascontiguousarray(img1[band]), np.ascontiguousarray(img2[band])
        crop_mp = c1.shape[0] * c1.shape[1] / 1e6
        ms, count = pure_python_ms(c1, c2, include_aa=False)
        ours_crop, _ = best_ms(lambda: diff.compare(c1, c2, diff_image=False), repeats)
        note = "whole image" if crop_mp == megapixels else f"rows {band.start}-{band.stop} ({crop_mp:.2f} MP)"
        rows.append(
            Row(
                name,
                "pure-Python pixelmatch 0.4.0",
                "AA detection, count only",
                ms,
                crop_mp,
                note=note + "; ratio vs ours on the same crop",
                ratio_to_ours=ms / ours_crop,
                count=count,
            )
        )
    _print_pair(
        name, megapixels, [r for r in rows if r.pair == name], [m for m in memory if m["pair"] == name]
    )
    return rows, memory


def run(quick: bool) -> dict[str, Any]:
    repeats = 5 if quick else 11
    npm_dir = install_npm_peers()
    have_pypi = install_pypi_peer()
    odiff = odiff_binary(npm_dir) if npm_dir else None
    pairs, how = make_pairs()
    print(f"screenshot pairs: {how}\n")
    rows: list[Row] = []
    memory: list[dict[str, Any]] = []
    for name, (img1, img2) in pairs.items():
        pair_rows, pair_memory = bench_pair(
            name, img1, img2, repeats=repeats, quick=quick, npm_dir=npm_dir, odiff=odiff, have_pypi=have_pypi
        )
        rows += pair_rows
        memory += pair_memory
    return {
        "machine": machine(),
        "screenshots": how,
        "rows": [asdict(r) | {"ms_per_mp": r.ms_per_mp} for r in rows],
        "memory": memory,
        "targets": _targets(rows, memory),
    }


def _config(include_aa: bool, with_image: bool) -> str:
    return ("no AA (include_aa)" if include_aa else "AA detection") + (
        ", diff image" if with_image else ", count only"
    )


def _print_pair(name: str, megapixels: float, rows: list[Row], memory: list[dict[str, Any]]) -> None:
    print(f"== {name} ({megapixels:.2f} MP)")
    print(f"   {'tool':<30} {'config':<58} {'ms':>9} {'ms/MP':>8} {'peer/ours':>9} {'count':>9}")
    for row in rows:
        ratio = f"{row.ratio_to_ours:.2f}" if row.ratio_to_ours is not None else ""
        count = "" if row.count is None else str(row.count)
        print(
            f"   {row.tool:<30} {row.config[:58]:<58} {row.ms:9.2f} {row.ms_per_mp:8.2f}"
            f" {ratio:>9} {count:>9}"
        )
        if row.note:
            print(f"   {'':<30}   ({row.note})")
    for item in memory:
        print(
            f"   peak extra memory, {item['config']}: {item['peak_mb']:.1f} MB = "
            f"{item['ratio']:.2f}x the two inputs ({item['inputs_mb']:.1f} MB)"
        )
    print()


def _targets(rows: list[Row], memory: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def find(pair: str, tool: str, config: str) -> Row | None:
        return next((r for r in rows if r.pair == pair and r.tool == tool and r.config == config), None)

    checks = []
    screen = "screenshot 1170x2532"
    for include_aa in (False, True):
        for with_image in (False, True):
            config = _config(include_aa, with_image)
            peer = find(screen, "pixelmatch 5.3.0 (Node)", config)
            ours = find(screen, "ours", config)
            if peer and ours:
                value = ours.ms / peer.ms
                checks.append(
                    {
                        "target": f"{screen}, {config}: ours <= 0.8x pixelmatch-in-Node",
                        "value": value,
                        "met": value <= 0.8,
                    }
                )
    ident = "identical 1170x2532"
    eq = find(ident, "numpy.array_equal", "same arrays")
    ours_ident = find(ident, "ours", _config(False, False))
    if eq and ours_ident:
        value = ours_ident.ms / eq.ms
        checks.append(
            {"target": "identical: ours <= 2x numpy.array_equal", "value": value, "met": value <= 2}
        )
    for row in rows:
        # Identical inputs are a bytes compare (memcmp) in pure-Python pixelmatch too: not a target.
        if row.tool.startswith("pure-Python") and row.ratio_to_ours is not None and row.pair != ident:
            checks.append(
                {
                    "target": f"{row.pair}: >= 100x faster than pure-Python pixelmatch",
                    "value": row.ratio_to_ours,
                    "met": row.ratio_to_ours >= 100,
                }
            )
    worst = max(memory, key=lambda m: m["ratio"])
    checks.append(
        {
            "target": "peak extra memory <= 6x the two inputs (worst pair/config)",
            "value": worst["ratio"],
            "met": worst["ratio"] <= 6,
        }
    )
    return checks


def _summary(results: dict[str, Any]) -> list[str]:
    """The headline comparisons: ours against the peer each target names."""

    def row(pair: str, tool: str, config: str) -> dict[str, Any] | None:
        return next(
            (r for r in results["rows"] if r["pair"] == pair and r["tool"] == tool and r["config"] == config),
            None,
        )

    node = "pixelmatch 5.3.0 (Node)"
    lines = [
        "| pair | what | ours | peer | peer ÷ ours |",
        "|---|---|---:|---:|---:|",
    ]
    for pair in list(dict.fromkeys(r["pair"] for r in results["rows"])):
        for include_aa in (False, True):
            for with_image in (False, True):
                config = _config(include_aa, with_image)
                ours, peer = row(pair, "ours", config), row(pair, node, config)
                if ours and peer and not pair.startswith("identical"):
                    lines.append(
                        f"| {pair} | {config} | {ours['ms']:.2f} ms ({ours['ms_per_mp']:.2f} ms/MP) "
                        f"| Node {peer['ms']:.2f} ms | {peer['ms'] / ours['ms']:.2f} |"
                    )
        eq = row(pair, "numpy.array_equal", "same arrays")
        ours = row(pair, "ours", _config(False, False))
        if eq and ours:
            lines.append(
                f"| {pair} | count only | {ours['ms']:.2f} ms | numpy.array_equal {eq['ms']:.2f} ms "
                f"| {eq['ms'] / ours['ms']:.2f} |"
            )
        pure = next(
            (r for r in results["rows"] if r["pair"] == pair and r["tool"].startswith("pure-Python")), None
        )
        if pure and not pair.startswith("identical"):
            lines.append(
                f"| {pair} | AA detection, count only | | pure-Python pixelmatch "
                f"{pure['ms_per_mp']:.0f} ms/MP | {pure['ratio_to_ours']:.0f} |"
            )
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The saved results as the Markdown tables of docs/performance.md."""
    load = results.get("load_average", {})
    lines = [
        f"Machine: {', '.join(f'{k} {v}' for k, v in results['machine'].items())}; "
        f"load average {load.get('before', float('nan')):.1f} before, "
        f"{load.get('after', float('nan')):.1f} after. Screenshots: {results['screenshots']}.",
        "",
        "#### Summary",
        "",
        *_summary(results),
        "",
    ]
    pairs = list(dict.fromkeys(row["pair"] for row in results["rows"]))
    for pair in pairs:
        rows = [row for row in results["rows"] if row["pair"] == pair]
        lines += [f"#### {pair} ({rows[0]['megapixels']:.2f} MP)", ""]
        lines += ["| tool | config | ms | ms/MP | peer ÷ ours | count |", "|---|---|---:|---:|---:|---:|"]
        for row in rows:
            ratio = "" if row["ratio_to_ours"] is None else f"{row['ratio_to_ours']:.2f}"
            count = "" if row["count"] is None else str(row["count"])
            config = row["config"] + (f" ({row['note']})" if row["note"] else "")
            lines.append(
                f"| {row['tool']} | {config} | {row['ms']:.2f} | {row['ms_per_mp']:.2f} | {ratio} | {count} |"
            )
        for item in results["memory"]:
            if item["pair"] == pair:
                lines.append("")
                lines.append(
                    f"Peak extra memory, {item['config']}: {item['peak_mb']:.1f} MB = "
                    f"{item['ratio']:.2f}× the two inputs ({item['inputs_mb']:.1f} MB)."
                )
        lines.append("")
    lines += ["#### Targets", "", "| target | measured | met |", "|---|---:|---|"]
    for check in results["targets"]:
        lines.append(f"| {check['target']} | {check['value']:.3g} | {'yes' if check['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, pure-Python peer on crops only")
    parser.add_argument(
        "--json", type=Path, default=WORK / "diff_bench.json", help="where to save the results"
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="JSON", help="print saved results as Markdown tables and exit"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    info = machine()
    load_before = os.getloadavg()[0]
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"load average before: {load_before:.2f} (other work on the machine skews timings)\n")
    results = run(args.quick)
    results["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print("== targets")
    for check in results["targets"]:
        print(f"   [{'met' if check['met'] else 'NOT MET'}] {check['target']}: {check['value']:.3g}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nresults saved to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
