"""One verdict: the plugin and the server judge each snapshot alike (tests/agreement.py).

Every snapshot carries the tolerance it was judged with to the server, and the server classifies
with it (server/processing.py `classify_pair`), so the two agree in both directions.
"""

from __future__ import annotations

import pytest

from tests.agreement import BOUNDARY, verdicts

pytestmark = pytest.mark.slow

def pick(*names: str):
    return {name: BOUNDARY[name] for name in names}


def test_each_snapshot_carries_the_tolerance_it_was_judged_with(project, live, monkeypatch):
    found = verdicts(project, live, pick("identical", "below-a-loose-threshold", "one-row-over-budget",
                                         "large-change"), monkeypatch)
    assert {name: v.local for name, v in found.items()} == {
        "identical": "unchanged", "below-a-loose-threshold": "unchanged",
        "one-row-over-budget": "changed", "large-change": "changed"}
    tolerances = {name: v.metadata["tolerance"] for name, v in found.items()}
    default = tolerances["identical"]["threshold"]
    assert tolerances == {
        "identical": {"threshold": default, "max_diff_pixels": None, "max_diff_pixel_ratio": None},
        "below-a-loose-threshold": {"threshold": 0.3, "max_diff_pixels": None, "max_diff_pixel_ratio": None},
        "one-row-over-budget": {"threshold": default, "max_diff_pixels": 100, "max_diff_pixel_ratio": None},
        "large-change": {"threshold": default, "max_diff_pixels": None, "max_diff_pixel_ratio": None}}
    # where PostHog's fixed rule and the local tolerance agree, they agree today
    assert (found["identical"].server, found["large-change"].server) == ("unchanged", "changed")


def test_a_snapshot_the_plugin_fails_is_never_unchanged_on_the_server(project, live, monkeypatch):
    found = verdicts(project, live, pick("small-change-no-budget", "one-row-over-budget",
                                         "large-change"), monkeypatch)
    assert all(v.local == "changed" for v in found.values()), found
    assert {name: v.server for name, v in found.items()} == dict.fromkeys(found, "changed")


def test_a_snapshot_the_plugin_passes_is_never_changed_on_the_server(project, live, monkeypatch):
    found = verdicts(project, live, pick("identical", "exactly-the-budget", "within-a-ratio",
                                         "below-a-loose-threshold"), monkeypatch)
    assert all(v.local == "unchanged" for v in found.values()), found
    assert {name: v.server for name, v in found.items()} == dict.fromkeys(found, "unchanged")
