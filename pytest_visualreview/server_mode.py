"""A session becomes a review run: send the manifest, upload what the server lacks, wait, gate, approve.

Used at the end of a pytest session and by `visualreview upload`/`run complete`; knows nothing of
pytest. Every failure ends either in a clear error (the request was wrong: token, project, repo) or
in a spooled run that `visualreview upload` sends later: a server outage never loses a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from . import imaging, sentry_client, snapshots_yml, spool
from .client import ReviewClient, ReviewServerError
from .manifest import Manifest, build
from .records import SnapshotRecord
from .settings import ServerSettings
from .vcs import VcsError, VcsInfo, detect

Progress = Callable[[str], None]

EXIT_CLEAN, EXIT_UNRESOLVED, EXIT_ERROR = 0, 1, 2


@dataclass
class ServerReport:
    lines: list[str] = field(default_factory=list)
    failed: bool = False  # the session should exit non-zero because of the review
    run_id: str | None = None
    review_url: str | None = None
    run: dict[str, Any] | None = None
    uploaded: int = 0
    spooled: Path | None = None
    approved: list[str] = field(default_factory=list)


def client_for(settings: ServerSettings) -> ReviewClient:
    return ReviewClient(settings.url, settings.project, settings.token)


def submit_session(
    settings: ServerSettings,
    records: Iterable[SnapshotRecord],
    *,
    rootdir: Path,
    spool_root: Path,
    partial: bool,
    approve: bool,
    unfinished_prefixes: Collection[str] = (),
    progress: Progress = lambda line: None,
) -> ServerReport:
    """Everything the plugin does with a server at session end.

    A test that did not finish (failed or skipped before its snapshots) leaves baselines this run
    did not render; the run is then sent as partial so the server does not call them removed.
    """
    report = ServerReport()
    try:
        vcs = detect(
            rootdir, branch=settings.branch, commit_sha=settings.commit_sha,
            pr_number=settings.pr_number,
        )
        baseline = snapshots_yml.read(settings.baseline_path)
    except (VcsError, snapshots_yml.SnapshotsFileError) as exc:
        report.lines.append(f"review server: not sent: {exc}")
        report.failed = True
        return report
    records = list(records)
    rendered = {record.identifier for record in records}
    prefixes = tuple(unfinished_prefixes)
    unreached = any(
        identifier.startswith(prefixes) and identifier not in rendered
        for identifier in baseline.snapshots
    )
    manifest = build(
        records,
        repo_id=settings.repo,
        run_type=settings.run_type,
        vcs=vcs,
        purpose=settings.purpose,
        is_partial=partial or (bool(prefixes) and unreached),
        baseline_tokens=baseline.snapshots,
        metadata={"client": "pytest-visualreview"},
    )
    if settings.api == "sentry":
        return send_sentry(
            settings.url, settings.token, manifest,
            options={"org": settings.org, "project": settings.project, "app_id": settings.app_id,
                     "vcs": sentry_vcs(vcs)},
            spool_root=spool_root, report=report,
        )
    return send(
        client_for(settings),
        manifest,
        run_id=settings.run_id,
        deadline=settings.deadline,
        approve=approve,
        baseline_path=settings.baseline_path,
        spool_root=spool_root,
        progress=progress,
        report=report,
    )


def send(
    client: ReviewClient,
    manifest: Manifest,
    *,
    run_id: str | None,
    deadline: float,
    approve: bool,
    baseline_path: Path | None,
    spool_root: Path | None,
    progress: Progress = lambda line: None,
    report: ServerReport | None = None,
    read_image: Callable[[str], bytes] | None = None,
) -> ServerReport:
    """Send one manifest: add to `run_id` (a shard), or create, complete and wait for a run."""
    report = report or ServerReport()
    read = read_image or manifest.read_image
    try:
        if run_id:
            added = client.add_snapshots(run_id, manifest.snapshots, manifest.baseline_hashes)
            report.run_id = run_id
            report.uploaded = client.upload_all(added.get("uploads", []), read)
            report.review_url = client.review_url(run_id)
            report.lines.append(
                f"review server: added {len(manifest.snapshots)} snapshots to run {run_id} "
                f"(uploaded {report.uploaded} images); finish with: visualreview run complete {run_id}"
            )
            return report
        created = client.create_run(manifest.create_payload())
        report.run_id = created["run_id"]
        report.review_url = client.review_url(report.run_id)
        report.uploaded = client.upload_all(created.get("uploads", []), read)
        progress(f"review server: run {report.run_id}: uploaded {report.uploaded} images, waiting")
        client.complete(report.run_id)
        run = client.wait(report.run_id, deadline=deadline, progress=_progress_line(progress))
    except ReviewServerError as exc:
        return _spooled(report, exc, client.api_url, client.project, manifest, run_id, spool_root)
    report.run = run
    _summarise(report, run, manifest.purpose, approve)
    if approve and run.get("status") == "completed" and manifest.purpose == "review":
        _approve(report, client, baseline_path)
    return report


def complete_run(client: ReviewClient, run_id: str, *, deadline: float,
                 progress: Progress = lambda line: None) -> tuple[int, ServerReport]:
    """`visualreview run complete`: PostHog's CLI exit codes (0 clean, 1 unresolved, 2 error)."""
    report = ServerReport(run_id=run_id, review_url=client.review_url(run_id))
    try:
        client.complete(run_id)
        run = client.wait(run_id, deadline=deadline, progress=_progress_line(progress))
    except ReviewServerError as exc:
        report.lines.append(f"review server: {exc}")
        return EXIT_ERROR, report
    report.run = run
    _summarise(report, run, run.get("purpose", "review"), approve=False)
    if run.get("status") == "failed":
        return EXIT_ERROR, report
    return (EXIT_UNRESOLVED if report.failed else EXIT_CLEAN), report


