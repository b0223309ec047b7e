"""Sentry's comparison semantics, minus the pixels: which name is added, removed, renamed, skipped.

A comparison of a head snapshot against its base first sorts every file name into a category
(reference notes §3.2-3.3), then pixel-diffs only the matched pairs whose content hashes differ.
Everything that needs no pixels is decided here, purely, so the rules can be tested exhaustively
and the I/O-bound part (``compare``) is a loop over ``Plan.candidates``.

The rules, as Sentry runs them:

- Names are the identity. ``matched`` = in both, ``added`` = head only. What is ``removed`` vs
  ``skipped`` depends only on the *head's* selective flags; the base is the complete set.
- A rename is an added and a removed (or, for selective heads, skipped) name with the same
  content hash. One-to-one pairs directly; several with one hash pair greedily by
  ``difflib.SequenceMatcher`` ratio, best first. Renames get no pixel diff.
- Equal hashes are ``unchanged`` without a diff. Otherwise ``changed`` iff
  ``changed_pixels / total_pixels > threshold`` (strictly greater), the threshold being the head
  image's, else the head manifest's, else 0.0. Canvases over 40M pixels are ``errored``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

from .manifest import ImageMeta, Manifest

Status = Literal["added", "removed", "changed", "unchanged", "errored", "renamed", "skipped"]
STATUSES: tuple[Status, ...] = (
    "changed",
    "added",
    "removed",
    "renamed",
    "unchanged",
    "errored",
    "skipped",
)
#: Sentry's ``MAX_DIFF_PIXELS``: a padded canvas larger than this is not diffed.
MAX_DIFF_PIXELS = 40_000_000


@dataclass
class ImageResult:
    """Sentry's ``ComparisonImageResult``: one name's outcome, as stored in comparison.json."""

    status: Status
    head_hash: str | None = None
    base_hash: str | None = None
    changed_pixels: int | None = None
    total_pixels: int | None = None
    diff_mask_image_id: str | None = None
    before_width: int | None = None
    before_height: int | None = None
    after_width: int | None = None
    after_height: int | None = None
    aligned_height: int | None = None
    reason: str | None = None
    previous_image_file_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageResult:
        return cls(**data)

    @property
    def diff(self) -> float | None:
        """``changed / total`` as a fraction (0..1): the APIs' ``diff`` / ``diff_percentage``."""
        if self.changed_pixels is None or not self.total_pixels:
            return None
        return self.changed_pixels / self.total_pixels


@dataclass
class Names:
    """The name categories before rename detection has removed the renamed names."""

    matched: set[str]
    added: set[str]
    removed: set[str]
    skipped: set[str]
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (new name, old name)


def split_names(head: Manifest, base: Manifest) -> Names:
    """matched/added/removed/skipped by the head's selective flags (Sentry's ``categorize``)."""
    head_names = set(head.images)
    base_names = set(base.images)
    matched = head_names & base_names
    added = head_names - base_names
    if head.all_image_file_names is not None:
        declared = set(head.all_image_file_names)
        removed = base_names - declared
        skipped = (declared - head_names) & base_names
    elif head.selective:
        removed = set()
        skipped = base_names - head_names
    else:
        removed = base_names - head_names
        skipped = set()
    return Names(matched=matched, added=added, removed=removed, skipped=skipped)


def pair_by_similarity(new_names: list[str], old_names: list[str]) -> list[tuple[str, str]]:
    """Greedy pairing by ``SequenceMatcher`` ratio, highest first, each name used once.

    Used when several files share one content hash (light/dark variants): ``dark/btn.png`` moving
    to ``dark/button.png`` should not be paired with ``light/button.png``. Ties break by the
    names' sorted order so the result never depends on set iteration order.
    """
    new_sorted, old_sorted = sorted(new_names), sorted(old_names)
    scored = [
        (SequenceMatcher(None, a, r).ratio(), -ai, -ri)
        for ai, a in enumerate(new_sorted)
        for ri, r in enumerate(old_sorted)
    ]
    scored.sort(reverse=True)
    used_new: set[int] = set()
    used_old: set[int] = set()
    pairs: list[tuple[str, str]] = []
    for _, nai, nri in scored:
        ai, ri = -nai, -nri
        if ai in used_new or ri in used_old:
            continue
        pairs.append((new_sorted[ai], old_sorted[ri]))
        used_new.add(ai)
        used_old.add(ri)
    return pairs


