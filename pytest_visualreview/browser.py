"""Find a Chromium Playwright can drive when Playwright's own build is not installed.

Many locked-down CI images (and these machines) cannot download Playwright's browser, but have a distro
Chromium. We fall back to it so `pytest --visual-review` works with no configuration; anything the user
configured explicitly wins (see playwright_seam.browser_type_launch_args).
"""

from __future__ import annotations

import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache

#: Flags the system Chromium needs to run headless as root in a sandbox without network or GPU.
SYSTEM_CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

SYSTEM_CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)


@cache
def playwright_chromium_installed() -> bool:
    """True when Playwright's own Chromium build is on disk (then nothing needs overriding).

    Asked in a thread of its own: the caller may already be inside a running sync Playwright
    (pytest-playwright's session), where a second one cannot start.
    """
    with ThreadPoolExecutor(1) as pool:
        path = pool.submit(_playwright_chromium_path).result()
    return os.path.exists(path)


def _playwright_chromium_path() -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return playwright.chromium.executable_path


def find_system_chromium() -> str | None:
    """Path of a system Chromium, or None. `VISUAL_REVIEW_CHROMIUM` names one explicitly."""
    explicit = os.environ.get("VISUAL_REVIEW_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in SYSTEM_CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def fallback_launch_args() -> dict[str, object]:
    """Launch arguments for the system Chromium, or {} when Playwright's own build is present."""
    if playwright_chromium_installed():
        return {}
    executable = find_system_chromium()
    if executable is None:
        return {}
    return {"executable_path": executable, "args": list(SYSTEM_CHROMIUM_ARGS)}


def main(argv: list[str]) -> int:
    """`python -m pytest_visualreview.browser --check`: exit 0 when some Chromium is usable."""
    if playwright_chromium_installed():
        print("playwright's own chromium")
        return 0
    executable = find_system_chromium()
    if executable:
        print(executable)
        return 0
    print(
        "no Chromium: install Playwright's (`playwright install chromium`) or the system "
        "package (`apt-get install chromium`)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
