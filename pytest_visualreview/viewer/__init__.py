"""The one image viewer users learn: expected / actual / diff, side by side, overlay, slider, diff.

The plugin's static report and the review server's pages both render snapshots with
`viewer_html()` and inline `assets()` once per page, so the two look and behave the same. The
assets are plain CSS and JS files shipped as package data: no build step, no CDN, and a report
opened from file:// needs nothing else. Everything passed in is HTML-escaped here, because
identifiers, labels and URLs come from user code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources

__all__ = ["ImageRef", "MODES", "assets", "keys_legend_html", "viewer_html"]

#: Viewer modes, in the order of their keys 1-4.
MODES = ("side", "overlay", "slider", "diff")
_MODE_LABELS = {"side": "Side by side", "overlay": "Overlay", "slider": "Slider", "diff": "Diff"}


@dataclass(frozen=True)
class ImageRef:
    """An image for the viewer: its URL and, when known, its size (layout starts before load)."""

    url: str
    width: int = 0
    height: int = 0


@cache
def _read(name: str) -> str:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    # Inlined into <style>/<script>: a closing tag inside would end the element early.
    closing = {"css": "</style", "js": "</script"}[name.rsplit(".", 1)[1]]
    if closing in text.lower():
        raise RuntimeError(f"viewer asset {name} contains its own closing tag")
    return text


def stylesheet() -> str:
    """The viewer's CSS text."""
    return _read("viewer.css")


def script() -> str:
    """The viewer's JavaScript text; defines `window.VisualReview` and initialises on load."""
    return _read("viewer.js")


def assets() -> str:
    """`<style>` and `<script>` elements to put once in a page's <head>; works from file://."""
    return f"<style>\n{stylesheet()}</style>\n<script>\n{script()}</script>\n"


def keys_legend_html(extra: tuple[tuple[str, str], ...] = ()) -> str:
    """A short legend of the keyboard shortcuts; `extra` adds a page's own (key, what) pairs."""
    pairs = (
        ("j", "next"),
        ("k", "previous"),
        ("1-4", "side / overlay / slider / diff"),
        ("m", "next mode"),
        ("z", "zoom fit / 100%"),
        *extra,
    )
    items = " · ".join(f"<kbd>{escape(k)}</kbd> {escape(what)}" for k, what in pairs)
    return f'<p class="vr-keys">Keys: {items}</p>'


def _ref(value: str | ImageRef | None) -> ImageRef | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, ImageRef) else ImageRef(value)


def _img(ref: ImageRef, role: str, label: str, *, lazy: bool, extra_class: str = "") -> str:
    attrs = [
        f'src="{escape(ref.url)}"',
        f'alt="{escape(f"{label} {role}".strip())}"',
        f'data-role="{role}"',
    ]
    if extra_class:
        attrs.append(f'class="{extra_class}"')
    if ref.width > 0 and ref.height > 0:
        attrs.append(f'width="{ref.width}" height="{ref.height}"')
    if lazy:
        attrs.append('loading="lazy" decoding="async"')
    return f"<img {' '.join(attrs)}>"


def viewer_html(
    *,
    expected: str | ImageRef | None,
    actual: str | ImageRef | None,
    diff: str | ImageRef | None = None,
    label: str = "",
    lazy: bool = True,
) -> str:
    """Markup of one viewer for an expected/actual/diff triple (any of them may be missing).

    URLs are used as given (make them relative for a file:// report). Modes that need a missing
    image are disabled: a new snapshot (no expected) shows the actual image alone.
    """
    exp, act, dif = _ref(expected), _ref(actual), _ref(diff)
    modes = ["side"]
    if exp and act:
        modes += ["overlay", "slider"]
    if dif:
        modes.append("diff")

    buttons = "".join(
        f'<button type="button" data-vr-mode="{m}" aria-pressed="false"'
        f' title="{escape(_MODE_LABELS[m])} (key {i})">{escape(_MODE_LABELS[m])}</button>'
        for i, m in enumerate(MODES, start=1)
    )
    zoom = (
        '<button type="button" data-vr-zoom="fit" aria-pressed="true" title="Fit (key z)">'
        "Fit</button>"
        '<button type="button" data-vr-zoom="100" aria-pressed="false" title="100% (key z)">'
        "100%</button>"
    )
    toolbar = (
        '<div class="vr-toolbar">'
        f'<span class="vr-group-buttons" role="group" aria-label="View">{buttons}</span>'
        f'<span class="vr-group-buttons" role="group" aria-label="Zoom">{zoom}</span>'
        '<label class="vr-opacity">actual opacity'
        ' <input type="range" min="0" max="100" value="50" aria-label="actual opacity"></label>'
        '<span class="vr-slider-legend">&#9664; expected | actual &#9654;</span>'
        "</div>"
    )

    figures = []
    for role, ref in (("expected", exp), ("actual", act), ("diff", dif)):
        if ref is not None:
            figures.append(
                f'<figure class="vr-figure"><figcaption><a href="{escape(ref.url)}" target="_blank"'
                f' rel="noopener" title="open the {role} image alone">{role}</a></figcaption>'
                f"{_img(ref, role, label, lazy=lazy)}</figure>"
            )
    side = "".join(figures) or '<p class="vr-empty">no image was written for this snapshot</p>'
    panes = [f'<div class="vr-pane" data-pane="side">{side}</div>']
    if exp and act:
        panes.append(
            '<div class="vr-pane" data-pane="overlay"><div class="vr-stack">'
            f"{_img(exp, 'expected', label, lazy=lazy)}"
            f"{_img(act, 'actual', label, lazy=lazy, extra_class='vr-top')}"
            "</div></div>"
        )
        panes.append(
            '<div class="vr-pane" data-pane="slider"><div class="vr-stack">'
            f"{_img(exp, 'expected', label, lazy=lazy)}"
            f"{_img(act, 'actual', label, lazy=lazy, extra_class='vr-top')}"
            '<div class="vr-handle" tabindex="0" role="slider" aria-label="divider position"'
            ' aria-valuemin="0" aria-valuemax="100" aria-valuenow="50"></div>'
            "</div></div>"
        )
    if dif:
        panes.append(
            f'<div class="vr-pane" data-pane="diff">{_img(dif, "diff", label, lazy=lazy)}</div>'
        )
    return (
        f'<div class="vr-viewer" data-modes="{" ".join(modes)}" data-mode="side" data-zoom="fit"'
        f' aria-label="{escape(label)}">{toolbar}'
        f'<div class="vr-stage">{"".join(panes)}</div></div>'
    )
