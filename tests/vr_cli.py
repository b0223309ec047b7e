"""A stand-in for PostHog's current `vr` CLI (products/visual_review/cli), for tests.

Written only from the wire flow in issue 13 and /work/shared/reference/posthog-visual-review.md
(sections 9 and 3), deliberately without our own client code, so that the server is driven the way
a client nobody here wrote drives it:

- `submit` (`vr submit`): POST runs/ with the manifest and no `baseline_hashes` -> upload what
  `uploads` lists (form fields, then `Content-Type`, then the file) -> POST complete {} -> poll
  GET runs/{id}/ -> GET runs/{id}/snapshots/?limit=100 (paged) -> exit 1 with unresolved changes
  or new snapshots, 0 when clean; `auto_approve` finalizes with
  {"approve_all": true, "commit_to_github": false} and writes `baseline_content` to the baseline.
- shards: `run_create` (snapshots: [], prints only the run id), `run_upload` (add-snapshots per
  shard), `run_complete` ({"check_run_id": ...} when set) -> exit 0 clean, 1 unresolved, 2 failed.

Hashes are BLAKE3 of the decoded RGBA pixels (Pillow), as the CLI's sharp-based hasher does. The
only liberty taken is the poll interval (the CLI waits 5 s between polls; tests pass less).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import requests
import yaml
from PIL import Image

EXIT_CLEAN, EXIT_UNRESOLVED, EXIT_FAILED = 0, 1, 2
PAGE_SIZE = 100


class VrApiError(Exception):
    """`VisualReviewApiError(status, text)`: a 4xx, or a 5xx/429 after the retries."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status


@dataclass
class Outcome:
    """What one command did: its exit code, the run, and what it printed."""

    exit_code: int
    run_id: str | None = None
    run: dict[str, Any] = field(default_factory=dict)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def results(self) -> dict[str, str]:
        """identifier -> result (`unchanged`, `changed`, `new`, `removed`)."""
        return {s["identifier"]: s["result"] for s in self.snapshots}


