"""Test helpers for talking to a live review server: images, a small API client, polling.

The client here is deliberately plain `requests`: the tests check the wire format, so they must
see exactly what goes over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests

from pytest_visualreview.imaging import content_hash, encode_png


@dataclass(frozen=True)
class Image:
    """An RGBA image with its PNG bytes and content hash."""

    rgba: np.ndarray
    png: bytes
    hash: str

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])


def make_image(rgba: np.ndarray) -> Image:
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    return Image(rgba, encode_png(rgba), content_hash(rgba))


def page(seed: int, width: int = 200, height: int = 150) -> Image:
    """A deterministic 'screenshot': white page with a few coloured blocks chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    rgba = np.full((height, width, 4), 255, dtype=np.uint8)
    for _ in range(4):
        y, x = int(rng.integers(0, height - 10)), int(rng.integers(0, width - 10))
        h, w = int(rng.integers(5, height // 2)), int(rng.integers(5, width // 2))
        rgba[y : y + h, x : x + w, :3] = rng.integers(0, 255, 3, dtype=np.uint8)
    return make_image(rgba)


def changed(image: Image, fraction: float = 0.3) -> Image:
    """A clearly changed copy: the top ``fraction`` of rows painted dark blue."""
    rgba = image.rgba.copy()
    rows = max(1, int(image.height * fraction))
    rgba[:rows, :, :3] = (10, 20, 160)
    return make_image(rgba)


def nudged(image: Image) -> Image:
    """A copy with one pixel changed: below PostHog's thresholds (unchanged/below_threshold)."""
    rgba = image.rgba.copy()
    rgba[image.height // 2, image.width // 2, :3] = 255 - rgba[image.height // 2, image.width // 2, :3]
    return make_image(rgba)


def item(identifier: str, image: Image) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "content_hash": image.hash,
        "width": image.width,
        "height": image.height,
    }


@dataclass
class Client:
    """A thin visual_review client bound to one server, token and repo."""

    api: str
    token: str
    repo_id: str
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.api + path, headers=self.headers, timeout=30, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(
            self.api + path, json=json, headers=self.headers, timeout=60, **kwargs
        )

    def create_run(
        self,
        snapshots: list[dict[str, Any]],
        *,
        branch: str = "feature",
        run_type: str = "playwright",
        baseline_hashes: dict[str, str] | None = None,
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "repo_id": self.repo_id,
            "run_type": run_type,
            "commit_sha": extra.pop("commit_sha", "c0ffee"),
            "branch": branch,
            "snapshots": snapshots,
            "baseline_hashes": baseline_hashes or {},
            **extra,
        }
        response = self.post("runs/", body)
        assert response.status_code == expect, response.text
        return dict(response.json())

    def upload(self, uploads: list[dict[str, Any]], images: dict[str, Image]) -> None:
        """Upload like PostHog's CLI: fields, then Content-Type, then the file part last."""
        for target in uploads:
            image = images[target["content_hash"]]
            response = upload_file(target, image.png)
            assert response.status_code == 204, response.text

    def complete(self, run_id: str) -> dict[str, Any]:
        response = self.post(f"runs/{run_id}/complete/")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the run is completed or failed."""
        return self.poll(run_id, lambda run: run["status"] in ("completed", "failed"), timeout)

    def poll(
        self, run_id: str, done: Callable[[dict[str, Any]], Any], timeout: float = 60.0
    ) -> dict[str, Any]:
        """Poll the run's JSON until ``done(run)``."""
        deadline = time.monotonic() + timeout
        while True:
            run = dict(self.get(f"runs/{run_id}/").json())
            if done(run):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} never got there after {timeout}s: {run}")
            time.sleep(0.05)

    def submit(
        self, images: dict[str, Image], *, baseline_hashes: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """create -> upload -> complete -> wait; returns the finished run."""
        created = self.create_run(
            [item(identifier, image) for identifier, image in images.items()],
            baseline_hashes=baseline_hashes, **kwargs,
        )
        self.upload(created["uploads"], {image.hash: image for image in images.values()})
        self.complete(created["run_id"])
        return self.wait(created["run_id"])

    def snapshots(self, run_id: str, **params: Any) -> dict[str, dict[str, Any]]:
        """identifier -> snapshot JSON, all pages."""
        found: dict[str, dict[str, Any]] = {}
        params = {"limit": 1000, **params}
        body = self.get(f"runs/{run_id}/snapshots/", params=params).json()
        for snap in body["results"]:
            found[snap["identifier"]] = snap
        return found


def upload_file(
    target: dict[str, Any], data: bytes, *, content_type: str = "image/png",
    fields: dict[str, str] | None = None,
) -> requests.Response:
    chosen = fields if fields is not None else target["fields"]
    form: list[tuple[str, Any]] = [(k, (None, v)) for k, v in chosen.items()]
    form.append(("Content-Type", (None, content_type)))
    form.append(("file", ("snapshot.png", data, content_type)))
    return requests.post(target["url"], files=form, timeout=60)


def signed_in(server: Any) -> requests.Session:
    """A browser session signed in to the review pages of ``server`` (a LiveServer) with a fresh
    token."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/ui/sign-in", timeout=30).text
    nonce = form.split('name="csrf" value="')[1].split('"')[0]
    browser.post(
        f"{server.url}/ui/sign-in",
        data={"token": server.token(), "csrf": nonce},
        headers={"Origin": server.url},
        timeout=30,
    )
    return browser
