"""Which branch, commit and pull request a run belongs to: from the CI environment, else from git.

The one source of VCS facts for both targets: PostHog's run takes branch, commit and PR number;
Sentry's upload also takes the repository, the provider and the PR's base commit (which starts its
comparison). The review server supersedes runs per (repo, branch, run type) and gates the commit,
so getting these right matters more than getting them fast; flags override everything here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class VcsError(Exception):
    """The commit or branch could not be told; the message says which flag sets it."""


@dataclass(frozen=True)
class VcsInfo:
    branch: str  # the head branch (on a pull request: its source branch)
    commit_sha: str  # the head commit (on a pull request: its head, not GitHub's merge commit)
    pr_number: int | None = None
    base_sha: str | None = None  # a pull request's base commit
    base_branch: str | None = None  # a pull request's target branch
    repo_name: str | None = None  # "owner/name" on the provider
    provider: str | None = None  # "github"


def detect(
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    branch: str | None = None,
    commit_sha: str | None = None,
    pr_number: int | None = None,
) -> VcsInfo:
    """Explicit values win, then GitHub Actions' variables, then `git` in `cwd`."""
    github = _github(os.environ if env is None else env)
    branch = branch or github.get("branch") or _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    commit_sha = commit_sha or github.get("commit") or _git(cwd, "rev-parse", "HEAD")
    if pr_number is None and github.get("pr"):
        pr_number = int(github["pr"])
    if not commit_sha:
        raise VcsError(
            "cannot tell the commit: not a git checkout and no GITHUB_SHA; "
            "pass --visual-review-commit SHA"
        )
    if not branch or branch == "HEAD":
        raise VcsError(
            "cannot tell the branch (detached HEAD?); pass --visual-review-branch NAME"
        )
    return _info(github, branch, commit_sha, pr_number)


def from_ci(env: Mapping[str, str] | None = None) -> VcsInfo | None:
    """What the CI environment alone says (no git, no flags); None outside GitHub Actions."""
    github = _github(os.environ if env is None else env)
    if not github.get("commit"):
        return None
    pr = github.get("pr")
    return _info(github, github.get("branch", ""), github["commit"], int(pr) if pr else None)


def _info(github: dict[str, str], branch: str, commit_sha: str, pr_number: int | None) -> VcsInfo:
    return VcsInfo(
        branch=branch,
        commit_sha=commit_sha,
        pr_number=pr_number,
        base_sha=github.get("base_sha"),
        base_branch=github.get("base_branch"),
        repo_name=github.get("repo"),
        provider="github" if github else None,
    )


def current_branch(cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """The branch alone (GitHub Actions, else git), for commands that need no commit."""
    env = os.environ if env is None else env
    branch = _github(env).get("branch") or _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if not branch or branch == "HEAD":
        raise VcsError("cannot tell the branch (detached HEAD?); pass --branch NAME")
    return branch


def _github(env: Mapping[str, str]) -> dict[str, str]:
    """GitHub Actions: on pull requests the head branch, head commit and PR number, not the
    merge commit GitHub checks out, because that is what a reviewer approves."""
    if env.get("GITHUB_ACTIONS") != "true":
        return {}
    found: dict[str, str] = {}
    found["branch"] = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME", "")
    found["commit"] = env.get("GITHUB_SHA", "")
    found["repo"] = env.get("GITHUB_REPOSITORY", "")
    found["base_branch"] = env.get("GITHUB_BASE_REF", "")  # set on pull request events only
    match = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", env.get("GITHUB_REF", ""))
    if match:
        found["pr"] = match.group(1)
    event_path = env.get("GITHUB_EVENT_PATH")
    if event_path and Path(event_path).is_file():
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            event = {}
        pull = event.get("pull_request") if isinstance(event, dict) else None
        if isinstance(pull, dict):
            found["commit"] = str((pull.get("head") or {}).get("sha") or found["commit"])
            found["base_sha"] = str((pull.get("base") or {}).get("sha") or "")
            found["pr"] = str(pull.get("number") or found.get("pr", ""))
    return {key: value for key, value in found.items() if value}


def _git(cwd: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
