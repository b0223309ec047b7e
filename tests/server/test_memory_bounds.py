"""Small requests cannot make the server hold large amounts of memory (issue 14, point 1).

Each case is a request the server refuses, measured as the growth of the live server process's
peak RSS (``VmHWM``) while it answers, against a bound. Before the fix the same requests grew it
by 60 MiB (an anonymous 20 MiB JSON body), 485 MiB (a read-only token's six zstd parts of 60 MiB
of zeros) and 375 MiB per PNG declaring 49 megapixels (1.4 GiB for four at once); docs/server.md
has the table.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
import requests
import zstandard

from .live_server import LiveServer
from .memory import MiB, peak_growth
from .server_helpers import Client, item, page, upload_file

pytestmark = pytest.mark.slow

OS_BATCH = "/api/0/organizations/default/objectstore/v1/objects:batch/preprod/org=1;project=1/"
BOUNDARY = "vr-memory-boundary"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module. Its peak is reset before each measurement; the tests run in
    file order, the ones that may legitimately hold 190 MiB or more (a write token's batch,
    decoding 25 MP images) last, so no small bound is measured on a heap a big case left."""
    server = LiveServer.start(tmp_path_factory.mktemp("vr-memory"))
    yield server
    server.stop()


def _pid(server: LiveServer) -> int:
    return server.process.pid


# -- JSON bodies: authenticated and limited before they are read --------------------------------


def test_an_anonymous_json_body_is_refused_before_it_is_read(live: LiveServer) -> None:
    body = b'{"repo_id": "' + b"x" * (20 * MiB) + b'"}'
    url = live.api() + "runs/"

    def send() -> requests.Response:
        return requests.post(url, data=body, headers={"Content-Type": "application/json"},
                             timeout=60)

    growth, response = peak_growth(_pid(live), send, "anonymous 20 MiB JSON, Content-Length")
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "not_authenticated"
    assert growth < 8 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for a 401"

    def chunked() -> Iterator[bytes]:  # no Content-Length: nothing to refuse up front
        for _ in range(20):
            yield b" " * MiB

    growth, response = peak_growth(
        _pid(live),
        lambda: requests.post(url, data=chunked(), headers={
            "Content-Type": "application/json", "Authorization": "Bearer vrt_unknown"},
            timeout=60),
        "unknown token, chunked 20 MiB JSON",
    )
    assert response.status_code == 401, response.text
    assert growth < 8 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for a 401"


def test_an_authenticated_json_body_is_limited(live: LiveServer) -> None:
    token = live.token()
    url = live.api() + "runs/"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    body = b" " * (40 * MiB)
    growth, response = peak_growth(
        _pid(live), lambda: requests.post(url, data=body, headers=headers, timeout=60),
        "write token, declared 40 MiB JSON",
    )
    assert response.status_code == 413, response.text
    assert response.json()["attr"] == "body"
    assert growth < 8 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for a declared 413"

    def chunked() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * MiB

    growth, response = peak_growth(
        _pid(live), lambda: requests.post(url, data=chunked(), headers=headers, timeout=60),
        "write token, chunked 40 MiB JSON",
    )
    assert response.status_code == 413, response.text
    # The limit is 32 MiB: what streamed in before it was passed is all it may cost.
    assert growth < 48 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for a chunked 413"
    # and a normal request still works on the same server
    repo = live.repo("acme/after-413")
    ok = requests.post(url, json={"repo_id": repo, "commit_sha": "c0ffee", "branch": "b",
                                  "snapshots": []}, headers=headers, timeout=30)
    assert ok.status_code == 201, ok.text


# -- PNG uploads: the header before decoding, single-use policies ----------------------------------


