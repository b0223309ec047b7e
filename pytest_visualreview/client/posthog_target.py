"""A run on PostHog's visual_review API: create (or add to a shard's run), upload what the server
lacks, complete, wait for the verdict, gate, and with --approve finalize and write snapshots.yml.

Also `run complete` for shards, with PostHog's CLI exit codes (0 clean, 1 unresolved, 2 error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .. import snapshots_yml
from ..settings import ServerSettings
from . import baseline_file
from .manifest import Manifest
from .posthog import PostHogClient
from .target import Progress, SendOptions, ServerReport, quiet
from .transport import ReviewServerError
from .vcs import VcsInfo

EXIT_CLEAN, EXIT_UNRESOLVED, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class PostHogTarget:
    api: ClassVar[str] = "posthog"

    client: PostHogClient
    run_id: str | None = None  # a shard adds its snapshots to this run

    @classmethod
    def from_settings(cls, settings: ServerSettings, vcs: VcsInfo) -> PostHogTarget:
        return cls(client_for(settings), settings.run_id)

    @classmethod
    def from_spool(cls, fields: Mapping[str, Any], token: str) -> PostHogTarget:
        return cls(PostHogClient.connect(fields["api_url"], fields["project"], token), fields.get("run_id"))

    def spool_fields(self) -> dict[str, Any]:
        return {"api": self.api, "api_url": self.client.api_url, "project": self.client.project,
                "run_id": self.run_id, "options": {}}

    def send(self, manifest: Manifest, options: SendOptions, report: ServerReport) -> None:
        client, read = self.client, options.read_image
        if self.run_id:
            added = client.add_snapshots(self.run_id, manifest.snapshots, manifest.baseline_hashes)
            report.run_id = self.run_id
            report.uploaded = client.upload_all(added.get("uploads", []), read)
            report.sent = True
            report.review_url = client.review_url(self.run_id)
            report.lines.append(
                f"review server: added {len(manifest.snapshots)} snapshots to run {self.run_id} "
                f"(uploaded {report.uploaded} images); finish with: visualreview run complete {self.run_id}"
            )
            return
        created = client.create_run(manifest.create_payload())
        report.run_id = str(created["run_id"])
        report.review_url = client.review_url(report.run_id)
        report.uploaded = client.upload_all(created.get("uploads", []), read)
        options.progress(f"review server: run {report.run_id}: uploaded {report.uploaded} images, waiting")
        client.complete(report.run_id)
        run = client.wait(report.run_id, deadline=options.deadline,
                          progress=_progress_line(options.progress))
        report.sent = True
        _summarise(report, run, manifest.purpose, options.approve)
        if options.approve and run.get("status") == "completed" and manifest.purpose == "review":
            _approve(report, client, options.baseline_path, options.baseline_config)


def client_for(settings: ServerSettings) -> PostHogClient:
    return PostHogClient.connect(settings.url, settings.project, settings.token)


def complete_run(client: PostHogClient, run_id: str, *, deadline: float,
                 progress: Progress = quiet) -> tuple[int, ServerReport]:
    """`visualreview run complete`: PostHog's CLI exit codes (0 clean, 1 unresolved, 2 error)."""
    report = ServerReport(run_id=run_id, review_url=client.review_url(run_id))
    try:
        client.complete(run_id)
        run = client.wait(run_id, deadline=deadline, progress=_progress_line(progress))
    except ReviewServerError as exc:
        report.lines.append(f"review server: {exc}")
        return EXIT_ERROR, report
    _summarise(report, run, run.get("purpose", "review"), approve=False)
    if run.get("status") == "failed":
        return EXIT_ERROR, report
    return (EXIT_UNRESOLVED if report.failed else EXIT_CLEAN), report


def _summarise(report: ServerReport, run: dict[str, Any], purpose: str, approve: bool) -> None:
    summary = run.get("summary") or {}
    if run.get("status") == "failed":
        report.lines.append(
            f"review server: run {report.run_id} failed: {run.get('error_message') or 'no reason given'}"
        )
        report.failed = True
        return
    unresolved = int(summary.get("unresolved") or 0)
    report.lines.append(
        f"review server: run {report.run_id}: {summary.get('changed', 0)} changed, "
        f"{summary.get('new', 0)} new, {summary.get('removed', 0)} removed, "
        f"{summary.get('unchanged', 0)} unchanged ({unresolved} unresolved); "
        f"uploaded {report.uploaded} images"
    )
    report.lines.append(f"review: {report.review_url}")
    if unresolved and purpose == "review" and not approve:
        report.failed = True
        report.lines.append(
            f"review server: {unresolved} unresolved visual change(s) fail this run; approve "
            "them on the review page, or run with --approve"
        )


def _approve(report: ServerReport, client: PostHogClient, baseline_path: Path | None,
             configured: Mapping[str, str]) -> None:
    assert report.run_id is not None
    try:
        finalized = client.finalize(report.run_id)
    except ReviewServerError as exc:
        report.lines.append(f"review server: approval failed: {exc}")
        report.failed = True
        return
    content = finalized.get("baseline_content")
    if not isinstance(content, str) or baseline_path is None:
        report.lines.append("review server: approved, but the server returned no baseline file")
        report.failed = True
        return
    try:
        approved = baseline_file.write(baseline_path, content, configured)
    except snapshots_yml.SnapshotsFileError as exc:
        report.lines.append(f"review server: approved, but {exc}")
        report.failed = True
        return
    report.failed = False
    report.lines.append(
        f"review server: approved {len(approved)} snapshot(s); wrote {baseline_path}"
        if approved
        else f"review server: nothing to approve; {baseline_path} is up to date"
    )
    report.lines.extend(f"  approved {identifier}" for identifier in approved)


def _progress_line(progress: Progress) -> Callable[[dict[str, Any]], None]:
    def show(run: dict[str, Any]) -> None:
        progress(f"review server: run {run.get('id')} is {run.get('status')}")

    return show
