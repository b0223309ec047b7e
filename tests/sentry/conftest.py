"""Fixtures for the Sentry API tests: one live review server per worker, tokens, PNGs, polling."""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from pytest_visualreview.client.sentry import upload_snapshots
from tests.server.live_server import LiveServer, start_live

_apps = itertools.count(1)


def png(width: int, height: int, color: tuple[int, int, int, int], *, dot: bool = False) -> bytes:
    """A solid PNG; ``dot`` paints one different pixel at (1, 1)."""
    pixels = np.zeros((height, width, 4), dtype=np.uint8)
    pixels[:, :] = color
    if dot:
        pixels[1, 1] = (255 - color[0], 255 - color[1], 255 - color[2], 255)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="RGBA").save(out, format="PNG")
    return out.getvalue()


def sha(n: int) -> str:
    """A distinct, valid 40-hex commit sha."""
    return f"{n:040x}"


@dataclass
class Sentry:
    """Talks to the live server the way Sentry clients do."""

    server: LiveServer
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers(token), timeout=30, **kw)

    def post(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = {**self.headers(token), **kw.pop("headers", {})}
        return requests.post(self.url + path, headers=headers, timeout=30, **kw)

    def upload(
        self,
        app_id: str,
        images: dict[str, bytes],
        *,
        metadata: dict[str, dict[str, Any]] | None = None,
        **kw: Any,
    ) -> str:
        """Upload through our client (objectstore protocol included); returns the snapshot id."""
        items = []
        for name, data in images.items():
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
            items.append((name, data, width, height, (metadata or {}).get(name, {})))
        result = upload_snapshots(
            self.url,
            org="default",
            project="default",
            auth_token=self.token,
            app_id=app_id,
            images=items,
            **kw,
        )
        return result.artifact_id

    def details(self, snapshot_id: str, **params: str) -> dict[str, Any]:
        response = self.get(
            f"/api/0/organizations/default/preprodartifacts/snapshots/{snapshot_id}/",
            params=params,
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def settled(self, snapshot_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Details once the comparison has finished (success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.details(snapshot_id)
            if data["comparison_state"] in ("success", "failed"):
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"comparison did not finish: {data}")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    server = start_live(tmp_path_factory.mktemp(f"sentry-server-{backend}"), backend, request)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sentry(live: LiveServer) -> Sentry:
    return Sentry(live, live.token("project:write", name="ci-bot"))


@pytest.fixture
def app_id() -> str:
    """A fresh app id per test, so tests sharing the server never see each other's bases."""
    return f"app-{next(_apps)}-{time.monotonic_ns()}"
