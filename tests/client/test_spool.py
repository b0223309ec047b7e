"""Spooled runs: the target describes itself, and runs spooled by earlier versions still upload."""

from __future__ import annotations

import json

import pytest

from pytest_visualreview.client import spool
from pytest_visualreview.client.delivery import spooled_target
from pytest_visualreview.client.manifest import Manifest
from pytest_visualreview.client.posthog import PostHogClient
from pytest_visualreview.client.posthog_target import PostHogTarget
from pytest_visualreview.client.sentry_target import SentryTarget


def manifest(tmp_path) -> Manifest:
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG not really")
    return Manifest(repo_id="r", run_type="playwright", branch="main", commit_sha="a" * 40,
                    pr_number=None, purpose="review", is_partial=False,
                    snapshots=[{"identifier": "a", "content_hash": "h1", "width": 1, "height": 1,
                                "metadata": {}}],
                    baseline_hashes={}, images={"h1": str(png)})


@pytest.mark.parametrize("target", [
    PostHogTarget(PostHogClient.connect("http://127.0.0.1:9", "1", "s3cret-token"), run_id="run-7"),
    SentryTarget("http://127.0.0.1:9", "s3cret-token", "acme", "web", "shop", {"head_ref": "main"}),
])
def test_a_target_comes_back_from_its_spool_folder(tmp_path, target):
    folder = spool.write(tmp_path / "spool", target=target.spool_fields(), manifest=manifest(tmp_path),
                         reason="down")
    spooled = spool.read(folder)
    assert spooled.reason == "down" and spooled.image("h1") == b"\x89PNG not really"
    again = spooled_target(spooled.target, "s3cret-token")
    assert again.spool_fields() == target.spool_fields()
    assert "s3cret-token" not in (folder / "run.json").read_text()  # the token is never spooled


def test_runs_spooled_by_earlier_versions_still_upload(tmp_path):
    folder = tmp_path / "old"
    (folder / "images").mkdir(parents=True)
    document = {"api_url": "http://ci:8000", "project": "1", "run_id": None, "reason": "x",
                "manifest": manifest(tmp_path).to_dict()}  # before `api` was written: PostHog
    (folder / "run.json").write_text(json.dumps(document))
    target = spooled_target(spool.read(folder).target, "t")
    assert isinstance(target, PostHogTarget) and target.client.api_url == "http://ci:8000"

    document.update(api="sentry", options={"org": "acme", "project": "web", "app_id": "shop",
                                           "vcs": {"head_sha": "b" * 40}})
    (folder / "run.json").write_text(json.dumps(document))
    sentry = spooled_target(spool.read(folder).target, "t")
    assert isinstance(sentry, SentryTarget)
    assert (sentry.org, sentry.app_id, sentry.vcs) == ("acme", "shop", {"head_sha": "b" * 40})


def test_an_unknown_api_in_a_spool_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown api 'argos' .known: posthog, sentry."):
        spooled_target({"api": "argos", "api_url": "x", "project": "1"}, "t")
