"""In S3 mode the Sentry objectstore writes into the same bucket as the PostHog API's blobs."""

from __future__ import annotations

import hashlib

import pytest

from .conftest import Sentry, png

pytestmark = pytest.mark.backends("shared")


def test_objectstore_uploads_land_in_the_bucket_and_read_back(sentry: Sentry, app_id: str) -> None:
    image = png(11, 7, (10, 120, 230, 255))
    digest = hashlib.sha256(image).hexdigest()
    snapshot_id = sentry.upload(app_id, {"home.png": image}, vcs={"head_sha": "a" * 40})
    assert f"blobs/{digest[:2]}/{digest[2:4]}/{digest}" in sentry.server.bucket_keys("blobs/")
    assert not (sentry.server.data_dir / "blobs").exists(), "nothing goes to the data folder"

    assert sentry.details(snapshot_id)["image_count"] == 1
    served = sentry.get(f"/api/0/projects/default/default/files/images/{digest}/")
    assert served.status_code == 200
    assert served.content == image