def _by_hash(names: set[str], manifest: Manifest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        out.setdefault(manifest.images[name].content_hash, []).append(name)
    return out


def _match_renames(new: set[str], old: set[str], head: Manifest, base: Manifest) -> list[tuple[str, str]]:
    new_by_hash, old_by_hash = _by_hash(new, head), _by_hash(old, base)
    pairs: list[tuple[str, str]] = []
    for content_hash in sorted(new_by_hash.keys() & old_by_hash.keys()):
        a, r = new_by_hash[content_hash], old_by_hash[content_hash]
        pairs.extend([(a[0], r[0])] if len(a) == 1 and len(r) == 1 else pair_by_similarity(a, r))
    return pairs


def categorize(head: Manifest, base: Manifest) -> Names:
    """Name categories with renames taken out of added/removed (and added/skipped)."""
    names = split_names(head, base)
    for new, old in _match_renames(names.added, names.removed, head, base):
        names.renamed.append((new, old))
        names.added.discard(new)
        names.removed.discard(old)
    if names.skipped:
        for new, old in _match_renames(names.added, names.skipped, head, base):
            names.renamed.append((new, old))
            names.added.discard(new)
            names.skipped.discard(old)
    return names


@dataclass
class Plan:
    """The results that need no pixels, and the matched names that do."""

    results: dict[str, ImageResult]
    candidates: list[str]


def pair_result(status: Status, h: ImageMeta, b: ImageMeta, reason: str | None = None) -> ImageResult:
    """The result for one matched name, sizes from the manifests (a pixel diff refines them)."""
    return ImageResult(
        status,
        head_hash=h.content_hash,
        base_hash=b.content_hash,
        before_width=b.width,
        before_height=b.height,
        after_width=h.width,
        after_height=h.height,
        reason=reason,
    )


def plan(head: Manifest, base: Manifest) -> Plan:
    """Decide everything that needs no pixel diff; list the pairs that do (sorted)."""
    names = categorize(head, base)
    results: dict[str, ImageResult] = {}
    for name in names.added:
        h = head.images[name]
        results[name] = ImageResult(
            "added", head_hash=h.content_hash, after_width=h.width, after_height=h.height
        )
    gone: list[tuple[str, Status]] = [(n, "removed") for n in names.removed]
    gone += [(n, "skipped") for n in names.skipped]
    for name, status in gone:
        b = base.images[name]
        results[name] = ImageResult(
            status,
            base_hash=b.content_hash,
            before_width=b.width,
            before_height=b.height,
        )
    for new, old in names.renamed:
        results[new] = pair_result("renamed", head.images[new], base.images[old])
        results[new].previous_image_file_name = old
    candidates: list[str] = []
    for name in sorted(names.matched):
        h, b = head.images[name], base.images[name]
        if h.content_hash == b.content_hash:
            results[name] = pair_result("unchanged", h, b)
        elif max(h.width, b.width) * max(h.height, b.height) > MAX_DIFF_PIXELS:
            results[name] = pair_result("errored", h, b, reason="exceeds_pixel_limit")
        else:
            candidates.append(name)
    return Plan(results=results, candidates=candidates)


def decide(changed_pixels: int, total_pixels: int, threshold: float) -> Status:
    """``changed`` iff the changed fraction is strictly greater than the threshold."""
    if total_pixels <= 0:
        return "unchanged"
    return "changed" if changed_pixels / total_pixels > threshold else "unchanged"


def summarize(results: dict[str, ImageResult]) -> dict[str, int]:
    """Sentry's ``ComparisonSummary``: a count per status plus ``total``."""
    counts: dict[str, int] = {status: 0 for status in STATUSES}
    for result in results.values():
        counts[result.status] += 1
    return {"total": len(results), **counts}


def is_complete(manifest: Manifest) -> bool:
    """A full upload: neither selective nor carrying a declared name list."""
    return not manifest.selective and manifest.all_image_file_names is None


def fold(anchor: Manifest, layers: list[Manifest]) -> Manifest:
    """Rebuild the complete state of a selective base (Sentry's ``reconstruction``).

    ``anchor`` is the newest complete ancestor; ``layers`` are the selective uploads after it,
    oldest first. Each layer's uploaded names win, names it skipped are inherited, and names it
    removed (outside its ``all_image_file_names``) are dropped.
    """
    images = dict(anchor.images)
    for layer in layers:
        if layer.all_image_file_names is not None:
            declared = set(layer.all_image_file_names)
            images = {name: meta for name, meta in images.items() if name in declared}
        images.update(layer.images)
    top = layers[-1] if layers else anchor
    return Manifest(images=images, diff_threshold=top.diff_threshold)


def fingerprints(results: dict[str, ImageResult]) -> frozenset[tuple[str, ...]]:
    """What a human approved, as Sentry's auto-approval compares it (reference notes §4.2).

    Changed and added images count with their new hash, renames with both names, removed and
    errored images by name; unchanged and skipped images do not count.
    """
    out: set[tuple[str, ...]] = set()
    for name, r in results.items():
        if r.status in ("changed", "added"):
            out.add((name, r.status, r.head_hash or ""))
        elif r.status == "renamed":
            out.add((name, "renamed", r.head_hash or "", r.previous_image_file_name or ""))
        elif r.status in ("removed", "errored"):
            out.add((name, r.status))
    return frozenset(out)
