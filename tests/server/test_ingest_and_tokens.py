"""The server's shared pieces: one ingest check for both kinds of key, one HMAC, one resolver."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_visualreview.imaging import ImageError, content_hash, encode_png
from pytest_visualreview.server import ingest, resolve, signing, tokens
from pytest_visualreview.server.blobs import BlobStore
from pytest_visualreview.server.errors import NotFound
from pytest_visualreview.server.store import Store


def rgba() -> np.ndarray:
    pixels = np.zeros((6, 5, 4), dtype=np.uint8)
    pixels[..., 1] = 120
    pixels[..., 3] = 255
    return pixels


def test_a_pixel_key_is_the_rgba_hash_whatever_the_encoding() -> None:
    image = rgba()
    png = encode_png(image)
    checked = ingest.check(png, content_hash(image), key_kind="pixels", name="f", formats=("PNG",))
    assert (checked.width, checked.height, checked.media_type) == (5, 6, "image/png")
    with pytest.raises(ingest.KeyMismatch) as lie:
        ingest.check(png, "0" * 64, key_kind="pixels", name="f", formats=("PNG",))
    assert lie.value.actual == content_hash(image)


def test_a_sha256_key_is_checked_before_decoding_and_jpeg_is_accepted() -> None:
    out = io.BytesIO()
    Image.fromarray(rgba()[..., :3]).save(out, format="JPEG")
    jpeg = out.getvalue()
    key = hashlib.sha256(jpeg).hexdigest()
    checked = ingest.check(jpeg, key, key_kind="sha256", name=key, formats=("PNG", "JPEG"))
    assert checked.media_type == "image/jpeg" and len(checked.pixel_hash) == 64
    with pytest.raises(ingest.KeyMismatch):
        ingest.check(b"not an image", key, key_kind="sha256", name=key, formats=("PNG",))
    garbage = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    with pytest.raises(ImageError, match="cannot decode PNG"):
        ingest.check(garbage, hashlib.sha256(garbage).hexdigest(), key_kind="sha256", name="x",
                     formats=("PNG",))


def test_store_writes_the_blob_before_the_row(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    key = "ab" * 32
    seen: list[bool] = []
    assert ingest.store(blobs, key, b"data", lambda: seen.append(blobs.path(key).is_file()) or 7) == 7
    assert seen == [True] and blobs.get(key) == b"data"


def test_one_mac_signs_urls_and_baseline_tokens() -> None:
    secret = b"s" * 32
    mac = tokens.mac(secret, "key|123")
    assert tokens.verify(secret, "key|123", mac) and not tokens.verify(secret, "key|124", mac)
    assert tokens.unb64url(tokens.b64url(b"\xff\x00")) == b"\xff\x00"
    token = signing.sign("repo", "id", "a" * 64, "k1", "00" * 32)
    assert token.endswith(tokens.mac(bytes(32), f"v1|repo|id|{'a' * 64}"))


def test_the_resolver_takes_ids_or_slugs_and_names_what_is_missing(tmp_path: Path) -> None:
    store = Store(tmp_path / "d")
    by_slug = resolve.project(store, "default", "default")
    by_id = resolve.project(store, "1", "1")
    assert by_slug[1].id == by_id[1].id == 1 and by_slug[0].slug == "default"
    with pytest.raises(NotFound) as missing:
        resolve.project(store, "default", "nope")
    assert missing.value.attr == "project_id_or_slug"
    with pytest.raises(NotFound) as no_org:
        resolve.organization(store, "²")
    assert no_org.value.attr == "organization_id_or_slug"
