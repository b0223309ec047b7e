"""Turn a snapshot target into a Shot: Playwright screenshots taken until stable, or any image.

Screenshots of live pages flicker (fonts loading, transitions, lazy images), so, like Playwright's
toHaveScreenshot, we keep shooting until two consecutive shots are the same *within the snapshot's
tolerance* (threshold and pixel budget, the earlier shot as the expectation): a page whose jitter
the assertion would forgive still settles. A first shot that matches the baseline ends the loop at
once: the common, passing case costs one screenshot and a byte comparison.
"""

from __future__ import annotations

import inspect
import re
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from . import imaging
from .settings import Tolerance
from .shot import Shot
from .verdict import similar

#: Waits between shots, in ms, as in Playwright; the last repeats until the timeout.
STABILITY_WAITS_MS = (0, 100, 250, 500, 1000)


class CaptureError(Exception):
    """The target could not be captured; the message names it and says what to do."""


@dataclass(frozen=True)
class CaptureOptions:
    full_page: bool = False  # the default for pages (ini or marker); elements ignore it
    full_page_requested: bool = False  # the call itself asked for full_page=True
    clip: dict[str, float] | None = None
    mask: Sequence[Any] = ()
    mask_selectors: Sequence[str] = ()
    mask_color: str = "#FF00FF"
    style: str | None = None
    omit_background: bool = False
    timeout: float = 5.0  # seconds: waiting for a locator's element, then the stable-shot loop


@dataclass(frozen=True)
class Capture:
    shot: Shot
    metadata: dict[str, Any]


def is_playwright_target(target: Any) -> bool:
    """Page, Locator, ElementHandle (sync API) or anything else with a Playwright screenshot()."""
    module = type(target).__module__ or ""
    return module.startswith("playwright.") and hasattr(target, "screenshot")


def capture(
    target: Any,
    options: CaptureOptions,
    *,
    tolerance: Tolerance | None = None,
    matches_baseline: Callable[[Shot], bool] | None = None,
    name: str = "snapshot",
) -> Capture:
    """Capture `target`. Images are decoded once; Playwright targets are shot until stable."""
    if not is_playwright_target(target):
        try:
            rgba = imaging.load_rgba(target, name=name)
        except imaging.ImageError as exc:
            raise CaptureError(str(exc)) from exc
        png = bytes(target) if isinstance(target, (bytes, bytearray, memoryview)) else None
        return Capture(Shot(png=png, rgba=rgba, name=name), metadata={})
    kind = type(target).__name__
    if inspect.iscoroutinefunction(target.screenshot):
        raise CaptureError(
            f"{name}: {kind} is from Playwright's async API; snapshot() drives the sync API "
            "(pytest-playwright's page fixture). Take the screenshot yourself and pass its "
            "bytes: snapshot(await page.screenshot(), 'name')"
        )
    deadline = time.monotonic() + options.timeout
    _wait_for_element(target, kind, name, options.timeout)
    shoot = _screenshot_function(target, options)
    shot = _stable_capture(
        shoot, deadline, options.timeout, tolerance or Tolerance(), matches_baseline, name
    )
    return Capture(shot, _page_metadata(target))  # after the shots: it must not eat their timeout


def _stable_capture(
    shoot: Callable[[float], bytes],
    deadline: float,
    timeout: float,
    tolerance: Tolerance,
    matches_baseline: Callable[[Shot], bool] | None,
    name: str,
) -> Shot:
    def take() -> Shot:
        remaining = max(deadline - time.monotonic(), 0.001)
        return Shot(png=_shoot_within(shoot, remaining, timeout, name), name=name)

    previous = take()
    attempts = 1
    if matches_baseline is not None and matches_baseline(previous):
        return previous
    waits = iter(STABILITY_WAITS_MS[1:])
    while True:
        wait = next(waits, STABILITY_WAITS_MS[-1]) / 1000
        if time.monotonic() + wait >= deadline:
            raise CaptureError(
                f"{name}: the page did not settle: {attempts} consecutive screenshots in "
                f"{timeout:g}s all differed beyond the snapshot's tolerance; mask the moving "
                "parts (mask=[...]), disable them with style=..., or raise the timeout"
            )
        time.sleep(wait)
        current = take()
        attempts += 1
        if similar(previous, current, tolerance):
            return current
        previous = current


