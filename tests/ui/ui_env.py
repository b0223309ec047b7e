"""What a review-page test works with: a seeded repo, tokens, the API, and browser helpers."""

from __future__ import annotations

import os
import re
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright

from pytest_visualreview.browser import SYSTEM_CHROMIUM_ARGS, find_system_chromium
from tests.server.live_server import LiveServer

from .ui_seed import Client, Seeded


def launch_args(playwright: Playwright) -> dict[str, Any]:
    """Playwright's own Chromium when installed, else the system one (as the plugin does).

    Not browser.fallback_launch_args(): that starts its own sync_playwright, which cannot run
    inside pytest-playwright's session-wide one.
    """
    if os.path.exists(playwright.chromium.executable_path):
        return {}
    executable = find_system_chromium()
    assert executable, "no Chromium: install the Debian package `chromium`"
    return {"executable_path": executable, "args": list(SYSTEM_CHROMIUM_ARGS)}


class Env:
    """One test's world: a seeded repo, tokens, an API client, and browser helpers."""

    def __init__(self, live: LiveServer, browser: Browser, seeded: Seeded, writer: str) -> None:
        self.live = live
        self.browser = browser
        self.seeded = seeded
        self.writer_token = writer
        self.api = Client(live.api(), writer)
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []

    @property
    def url(self) -> str:
        return self.live.url

    def page(self) -> Page:
        """A fresh browser context (no cookies) and page; page errors fail the test."""
        context = self.browser.new_context(viewport={"width": 1200, "height": 900})
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        return page

    def sign_in(self, token: str | None = None, *, next_path: str = "") -> Page:
        """Sign in through the form, as a person would; returns the page, on the repos page."""
        page = self.page()
        page.goto(self.url + "/ui/sign-in" + (f"?next={next_path}" if next_path else ""))
        page.get_by_label("API token").fill(token or self.writer_token)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        return page

    def run_page(self, page: Page, run_id: str | None = None, query: str = "") -> Page:
        page.goto(f"{self.url}/ui/runs/{run_id or self.seeded.pr_run}{query}")
        return page

    def csrf(self, page: Page) -> str:
        value = page.locator('meta[name="csrf-token"]').get_attribute("content")
        assert value, "no CSRF token on the page"
        return value

    def snapshots(self, run_id: str | None = None) -> dict[str, dict[str, Any]]:
        """The run's snapshots through the API, by identifier (quarantined included)."""
        body = self.api.call(
            "GET", f"runs/{run_id or self.seeded.pr_run}/snapshots/?include_quarantined=true"
        )
        return {s["identifier"]: s for s in body["results"]}

    @staticmethod
    def item(page: Page, identifier: str) -> Locator:
        """The snapshot's card on a run page."""
        return page.locator(f'.ui-snapshots .vr-item[data-identifier="{identifier}"]')

    @staticmethod
    def count(page: Page, key: str) -> int:
        """A number from the run page's counts bar (changed, new, unresolved, ...)."""
        text = page.locator(f'.ui-run-head .ui-count[data-count="{key}"] b').inner_text()
        return int(re.sub(r"\D", "", text))

    def close(self) -> None:
        for context in self.contexts:
            context.close()