@functools.lru_cache(maxsize=2)
def _bomb_png(width: int = 7000, height: int = 7000) -> bytes:
    """A valid RGBA PNG of ``width`` x ``height`` transparent pixels, deflated to 186 KiB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    compressor = zlib.compressobj(9)
    row = bytes(1 + width * 4)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 6, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def _target(live: LiveServer, name: str) -> tuple[Client, dict[str, Any]]:
    client = Client(live.api(), live.token(), live.repo(f"acme/{name}"))
    created = client.create_run([item("home", page(3))])  # declares 200 x 150
    return client, created["uploads"][0]


def test_a_png_whose_header_is_not_the_declared_size_is_refused_undecoded(
    live: LiveServer,
) -> None:
    _, target = _target(live, "bomb")
    bomb = _bomb_png()
    assert len(bomb) < 512 * 1024
    growth, response = peak_growth(_pid(live), lambda: upload_file(target, bomb),
        "PNG declaring 7000x7000 for a 200x150 manifest entry",
    )
    assert response.status_code == 400, response.text
    assert response.json()["attr"] == "file"
    assert "7000×7000" in response.json()["detail"] and "200×150" in response.json()["detail"]
    assert growth < 16 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for one refusal"

    def four_at_once() -> list[requests.Response]:
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda _: upload_file(target, bomb), range(4)))

    growth, responses = peak_growth(_pid(live), four_at_once, "four such PNGs at once, same fields")
    assert [r.status_code for r in responses] == [400] * 4
    assert growth < 32 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for four refusals"


def test_a_presigned_upload_is_single_use_once_stored(live: LiveServer) -> None:
    image = page(3)
    client, target = _target(live, "single-use")
    other = client.create_run([item("home", image)], branch="shard-2")["uploads"][0]
    assert other["fields"] != target["fields"]  # two shards, two policies for one image
    assert upload_file(target, image.png).status_code == 204
    # The same fields again, now with a file that would take 200 MiB to decode: refused as used,
    # before the file is looked at.
    growth, again = peak_growth(_pid(live), lambda: upload_file(target, _bomb_png()),
        "used presigned fields again",
    )
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "upload_used"
    assert growth < 16 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB"
    # The other shard's policy is unused: its upload finds the image stored and succeeds.
    assert upload_file(other, image.png).status_code == 204


# -- objectstore batches: the scope before decompressing, and a total cap --------------------------


@functools.lru_cache(maxsize=1)
def _zeros_part() -> bytes:
    """60 MiB of zeros, zstd-compressed to a few KiB (as in the issue)."""
    return zstandard.ZstdCompressor().compress(bytes(60 * MiB))


def _send_batch(live: LiveServer, scope: str) -> tuple[int, requests.Response]:
    """Six insert parts of 60 MiB of zeros each (about 11 KiB sent) with a ``scope`` token."""
    body = bytearray()
    for index in range(6):
        key = quote(f"1/1/{hashlib.sha256(bytes([index])).hexdigest()}", safe="")
        body += (
            f"--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"part\"\r\n"
            f"x-sn-batch-operation-kind: insert\r\nx-sn-batch-operation-key: {key}\r\n"
            "content-type: application/octet-stream\r\ncontent-encoding: zstd\r\n\r\n"
        ).encode() + _zeros_part() + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    assert len(body) < 64 * 1024
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}",
               "x-os-auth": f"Bearer {live.token(scope)}"}
    return peak_growth(
        _pid(live),
        lambda: requests.post(live.url + OS_BATCH, data=bytes(body), headers=headers, timeout=60),
        f"{scope} token, six zstd parts of 60 MiB",
    )


def test_a_read_only_token_batch_decompresses_nothing(live: LiveServer) -> None:
    growth, response = _send_batch(live, "project:read")
    assert response.status_code == 200, response.text
    assert response.content.count(b"x-sn-batch-operation-status: 403 Forbidden") == 6
    assert growth < 16 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB for six 403s"


def test_a_write_token_batch_is_capped_in_total(live: LiveServer) -> None:
    growth, response = _send_batch(live, "project:write")
    assert response.status_code == 413, response.text
    assert "part 2:" in response.json()["detail"] and "total" in response.json()["detail"]
    # 128 MiB of decompressed inserts at most, plus the copy of the part being finished (the
    # 6 x 60 MiB all decompressed would be 360 MiB and more).
    assert growth < 224 * MiB, f"server peak RSS grew {growth / MiB:.1f} MiB (6 x 60 MiB sent)"


# -- decodes: bounded by the slots, not by how many arrive at once -------------------------------


def test_concurrent_decodes_are_bounded(live: LiveServer) -> None:
    """A manifest entry without a size lets a 5000 x 5000 PNG (under the pixel limit) be
    decoded; four at once hold no more than the two decode slots' worth."""
    client = Client(live.api(), live.token(), live.repo("acme/slots"))
    entries = [{"identifier": f"big-{i}", "content_hash": f"{i:064x}"} for i in range(5)]
    targets = client.create_run(entries)["uploads"]
    big = _bomb_png(5000, 5000)
    one, answer = peak_growth(_pid(live), lambda: upload_file(targets[4], big), "one 25 MP decode")
    assert answer.json()["code"] == "hash_mismatch", answer.text  # decoded, then refused

    def four_at_once() -> list[requests.Response]:
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda t: upload_file(t, big), targets[:4]))

    four, answers = peak_growth(_pid(live), four_at_once, "four 25 MP decodes at once")
    assert [a.json()["code"] for a in answers] == ["hash_mismatch"] * 4
    assert one > 64 * MiB, f"one decode grew the peak by only {one / MiB:.1f} MiB"
    assert four < 2.3 * one, f"four decodes at once: {four / MiB:.1f} MiB, one: {one / MiB:.1f} MiB"
