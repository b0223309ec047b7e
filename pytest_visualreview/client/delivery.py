"""A session becomes a review run: build the manifest, pick the target, send it or keep it.

Used at the end of a pytest session and by `visualreview upload`/`run create`; knows nothing of
pytest. Every failure ends either in a clear error (the request was wrong: token, project, repo) or
in a spooled run that `visualreview upload` sends later: a server outage never loses a run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import snapshots_yml
from ..records import Outcome, SnapshotRecord
from ..settings import ServerSettings
from . import baseline_file, spool
from .manifest import Manifest, build
from .posthog_target import PostHogTarget
from .sentry_target import SentryTarget
from .target import Progress, SendOptions, ServerReport, Target, quiet
from .transport import ReviewServerError
from .vcs import VcsError, VcsInfo, detect

#: `--visual-review-api` value (and spool file `api`) -> the target that speaks it
TARGETS: dict[str, type[Target]] = {PostHogTarget.api: PostHogTarget, SentryTarget.api: SentryTarget}

CLIENT_METADATA = {"client": "pytest-visualreview"}


def target_for(settings: ServerSettings, vcs: VcsInfo) -> Target:
    return TARGETS[settings.api].from_settings(settings, vcs)


def spooled_target(fields: Mapping[str, Any], token: str, url: str | None = None) -> Target:
    """The target a spooled run was meant for (runs spooled before `api` existed are PostHog's),
    on the server at `url` when given (the server moved, or the run was spooled against a dead one)."""
    if url:
        fields = {**fields, "api_url": url.rstrip("/")}
    api = str(fields.get("api") or PostHogTarget.api)
    if api not in TARGETS:
        raise ValueError(f"unknown api {api!r} (known: {', '.join(TARGETS)})")
    return TARGETS[api].from_spool(fields, token)


def session_manifest(
    settings: ServerSettings,
    records: Iterable[SnapshotRecord],
    *,
    cwd: Path,
    is_partial: bool,
    unfinished_prefixes: Collection[str] = (),
    metadata: Mapping[str, Any] = CLIENT_METADATA,
) -> tuple[Manifest, VcsInfo]:
    """The manifest of a session (or of an empty sharded run) and the VCS facts it was built from.

    A test that did not finish (failed or skipped before its snapshots) leaves baselines this run
    did not render; the run is then sent as partial so the server does not call them removed.
    Raises VcsError or SnapshotsFileError.
    """
    vcs = detect(cwd, branch=settings.branch, commit_sha=settings.commit_sha,
                 pr_number=settings.pr_number)
    baseline = snapshots_yml.read(settings.baseline_path)
    records = list(records)
    rendered = {record.identifier for record in records}
    prefixes = tuple(unfinished_prefixes)
    unreached = bool(prefixes) and any(
        identifier.startswith(prefixes) and identifier not in rendered
        for identifier in baseline.snapshots
    )
    manifest = build(
        records,
        repo_id=settings.repo,
        run_type=settings.run_type,
        vcs=vcs,
        purpose=settings.purpose,
        is_partial=is_partial or unreached,
        baseline_tokens=baseline.snapshots,
        metadata=dict(metadata),
    )
    return manifest, vcs


def submit_session(
    settings: ServerSettings,
    records: Iterable[SnapshotRecord],
    *,
    rootdir: Path,
    spool_root: Path,
    partial: bool,
    approve: bool,
    unfinished_prefixes: Collection[str] = (),
    progress: Progress = quiet,
) -> ServerReport:
    """Everything the plugin does with a server at session end."""
    records = list(records)
    try:
        manifest, vcs = session_manifest(settings, records, cwd=rootdir, is_partial=partial,
                                         unfinished_prefixes=unfinished_prefixes)
    except (VcsError, snapshots_yml.SnapshotsFileError) as exc:
        return ServerReport(lines=[f"review server: not sent: {exc}"], failed=True)
    options = SendOptions(read_image=manifest.read_image, approve=approve,
                          baseline_path=settings.baseline_path,
                          baseline_config=baseline_file.configured_block(settings),
                          deadline=settings.deadline, progress=progress)
    report = deliver(target_for(settings, vcs), manifest, options, spool_root=spool_root)
    if approve and report.sent and settings.baseline_path.exists():
        _check_baselines_agree(report, settings.baseline_path, records)
    return report


def _check_baselines_agree(report: ServerReport, path: Path, records: list[SnapshotRecord]) -> None:
    """After --approve, snapshots.yml must name exactly the PNGs on disk; when the server kept
    a hash the local comparison replaced (or the reverse), say so and fail rather than leave a
    checkout whose next run disagrees with itself."""
    baselines = {r.identifier: r.baseline_path for r in records
                 if r.outcome is not Outcome.ERROR and r.baseline_path}
    wrong = baseline_file.disagreements(path, baselines)
    if not wrong:
        return
    report.failed = True
    report.lines.append(
        f"review server: {path} and the baseline PNGs disagree for {len(wrong)} snapshot(s): the "
        "server judged them differently from the local comparison, so the next run would disagree "
        "with itself (see 'One verdict' in docs/server-mode.md):"
    )
    report.lines.extend(f"  {identifier}" for identifier in wrong)


def deliver(target: Target, manifest: Manifest, options: SendOptions, *,
            spool_root: Path | None) -> ServerReport:
    """Send one run; when the server does not take it, keep it in `spool_root` (None: it is
    already being sent from the spool, where it stays)."""
    report = ServerReport()
    try:
        target.send(manifest, options, report)
    except ReviewServerError as error:
        report.lines.append(f"review server: {error}")
        if spool_root is None:
            report.failed = True
            return report
        folder = spool.write(spool_root, target=target.spool_fields(), manifest=manifest,
                             reason=str(error))
        report.lines.append(
            f"review server: the run was saved to {folder}; send it later with: "
            f"visualreview upload {spool_root}"
        )
        # An outage leaves the tests' results standing; a refused request is a configuration error.
        report.failed = not error.transient
    return report
