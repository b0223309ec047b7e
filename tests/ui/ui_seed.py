"""Seed a live review server with runs a reviewer would see, through the public HTTP API only.

Used by the review-page tests and by docs/review.md's screenshots (``python tests/ui/ui_seed.py``
writes them). Images are small drawn "pages", so the viewer shows something a person recognises.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import requests
from PIL import Image, ImageDraw

from pytest_visualreview.imaging import content_hash, pil_to_rgba

READ = "visual_review:read"
WRITE = "visual_review:write"


def page_png(
    title: str, *, button: str = "#2563eb", button_x: int = 40, banner: str | None = None
) -> tuple[bytes, str]:
    """A 480x300 mock web page as PNG bytes and its content hash (BLAKE3 of RGBA)."""
    image = Image.new("RGBA", (480, 300), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 480, 48), fill="#111827")
    draw.text((16, 16), "acme / web", fill="#e5e7eb")
    draw.text((40, 80), title, fill="#111827")
    for row in range(4):
        draw.rectangle((40, 110 + row * 22, 440 - row * 60, 120 + row * 22), fill="#d1d5db")
    draw.rounded_rectangle((button_x, 220, button_x + 140, 256), radius=6, fill=button)
    draw.text((button_x + 22, 232), "Sign up now", fill="#ffffff")
    if banner:
        draw.rectangle((0, 270, 480, 300), fill="#fde68a")
        draw.text((16, 280), banner, fill="#78350f")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), content_hash(pil_to_rgba(image))


@dataclass
class Client:
    """The PostHog-shaped API of a live server, with one token."""

    base: str  # .../api/projects/1/visual_review/
    token: str
    #: (public, reachable): upload URLs name the server's --public-url; send them here instead.
    rewrite: tuple[str, str] | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method,
            self.base + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def run(
        self,
        repo_id: str,
        images: dict[str, tuple[bytes, str]],
        *,
        branch: str,
        baselines: dict[str, str] | None = None,
        pr_number: int | None = None,
        commit: str = "0123456789abcdef0123456789abcdef01234567",
        run_type: str = "playwright",
    ) -> str:
        """Create a run, upload what the server asks for, complete it, wait until processed."""
        by_hash = {digest: data for data, digest in images.values()}
        body = {
            "repo_id": repo_id,
            "run_type": run_type,
            "commit_sha": commit,
            "branch": branch,
            "pr_number": pr_number,
            "snapshots": [
                {"identifier": ident, "content_hash": digest, "width": 480, "height": 300}
                for ident, (_, digest) in images.items()
            ],
            "baseline_hashes": baselines or {},
        }
        created = self.call("POST", "runs/", json=body)
        for upload in created["uploads"]:
            data = by_hash[upload["content_hash"]]
            target = str(upload["url"])
            if self.rewrite and target.startswith(self.rewrite[0]):
                target = self.rewrite[1] + target[len(self.rewrite[0]) :]
            response = requests.post(
                target,
                data={**upload["fields"], "Content-Type": "image/png"},
                files={"file": ("snapshot.png", data, "image/png")},
                timeout=30,
            )
            assert response.status_code < 300, response.text
        run_id = str(created["run_id"])
        self.call("POST", f"runs/{run_id}/complete/", json={})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run = self.call("GET", f"runs/{run_id}/")
            if run["status"] in ("completed", "failed"):
                assert run["status"] == "completed", run
                return run_id
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} not processed in 30 s")


@dataclass
class Seeded:
    repo_id: str
    main_run: str  # approved baseline run on main
    pr_run: str  # changed / new / removed / unchanged, needs review
    images: dict[str, tuple[bytes, str]]
    baselines: dict[str, str]  # what the PR run was compared with


def seed(client: Client, repo_id: str) -> Seeded:
    """Two approved runs on main (the baseline history) and a PR run with one of each result:
    home changed, signup new, footer removed, pricing unchanged."""
    home_v1 = page_png("Welcome")
    home = page_png("Welcome to Acme")
    home_changed = page_png("Welcome to Acme", button="#16a34a", button_x=70, banner="New: dark mode")
    pricing = page_png("Pricing")
    footer = page_png("Contact us")
    signup = page_png("Create your account", button="#9333ea")
    first = client.run(
        repo_id,
        {"home": home_v1, "pricing": pricing, "footer": footer},
        branch="main",
        commit="1111111111111111111111111111111111111111",
    )
    client.call("POST", f"runs/{first}/approve/", json={"approve_all": True})
    main = client.run(
        repo_id,
        {"home": home, "pricing": pricing, "footer": footer},
        branch="main",
        baselines={"home": home_v1[1], "pricing": pricing[1], "footer": footer[1]},
        commit="3333333333333333333333333333333333333333",
    )
    client.call("POST", f"runs/{main}/approve/", json={"approve_all": True})
    baselines = {"home": home[1], "pricing": pricing[1], "footer": footer[1]}
    pr = client.run(
        repo_id,
        {"home": home_changed, "pricing": pricing, "signup": signup},
        branch="feature/dark-mode",
        baselines=baselines,
        pr_number=42,
        commit="2222222222222222222222222222222222222222",
    )
    return Seeded(
        repo_id=repo_id,
        main_run=main,
        pr_run=pr,
        images={
            "home_v1": home_v1,
            "home": home,
            "home_changed": home_changed,
            "pricing": pricing,
            "footer": footer,
            "signup": signup,
        },
        baselines=baselines,
    )


def rgba_equal(png_a: bytes, png_b: bytes) -> bool:
    a = np.asarray(Image.open(io.BytesIO(png_a)).convert("RGBA"))
    b = np.asarray(Image.open(io.BytesIO(png_b)).convert("RGBA"))
    return a.shape == b.shape and bool((a == b).all())
