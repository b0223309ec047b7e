"""Objectstore wire-format parsing, on bytes shaped exactly like sentry-cli 3.8's requests."""

from __future__ import annotations

import re

import pytest
import zstandard

from pytest_visualreview.server.sentry import objectstore as o

SHA = "bda6742635adeb6ea3df36c5f66c19bf07a6fb5fa772d79706f4237a6daa1017"
BOUNDARY = "e06f1a9044cb7fc4-7fc109f83fccc5de-296e1fcecac46a52-9d7d09ae096f4aaf"


def cli_batch(parts: list[tuple[str, str, bytes, list[str]]]) -> bytes:
    """Build a body the way objectstore-client 0.1.12 (reqwest multipart) does."""
    out = b""
    for kind, key, payload, extra in parts:
        headers = [
            'Content-Disposition: form-data; name="part"',
            f"x-sn-batch-operation-kind: {kind}",
            f"x-sn-batch-operation-key: {key}",
            *extra,
        ]
        out += f"--{BOUNDARY}\r\n".encode() + "\r\n".join(headers).encode() + b"\r\n\r\n"
        out += payload + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def test_parses_head_and_zstd_insert_parts() -> None:
    png = b"\x89PNG\r\n\x1a\nrest-of-png"
    body = cli_batch(
        [
            ("head", f"1%2F1%2F{SHA}", b"", []),
            (
                "insert",
                f"1%2F1%2F{SHA}",
                zstandard.ZstdCompressor().compress(png),
                [
                    "content-type: application/octet-stream",
                    "content-encoding: zstd",
                    "x-sn-expiration: ttl:1year 1month 7h 26m 24s",
                ],
            ),
        ]
    )
    ops = o.parse_batch(f"multipart/form-data; boundary={BOUNDARY}", body)
    assert [op.kind for op in ops] == ["head", "insert"]
    assert ops[0].key == f"1/1/{SHA}"
    assert ops[1].body == png
    assert ops[1].headers["x-sn-expiration"].startswith("ttl:")


def test_streamed_zstd_without_content_size_decodes() -> None:
    data = b"x" * 100_000
    cobj = zstandard.ZstdCompressor().compressobj()
    framed = cobj.compress(data) + cobj.flush()
    assert o.decode_body(framed, "zstd") == data


def test_zstd_bomb_is_refused() -> None:
    framed = zstandard.ZstdCompressor().compress(b"\0" * 5000)
    with pytest.raises(o.ObjectstoreError) as info:
        o.decode_body(framed, "zstd", limit=4000)
    assert info.value.status == 413


@pytest.mark.parametrize(
    ("content_type", "body", "status", "needle"),
    [
        (None, b"", 415, "content-type"),
        ("multipart/form-data", b"", 400, "boundary"),
        (f"multipart/form-data; boundary={BOUNDARY}", b"garbage", 400, "boundary"),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            cli_batch([("head", "k", b"", [])])[:-4],
            400,
            "truncated",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            cli_batch([("touch", "k", b"", [])]),
            400,
            "x-sn-batch-operation-kind",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            cli_batch([("insert", "k", b"zz", ["content-encoding: br"])]),
            415,
            "content-encoding",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            cli_batch([("insert", "k", b"notzstd", ["content-encoding: zstd"])]),
            400,
            "zstd",
        ),
    ],
)
def test_malformed_batches_name_the_problem(
    content_type: str | None, body: bytes, status: int, needle: str
) -> None:
    with pytest.raises(o.ObjectstoreError) as info:
        o.parse_batch(content_type, body)
    assert info.value.status == status
    assert needle in info.value.message


def test_scope_and_key_parsing() -> None:
    assert o.parse_scope("org=1;project=2") == {"org": "1", "project": "2"}
    with pytest.raises(o.ObjectstoreError, match="project"):
        o.parse_scope("org=1")
    with pytest.raises(o.ObjectstoreError, match="malformed"):
        o.parse_scope("org=1;;project=2")
    key = o.parse_key(f"3/4/{SHA}")
    assert (key.org_id, key.project_id, key.sha256) == (3, 4, SHA)
    assert str(key) == f"3/4/{SHA}"
    for bad in ["3/4", f"x/4/{SHA}", f"3/4/{SHA.upper()}", f"3/4/{SHA}/x"]:
        with pytest.raises(o.ObjectstoreError, match="key"):
            o.parse_key(bad)


def test_render_batch_round_trips_through_our_parser_shape() -> None:
    ctype, body = o.render_batch(
        [
            o.OpResult(0, 404, f"1/1/{SHA}"),
            o.OpResult(1, 200, "k", headers=(("content-type", "image/png"),)),
        ]
    )
    boundary = re.search(r'boundary="([^"]+)"', ctype)
    assert boundary is not None and ctype.startswith("multipart/form-data")
    text = body.decode()
    assert "x-sn-batch-operation-status: 404 Not Found" in text
    assert f"x-sn-batch-operation-key: 1%2F1%2F{SHA}" in text
    assert "x-sn-batch-operation-index: 1" in text
    assert text.endswith(f"--{boundary.group(1)}--\r\n")


def test_truncated_zstd_is_refused_and_frames_concatenate() -> None:
    framed = zstandard.ZstdCompressor().compress(b"hello" * 1000)
    with pytest.raises(o.ObjectstoreError, match="truncated"):
        o.decode_body(framed[:-3], "zstd")
    with pytest.raises(o.ObjectstoreError, match="truncated"):
        o.decode_body(b"\x28\xb5\x2f\xfdjunk", "zstd")
    two = framed + zstandard.ZstdCompressor().compress(b"!")
    assert o.decode_body(two, "zstd") == b"hello" * 1000 + b"!"
    assert o.decode_body(b"raw", None) == b"raw"