def _shoot_within(shoot: Callable[[float], bytes], remaining: float, timeout: float, name: str) -> bytes:
    """One screenshot; Playwright's timeout becomes the same advice as an unsettled page."""
    try:
        return shoot(remaining)
    except PlaywrightTimeoutError as exc:
        raise CaptureError(
            f"{name}: the page did not settle: a screenshot did not finish within the {timeout:g}s "
            "timeout (the element kept moving or the page was busy); mask the moving parts "
            "(mask=[...]), or raise the timeout"
        ) from exc


def _screenshot_function(target: Any, options: CaptureOptions) -> Callable[[float], bytes]:
    page = _page_of(target)
    masks = list(options.mask)
    if page is not None:
        masks.extend(page.locator(selector) for selector in options.mask_selectors)
    kwargs: dict[str, Any] = {
        "animations": "disabled",
        "caret": "hide",
        "scale": "css",
        "type": "png",
        "omit_background": options.omit_background,
    }
    if masks:
        kwargs["mask"] = masks
        kwargs["mask_color"] = options.mask_color
    if options.style:
        kwargs["style"] = options.style
    if _is_page(target):
        kwargs["full_page"] = options.full_page
        if options.clip is not None:
            kwargs["clip"] = options.clip
    elif options.clip is not None or options.full_page_requested:
        raise CaptureError(
            "clip and full_page apply to a whole page; for an element, pass the element (a "
            "Locator) itself, or pass the page with clip=..."
        )

    def shoot(remaining: float) -> bytes:
        return bytes(target.screenshot(timeout=remaining * 1000, **kwargs))

    return shoot


def describe(target: Any) -> str:
    """`locator '#box'` rather than Playwright's repr, which includes the whole frame URL."""
    match = re.search(r"selector='(.*)'>$", repr(target))
    return f"locator {match.group(1)!r}" if match else type(target).__name__


def _wait_for_element(target: Any, kind: str, name: str, timeout: float) -> None:
    """Wait, within the snapshot's timeout, for a locator's element to be attached and visible,
    as Playwright's screenshot does; then fail with a clear message instead of a timeout trace
    for the usual mistakes (no element, several, no area)."""
    if kind == "Locator":
        count = target.count()
        if count <= 1:
            try:
                target.wait_for(state="visible", timeout=timeout * 1000)
            except PlaywrightError:  # a timeout, or a second element appeared (strict mode)
                pass
            count = target.count()
        if count == 0:
            raise CaptureError(
                f"{name}: {describe(target)} matched no element within the {timeout:g}s timeout; "
                "check the selector, or raise the timeout if the element appears later"
            )
        if count > 1:
            raise CaptureError(
                f"{name}: {describe(target)} matched {count} elements; narrow it to one "
                "(e.g. .first or a more specific selector)"
            )
        box = target.bounding_box()
    elif kind == "ElementHandle":
        box = target.bounding_box()
    else:
        return
    if box is None or box["width"] < 1 or box["height"] < 1:
        size = "not visible" if box is None else f"{box['width']:g}×{box['height']:g}"
        raise CaptureError(
            f"{name}: {describe(target)} has no area to capture ({size}); snapshot a visible "
            "element, or wait until it has rendered"
        )


def _is_page(target: Any) -> bool:
    return type(target).__name__ == "Page"


def _page_of(target: Any) -> Any:
    if _is_page(target):
        return target
    page = getattr(target, "page", None)
    if page is not None:
        return page
    owner = getattr(target, "owner_frame", None)
    frame = owner() if callable(owner) else None
    return frame.page if frame is not None else None


def _page_metadata(target: Any) -> dict[str, Any]:
    """Browser, viewport and device scale factor: what a reviewer needs to reproduce a render."""
    page = _page_of(target)
    if page is None:
        return {}
    metadata: dict[str, Any] = {}
    try:
        metadata["viewport"] = page.viewport_size
        metadata["device_scale_factor"] = _device_scale_factor(page)
        browser = page.context.browser
        if browser is not None:
            metadata["browser"] = browser.browser_type.name
            metadata["browser_version"] = browser.version
    except PlaywrightError:  # metadata is best effort: a closing page must not fail the capture
        pass
    return metadata


#: A page's device scale factor is fixed by its browser context; asking the browser costs a round
#: trip (~2 ms) that an unchanged snapshot should not pay every time.
_SCALE_FACTORS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _device_scale_factor(page: Any) -> float:
    try:
        return _SCALE_FACTORS[page]
    except (KeyError, TypeError):
        pass
    value = page.evaluate("window.devicePixelRatio")
    try:
        _SCALE_FACTORS[page] = value
    except TypeError:  # not weak-referenceable: ask again next time
        pass
    return value
