"""`visualreview pull`: bring a run's approvals from the review page into the working tree.

What a bot commit does for PostHog: the signed snapshots.yml the server returns, and the approved
images as local PNG baselines, each checked against its approved pixel hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import imaging, snapshots_yml
from . import baseline_file
from .posthog import PostHogClient
from .transport import ReviewServerError


def pull(
    client: PostHogClient,
    *,
    repo: str,
    run_type: str,
    branch: str,
    run_id: str | None,
    baseline_path: Path,
    local_baseline: Callable[[dict[str, Any]], Path | None],
    configured: Mapping[str, str],
) -> list[str]:
    """Bring a run's approvals into the working tree.

    Writes the signed snapshots.yml the server returns for the (fully resolved) run (with the
    user's config block: `baseline_file`, `configured` being the server the user set), and the
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
    after = snapshots_yml.loads(content, name="baseline_content").hashes()
    changed = set(baseline_file.write(baseline_path, content, configured))
    if not changed:
        return [f"run {run_id}: nothing approved that {baseline_path} does not have"]
    lines = [f"pulled run {run_id}", f"wrote {baseline_path} ({len(after)} baselines)"]
    for snapshot in client.list_snapshots(run_id):
        identifier = snapshot["identifier"]
        if snapshot.get("review_state") != "approved" or identifier not in changed:
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
