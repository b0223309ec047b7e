"""Client subcommands of `visualreview`: `run create`, `run complete`, `upload`, `pull`.

They speak to a review server the same way the plugin does (delivery), with PostHog's CLI exit
codes: 0 clean, 1 unresolved changes, 2 error. Machine output (a run id) alone on stdout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from .. import snapshots_yml
from ..baselines import TestLocation, baseline_path
from ..settings import TOKEN_ENV, ServerSettings, SettingsError, server_settings, validate_template
from . import baseline_file, spool
from .delivery import CLIENT_METADATA, deliver, session_manifest, spooled_target
from .posthog_target import EXIT_CLEAN, EXIT_ERROR, EXIT_UNRESOLVED, client_for, complete_run
from .pull import pull
from .target import SendOptions
from .transport import ReviewServerError
from .vcs import VcsError, current_branch


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
    return EXIT_ERROR


def cmd_run_create(args: argparse.Namespace) -> int:
    """Create an empty run for shards to fill; print its id."""
    try:
        settings = _settings(args)
        empty, _ = session_manifest(settings, [], cwd=Path.cwd(), is_partial=bool(args.partial),
                                    metadata={**CLIENT_METADATA, "sharded": True})
        created = client_for(settings).create_run(empty.create_payload())
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
    code, report = complete_run(
        client_for(settings), args.run_id, deadline=settings.deadline,
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
    worst = EXIT_CLEAN
    for folder in folders:
        try:
            spooled = spool.read(folder)
            target = spooled_target(spooled.target, token, url=args.url)
        except (ValueError, KeyError) as exc:
            worst = max(worst, _err("upload", f"{folder}: {exc}"))
            continue
        print(f"visualreview upload: sending {folder} (spooled because: {spooled.reason})",
              file=sys.stderr)
        options = SendOptions(read_image=spooled.image, deadline=args.deadline,
                              progress=lambda line: print(line, file=sys.stderr))
        report = deliver(target, spooled.manifest, options, spool_root=None)
        for line in report.lines:
            print(line, file=sys.stderr)
        if report.sent:
            shutil.rmtree(folder)
            print(f"visualreview upload: sent {folder} as run {report.run_id}", file=sys.stderr)
            worst = max(worst, EXIT_UNRESOLVED if report.failed else EXIT_CLEAN)
        else:
            worst = EXIT_ERROR
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
        lines = pull(
            client_for(settings), repo=settings.repo, run_type=settings.run_type,
            branch=branch, run_id=args.run_id, baseline_path=settings.baseline_path,
            local_baseline=local_baseline, configured=baseline_file.configured_block(settings),
        )
    except ReviewServerError as exc:
        hint = ""
        if exc.status == 409:
            hint = "; approve or tolerate every change on the review page first"
        return _err("pull", f"{exc}{hint}")
    for line in lines:
        print(line, file=sys.stderr)
    return 0