def identifier_of(png: Path) -> str:
    """PNG basename without extension, chars outside [a-zA-Z0-9_-] replaced with '-'."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", png.stem)


def content_hash(png: Path) -> str:
    with Image.open(png) as image:
        return blake3.blake3(image.convert("RGBA").tobytes()).hexdigest()


def scan(directory: Path) -> list[dict[str, Any]]:
    """The manifest of a directory of PNGs (recursive), sorted by identifier."""
    if not directory.is_dir():
        return []
    items = []
    for png in directory.rglob("*.png"):
        with Image.open(png) as image:
            width, height = image.size
        items.append({"identifier": identifier_of(png), "content_hash": content_hash(png),
                      "width": width, "height": height, "_path": png})
    return sorted(items, key=lambda item: item["identifier"])


@dataclass
class VrCli:
    api: str  # the PostHog host, e.g. http://127.0.0.1:8000 (`--api`)
    team: str  # `--team`
    repo: str  # `--repo`: the repo UUID
    token: str  # `--token` -> Authorization: Bearer
    baseline: Path  # `--baseline`: snapshots.yml, required on every command
    run_type: str = "playwright"
    poll_interval: float = 5.0
    poll_attempts: int = 120

    # -- commands -------------------------------------------------------------------------------

    def submit(self, directory: Path, *, branch: str, commit: str, pr: int | None = None,
               purpose: str = "review", auto_approve: bool = False) -> Outcome:
        """`vr submit`: errors exit 1."""
        if not self.baseline.exists():
            return self._skip()
        if auto_approve:
            purpose = "review"
        try:
            manifest = scan(directory)
            created = self._post("runs/", self._create_body(branch, commit, pr, purpose, manifest))
            run_id = str(created["run_id"])
            self._upload_all(created.get("uploads") or [], manifest)
            self._post(f"runs/{run_id}/complete/", self._complete_body())
            return self._finish(run_id, purpose, auto_approve)
        except (VrApiError, requests.RequestException, TimeoutError) as exc:
            return Outcome(EXIT_UNRESOLVED, lines=[f"Error: {exc}"])

    def run_create(self, *, branch: str, commit: str, pr: int | None = None,
                   purpose: str = "review", partial: bool = False) -> tuple[int, str]:
        """`vr run create`: (exit code, stdout = only the run id)."""
        if not self.baseline.exists():
            return EXIT_CLEAN, ""
        body = self._create_body(branch, commit, pr, purpose, [])
        if partial:
            body["is_partial"] = True
        try:
            created = self._post("runs/", body)
        except (VrApiError, requests.RequestException) as exc:
            return EXIT_UNRESOLVED, f"Error: {exc}"
        return EXIT_CLEAN, str(created["run_id"])

    def run_upload(self, run_id: str, directory: Path) -> int:
        """`vr run upload`: one shard's snapshots; a missing dir or no PNGs is a no-op success."""
        if not self.baseline.exists():
            return EXIT_CLEAN
        manifest = scan(directory)
        if not manifest:
            return EXIT_CLEAN
        try:
            added = self._post(f"runs/{run_id}/add-snapshots/",
                               {"snapshots": [_wire(item) for item in manifest]})
            self._upload_all(added.get("uploads") or [], manifest)
        except (VrApiError, requests.RequestException):
            return EXIT_UNRESOLVED
        return EXIT_CLEAN

    def run_complete(self, run_id: str, *, purpose: str = "review",
                     auto_approve: bool = False) -> Outcome:
        """`vr run complete`: 0 clean, 1 unresolved, 2 the command failed."""
        if not self.baseline.exists():
            return self._skip()
        try:
            self._post(f"runs/{run_id}/complete/", self._complete_body())
            return self._finish(run_id, purpose, auto_approve)
        except (VrApiError, requests.RequestException, TimeoutError) as exc:
            return Outcome(EXIT_FAILED, run_id=run_id, lines=[f"Error: {exc}"])

    # -- the flow -------------------------------------------------------------------------------

    def _create_body(self, branch: str, commit: str, pr: int | None, purpose: str,
                     manifest: list[dict[str, Any]]) -> dict[str, Any]:
        metadata = {}
        if os.environ.get("GITHUB_RUN_ID"):
            metadata["github_run_id"] = os.environ["GITHUB_RUN_ID"]
        if os.environ.get("JOB_CHECK_RUN_ID"):
            metadata["github_check_run_id"] = os.environ["JOB_CHECK_RUN_ID"]
        return {"repo_id": self.repo, "run_type": self.run_type, "commit_sha": commit,
                "branch": branch, "pr_number": pr, "purpose": purpose, "metadata": metadata,
                "snapshots": [_wire(item) for item in manifest]}

    def _complete_body(self) -> dict[str, Any]:
        check_run_id = os.environ.get("JOB_CHECK_RUN_ID")
        return {"check_run_id": check_run_id} if check_run_id else {}

    def _upload_all(self, uploads: list[dict[str, Any]], manifest: list[dict[str, Any]]) -> None:
        paths = {item["content_hash"]: item["_path"] for item in manifest}
        for upload in uploads:
            path = paths[upload["content_hash"]]
            # S3 presigned POST: every field, then Content-Type, then the file part last.
            parts: list[tuple[str, Any]] = [(k, (None, str(v))) for k, v in upload["fields"].items()]
            parts.append(("Content-Type", (None, "image/png")))
            parts.append(("file", (path.name, path.read_bytes(), "image/png")))
            response = requests.post(upload["url"], files=parts, timeout=60)
            if not response.ok:
                raise VrApiError(response.status_code, response.text)

    def _finish(self, run_id: str, purpose: str, auto_approve: bool) -> Outcome:
        run = self._wait(run_id)
        snapshots = self._snapshots(run_id)
        out = Outcome(EXIT_CLEAN, run_id=run_id, run=run, snapshots=snapshots)
        summary = run.get("summary") or {}
        tag = f"[run:{run_id}]"
        out.lines.append(
            f"{tag} Done: {summary.get('total', 0)} snapshots — {summary.get('unchanged', 0)} "
            f"unchanged, {summary.get('changed', 0)} changed, {summary.get('new', 0)} new, "
            f"{summary.get('removed', 0)} removed")
        for snapshot in [s for s in snapshots if s["result"] != "unchanged"][:25]:
            out.lines.append(f"{tag}   {snapshot['result']}: {snapshot['identifier']}")
        if run.get("status") == "failed":
            out.lines.append(f"{tag} Run failed: {run.get('error_message')}")
            out.exit_code = EXIT_UNRESOLVED
            return out
        if auto_approve:
            approved = self._post(f"runs/{run_id}/finalize/",
                                  {"approve_all": True, "commit_to_github": False})
            self.baseline.write_text(approved["baseline_content"], encoding="utf-8")
            out.lines.append(f"{tag} Auto-approved; wrote {self.baseline}")
            return out
        drift = sum(int(summary.get(k) or 0) for k in ("changed", "new", "removed"))
        unresolved = drift if purpose == "observe" else int(summary.get("unresolved", drift) or 0)
        if unresolved:
            out.exit_code = EXIT_UNRESOLVED
            out.lines.append("Visual changes detected — review at: "
                             f"{self.api}/project/{self.team}/visual_review/runs/{run_id}")
        return out

    def _wait(self, run_id: str) -> dict[str, Any]:
        for _attempt in range(self.poll_attempts):
            run = self._get(f"runs/{run_id}/")
            if run.get("status") in ("completed", "failed"):
                return run
            time.sleep(self.poll_interval)
        raise TimeoutError(f"run {run_id} still processing after {self.poll_attempts} polls")

    def _snapshots(self, run_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self._get(f"runs/{run_id}/snapshots/?limit={PAGE_SIZE}&offset={len(out)}")
            out.extend(page["results"])
            if not page.get("next") or not page["results"] or len(out) >= int(page["count"]):
                return out

    def _skip(self) -> Outcome:
        return Outcome(EXIT_CLEAN, lines=[f"Baseline file not found: {self.baseline} — skipping "
                                          "(branch may not have snapshots.yml yet)"])

    # -- HTTP (cli/src/client.ts: 3 retries on 5xx or 429, Retry-After else 1, 2, 4 s) --------

    @property
    def _base(self) -> str:
        return f"{self.api.rstrip('/')}/api/projects/{self.team}/visual_review/"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, body)

    def _get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        for attempt in range(4):
            response = requests.request(method, self._base + path, json=body, headers=headers,
                                        timeout=60)
            retryable = response.status_code >= 500 or response.status_code == 429
            if not retryable or attempt == 3:
                break
            time.sleep(float(response.headers.get("Retry-After") or 2 ** attempt))
        if not response.ok:
            raise VrApiError(response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in ("identifier", "content_hash", "width", "height")}


def baseline_hashes(path: Path) -> dict[str, str]:
    """identifier -> content hash of a baseline file written by `--auto-approve` (the third dot
    segment of a signed `v1.<kid>.<hash>.<mac>` token, the token itself when bare)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for identifier, entry in (document.get("snapshots") or {}).items():
        token = str(entry["hash"])
        parts = token.split(".")
        out[identifier] = parts[2] if len(parts) == 4 else token
    return out


EMPTY_BASELINE = "version: 1\nsnapshots: {}\n"