def sentry_vcs(vcs: VcsInfo) -> dict[str, Any]:
    """Sentry's VCS fields: GitHub Actions' (with the PR's base, which starts a comparison), else
    what git told us about the head."""
    fields = sentry_client.vcs_from_env()
    if fields:
        return fields
    fields = {"head_ref": vcs.branch}
    if re.fullmatch(r"[0-9a-f]{40}", vcs.commit_sha):
        fields["head_sha"] = vcs.commit_sha
    if vcs.pr_number:
        fields["pr_number"] = vcs.pr_number
    return fields


def send_sentry(
    url: str,
    token: str,
    manifest: Manifest,
    *,
    options: dict[str, Any],
    spool_root: Path | None,
    report: ServerReport | None = None,
    read_image: Callable[[str], bytes] | None = None,
) -> ServerReport:
    """Send a session to a Sentry-style server the way sentry-cli does (objectstore + POST)."""
    report = report or ServerReport()
    read = read_image or manifest.read_image
    images = [
        (
            f"{item['identifier']}.png",
            read(item["content_hash"]),
            item["width"],
            item["height"],
            {"display_name": item["metadata"].get("name", item["identifier"]),
             "group": str(item["metadata"].get("nodeid", "")).split("::")[0]},
        )
        for item in manifest.snapshots
    ]
    try:
        result = sentry_client.upload_snapshots(
            url, org=options["org"], project=options["project"], auth_token=token,
            app_id=options["app_id"], images=images, vcs=options.get("vcs") or {},
        )
    except (sentry_client.SentryUploadError, requests.RequestException) as exc:
        transient = isinstance(exc, (requests.ConnectionError, requests.Timeout)) or bool(
            re.search(r"HTTP (5\d\d|429)", str(exc))
        )
        error = ReviewServerError(f"sentry upload to {url}: {exc}", transient=transient)
        return _spooled(report, error, url, options["project"], manifest, None, spool_root,
                        api="sentry", options=options)
    report.run_id = result.artifact_id
    report.uploaded = result.uploaded
    report.review_url = result.snapshot_url
    report.lines.append(
        f"sentry: snapshot {result.artifact_id} of app {options['app_id']}: {result.image_count} "
        f"images, uploaded {result.uploaded} ({result.already_present} already stored)"
    )
    report.lines.append(f"review: {result.snapshot_url}")
    return report


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


