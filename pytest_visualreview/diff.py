"""The comparator: pixelmatch's YIQ image diff, exact to the pixel, in numpy; and SSIM.

Why a port and not a new metric: every JS user of Playwright, jest-image-snapshot and PostHog
already reads pixelmatch's counts and diff images, so ours must give the same answer on the same
pixels (``checkerboard=False`` is pixelmatch v5.3.0 = v6 = Playwright's vendored copy;
``checkerboard=True`` is v7.0-v7.2). The fixtures in tests/fixtures/pixelmatch pin both, count and
diff image byte for byte.

Why it is fast in numpy although pixelmatch is a per-pixel loop (see docs/comparator.md):

* equal pixels cost one uint32 compare; only differing pixels are converted to float (YIQ delta);
* the anti-aliasing detector runs only on pixels over the threshold, vectorised over the
  candidates, with *exact integer* luma keys for opaque neighbourhoods (no float rounding can flip a
  decision) and a cheap "more than two equal neighbours" rejection before any luma is computed;
* pixels are processed in row bands and candidates in chunks, so memory stays bounded and a budgeted
  call (``max_diff_pixels``) stops as soon as the count is known to be over the budget;
* the grey background of the diff image is computed once per run of equal pixels.

Nothing here imports pytest: the plugin and the server both call these functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .imaging import as_rgba

__all__ = ["MAX_YIQ_DELTA", "DiffResult", "IndexedImage", "compare", "ssim"]

#: Maximum of pixelmatch's YIQ quadratic form; ``maxDelta = 35215 * threshold**2``.
MAX_YIQ_DELTA = 35215

_U32 = np.dtype("<u4")
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_U32A = npt.NDArray[np.uint32]
_BOOL = npt.NDArray[np.bool_]
_U8 = npt.NDArray[np.uint8]

# pixelmatch's YIQ coefficients (Kotsarenko & Ramos 2010), in the order the JS code uses them.
_YR, _YG, _YB = 0.29889531, 0.58662247, 0.11448223
_IR, _IG, _IB = 0.59597799, 0.27417610, 0.32180189
_QR, _QG, _QB = 0.21147017, 0.52261711, 0.31114694

# The 8 neighbours in pixelmatch's scan order: x outer, y inner. Ties in the darkest/brightest
# neighbour go to the first one in this order, so the order is part of the contract.
_DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)

_ALPHA_OPAQUE = np.uint32(0xFF000000)
_ONES8 = np.uint64(0x0101010101010101)
_SHIFT56 = np.uint64(56)

#: Pixels per band of rows for the differing-pixel pass (bounds the index array).
_BAND_PIXELS = 1 << 19
#: Differing pixels per chunk: float temporaries of this length stay in L2, and a budgeted
#: compare can stop after any chunk.
_CHUNK = 1 << 14
#: Candidates per pixel of their rows above which equal-neighbour counts are computed densely.
_DENSE_SHARE = 0.125
#: Below this share of run starts the grey background is computed per run of equal pixels.
_RUN_SHARE = 0.25


def _luma_tables() -> tuple[_I64, _I64, _F64, _F64]:
    """Tables indexed by the low 16 bits (R, G) and by B of a little-endian RGBA uint32.

    ``S = 29889531·R + 58662247·G + 11448223·B`` is 10**8 times pixelmatch's luma as an exact
    integer; comparing luma through S can never be flipped by float rounding (no non-zero RGB
    difference has a zero luma). The float tables reproduce JS's ``(r*cR + g*cG) + b*cB`` exactly.
    """
    rg = np.arange(65536, dtype=np.int64)
    r, g = rg & 0xFF, rg >> 8
    b = np.arange(256, dtype=np.int64)
    s_rg = 29889531 * r + 58662247 * g
    s_b = 11448223 * b
    y_rg = r.astype(np.float64) * _YR + g.astype(np.float64) * _YG
    y_b = b.astype(np.float64) * _YB
    return s_rg, s_b, y_rg, y_b


_S_RG, _S_B, _Y_RG, _Y_B = _luma_tables()

#: Deltas this close to maxDelta are recomputed with the exact arithmetic of the version: any
#: order of the 3-term sums is within ~1e-10 of JS's value (|dR|, |dG|, |dB| <= 255), so 1e-6 is
#: a wide margin.
_BORDERLINE = 1e-6


@dataclass(frozen=True, eq=False)
class IndexedImage:
    """A diff image as palette indices: ``palette[index]`` is the RGBA picture, pixel for pixel.

    A pixelmatch diff is a faded grey copy of img1 with at most three paint colours, so greys index
    their own level and the paint colours take the free slots below the darkest grey. Built this
    way the picture costs one byte per pixel and no pass to find its colours afterwards, and the
    server's indexed diff PNG deflates a quarter of the bytes of RGBA (``server/diffimage.py``).
    """

    index: npt.NDArray[np.uint8]  # H×W
    palette: npt.NDArray[np.uint8]  # 256×4 RGBA

    def rgba(self) -> npt.NDArray[np.uint8]:
        """The same picture as an H×W×4 RGBA array."""
        result: npt.NDArray[np.uint8] = self.palette[self.index]
        return result


@dataclass(frozen=True, eq=False)
class DiffResult:
    """What a comparison found. Sizes are (width, height); counts are over the padded canvas.

    ``count_is_exact`` is False only for a budgeted call that stopped early: then
    ``diff_pixel_count`` is a lower bound that already exceeds ``max_diff_pixels``.
    ``within_budget`` is None when no budget was given.
    """

    diff_pixel_count: int
    total_pixels: int
    diff_ratio: float
    diff_image: npt.NDArray[np.uint8] | None
    expected_size: tuple[int, int]
    actual_size: tuple[int, int]
    size_mismatch: bool
    count_is_exact: bool = True
    within_budget: bool | None = None
    identical: bool = field(default=False)
    diff_indexed: IndexedImage | None = None


def compare(
    expected: Any,
    actual: Any,
    *,
    threshold: float = 0.1,
    include_aa: bool = False,
    alpha: float = 0.1,
    aa_color: Sequence[int] = (255, 255, 0),
    diff_color: Sequence[int] = (255, 0, 0),
    diff_color_alt: Sequence[int] | None = None,
    diff_mask: bool = False,
    checkerboard: bool = False,
    diff_image: bool = True,
    max_diff_pixels: int | None = None,
    indexed: bool = False,
) -> DiffResult:
    """Compare two RGBA images the way pixelmatch does and count the differing pixels.

    ``expected`` is pixelmatch's img1 (the grey background of the diff image is drawn from it),
    ``actual`` is img2. Inputs are H×W×4 (or H×W×3) uint8 arrays; images of different sizes are
    both padded with transparent pixels to the larger width and height and compared anyway
    (``size_mismatch`` tells the caller, who decides to fail).

    ``max_diff_pixels`` turns on the budgeted mode: the answer to "is the count within the budget?"
    is always right and the count is exact when it is within, but anti-aliasing work stops once the
    count is over (then ``count_is_exact`` is False). With ``diff_image=True`` the work never stops
    early, because the picture must be complete.

    ``indexed=True`` asks for the picture as ``diff_indexed`` (an :class:`IndexedImage`) instead
    of ``diff_image``; it comes as ``diff_image`` anyway when it does not fit a palette (a
    ``diff_mask``, or greys so dark that no slot is left for the paint colours).
    """
    img1 = as_rgba(expected, name="expected")
    img2 = as_rgba(actual, name="actual")
    opts = _Options.make(
        threshold=threshold,
        include_aa=include_aa,
        alpha=alpha,
        aa_color=aa_color,
        diff_color=diff_color,
        diff_color_alt=diff_color_alt,
        diff_mask=diff_mask,
        checkerboard=checkerboard,
        max_diff_pixels=max_diff_pixels,
    )
    expected_size = (img1.shape[1], img1.shape[0])
    actual_size = (img2.shape[1], img2.shape[0])
    size_mismatch = expected_size != actual_size
    if size_mismatch:
        img1, img2 = _pad_to_common_size(img1, img2)
    height, width = img1.shape[:2]
    total = width * height

    a32 = img1.view(_U32).reshape(-1)
    b32 = img2.view(_U32).reshape(-1)
    neq = np.not_equal(a32, b32)
    identical = not neq.any()

    canvas = _Canvas.make(a32, opts, indexed=indexed) if diff_image else None

    if identical:
        count, exact = 0, True
    else:
        ctx = _Context(a32, b32, img1.reshape(-1, 4), img2.reshape(-1, 4), width, height, opts)
        count, exact = _count(ctx, neq, canvas, stop_early=not diff_image)

    budget = opts.max_diff_pixels
    picture = None if canvas is None or canvas.palette is not None else canvas.pixels
    return DiffResult(
        diff_pixel_count=count,
        total_pixels=total,
        diff_ratio=count / total,
        diff_image=None if picture is None else picture.view(np.uint8).reshape(height, width, 4),
        diff_indexed=(
            None if canvas is None or canvas.palette is None
            else IndexedImage(canvas.pixels.reshape(height, width), canvas.palette)
        ),
        expected_size=expected_size,
        actual_size=actual_size,
        size_mismatch=size_mismatch,
        count_is_exact=exact,
        within_budget=None if budget is None else count <= budget,
        identical=identical and not size_mismatch,
    )


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class _Options:
    max_delta: float
    include_aa: bool
    alpha: float
    aa_u32: np.uint32
    diff_u32: np.uint32
    alt_u32: np.uint32
    diff_mask: bool
    checkerboard: bool
    max_diff_pixels: int | None

    @classmethod
    def make(
        cls,
        *,
        threshold: float,
        include_aa: bool,
        alpha: float,
        aa_color: Sequence[int],
        diff_color: Sequence[int],
        diff_color_alt: Sequence[int] | None,
        diff_mask: bool,
        checkerboard: bool,
        max_diff_pixels: int | None,
    ) -> _Options:
        """Validate every option once, with a message that says what is allowed."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f"threshold must be a number from 0 to 1, got {threshold!r}")
        if not (math.isfinite(threshold) and 0 <= threshold <= 1):
            raise ValueError(f"threshold must be from 0 to 1, got {threshold!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(f"alpha must be a number from 0 to 1, got {alpha!r}")
        if not (math.isfinite(alpha) and 0 <= alpha <= 1):
            raise ValueError(f"alpha must be from 0 to 1, got {alpha!r}")
        if max_diff_pixels is not None and (
            isinstance(max_diff_pixels, bool)
            or not isinstance(max_diff_pixels, (int, np.integer))
            or max_diff_pixels < 0
        ):
            raise ValueError(
                f"max_diff_pixels must be a non-negative integer or None, got {max_diff_pixels!r}"
            )
        diff = _color_u32(diff_color, "diff_color")
        alt = diff if diff_color_alt is None else _color_u32(diff_color_alt, "diff_color_alt")
        return cls(
            # JS evaluates 35215 * t * t left to right.
            max_delta=(MAX_YIQ_DELTA * float(threshold)) * float(threshold),
            include_aa=bool(include_aa),
            alpha=float(alpha),
            aa_u32=_color_u32(aa_color, "aa_color"),
            diff_u32=diff,
            alt_u32=alt,
            diff_mask=bool(diff_mask),
            checkerboard=bool(checkerboard),
            max_diff_pixels=None if max_diff_pixels is None else int(max_diff_pixels),
        )


def _color_u32(color: Sequence[int], name: str) -> np.uint32:
    """An (r, g, b) colour as the opaque little-endian RGBA uint32 pixelmatch's drawPixel writes."""
    try:
        r, g, b = (int(c) for c in color)
        valid = all(0 <= c <= 255 and float(c) == float(o) for c, o in zip((r, g, b), color, strict=True))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"{name} must be three integers 0..255 (r, g, b), got {color!r}")
    return np.uint32(r | (g << 8) | (b << 16) | 0xFF000000)


