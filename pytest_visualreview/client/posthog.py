"""The HTTP calls of PostHog's visual_review API (our bundled server, or PostHog itself).

Every request goes through the shared `Transport` (retries, transient vs refused). Uploads go to
the presigned-POST targets the server hands out, a few at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from .transport import ReviewServerError, Transport

UPLOAD_CONCURRENCY = 4


def hints(status: int) -> str:
    """What to check when PostHog's API refuses a request."""
    if status == 401:
        return "; check VISUAL_REVIEW_TOKEN (the server does not know this token)"
    if status == 403:
        return "; the token lacks a scope: it needs visual_review:read and visual_review:write"
    if status == 404:
        return "; check --visual-review-project and --visual-review-repo"
    return ""


class PostHogClient:
    """One project on one server. `api_url` is the server's base URL (e.g. http://127.0.0.1:8000)."""

    def __init__(self, api_url: str, project: str | int, transport: Transport) -> None:
        self.api_url = api_url.rstrip("/")
        self.project = str(project)
        self.transport = transport

    @classmethod
    def connect(cls, api_url: str, project: str | int, token: str) -> PostHogClient:
        return cls(api_url, project, Transport(token, hints=hints))

    @property
    def base(self) -> str:
        return f"{self.api_url}/api/projects/{self.project}/visual_review/"

    def review_url(self, run_id: str) -> str:
        """Where a person reviews the run (the bundled server's review page)."""
        return f"{self.api_url}/ui/runs/{run_id}"

    # -- the API -------------------------------------------------------------------------------

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "runs/", payload)

    def add_snapshots(
        self, run_id: str, snapshots: list[dict[str, Any]], baseline_hashes: dict[str, str]
    ) -> dict[str, Any]:
        body = {"snapshots": snapshots, "baseline_hashes": baseline_hashes}
        return self._json("POST", f"runs/{run_id}/add-snapshots/", body)

    def complete(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"runs/{run_id}/complete/", {})

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"runs/{run_id}/")

    def finalize(self, run_id: str, *, approve_all: bool = True) -> dict[str, Any]:
        """Approve (with `approve_all`) and get the signed snapshots.yml back, without GitHub."""
        body = {"approve_all": approve_all, "commit_to_github": False}
        return self._json("POST", f"runs/{run_id}/finalize/", body)

    def list_runs(self, *, branch: str) -> list[dict[str, Any]]:
        """The first page of runs on `branch`, newest first."""
        return list(self._json("GET", f"runs/?branch={quote(branch, safe='')}&limit=100")["results"])

    def list_snapshots(self, run_id: str) -> list[dict[str, Any]]:
        """Every snapshot of a run, following the pagination."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._json("GET", f"runs/{run_id}/snapshots/?limit=1000&offset={len(found)}")
            found.extend(page["results"])
            if not page.get("next") or not page["results"]:
                return found

    def download(self, url: str) -> bytes:
        """An image by its (signed) download URL."""
        return self.transport.send("GET", url, what=f"download of {url}", authorized=False).content

    def wait(
        self,
        run_id: str,
        *,
        deadline: float,
        progress: Callable[[dict[str, Any]], None] = lambda run: None,
        interval: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the run is completed or failed, or `deadline` seconds pass.

        Polls quickly at first (small runs finish in well under a second), then every `interval`.
        """
        give_up = time.monotonic() + deadline
        pause = 0.05
        while True:
            run = self.get_run(run_id)
            progress(run)
            if run.get("status") in ("completed", "failed"):
                return run
            if time.monotonic() >= give_up:
                raise ReviewServerError(
                    f"run {run_id} still {run.get('status')!r} after {deadline:g}s; raise "
                    "--visual-review-deadline or check the server's diff worker",
                    transient=True,
                )
            self.transport.sleep(pause)
            pause = min(pause * 2, interval)

    def upload_all(self, targets: Iterable[dict[str, Any]], read: Callable[[str], bytes]) -> int:
        """Upload every target's file (`read(content_hash)` gives the PNG bytes); returns count."""
        targets = list(targets)
        if not targets:
            return 0
        with ThreadPoolExecutor(max_workers=UPLOAD_CONCURRENCY) as pool:
            list(pool.map(lambda target: self.upload(target, read(target["content_hash"])), targets))
        return len(targets)

    def upload(self, target: dict[str, Any], data: bytes) -> None:
        """POST the file to a presigned target: every form field, then the file, last."""
        fields = {key: str(value) for key, value in (target.get("fields") or {}).items()}
        fields.setdefault("Content-Type", "image/png")
        files = {"file": (f"{target['content_hash']}.png", data, "image/png")}
        try:
            self.transport.send("POST", target["url"],
                                what=f"upload of {target['content_hash'][:12]}",
                                data=fields, files=files, authorized=False)
        except ReviewServerError as exc:
            # A presigned upload is single-use: a retry of one whose answer was lost is told
            # 409 because its image is already stored, which is what the retry wanted.
            if exc.status != 409:
                raise

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.transport.json(method, self.base + path, body=body)
