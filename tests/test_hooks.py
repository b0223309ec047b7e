"""The three pluggy hooks, implemented in a user's conftest.py, through pytester (and xdist)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.server.live_server import LiveServer

TESTS = """
import numpy as np

def image(value):
    return np.full((8, 8, 3), value, dtype=np.uint8)

def test_a(snapshot):
    snapshot(image(10), "one")
    snapshot(image(20), "two")

def test_b(snapshot):
    snapshot(image(30), "three")
"""

FLAT_NAMES = """
def pytest_visualreview_identifier(location, name):
    if name == "two":
        return None  # the default scheme
    return f"{location.file_stem}_{name}_{location.nodeid.count(':')}"
"""

METADATA_AND_FINISH = """
import json
from pathlib import Path

def pytest_visualreview_snapshot_metadata(item, record):
    return {"display_name": record.name.title(), "group": item.name,
            "tags": {"outcome": str(record.outcome)}}

def pytest_visualreview_session_finish(result):
    with open(Path(__file__).parent / "finished.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps([[r.identifier, r.metadata] for r in result.records]) + "\\n")
"""


def finished_calls(project) -> list[list[list]]:
    path = project.root / "finished.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_identifier_hook_names_baselines_and_none_keeps_the_default(project):
    project.pytester.makeconftest(FLAT_NAMES)
    project.write_tests(TESTS)
    project.run("--approve").assert_outcomes(passed=2)
    assert project.baselines() == ["test_visual--test_a--two.png", "test_visual_one_2.png",
                                   "test_visual_three_2.png"]
    project.run("--visual-review").assert_outcomes(passed=2)  # the same identifiers again


def test_an_identifier_outside_the_contract_is_a_clear_error(project):
    project.pytester.makeconftest("def pytest_visualreview_identifier(location, name):\n"
                                  "    return 'has spaces/and slashes'\n")
    project.write_tests(TESTS)
    result = project.run("--visual-review")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*pytest_visualreview_identifier returned 'has spaces/and slashes' "
                                 "for snapshot 'one' of test_visual.py::test_a; return a non-empty "
                                 "str of *, or None for the default identifier"])


def test_hooks_are_not_called_without_visual_review(project):
    project.pytester.makeconftest("def pytest_visualreview_identifier(location, name):\n"
                                  "    raise RuntimeError('called')\n"
                                  "def pytest_visualreview_session_finish(result):\n"
                                  "    raise RuntimeError('called')\n")
    project.write_tests(TESTS)
    project.run().assert_outcomes(passed=2)


def test_a_misspelt_hook_argument_is_refused_by_pytest(project):
    """The specs are registered (pytest_addhooks), so pytest checks implementations against them."""
    project.pytester.makeconftest("def pytest_visualreview_identifier(location, snapshot_name):\n"
                                  "    return None\n")
    project.write_tests(TESTS)
    result = project.run("--visual-review")
    assert result.ret != 0
    assert "snapshot_name" in result.stdout.str() + result.stderr.str()


def test_metadata_is_merged_and_session_finish_sees_every_record(project):
    project.pytester.makeconftest(METADATA_AND_FINISH)
    project.write_tests(TESTS)
    project.run("--approve").assert_outcomes(passed=2)
    (call,) = finished_calls(project)
    metadata = dict((identifier, meta) for identifier, meta in call)
    assert sorted(metadata) == ["test_visual--test_a--one", "test_visual--test_a--two",
                                "test_visual--test_b--three"]
    one = metadata["test_visual--test_a--one"]
    assert (one["display_name"], one["group"], one["tags"]) == ("One", "test_a", {"outcome": "new"})
    assert one["tolerance"]["threshold"] > 0  # the plugin's own keys stay


@pytest.mark.slow
def test_under_xdist_metadata_is_merged_on_workers_and_finish_runs_once(project):
    project.pytester.makeconftest(METADATA_AND_FINISH + "\nimport os\n"
                                  "def pytest_visualreview_identifier(location, name):\n"
                                  "    assert os.environ.get('PYTEST_XDIST_WORKER'), 'on a worker'\n")
    project.write_tests(TESTS)
    project.run_subprocess("-n", "2", "--approve").assert_outcomes(passed=2)
    (call,) = finished_calls(project)  # once, on the controller
    assert {meta["display_name"] for _, meta in call} == {"One", "Two", "Three"}
    assert {meta["group"] for _, meta in call} == {"test_a", "test_b"}


def test_bad_metadata_fails_the_test_with_what_to_return(project):
    project.pytester.makeconftest("def pytest_visualreview_snapshot_metadata(item, record):\n"
                                  "    return {'when': object()} if record.name == 'one' else {'name': 'x'}\n")
    project.write_tests(TESTS)
    result = project.run("--visual-review")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*pytest_visualreview_snapshot_metadata returned {'when': <object object at *>} for snapshot "
        "test_visual--test_a--one; return a dict of JSON values*",
        "*pytest_visualreview_snapshot_metadata set name for snapshot test_visual--test_b--three; "
        "the plugin sets those itself*",
    ])


def test_custom_identifiers_keep_every_baseline_when_a_test_did_not_finish(project):
    """Unfinished tests' baselines are protected by their default prefix, which a custom scheme
    need not keep; the run is then treated as partial and nothing is pruned."""
    project.pytester.makeconftest(FLAT_NAMES)
    project.write_tests(TESTS)
    project.run("--approve").assert_outcomes(passed=2)
    project.write_tests(TESTS.replace('def test_b(snapshot):\n', 'def test_b(snapshot):\n    assert 0\n'))
    result = project.run("--approve")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*deleted * obsolete baseline*")
    assert "test_visual_three_2.png" in project.baselines()


@pytest.mark.slow
def test_metadata_reaches_a_sentry_server_as_display_name_group_and_tags(project, tmp_path, monkeypatch):
    live = LiveServer.start(tmp_path / "server-data")
    try:
        monkeypatch.setenv("VISUAL_REVIEW_TOKEN", live.token("project:write", "project:read"))
        project.pytester.makeconftest(METADATA_AND_FINISH)
        project.write_tests(TESTS)
        result = project.run("--approve", "--visual-review-api=sentry", f"--visual-review-url={live.url}",
                             "--visual-review-project=default", "--visual-review-app-id=hooks",
                             "--visual-review-branch=main", "--visual-review-commit=" + "a" * 40)
        result.stdout.fnmatch_lines(["*sentry: run * of app hooks: 3 snapshots, uploaded 3 images*"])
        run_id = next(line for line in result.outlines if line.startswith("sentry: run")).split()[2]
        details = requests.get(f"{live.url}/api/0/organizations/default/preprodartifacts/snapshots/{run_id}/",
                               headers={"Authorization": f"Bearer {live.token('project:read')}"}, timeout=10)
        images = {image["image_file_name"]: image for image in details.json()["images"]}
        one = images["test_visual--test_a--one.png"]
        assert (one["display_name"], one["group"], one["tags"]) == ("One", "test_a", {"outcome": "new"})
    finally:
        live.kill()
