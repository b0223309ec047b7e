"""VCS facts from one module: GitHub Actions' environment, git, flags; and Sentry's view of them."""

from __future__ import annotations

import json
import subprocess

import pytest

from pytest_visualreview.client.sentry import vcs_fields, vcs_from_env
from pytest_visualreview.client.vcs import VcsError, detect

HEAD, BASE, MERGE = "a1" * 20, "b2" * 20, "c3" * 20


def test_github_pull_request_uses_head_branch_sha_and_number(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42, "head": {"sha": "b" * 40}}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "feature/x", "GITHUB_REF_NAME": "42/merge",
           "GITHUB_SHA": "c" * 40, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_EVENT_PATH": str(event)}
    info = detect(tmp_path, env)
    assert (info.branch, info.commit_sha, info.pr_number) == ("feature/x", "b" * 40, 42)


def test_github_push_and_flag_overrides(tmp_path):
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main", "GITHUB_SHA": "d" * 40,
           "GITHUB_REF": "refs/heads/main"}
    assert detect(tmp_path, env).pr_number is None
    assert detect(tmp_path, env).branch == "main"
    assert detect(tmp_path, env, branch="release", pr_number=7).branch == "release"


def test_git_checkout_and_its_absence(tmp_path):
    with pytest.raises(VcsError, match="not a git checkout.*--visual-review-commit"):
        detect(tmp_path, {})
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    info = detect(tmp_path, {})
    assert info.branch == "trunk" and len(info.commit_sha) == 40


def pull_request_env(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": HEAD}, "base": {"sha": BASE}}}))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/web",
        "GITHUB_SHA": MERGE,  # the merge commit: not what a reviewer approves
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_BASE_REF": "main",
    }


def test_one_vcs_info_carries_what_both_apis_need(tmp_path):
    info = detect(tmp_path, pull_request_env(tmp_path))
    assert (info.branch, info.commit_sha, info.pr_number) == ("feature", HEAD, 42)
    assert (info.base_sha, info.base_branch, info.repo_name, info.provider) == (
        BASE, "main", "acme/web", "github")


def test_sentry_fields_from_a_github_pull_request(tmp_path):
    assert vcs_from_env({}) == {}
    assert vcs_from_env(pull_request_env(tmp_path)) == {
        "provider": "github",
        "head_repo_name": "acme/web",
        "base_repo_name": "acme/web",
        "head_sha": HEAD,
        "head_ref": "feature",
        "base_sha": BASE,
        "base_ref": "main",
        "pr_number": 42,
    }
    push = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/web", "GITHUB_SHA": MERGE,
            "GITHUB_EVENT_NAME": "push", "GITHUB_REF_NAME": "main"}
    assert vcs_from_env(push) == {"provider": "github", "head_repo_name": "acme/web",
                                  "base_repo_name": "acme/web", "head_sha": MERGE, "head_ref": "main"}


def test_sentry_fields_outside_ci_come_from_git_and_flags(tmp_path):
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    fields = vcs_fields(detect(tmp_path, {}, pr_number=7))
    assert fields.keys() == {"head_sha", "head_ref", "pr_number"}
    assert fields["head_ref"] == "trunk" and fields["pr_number"] == 7
    # a short SHA given by flag is left out rather than refused by Sentry's 40-hex rule
    assert "head_sha" not in vcs_fields(detect(tmp_path, {}, commit_sha="abc123"))
