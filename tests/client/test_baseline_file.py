"""snapshots.yml written from the server's baseline_content: whose config block, which hashes."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_visualreview import imaging, snapshots_yml
from pytest_visualreview.client import baseline_file
from pytest_visualreview.client.sentry_target import diff_threshold
from pytest_visualreview.settings import ServerSettings

H1, H2 = "1" * 64, "2" * 64
SERVER_CONTENT = snapshots_yml.dumps({"a": H1, "b": H2}, {"api": "http://127.0.0.1:8000", "team": "1",
                                                           "repo": "r-1"})


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8000", True), ("http://localhost:8000/", True), ("http://[::1]:9", True),
    ("http://127.3.4.5", True), ("https://review.example.com", False), ("http://10.0.0.7:8000", False),
])
def test_loopback_urls_are_told_apart(url, loopback):
    assert baseline_file.is_loopback(url) is loopback


def settings(url: str) -> ServerSettings:
    return ServerSettings(url=url, project="2", repo="r-9", token="t")


def test_the_configured_server_is_the_block_unless_it_is_loopback():
    assert baseline_file.configured_block(settings("http://127.0.0.1:8000")) == {}
    assert baseline_file.configured_block(settings("https://review.example.com")) == {
        "api": "https://review.example.com", "team": "2", "repo": "r-9"}


def test_the_servers_config_block_is_never_written(tmp_path):
    path = tmp_path / "snapshots.yml"
    changed = baseline_file.write(path, SERVER_CONTENT, configured={})
    assert changed == ["a", "b"]
    written = snapshots_yml.read(path)
    assert written.config == {} and written.hashes() == {"a": H1, "b": H2}


def test_an_existing_block_wins_over_the_configured_one(tmp_path):
    path = tmp_path / "snapshots.yml"
    mine = {"api": "https://mine.example.com", "team": "5", "repo": "r-5"}
    snapshots_yml.write(path, {"a": H1}, mine)
    changed = baseline_file.write(path, SERVER_CONTENT, configured={"api": "https://other.example.com"})
    assert changed == ["b"]
    assert snapshots_yml.read(path).config == mine


def test_disagreements_name_the_snapshots_whose_png_is_not_their_hash(tmp_path):
    red = np.array([[[255, 0, 0, 255]]], dtype=np.uint8)
    png = tmp_path / "a.png"
    imaging.write_png(png, imaging.encode_png(red))
    path = tmp_path / "snapshots.yml"
    snapshots_yml.write(path, {"a": imaging.content_hash(red), "b": H2})
    imaging.write_png(tmp_path / "b.png", imaging.encode_png(red))
    assert baseline_file.disagreements(path, {"a": str(png), "b": str(tmp_path / "b.png"),
                                              "gone": str(tmp_path / "gone.png")}) == ["b"]


@pytest.mark.parametrize(("tolerance", "threshold"), [
    (None, None),
    ({"threshold": 0.1, "max_diff_pixels": None, "max_diff_pixel_ratio": None}, 0.0),
    ({"threshold": 0.1, "max_diff_pixels": 25, "max_diff_pixel_ratio": None}, 0.25),
    ({"threshold": 0.1, "max_diff_pixels": 50, "max_diff_pixel_ratio": 0.1}, 0.1),  # smaller wins
    ({"threshold": 0.1, "max_diff_pixels": None, "max_diff_pixel_ratio": 1.0}, None),  # Sentry wants < 1
])
def test_sentrys_diff_threshold_is_the_local_pixel_budget(tolerance, threshold):
    assert diff_threshold(tolerance, 100) == threshold