def _approve(report: ServerReport, client: ReviewClient, baseline_path: Path | None) -> None:
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
    before = snapshots_yml.read(baseline_path).hashes() if baseline_path.exists() else {}
    after = snapshots_yml.loads(content, name="baseline_content").hashes()
    report.approved = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
    if report.approved or not baseline_path.exists():
        snapshots_yml.write_text(baseline_path, content)
    report.failed = False
    report.lines.append(
        f"review server: approved {len(report.approved)} snapshot(s); wrote {baseline_path}"
        if report.approved
        else f"review server: nothing to approve; {baseline_path} is up to date"
    )
    report.lines.extend(f"  approved {identifier}" for identifier in report.approved)


def _spooled(
    report: ServerReport,
    error: ReviewServerError,
    api_url: str,
    project: str,
    manifest: Manifest,
    run_id: str | None,
    spool_root: Path | None,
    *,
    api: str = "posthog",
    options: dict[str, Any] | None = None,
) -> ServerReport:
    if spool_root is None:  # already sending from the spool: keep it where it is
        report.lines.append(f"review server: {error}")
        report.failed = True
        return report
    report.spooled = spool.write(
        spool_root, api_url=api_url, project=project, manifest=manifest,
        run_id=run_id, reason=str(error), api=api, options=options,
    )
    report.lines.append(f"review server: {error}")
    report.lines.append(
        f"review server: the run was saved to {report.spooled}; send it later with: "
        f"visualreview upload {spool_root}"
    )
    # An outage leaves the tests' results standing; a refused request is a configuration error.
    report.failed = not error.transient
    return report


def _progress_line(progress: Progress) -> Callable[[dict[str, Any]], None]:
    def show(run: dict[str, Any]) -> None:
        progress(f"review server: run {run.get('id')} is {run.get('status')}")

    return show


def pull(
    client: ReviewClient,
    *,
    repo: str,
    run_type: str,
    branch: str,
    run_id: str | None,
    baseline_path: Path,
    local_baseline: Callable[[dict[str, Any]], Path | None],
) -> list[str]:
    """Bring a run's approvals into the working tree: what a bot commit does for PostHog.

    Writes the signed snapshots.yml the server returns for the (fully resolved) run, and the
    approved images as local PNG baselines (`local_baseline(snapshot)` says where; None skips).
    Returns lines to print. Raises ReviewServerError when the run is not resolved yet.
    """
    if run_id is None:
        candidates = [
            run for run in client.list_runs(branch=branch)
            if run.get("repo_id") == repo and run.get("run_type") == run_type
            and run.get("status") == "completed" and not run.get("is_stale")
            and run.get("purpose", "review") == "review"
        ]
        if not candidates:
            raise ReviewServerError(f"no completed review run of {run_type} on branch {branch!r}")
        run_id = str(candidates[0]["id"])
    finalized = client.finalize(run_id, approve_all=False)
    content = str(finalized["baseline_content"])
    before = snapshots_yml.read(baseline_path).hashes() if baseline_path.exists() else {}
    after = snapshots_yml.loads(content, name="baseline_content").hashes()
    if after == before:
        return [f"run {run_id}: nothing approved that {baseline_path} does not have"]
    lines = [f"pulled run {run_id}"]
    snapshots_yml.write_text(baseline_path, content)
    lines.append(f"wrote {baseline_path} ({len(after)} baselines)")
    for snapshot in client.list_snapshots(run_id):
        identifier = snapshot["identifier"]
        if snapshot.get("review_state") != "approved" or after.get(identifier) == before.get(identifier):
            continue
        target = local_baseline(snapshot)
        if target is None:
            continue
        if snapshot.get("result") == "removed":
            target.unlink(missing_ok=True)
            lines.append(f"  removed {target}")
            continue
        artifact = snapshot.get("current_artifact") or {}
        data = client.download(str(artifact["download_url"]))
        rgba = imaging.decode_png(data, name=f"{identifier} from the server")
        if imaging.content_hash(rgba) != after.get(identifier):
            raise ReviewServerError(f"{identifier}: the downloaded image does not match its approved hash")
        imaging.write_png(target, data)
        lines.append(f"  updated {target}")
    return lines
