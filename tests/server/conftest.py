"""Fixtures for the server tests: real uvicorn servers over HTTP on 127.0.0.1.

``server`` is one live server per test session (per xdist worker), shared by tests that create
their own repo and so cannot see each other's data. ``fresh_server`` is a private server for
tests that count project-wide, kill the process, or need a clean data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .live_server import LiveServer, start_on_backend
from .server_helpers import Client


@pytest.fixture(scope="session", params=["folder"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """Shared per session and blob backend (``parametrize("server", BACKENDS, indirect=True,
    scope="session")`` runs a test on both). The fixture's own ``params=["folder"]`` gives
    unparametrized tests the same cache key as a parametrized test's ``folder``, so one folder
    server serves both instead of being restarted at every switch."""
    live = start_on_backend(request, tmp_path_factory.mktemp("vr-shared"))
    yield live
    live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path / "data")
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer, request: pytest.FixtureRequest) -> Client:
    """A write+read token and a new repo on the shared server (isolated from other tests)."""
    name = request.node.name[:200]
    return Client(server.api(), server.token(), server.repo(f"acme/{name}"))


@pytest.fixture
def fresh_client(fresh_server: LiveServer) -> Client:
    return Client(fresh_server.api(), fresh_server.token(), fresh_server.repo("acme/web"))