def _pad_to_common_size(
    img1: npt.NDArray[np.uint8], img2: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Pad both images with transparent black to the larger width and height (Playwright's rule)."""
    height = max(img1.shape[0], img2.shape[0])
    width = max(img1.shape[1], img2.shape[1])

    def pad(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if img.shape[:2] == (height, width):
            return img
        out = np.zeros((height, width, 4), dtype=np.uint8)
        out[: img.shape[0], : img.shape[1]] = img
        return out

    return pad(img1), pad(img2)


# --------------------------------------------------------------------------------------------
# The diff image being painted


@dataclass
class _Canvas:
    """The diff picture being drawn: RGBA uint32 pixels, or uint8 indices into ``palette``; the
    paint values (AA, diff, alt) are pixels or palette slots to match."""

    pixels: npt.NDArray[Any]
    aa: Any
    diff: Any
    alt: Any
    palette: _U8 | None = None

    @classmethod
    def make(cls, a32: _U32A, opts: _Options, *, indexed: bool) -> _Canvas:
        if opts.diff_mask:
            return cls(np.zeros(a32.size, dtype=_U32), opts.aa_u32, opts.diff_u32, opts.alt_u32)
        levels = _gray_background(a32, opts)
        paints = list(dict.fromkeys(int(c) for c in (opts.aa_u32, opts.diff_u32, opts.alt_u32)))
        if indexed and int(levels.min()) >= len(paints):  # slots 0.. are free for the paints
            palette = np.empty((256, 4), dtype=np.uint8)
            palette[:, :3] = np.arange(256, dtype=np.uint8)[:, None]
            palette[:, 3] = 255
            palette[: len(paints)] = np.array(paints, dtype=_U32).view(np.uint8).reshape(-1, 4)
            slot = {colour: np.uint8(i) for i, colour in enumerate(paints)}
            return cls(
                levels, slot[int(opts.aa_u32)], slot[int(opts.diff_u32)], slot[int(opts.alt_u32)],
                palette,
            )
        pixels: _U32A = (levels.astype(_U32) * np.uint32(0x010101)) | _ALPHA_OPAQUE
        return cls(pixels, opts.aa_u32, opts.diff_u32, opts.alt_u32)


# --------------------------------------------------------------------------------------------
# Counting


@dataclass
class _Context:
    a32: _U32A
    b32: _U32A
    a8: npt.NDArray[np.uint8]
    b8: npt.NDArray[np.uint8]
    width: int
    height: int
    opts: _Options


def _count(ctx: _Context, neq: _BOOL, out: _Canvas | None, *, stop_early: bool) -> tuple[int, bool]:
    """Walk the image in row bands: YIQ delta of differing pixels, then AA on those over threshold.

    Differing pixels are handled in chunks small enough for their float temporaries to stay in
    the CPU cache. Returns (count, exact). With a budget and ``stop_early`` the walk ends as soon
    as the count exceeds the budget; the count is then a lower bound.
    """
    opts = ctx.opts
    budget = opts.max_diff_pixels if stop_early else None
    band_rows = max(1, _BAND_PIXELS // ctx.width)
    total = ctx.width * ctx.height
    count = 0
    for row in range(0, ctx.height, band_rows):
        lo = row * ctx.width
        hi = min(total, lo + band_rows * ctx.width)
        band_idx = np.flatnonzero(neq[lo:hi])
        band_idx += lo
        for start in range(0, band_idx.size, _CHUNK):
            idx = band_idx[start : start + _CHUNK]
            over, darker = _over_threshold(ctx, idx)
            cand = idx[over]
            if cand.size == 0:
                continue
            if opts.include_aa:
                real = np.ones(cand.size, dtype=bool)
            else:
                real = ~_antialiased_either(ctx, cand)
            count += int(np.count_nonzero(real))
            if out is not None:
                _paint(out, cand, real, darker[over], opts)
            if budget is not None and count > budget:
                finished = hi >= total and start + _CHUNK >= band_idx.size
                return count, finished
    return count, True


def _paint(out: _Canvas, cand: _I64, real: _BOOL, darker: _BOOL, opts: _Options) -> None:
    """Draw AA pixels (not in a mask) and real differences the way pixelmatch's drawPixel does."""
    pixels = out.pixels
    if not opts.diff_mask:
        pixels[cand[~real]] = out.aa
    if opts.alt_u32 == opts.diff_u32:
        pixels[cand[real]] = out.diff
    else:
        pixels[cand[real & ~darker]] = out.diff
        pixels[cand[real & darker]] = out.alt


def _channels(px: _U32A) -> tuple[_F64, _F64, _F64, _F64]:
    """R, G, B, A of little-endian RGBA uint32 pixels as float64 (exact small integers)."""
    u8 = px.view(np.uint8).reshape(-1, 4)
    return (
        u8[:, 0].astype(np.float64),
        u8[:, 1].astype(np.float64),
        u8[:, 2].astype(np.float64),
        u8[:, 3].astype(np.float64),
    )


def _over_threshold(ctx: _Context, idx: _I64) -> tuple[_BOOL, _BOOL]:
    """pixelmatch's colorDelta for differing pixels: (|delta| > maxDelta, img2 darker) per pixel.

    Opaque pairs (the usual case) are computed from the channel differences, which can differ
    from v5.3's rounding by ~1e-10; the few pixels whose delta lies within _BORDERLINE of
    maxDelta are recomputed with the exact JS arithmetic, so no decision can differ. The sign
    (img2 darker) is safe: an opaque luma difference is at least 1e-8. Pixels with transparency
    always take the exact path.
    """
    if idx[-1] - idx[0] + 1 == idx.size:  # a run of differing pixels: slice instead of gather
        pa = ctx.a32[idx[0] : idx[-1] + 1]
        pb = ctx.b32[idx[0] : idx[-1] + 1]
    else:
        pa = ctx.a32[idx]
        pb = ctx.b32[idx]
    max_delta = ctx.opts.max_delta
    opaque = (pa & pb) >= _ALPHA_OPAQUE
    if opaque.all():
        delta, y = _yiq_delta_fast(pa, pb)
        over = delta > max_delta
        darker = y > 0
        check = np.flatnonzero(np.abs(delta - max_delta) <= _BORDERLINE)
    else:
        over = np.empty(idx.size, dtype=bool)
        darker = np.empty(idx.size, dtype=bool)
        fast = np.flatnonzero(opaque)
        if fast.size:
            delta, y = _yiq_delta_fast(pa[fast], pb[fast])
            over[fast] = delta > max_delta
            darker[fast] = y > 0
            check = fast[np.abs(delta - max_delta) <= _BORDERLINE]
        else:
            check = fast
        check = np.concatenate([check, np.flatnonzero(~opaque)])
    if check.size:
        over[check], darker[check] = _yiq_exact(ctx, pa[check], pb[check], idx[check])
    return over, darker


def _yiq_delta_fast(pa: _U32A, pb: _U32A) -> tuple[_F64, _F64]:
    """YIQ delta magnitude and Y of opaque pairs, from the channel differences.

    This is v7's arithmetic, in JS's order; v5.3 rounds differently, by ~1e-10 at most, and the
    caller rechecks deltas that close to maxDelta. Plain element-wise numpy rather than a BLAS
    product: OpenBLAS would start a second thread that spins on the other core for no gain,
    stealing it from pytest-xdist workers and the server's worker processes.
    """
    small = pa.view(np.uint8).reshape(-1, 4).astype(np.int16)
    small -= pb.view(np.uint8).reshape(-1, 4)
    dr, dg, db = np.ascontiguousarray(small.T[:3], dtype=np.float64)
    y = dr * _YR
    y += dg * _YG
    y += db * _YB
    i = dr * _IR
    i -= dg * _IG
    i -= db * _IB
    q = dr * _QR
    q -= dg * _QG
    q += db * _QB
    delta = 0.5053 * y
    delta *= y
    i *= 0.299 * i
    delta += i
    q *= 0.1957 * q
    delta += q
    return delta, y


def _yiq_exact(ctx: _Context, pa: _U32A, pb: _U32A, idx: _I64) -> tuple[_BOOL, _BOOL]:
    """colorDelta with the exact arithmetic of the selected pixelmatch version."""
    if ctx.opts.checkerboard:
        y, i, q = _yiq_diff_v7(pa, pb, idx)
        darker = y > 0
    else:
        y, i, q, darker = _yiq_diff_v5(pa, pb)
    # JS: 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q, left to right.
    delta = 0.5053 * y
    delta *= y
    t = 0.299 * i
    t *= i
    delta += t
    t = 0.1957 * q
    t *= q
    delta += t
    return delta > ctx.opts.max_delta, darker


def _yiq_diff_v5(pa: _U32A, pb: _U32A) -> tuple[_F64, _F64, _F64, _BOOL]:
    """v5.3.0's colorDelta: blend each pixel with white, convert each to YIQ, subtract."""
    r1, g1, b1, a1 = _channels(pa)
    r2, g2, b2, a2 = _channels(pb)
    _blend_white_v5(r1, g1, b1, a1)
    _blend_white_v5(r2, g2, b2, a2)
    y1 = r1 * _YR + g1 * _YG + b1 * _YB
    y2 = r2 * _YR + g2 * _YG + b2 * _YB
    i = (r1 * _IR - g1 * _IG - b1 * _IB) - (r2 * _IR - g2 * _IG - b2 * _IB)
    q = (r1 * _QR - g1 * _QG + b1 * _QB) - (r2 * _QR - g2 * _QG + b2 * _QB)
    return y1 - y2, i, q, y1 > y2


def _blend_white_v5(r: _F64, g: _F64, b: _F64, a: _F64) -> None:
    """In place: ``blend(c, a/255) = 255 + (c - 255) * (a/255)`` for pixels with a < 255 (v5.3)."""
    semi = np.flatnonzero(a < 255)
    if semi.size == 0:
        return
    k = a[semi] / 255
    for c in (r, g, b):
        c[semi] = 255 + (c[semi] - 255) * k


def _checkerboard(pos4: _I64) -> tuple[_F64, _F64, _F64]:
    """v7's background for byte offset k = 4·i: 48 or 207 per channel from k, k/φ and k/φ²."""
    k = pos4.astype(np.float64)
    rb = 48 + 159 * (pos4 % 2)
    gb = 48 + 159 * (np.floor(k / 1.618033988749895) % 2)
    bb = 48 + 159 * (np.floor(k / 2.618033988749895) % 2)
    return rb.astype(np.float64), gb, bb


def _blended_deltas_v7(
    c1: tuple[_F64, _F64, _F64, _F64], c2: tuple[_F64, _F64, _F64, _F64], pos4: _I64
) -> tuple[_F64, _F64, _F64]:
    """v7's ``(c1*a1 - c2*a2 - bg*da) / 255`` per channel, on the checkerboard of offset pos4."""
    r1, g1, b1, a1 = c1
    r2, g2, b2, a2 = c2
    rb, gb, bb = _checkerboard(pos4)
    da = a1 - a2
    dr = (r1 * a1 - r2 * a2 - rb * da) / 255
    dg = (g1 * a1 - g2 * a2 - gb * da) / 255
    db = (b1 * a1 - b2 * a2 - bb * da) / 255
    return dr, dg, db


def _yiq_diff_v7(pa: _U32A, pb: _U32A, idx: _I64) -> tuple[_F64, _F64, _F64]:
    """v7's colorDelta: per-channel differences (checkerboard-blended if either is not opaque)."""
    c1 = _channels(pa)
    c2 = _channels(pb)
    dr = c1[0] - c2[0]
    dg = c1[1] - c2[1]
    db = c1[2] - c2[2]
    semi = np.flatnonzero((pa & pb) < _ALPHA_OPAQUE)
    if semi.size:
        s1 = tuple(c[semi] for c in c1)
        s2 = tuple(c[semi] for c in c2)
        dr[semi], dg[semi], db[semi] = _blended_deltas_v7(s1, s2, idx[semi] * 4)  # type: ignore[arg-type]
    y = dr * _YR + dg * _YG + db * _YB
    i = dr * _IR - dg * _IG - db * _IB
    q = dr * _QR - dg * _QG + db * _QB
    return y, i, q


# --------------------------------------------------------------------------------------------
# Anti-aliasing detection (Vyšniauskas 2009, as in pixelmatch)


def _antialiased_either(ctx: _Context, cand: _I64) -> _BOOL:
    """pixelmatch's ``antialiased(img1, ...) || antialiased(img2, ...)`` for each candidate."""
    y, x = _rows_and_columns(cand, ctx.width, ctx.height)
    sib = _Siblings.for_candidates(ctx, cand, y)
    aa = _antialiased(ctx, sib, 0, cand, x, y)
    rest = np.flatnonzero(~aa)
    if rest.size:
        aa[rest] = _antialiased(ctx, sib, 1, cand[rest], x[rest], y[rest])
    return aa


def _rows_and_columns(index: _I64, width: int, height: int) -> tuple[_I64, _I64]:
    """divmod(index, width) through a float64 division, several times faster than int64 //.

    Exact while index · width < 2**52: the float quotient is then within index · 2**-53 of the
    true one, less than the 1 / width gap to the next integer. Any image under the decoder's
    pixel limit qualifies; larger ones fall back to integer division.
    """
    if width * width * height >= 1 << 52:
        q, r = np.divmod(index, width)
        return q, r
    rows = (index.astype(np.float64) / width).astype(np.int64)
    return rows, index - rows * width


class _Siblings:
    """Counts of equal (same RGBA) 8-neighbours, plus one on the image border, as pixelmatch's
    hasManySiblings counts them.

    Sparse candidates gather their neighbours; when candidates are dense in their rows (a large
    change, an inverted image) the counts of every pixel in those rows are computed at once from
    shifted slices, which is several times cheaper per candidate, and hasManySiblings becomes a
    lookup.
    """

    def __init__(self, ctx: _Context, maps: tuple[_U8, _U8] | None, base: int) -> None:
        self.ctx = ctx
        self.maps = maps
        self.base = base

    @classmethod
    def for_candidates(cls, ctx: _Context, cand: _I64, y: _I64) -> _Siblings:
        """Dense maps for the rows around `cand` (sorted) when they are worth it."""
        width, height = ctx.width, ctx.height
        first = max(int(y[0]) - 1, 0)
        stop = min(int(y[-1]) + 2, height)
        if cand.size < _DENSE_SHARE * (stop - first) * width:
            return cls(ctx, None, 0)
        maps = (
            _equal_neighbour_map(ctx.a32, width, height, first, stop),
            _equal_neighbour_map(ctx.b32, width, height, first, stop),
        )
        return cls(ctx, maps, first * width)

    def counts(self, which: int, pos: _I64) -> _U8:
        """Equal-neighbour counts (dense mode only)."""
        assert self.maps is not None
        return self.maps[which][pos - self.base]

    def many(self, which: int, pos: _I64, x: _I64, y: _I64) -> _BOOL:
        """hasManySiblings(image `which`, pos): more than two equal neighbours."""
        if self.maps is not None:
            result: _BOOL = self.maps[which][pos - self.base] > 2
            return result
        ctx = self.ctx
        u32 = ctx.a32 if which == 0 else ctx.b32
        return _many_siblings(u32, pos, x, y, ctx.width, ctx.height)


def _equal_neighbour_map(u32: _U32A, width: int, height: int, first: int, stop: int) -> _U8:
    """Per pixel of rows [first, stop): equal 8-neighbours (+1 on the image border), flat.

    Each of the four directions is compared once and credited to both pixels of the pair.
    """
    lo = max(first - 1, 0)
    hi = min(stop + 1, height)
    ext = u32[lo * width : hi * width].reshape(hi - lo, width)
    cnt = np.zeros((hi - lo, width), dtype=np.uint8)
    eq = ext[:, 1:] == ext[:, :-1]
    cnt[:, 1:] += eq
    cnt[:, :-1] += eq
    eq = ext[1:] == ext[:-1]
    cnt[1:] += eq
    cnt[:-1] += eq
    eq = ext[1:, 1:] == ext[:-1, :-1]
    cnt[1:, 1:] += eq
    cnt[:-1, :-1] += eq
    eq = ext[1:, :-1] == ext[:-1, 1:]
    cnt[1:, :-1] += eq
    cnt[:-1, 1:] += eq
    rows = cnt[first - lo : first - lo + (stop - first)]
    border = np.zeros(rows.shape, dtype=bool)
    border[:, 0] = True
    border[:, -1] = True
    if first == 0:
        border[0] = True
    if stop == height:
        border[-1] = True
    rows += border
    return rows.reshape(-1)


def _antialiased(ctx: _Context, sib: _Siblings, which: int, cand: _I64, x: _I64, y: _I64) -> _BOOL:
    """Is each candidate pixel anti-aliasing in image ``which`` (0: img1, 1: img2)?

    Interior candidates whose 3×3 neighbourhood is opaque take the fast path (uint32 equality and
    exact integer luma keys); the rest (image border, transparency) the float path that follows
    pixelmatch's arithmetic literally. Both give the same decisions where both apply.
    """
    w, h = ctx.width, ctx.height
    result = np.zeros(cand.size, dtype=bool)
    if sib.maps is not None:
        # RGBA-equal neighbours always have a zero luma delta: more than two of them rule AA out.
        keep = np.flatnonzero(sib.counts(which, cand) <= 2)
    else:
        keep = np.arange(cand.size)
    kx, ky = x[keep], y[keep]
    inner = (kx >= 1) & (kx <= w - 2) & (ky >= 1) & (ky <= h - 2)
    fast = keep[inner]
    slow = keep[~inner]
    if fast.size:
        own = ctx.a32 if which == 0 else ctx.b32
        c = cand[fast]
        nb = own[c[:, None] + _neighbour_offsets(w)]
        centre = own[c]
        if sib.maps is None:
            alive = np.flatnonzero(_popcount_rows(nb == centre[:, None]) <= 2)
            fast, nb, centre = fast[alive], nb[alive], centre[alive]
        opaque = (_popcount_rows(nb >= _ALPHA_OPAQUE) == 8) & (centre >= _ALPHA_OPAQUE)
        if not opaque.all():
            slow = np.concatenate([slow, fast[~opaque]])
            ok = np.flatnonzero(opaque)
            fast, nb, centre = fast[ok], nb[ok], centre[ok]
        if fast.size:
            delta = _keys(centre)[:, None] - _keys(nb)
            result[fast] = _aa_from_deltas(sib, which, delta, cand[fast], x[fast], y[fast])
    if slow.size:
        result[slow] = _antialiased_float(ctx, sib, which, cand[slow], x[slow], y[slow])
    return result


def _popcount_rows(eq: _BOOL) -> npt.NDArray[np.uint64]:
    """Count True per row of an (n, 8) bool array: bytes are 0/1, so one multiply sums them."""
    packed = np.ascontiguousarray(eq).view(np.uint64).reshape(-1)
    return (packed * _ONES8) >> _SHIFT56


def _neighbour_offsets(width: int) -> _I64:
    return _DY * width + _DX


def _keys(px: _U32A) -> _I64:
    """Exact integer luma ×10**8 of opaque pixels (see _luma_tables)."""
    return _S_RG[px & 0xFFFF] + _S_B[(px >> 16) & 0xFF]


def _aa_from_deltas(
    sib: _Siblings,
    which: int,
    delta: npt.NDArray[Any],
    cand: _I64,
    x: _I64,
    y: _I64,
) -> _BOOL:
    """Given centre-minus-neighbour luma deltas in scan order (zeros already ruled out), finish
    pixelmatch's test: a darker and a brighter neighbour, and the darkest or the brightest one
    has more than two equal siblings in both images."""
    rows = np.arange(delta.shape[0])
    imin = delta.argmin(axis=1)
    imax = delta.argmax(axis=1)
    ok = (delta[rows, imin] < 0) & (delta[rows, imax] > 0)
    sel = np.flatnonzero(ok)
    result = np.zeros(cand.size, dtype=bool)
    width = sib.ctx.width
    # (many(own, min) and many(other, min)) or (many(own, max) and many(other, max)), lazily.
    for pick in (imin, imax):
        if sel.size == 0:
            break
        k = pick[sel]
        px = x[sel] + _DX[k]
        py = y[sel] + _DY[k]
        pos = py * width + px
        hit_idx = np.flatnonzero(sib.many(which, pos, px, py))
        if hit_idx.size:
            hit2 = sib.many(1 - which, pos[hit_idx], px[hit_idx], py[hit_idx])
            done = hit_idx[hit2]
            result[sel[done]] = True
            keep = np.ones(sel.size, dtype=bool)
            keep[done] = False
            sel = sel[keep]
    return result


def _many_siblings(u32: _U32A, pos: _I64, x: _I64, y: _I64, width: int, height: int) -> _BOOL:
    """pixelmatch's hasManySiblings: more than two 8-neighbours with the same RGBA (a border
    pixel starts at one)."""
    inner = (x >= 1) & (x <= width - 2) & (y >= 1) & (y <= height - 2)
    result = np.empty(pos.size, dtype=bool)
    ii = np.flatnonzero(inner)
    if ii.size:
        p = pos[ii]
        nb = u32[p[:, None] + _neighbour_offsets(width)]
        result[ii] = _popcount_rows(nb == u32[p][:, None]) > 2
    bi = np.flatnonzero(~inner)
    if bi.size:
        p, bx, by = pos[bi], x[bi], y[bi]
        nidx, valid = _clipped_neighbours(bx, by, width, height)
        same = (u32[nidx] == u32[p][:, None]) & valid
        result[bi] = 1 + same.sum(axis=1) > 2
    return result


def _clipped_neighbours(x: _I64, y: _I64, width: int, height: int) -> tuple[_I64, _BOOL]:
    """Flat indices of the 8 neighbours (clipped into the image) and which of them really exist."""
    nx = x[:, None] + _DX
    ny = y[:, None] + _DY
    valid = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
    nidx = np.clip(ny, 0, height - 1) * width + np.clip(nx, 0, width - 1)
    return nidx, valid


def _antialiased_float(ctx: _Context, sib: _Siblings, which: int, cand: _I64, x: _I64, y: _I64) -> _BOOL:
    """AA test following pixelmatch's float arithmetic literally (border pixels, transparency)."""
    w, h = ctx.width, ctx.height
    own8 = ctx.a8 if which == 0 else ctx.b8
    nidx, valid = _clipped_neighbours(x, y, w, h)
    if ctx.opts.checkerboard:
        delta = _brightness_delta_v7(own8, cand, nidx)
    else:
        delta = _brightness_v5(own8, cand)[:, None] - _brightness_v5(own8, nidx)
    delta[~valid] = 0.0
    border = ((x == 0) | (x == w - 1) | (y == 0) | (y == h - 1)).astype(np.int64)
    zeros = border + ((delta == 0) & valid).sum(axis=1)
    alive = np.flatnonzero(zeros <= 2)
    result = np.zeros(cand.size, dtype=bool)
    if alive.size:
        result[alive] = _aa_from_deltas(sib, which, delta[alive], cand[alive], x[alive], y[alive])
    return result


def _brightness_v5(img8: npt.NDArray[np.uint8], idx: _I64) -> _F64:
    """v5.3's rgb2y of a pixel blended with white when a < 255, exactly as JS computes it."""
    px = img8[idx]
    r, g, b, a = (px[..., c].astype(np.float64) for c in range(4))
    semi = a < 255
    if semi.any():
        k = a[semi] / 255
        r[semi] = 255 + (r[semi] - 255) * k
        g[semi] = 255 + (g[semi] - 255) * k
        b[semi] = 255 + (b[semi] - 255) * k
    result: _F64 = r * _YR + g * _YG + b * _YB
    return result


def _brightness_delta_v7(img8: npt.NDArray[np.uint8], cand: _I64, nidx: _I64) -> _F64:
    """v7's brightnessDelta(centre, neighbour), checkerboard from the centre's offset."""
    c = img8[cand]
    n = img8[nidx]
    c1 = tuple(np.broadcast_to(c[:, None, ch], nidx.shape).astype(np.float64) for ch in range(4))
    c2 = tuple(n[..., ch].astype(np.float64) for ch in range(4))
    dr = c1[0] - c2[0]
    dg = c1[1] - c2[1]
    db = c1[2] - c2[2]
    semi = (c1[3] < 255) | (c2[3] < 255)
    if semi.any():
        pos4 = np.broadcast_to(cand[:, None] * 4, nidx.shape)[semi]
        s1 = tuple(v[semi] for v in c1)
        s2 = tuple(v[semi] for v in c2)
        dr[semi], dg[semi], db[semi] = _blended_deltas_v7(s1, s2, pos4)  # type: ignore[arg-type]
    result: _F64 = dr * _YR + dg * _YG + db * _YB
    return result


# --------------------------------------------------------------------------------------------
# Diff image background


def _gray_values(px: _U32A, opts: _Options) -> _U8:
    """pixelmatch's drawGrayPixel per pixel, as the grey level of an opaque grey pixel (JS stores
    truncate)."""
    y = _Y_RG[px & 0xFFFF] + _Y_B[(px >> 16) & 0xFF]
    a = (px >> 24).astype(np.float64)
    y -= 255
    if opts.checkerboard:  # v7: 255 + (Y - 255) * alpha * a / 255
        y *= opts.alpha
        y *= a
        y /= 255
    else:  # v5.3: blend(Y, alpha * a / 255) = 255 + (Y - 255) * (alpha * a / 255)
        a *= opts.alpha
        a /= 255
        y *= a
    y += 255
    result: _U8 = y.astype(np.uint8)
    return result


def _gray_background(a32: _U32A, opts: _Options) -> _U8:
    """The grey levels of the faded copy of img1 under the diff. Screenshots are mostly runs of
    equal pixels, so the grey is computed once per run and repeated; busy bands fall back to a
    dense pass. Bands of 128 K pixels keep each pass in the CPU cache."""
    n = a32.size
    out = np.empty(n, dtype=np.uint8)
    band = 1 << 17
    for lo in range(0, n, band):
        chunk = a32[lo : lo + band]
        starts = np.flatnonzero(chunk[1:] != chunk[:-1])
        if starts.size < _RUN_SHARE * chunk.size:
            starts += 1
            starts = np.concatenate([np.zeros(1, dtype=starts.dtype), starts])
            lengths = np.diff(starts, append=chunk.size)
            out[lo : lo + chunk.size] = np.repeat(_gray_values(chunk[starts], opts), lengths)
        else:
            out[lo : lo + chunk.size] = _gray_values(chunk, opts)
    return out


# --------------------------------------------------------------------------------------------
# SSIM

_SSIM_C1 = 6.5025  # (0.01 * 255) ** 2
_SSIM_C2 = 58.5225  # (0.03 * 255) ** 2
_SSIM_WIN = 11
#: Pixels per band of rows in ssim (bounds its float temporaries to a few MB).
_SSIM_BAND_PIXELS = 1 << 17


def ssim(expected: Any, actual: Any) -> float:
    """Mean SSIM of two images with PostHog's parameters, in [0, 1].

    Grey = 0.299 R + 0.587 G + 0.114 B (alpha ignored), an 11×11 box window with reflect padding,
    C1 = 6.5025, C2 = 58.5225, mean over every pixel; images smaller than the window use one global
    SSIM. Different sizes are padded with transparent pixels first, as for ``compare``. The server
    uses it to catch structural changes that a low pixel count hides (tall pages). Rows are
    processed in bands, so memory stays a few MB whatever the image size.
    """
    img1 = as_rgba(expected, name="expected")
    img2 = as_rgba(actual, name="actual")
    if img1.shape != img2.shape:
        img1, img2 = _pad_to_common_size(img1, img2)
    height, width = img1.shape[:2]
    if width < _SSIM_WIN or height < _SSIM_WIN:
        return _clamp_unit(_global_ssim(_grey(img1), _grey(img2)))
    pad = _SSIM_WIN // 2
    band = max(1, _SSIM_BAND_PIXELS // width)
    total = 0.0
    for top in range(0, height, band):
        rows = _reflect(np.arange(top - pad, min(top + band, height) + pad), height)
        g1 = np.pad(_grey(img1[rows]), ((0, 0), (pad, pad)), mode="reflect")
        g2 = np.pad(_grey(img2[rows]), ((0, 0), (pad, pad)), mode="reflect")
        total += float(_ssim_map(g1, g2).sum())
    return _clamp_unit(total / (width * height))


def _reflect(index: _I64, size: int) -> _I64:
    """numpy's 'reflect' padding for indices at most size - 1 beyond either edge (-1 -> 1)."""
    index = np.abs(index)
    result: _I64 = np.where(index >= size, 2 * size - 2 - index, index)
    return result


def _ssim_map(g1: _F64, g2: _F64) -> _F64:
    """Local SSIM of every window centre of two padded grey bands (padding: 5 on every side)."""
    n = _SSIM_WIN * _SSIM_WIN
    mu1 = _box_sum(g1) / n
    mu2 = _box_sum(g2) / n
    s11 = _box_sum(g1 * g1) / n
    s22 = _box_sum(g2 * g2) / n
    s12 = _box_sum(g1 * g2) / n
    mu1_sq = mu1 * mu1
    mu2_sq = mu2 * mu2
    mu12 = mu1 * mu2
    num = (2 * mu12 + _SSIM_C1) * (2 * (s12 - mu12) + _SSIM_C2)
    den = (mu1_sq + mu2_sq + _SSIM_C1) * ((s11 - mu1_sq) + (s22 - mu2_sq) + _SSIM_C2)
    result: _F64 = np.divide(num, den, out=np.ones_like(num), where=den != 0)
    return result


def _grey(img: npt.NDArray[np.uint8]) -> _F64:
    rgb = img[..., :3].astype(np.float64)
    result: _F64 = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return result


def _box_sum(values: _F64) -> _F64:
    """Sums over every 11×11 window that fits inside `values` (separable running sums)."""
    n = _SSIM_WIN
    cols = np.cumsum(values, axis=0)
    vertical = cols[n - 1 :].copy()
    vertical[1:] -= cols[:-n]
    rows = np.cumsum(vertical, axis=1)
    result = rows[:, n - 1 :].copy()
    result[:, 1:] -= rows[:, :-n]
    return result


def _global_ssim(g1: _F64, g2: _F64) -> float:
    mu1 = float(g1.mean())
    mu2 = float(g2.mean())
    d1 = g1 - mu1
    d2 = g2 - mu2
    var1 = float((d1 * d1).mean())
    var2 = float((d2 * d2).mean())
    cov = float((d1 * d2).mean())
    num = (2 * mu1 * mu2 + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mu1 * mu1 + mu2 * mu2 + _SSIM_C1) * (var1 + var2 + _SSIM_C2)
    return 1.0 if den == 0 else num / den


def _clamp_unit(value: float) -> float:
    if not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, value))
