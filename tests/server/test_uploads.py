"""Upload tampering: every way a presigned upload can be abused is refused with a 4xx naming it,
and nothing is stored (the next ``complete`` still reports the image as missing)."""

from __future__ import annotations

import io
import socket
import time
from typing import Any

import requests
from PIL import Image as PILImage

from pytest_visualreview.server.store import Store
from pytest_visualreview.server.uploads import upload_target

from .live_server import LiveServer
from .server_helpers import Client, item, page, upload_file


def one_target(client: Client, identifier: str = "x", seed: int = 90) -> tuple[dict[str, Any], Any]:
    image = page(seed)
    created = client.create_run([item(identifier, image)])
    assert len(created["uploads"]) == 1
    return {"run_id": created["run_id"], **created["uploads"][0]}, image


def assert_nothing_stored(client: Client, run_id: str, identifier: str) -> None:
    run = client.complete(run_id)
    assert run["status"] == "failed"
    assert "Upload missing for 1 snapshot(s)" in run["error_message"]
    assert identifier in run["error_message"]


def test_upload_of_other_pixels_than_claimed_is_refused(client: Client) -> None:
    target, _image = one_target(client)
    response = upload_file(target, page(91).png)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "hash_mismatch" and body["attr"] == "file"
    assert "Upload integrity check failed" in body["detail"]
    assert_nothing_stored(client, target["run_id"], "x")


def test_reencoded_png_with_the_same_pixels_is_accepted(client: Client) -> None:
    target, image = one_target(client, seed=92)
    buffer = io.BytesIO()
    PILImage.fromarray(image.rgba, "RGBA").save(buffer, format="PNG", compress_level=9)
    assert buffer.getvalue() != image.png
    assert upload_file(target, buffer.getvalue()).status_code == 204
    assert client.complete(target["run_id"])["status"] == "completed"


def test_expired_policy_is_refused(server: LiveServer, client: Client) -> None:
    image = page(93)
    created = client.create_run([item("x", image)])
    # A target signed by this server's secret an hour ago (15 minute policy: expired).
    store = Store(server.data_dir)
    old = upload_target(store.url_secret, server.url, client.repo_id, image.hash,
                        now_ts=time.time() - 3600)
    response = upload_file(old, image.png)
    assert response.status_code == 403
    assert response.json()["code"] == "policy_expired"
    assert_nothing_stored(client, created["run_id"], "x")


def test_tampered_policy_key_or_signature_is_refused(client: Client) -> None:
    target, image = one_target(client, seed=94)
    fields = dict(target["fields"])
    # Claim another hash by editing the policy: the signature no longer matches.
    fields["policy"] = fields["policy"][:-4] + ("AAAA" if fields["policy"][-4:] != "AAAA" else "BBBB")
    response = upload_file(target, image.png, fields=fields)
    assert response.status_code == 403 and response.json()["code"] == "signature_mismatch"
    fields = dict(target["fields"], key="visual_review/elsewhere")
    response = upload_file(target, image.png, fields=fields)
    assert response.status_code == 403 and response.json()["code"] == "key_mismatch"
    for missing in ("key", "policy", "x-vr-signature"):
        fields = {k: v for k, v in target["fields"].items() if k != missing}
        response = upload_file(target, image.png, fields=fields)
        assert response.status_code == 400 and response.json()["attr"] == missing
    assert_nothing_stored(client, target["run_id"], "x")


def test_oversize_upload_is_refused(client: Client) -> None:
    target, _image = one_target(client, seed=95)
    too_big = b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024)
    response = upload_file(target, too_big)
    assert response.status_code == 413 and response.json()["attr"] == "file"
    assert_nothing_stored(client, target["run_id"], "x")


def test_not_a_png_and_wrong_content_type_are_refused(client: Client) -> None:
    target, image = one_target(client, seed=96)
    response = upload_file(target, b"GIF89a not a png at all")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_image" and response.json()["attr"] == "file"
    truncated = upload_file(target, image.png[: len(image.png) // 2])
    assert truncated.status_code == 400 and truncated.json()["code"] == "invalid_image"
    response = upload_file(target, image.png, content_type="text/plain")
    assert response.status_code == 400 and response.json()["attr"] == "Content-Type"
    not_multipart = requests.post(target["url"], data=b"raw", timeout=10)
    assert not_multipart.status_code == 400
    assert_nothing_stored(client, target["run_id"], "x")


def test_decompression_bomb_is_refused(client: Client) -> None:
    target, _image = one_target(client, seed=97)
    # 8000×8000 = 64 M pixels of one colour: a few hundred KB of PNG, 256 MB decoded.
    buffer = io.BytesIO()
    PILImage.new("L", (8000, 8000), 0).save(buffer, format="PNG", optimize=True)
    bomb = buffer.getvalue()
    assert len(bomb) < 10 * 1024 * 1024
    response = upload_file(target, bomb)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_image"
    assert "pixel" in response.json()["detail"] or "large" in response.json()["detail"]
    assert_nothing_stored(client, target["run_id"], "x")


def test_same_image_uploaded_twice_is_stored_once(server: LiveServer, client: Client) -> None:
    target, image = one_target(client, seed=98)
    assert upload_file(target, image.png).status_code == 204
    again = upload_file(target, image.png)  # a policy is single-use once its blob is stored
    assert again.status_code == 409 and again.json()["code"] == "upload_used", again.text
    rows = Store(server.data_dir).query(
        "SELECT COUNT(*) FROM artifacts WHERE repo_id = ? AND content_hash = ?",
        (client.repo_id, image.hash),
    )
    assert rows[0][0] == 1
    blob = server.data_dir / "blobs" / image.hash[:2] / image.hash[2:4] / image.hash
    assert blob.read_bytes() == image.png
    leftovers = list((server.data_dir / "blobs").rglob("*.tmp"))
    assert leftovers == []
    # A second run with the same image asks for no upload.
    again = client.create_run([item("y", image)])
    assert again["uploads"] == []


def test_blob_download_needs_a_valid_signature(server: LiveServer) -> None:
    key = "ab" * 32
    assert requests.get(f"{server.url}/blobs/{key}", timeout=10).status_code == 403
    bad = requests.get(f"{server.url}/blobs/{key}?expires=1&signature=x", timeout=10)
    assert bad.status_code == 403
    garbage = requests.get(f"{server.url}/blobs/{key}?expires=soon&signature=x", timeout=10)
    assert garbage.status_code == 400 and garbage.json()["attr"] == "expires"



def test_chunked_upload_without_a_length_is_cut_off(server: LiveServer, client: Client) -> None:
    """A streamed body has no Content-Length to check up front: the server must stop reading
    at the limit instead of spooling whatever it is sent."""
    target, _image = one_target(client, seed=99)
    boundary = "vrboundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in {**target["fields"], "Content-Type": "image/png"}.items()
    )
    head = (
        f"POST /uploads/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    file_head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 'filename="x.png"\r\nContent-Type: image/png\r\n\r\n').encode()

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    reply = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(head + chunk(parts) + chunk(file_head))
            for _ in range(24):  # 12 MiB in 512 KiB chunks, over the 10 MiB limit
                sock.sendall(chunk(bytes(512 * 1024)))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close the connection once it has answered
        try:  # read the status line and headers; the connection may stay open (keep-alive)
            while b"\r\n\r\n" not in reply and (chunk_ := sock.recv(65536)):
                reply += chunk_
        except OSError:
            pass
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    assert_nothing_stored(client, target["run_id"], "x")
