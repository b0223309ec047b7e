"""Manifest validation: Sentry's 400 messages, word for word, and the normalisations it applies."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_visualreview.server.sentry import manifest as m

SHA_A = "a" * 40
SHA_B = "b" * 40


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "app_id": "web",
        "images": {"a.png": {"content_hash": "h1", "width": 2, "height": 3}},
    }
    out.update(over)
    return out


def error_of(data: Any) -> m.ManifestError:
    with pytest.raises(m.ManifestError) as info:
        m.parse_upload(data)
    return info.value


def test_minimal_body_parses_with_defaults() -> None:
    up = m.parse_upload(body())
    assert up.app_id == "web"
    assert up.manifest.images["a.png"].width == 2
    assert up.manifest.selective is False
    assert up.vcs.has_commit is False
    assert up.manifest.threshold_for("a.png") == 0.0


def test_invalid_json_message() -> None:
    with pytest.raises(m.ManifestError) as info:
        m.parse_json_body(b"{not json")
    assert info.value.detail == "Invalid json body"
    assert error_of([1, 2]).detail == "Invalid json body"


@pytest.mark.parametrize("app_id", [None, 5, "x" * 256])
def test_app_id_message(app_id: Any) -> None:
    data = body(app_id=app_id)
    if app_id is None:
        del data["app_id"]
    err = error_of(data)
    assert err.detail == (
        "The app_id field is required and must be a string with maximum length of 255 characters."
    )
    assert err.body() == {"detail": err.detail, "field": "app_id"}


@pytest.mark.parametrize(
    ("images", "where"),
    [
        ([], "images"),
        ({"a.png": {"width": 1, "height": 1}}, "images.a.png.content_hash"),
        ({"a.png": {"content_hash": "h", "width": -1, "height": 1}}, "images.a.png.width"),
        ({"a.png": {"content_hash": "h", "width": 1, "height": True}}, "images.a.png.height"),
        (
            {"a.png": {"content_hash": "h", "width": 1, "height": 1, "diff_threshold": 1.0}},
            "images.a.png.diff_threshold",
        ),
        ({"a.png": {"content_hash": "h", "width": 1, "height": 1, "tags": 3}}, "images.a.png.tags"),
        (
            {"a.png": {"content_hash": "h", "width": 1, "height": 1, "group": 3}},
            "images.a.png.group",
        ),
        ({"a.png": "x"}, "images.a.png"),
    ],
)
def test_images_message_names_the_path(images: Any, where: str) -> None:
    err = error_of(body(images=images))
    assert err.detail == (
        "The images field is required and must be an object mapping image names to image metadata."
    )
    assert err.field == where


@pytest.mark.parametrize("key", ["head_sha", "base_sha"])
@pytest.mark.parametrize("value", ["A" * 40, "abc", 5])
def test_sha_messages(key: str, value: Any) -> None:
    err = error_of(body(**{key: value}))
    assert err.detail == (
        f"The {key} field must be a 40-character hexadecimal SHA1 string (no uppercase letters)."
    )


def test_empty_sha_is_allowed_and_means_absent() -> None:
    up = m.parse_upload(body(head_sha="", base_sha=""))
    assert up.vcs.head_sha is None and up.vcs.base_sha is None


@pytest.mark.parametrize("value", [0, -3, "7", True])
def test_pr_number_message(value: Any) -> None:
    err = error_of(body(pr_number=value))
    assert err.detail == "The pr_number field must be a positive integer."


def test_repo_name_too_long() -> None:
    err = error_of(body(head_repo_name="x" * 256))
    assert err.detail == ("The head_repo_name field must be a string with maximum length of 255 characters.")


@pytest.mark.parametrize("value", [1.0, -0.1, "0.1", float("nan")])
def test_manifest_diff_threshold_range(value: Any) -> None:
    err = error_of(body(diff_threshold=value))
    assert err.field == "diff_threshold"
    assert "diff_threshold" in err.detail


def test_semantic_checks_in_sentry_order() -> None:
    # 1: names without selective (even though base_sha is also missing)
    assert error_of(body(all_image_file_names=["a.png"])).detail == (
        "all_image_file_names requires selective to be true."
    )
    # 2: selective without base_sha
    assert error_of(body(selective=True)).detail == "selective requires base_sha to be provided."
    # 3: empty list
    assert error_of(body(selective=True, base_sha=SHA_B, all_image_file_names=[])).detail == (
        "all_image_file_names must not be empty."
    )
    # 4: an uploaded name missing from the list
    err = error_of(body(selective=True, base_sha=SHA_B, all_image_file_names=["other.png"]))
    assert err.detail == "Every image name must appear in all_image_file_names."
    assert err.field == "images.a.png"


def test_normalisations_and_extras_round_trip() -> None:
    images = {
        "sub/b.png": {
            "content_hash": "h2",
            "width": 5,
            "height": 7,
            "tags": ["x", "y"],
            "canvas_theme": "sepia",
            "foo": {"n": 1},
            "diff_threshold": 0.25,
        },
        "c.png": {
            "content_hash": "h3",
            "width": 1,
            "height": 1,
            "tags": {"k": 2},
            "canvas_theme": "dark",
        },
    }
    up = m.parse_upload(body(images=images, diff_threshold=0.1))
    b = up.manifest.images["sub/b.png"]
    assert b.tags == {"x": "x", "y": "y"}
    assert b.canvas_theme is None
    assert b.extras == {"foo": {"n": 1}}
    assert up.manifest.images["c.png"].tags == {"k": "2"}
    assert up.manifest.images["c.png"].canvas_theme == "dark"
    assert up.manifest.threshold_for("sub/b.png") == 0.25
    assert up.manifest.threshold_for("c.png") == 0.1
    again = m.Manifest.from_json(up.manifest.to_json())
    assert again == up.manifest


def test_commit_needs_all_four_fields() -> None:
    full = dict(head_sha=SHA_A, provider="github", head_repo_name="o/r", head_ref="main")
    assert m.parse_upload(body(**full)).vcs.has_commit
    partial = dict(full)
    del partial["head_ref"]
    assert not m.parse_upload(body(**partial)).vcs.has_commit
