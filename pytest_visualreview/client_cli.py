"""Client subcommands of `visualreview`: `run create`, `run complete`, `upload`, `pull`.

They speak to a review server the same way the plugin does (server_mode), with PostHog's CLI exit
codes: 0 clean, 1 unresolved changes, 2 error. Machine output (a run id) alone on stdout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from . import manifest, server_mode, snapshots_yml, spool
from .baselines import TestLocation, baseline_path
from .client import ReviewClient, ReviewServerError
from .settings import TOKEN_ENV, ServerSettings, SettingsError, server_settings, validate_template
from .vcs import VcsError, current_branch, detect


def _settings(args: argparse.Namespace) -> ServerSettings:
    settings, _ = server_settings(
        lambda key: getattr(args, key, None), Path.cwd(), {TOKEN_ENV: _token()}
    )
    if settings is None:
        raise SettingsError("no review server: pass --url (or a snapshots.yml with a config block)")
    return settings


def _token() -> str:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise SettingsError(f"{TOKEN_ENV} is not set; export the review server's API token")
    return token


def _err(command: str, message: object) -> int:
    print(f"visualreview {command}: {message}", file=sys.stderr)
    return server_mode.EXIT_ERROR


def cmd_run_create(args: argparse.Namespace) -> int:
    """Create an empty run for shards to fill; print its id."""
    try:
        settings = _settings(args)
        vcs = detect(Path.cwd(), branch=settings.branch, commit_sha=settings.commit_sha,
                     pr_number=settings.pr_number)
        baseline = snapshots_yml.read(settings.baseline_path)
        empty = manifest.build(
            [],
            repo_id=settings.repo,
            run_type=settings.run_type,
            vcs=vcs,
            purpose=settings.purpose,
            is_partial=bool(args.partial),
            baseline_tokens=baseline.snapshots,
            metadata={"client": "pytest-visualreview", "sharded": True},
        )
        created = server_mode.client_for(settings).create_run(empty.create_payload())
    except (SettingsError, VcsError, snapshots_yml.SnapshotsFileError, ReviewServerError) as exc:
        return _err("run create", exc)
    print(created["run_id"])
    return 0


def cmd_run_complete(args: argparse.Namespace) -> int:
    """Complete a sharded run, wait for the verdict, exit 0/1/2."""
    try:
        settings = _settings(args)
    except SettingsError as exc:
        return _err("run complete", exc)
    client = server_mode.client_for(settings)
    code, report = server_mode.complete_run(
        client, args.run_id, deadline=settings.deadline,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for line in report.lines:
        print(line, file=sys.stderr)
    return code


def cmd_upload(args: argparse.Namespace) -> int:
    """Send spooled runs; each is deleted once the server has taken it."""
    try:
        token = _token()
        folders = spool.find(Path(args.path))
    except (SettingsError, ValueError) as exc:
        return _err("upload", exc)
    if not folders:
        print(f"visualreview upload: nothing spooled in {args.path}", file=sys.stderr)
        return 0
    worst = server_mode.EXIT_CLEAN
    for folder in folders:
        try:
            spooled = spool.read(folder)
        except ValueError as exc:
            worst = max(worst, _err("upload", exc))
            continue
        if spooled.api == "sentry":
            report = server_mode.send_sentry(
                spooled.api_url, token, spooled.manifest, options=spooled.options,
                spool_root=None, read_image=spooled.image,
            )
        else:
            client = ReviewClient(spooled.api_url, spooled.project, token)
            report = server_mode.send(
                client, spooled.manifest, run_id=spooled.run_id, deadline=args.deadline,
                approve=False, baseline_path=None, spool_root=None, read_image=spooled.image,
                progress=lambda line: print(line, file=sys.stderr),
            )
        for line in report.lines:
            print(line, file=sys.stderr)
        if report.run_id and not (report.failed and report.run is None):
            shutil.rmtree(folder)
            print(f"visualreview upload: sent {folder} as run {report.run_id}", file=sys.stderr)
            worst = max(worst, server_mode.EXIT_UNRESOLVED if report.failed else 0)
        else:
            worst = server_mode.EXIT_ERROR
    return worst


def cmd_pull(args: argparse.Namespace) -> int:
    """Write a run's approvals (signed snapshots.yml and approved PNGs) into the working tree."""
    rootdir = Path(args.rootdir).resolve()
    try:
        settings = _settings(args)
        branch = settings.branch or current_branch(rootdir)
        validate_template(args.template)
    except (SettingsError, VcsError) as exc:
        return _err("pull", exc)

    def local_baseline(snapshot: dict[str, object]) -> Path | None:
        metadata = snapshot.get("metadata")
        nodeid = metadata.get("nodeid") if isinstance(metadata, dict) else None
        if not isinstance(nodeid, str):
            return None
        location = TestLocation.from_nodeid(nodeid)
        return baseline_path(args.template, rootdir, location, str(snapshot["identifier"]))

    try:
        lines = server_mode.pull(
            server_mode.client_for(settings), repo=settings.repo, run_type=settings.run_type,
            branch=branch, run_id=args.run_id, baseline_path=settings.baseline_path,
            local_baseline=local_baseline,
        )
    except ReviewServerError as exc:
        hint = ""
        if exc.status == 409:
            hint = "; approve or tolerate every change on the review page first"
        return _err("pull", f"{exc}{hint}")
    for line in lines:
        print(line, file=sys.stderr)
    return 0
