"""The one place we reach into pytest-playwright: launch a system Chromium when Playwright's is missing.

Registered as a plugin from pytest_configure (trylast), so this fixture overrides pytest-playwright's
and still receives its value, and a user's conftest override chains on top of ours: explicit user
configuration always wins.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import browser


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], browser_name: str | None
) -> dict[str, Any]:
    chosen = ("executable_path", "channel")
    if browser_name not in (None, "chromium") or any(k in browser_type_launch_args for k in chosen):
        return browser_type_launch_args
    fallback = browser.fallback_launch_args()
    if not fallback:
        return browser_type_launch_args
    args = [*fallback["args"], *browser_type_launch_args.get("args", [])]  # type: ignore[misc]
    return {**browser_type_launch_args, **fallback, "args": args}
