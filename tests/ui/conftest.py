"""Fixtures for the review pages: one live server and one Chromium per module, a fresh repo per test.

Each test gets its own repo seeded through the HTTP API (a few hundred ms), so tests that approve
or reject never see each other's state, while the server and the browser start once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright

from tests.server.live_server import LiveServer

from .ui_env import Env, launch_args
from .ui_seed import READ, WRITE, Client, Seeded, seed


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(**launch_args(playwright))
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer.start(tmp_path_factory.mktemp("review-server"))
    yield server
    server.stop()


def _seed(live: LiveServer) -> tuple[Seeded, str]:
    writer = live.token(READ, WRITE, name="reviewer")
    repo_id = live.repo(f"acme/web-{os.urandom(3).hex()}", trust_unsigned=True)
    return seed(Client(live.api(), writer), repo_id), writer


@pytest.fixture(scope="module")
def seeded_once(live: LiveServer) -> tuple[Seeded, str]:
    """One seeded repo shared by a module's tests that only look (never approve or add runs)."""
    return _seed(live)


def _world(live: LiveServer, chromium: Browser, seeded: Seeded, writer: str) -> Iterator[Env]:
    world = Env(live, chromium, seeded, writer)
    yield world
    world.close()
    assert world.problems == []


@pytest.fixture
def env(live: LiveServer, chromium: Browser) -> Iterator[Env]:
    """A freshly seeded repo of its own: for tests that change review state or add runs."""
    yield from _world(live, chromium, *_seed(live))


@pytest.fixture
def view(live: LiveServer, chromium: Browser, seeded_once: tuple[Seeded, str]) -> Iterator[Env]:
    """The module's shared seeded repo: for tests that only look (faster, no seeding)."""
    yield from _world(live, chromium, *seeded_once)
