"""HTTP client for a review server speaking PostHog's visual_review API (ours, or PostHog itself).

Transient failures (connection errors, 5xx, 429) are retried with Retry-After or exponential backoff;
anything else is a ReviewServerError whose message names the request and the server's own words.
Uploads go to the presigned-POST targets the server hands out, a few at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_TIMEOUT = 30.0
UPLOAD_CONCURRENCY = 4


class ReviewServerError(Exception):
    """A request the server refused or could not answer.

    `transient` is True for outages (connection refused, 5xx, 429 after retries): the run is worth
    spooling and sending later. Otherwise the request itself is wrong (token, project, payload).
    """

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff: float = 0.5  # seconds, doubled per attempt
    max_wait: float = 10.0


class ReviewClient:
    """One project on one server. `api_url` is the server's base URL (e.g. http://127.0.0.1:8000)."""

    def __init__(
        self,
        api_url: str,
        project: str | int,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.project = str(project)
        self.timeout = timeout
        self.retry = retry
        self._sleep = sleep
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"Bearer {token}"
        self._http.headers["User-Agent"] = "pytest-visualreview"

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
        return self._send("GET", url, what=f"download of {url}", authorized=False).content

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
            self._sleep(pause)
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
        self._send("POST", target["url"], what=f"upload of {target['content_hash'][:12]}",
                   data=fields, files=files, authorized=False)

    # -- plumbing ------------------------------------------------------------------------------

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base + path
        response = self._send(method, url, what=f"{method} {url}", json=body)
        try:
            data = response.json()
        except ValueError:
            raise ReviewServerError(
                f"{method} {url}: the server answered {response.status_code} with something that "
                f"is not JSON ({response.text[:80]!r}); is --visual-review-url the review server?",
                status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise ReviewServerError(
                f"{method} {url}: expected a JSON object, got {type(data).__name__}",
                status=response.status_code,
            )
        return data

    def _send(self, method: str, url: str, *, what: str, authorized: bool = True,
              **kwargs: Any) -> requests.Response:
        last = ""
        for attempt in range(self.retry.attempts):
            try:
                if authorized:
                    response = self._http.request(method, url, timeout=self.timeout, **kwargs)
                else:
                    response = requests.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"cannot reach the server ({type(exc).__name__})"
                wait = self._backoff(attempt, None)
            else:
                if response.status_code < 400:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    raise ReviewServerError(
                        f"{what}: {response.status_code} {_detail(response)}{_hint(response)}",
                        status=response.status_code,
                    )
                last = f"{response.status_code} {_detail(response)}"
                wait = self._backoff(attempt, response.headers.get("Retry-After"))
            if attempt + 1 < self.retry.attempts:
                self._sleep(wait)
        raise ReviewServerError(
            f"{what}: {last} (gave up after {self.retry.attempts} attempts)", transient=True
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.retry.max_wait)
            except ValueError:
                pass
        return min(self.retry.backoff * 2**attempt, self.retry.max_wait)


def _detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("error") or data
        attr = data.get("attr")
        return f"{detail} (field: {attr})" if attr else str(detail)
    return str(data)[:200]


def _hint(response: requests.Response) -> str:
    if response.status_code == 401:
        return "; check VISUAL_REVIEW_TOKEN (the server does not know this token)"
    if response.status_code == 403:
        return "; the token lacks a scope: it needs visual_review:read and visual_review:write"
    if response.status_code == 404:
        return "; check --visual-review-project and --visual-review-repo"
    return ""
