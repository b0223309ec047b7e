"""The subset of Sentry's objectstore wire protocol that sentry-cli speaks, as pure functions.

sentry-cli (3.8, objectstore-client 0.1.12) uploads image bytes like this, as recorded against a
logging server (docs/sentry.md has the transcript):

- ``POST {url}/v1/objects:batch/{usecase}/{scope}/``, ``multipart/form-data``; every part is
  named ``part`` and carries ``x-sn-batch-operation-kind`` (``head`` first, then ``insert`` for
  the misses) and ``x-sn-batch-operation-key`` (percent-encoded ``{org}/{project}/{sha256}``).
  Insert parts are zstd-compressed (``content-encoding: zstd``) and say ``x-sn-expiration``.
- Objects over 1 MB go alone: ``PUT {url}/v1/objects/{usecase}/{scope}/{org}/{project}/{sha256}``,
  zstd, chunked; the answer is ``{"key": ...}``.
- ``{scope}`` is ``org=<id>;project=<id>``; auth is ``x-os-auth: Bearer <authToken>``.

The batch answer is ``multipart/form-data`` again; each part names the operation it answers with
``x-sn-batch-operation-index``, ``-status`` (``"200 OK"``, ``"404 Not Found"``) and ``-key``.
The client treats a 404 for ``head`` as "missing" and anything else >= 400 as a failure.

Nothing here touches storage: the router parses with these functions and answers with
``render_batch``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import zstandard

#: objectstore's limits: 1000 operations per batch.
MAX_BATCH_OPS = 1000
#: Largest decompressed object we accept (imaging's PNG limit).
MAX_OBJECT_BYTES = 64 * 1024 * 1024
#: Largest decompressed total of one batch's inserts (objectstore's own limit is 100 MB of
#: payload per batch; sentry-cli sends files over 1 MB alone, by PUT).
MAX_BATCH_DECOMPRESSED = 128 * 1024 * 1024
KINDS = ("head", "insert", "get", "delete")
#: zstd's largest output per input byte (a 4-byte RLE block expands to 128 KiB).
_ZSTD_MAX_RATIO = 32 * 1024
_ZSTD_MIN_STEP = 64
_ZSTD_MAX_STEP = 64 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: Ids are ASCII digits that fit SQLite's 64-bit integers (``str.isdigit`` accepts "²").
_ID_RE = re.compile(r"^[0-9]{1,18}$")
_SCOPE_PART_RE = re.compile(r"^([A-Za-z0-9_\-()$!+']+)=([A-Za-z0-9_\-()$!+'.]+)$")
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
}


class ObjectstoreError(ValueError):
    """A request we refuse: ``status`` is the HTTP status, the message names the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ObjectKey:
    """``{org_id}/{project_id}/{sha256}``: sentry-cli's content-addressed image key."""

    org_id: int
    project_id: int
    sha256: str

    def __str__(self) -> str:
        return f"{self.org_id}/{self.project_id}/{self.sha256}"


@dataclass
class BatchOp:
    """One part of a batch request. ``body`` is already decompressed for inserts."""

    kind: str
    key: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class OpResult:
    """One part of a batch answer."""

    index: int
    status: int
    key: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def parse_scope(scope: str) -> dict[str, str]:
    """``org=1;project=2`` -> ``{"org": "1", "project": "2"}``; org and project are required."""
    parts: dict[str, str] = {}
    for piece in unquote(scope).split(";"):
        match = _SCOPE_PART_RE.match(piece)
        if not match:
            raise ObjectstoreError(400, f"scope: malformed component {piece!r} in {scope!r}")
        parts[match.group(1)] = match.group(2)
    for required in ("org", "project"):
        if required not in parts:
            raise ObjectstoreError(400, f"scope: {required!r} is required (got {scope!r})")
    return parts


def parse_key(key: str) -> ObjectKey:
    """Parse an object key; only sentry-cli's ``{org}/{project}/{sha256}`` shape is stored."""
    pieces = key.split("/")
    if (
        len(pieces) != 3
        or not _ID_RE.match(pieces[0])
        or not _ID_RE.match(pieces[1])
        or not _SHA256_RE.match(pieces[2])
    ):
        raise ObjectstoreError(
            400,
            f"key: {key!r} is not '<org id>/<project id>/<lower-case sha256 hex>'",
        )
    return ObjectKey(int(pieces[0]), int(pieces[1]), pieces[2])


def decode_body(data: bytes, content_encoding: str | None, *, limit: int = MAX_OBJECT_BYTES) -> bytes:
    """Undo ``Content-Encoding`` (identity or zstd), refusing more than ``limit`` bytes out.

    Streaming encoders write frames without a content size, so the output is counted as it
    is produced rather than trusting a header; and it is never produced whole first: each step
    feeds at most ``(limit - produced) / 32768`` input bytes (zstd's largest expansion is a
    4-byte RLE block of 128 KiB), so the output stops within about 2 MiB of ``limit``. A frame
    that never ends is refused (a truncated upload must not store a partial file).
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(data) > limit:
            raise ObjectstoreError(413, f"body: {len(data)} bytes, over the {limit}-byte limit")
        return data
    if encoding != "zstd":
        raise ObjectstoreError(415, f"content-encoding: {encoding!r} is not supported (use zstd)")
    out = bytearray()
    decompressor = zstandard.ZstdDecompressor()
    stream = decompressor.decompressobj()
    pending = memoryview(data)
    try:
        while pending:
            size = min(_ZSTD_MAX_STEP, max(_ZSTD_MIN_STEP, (limit - len(out)) // _ZSTD_MAX_RATIO))
            step, pending = pending[:size], pending[size:]
            out += stream.decompress(step)
            if len(out) > limit:
                raise ObjectstoreError(413, f"body: decompresses to over the {limit}-byte limit")
            if stream.eof and (stream.unused_data or pending):
                pending = memoryview(stream.unused_data + bytes(pending))  # next frame
                stream = decompressor.decompressobj()
    except zstandard.ZstdError as exc:
        raise ObjectstoreError(400, f"body: not valid zstd data ({exc})") from exc
    if not stream.eof:
        raise ObjectstoreError(400, "body: zstd data is truncated (the frame does not end)")
    return bytes(out)


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary from a Content-Type header (quoted or not)."""
    if not content_type or not content_type.lower().startswith("multipart/"):
        raise ObjectstoreError(415, "content-type: a batch request must be multipart/form-data")
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if not match:
        raise ObjectstoreError(400, "content-type: multipart boundary is missing")
    return (match.group(1) or match.group(2)).encode("latin-1")


def _split_parts(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        start = body.find(b"\r\n" + delimiter)
        if start < 0:
            raise ObjectstoreError(400, "body: multipart boundary not found")
        body = body[start + 2 :]
    chunks = body.split(b"\r\n" + delimiter)
    first = chunks[0][len(delimiter) :]
    parts: list[bytes] = []
    closed = False
    for raw in [first, *chunks[1:]]:
        if raw.startswith(b"--"):
            closed = True
            break
        if not raw.strip():
            break  # the body ended right after a delimiter: truncated
        if not raw.startswith(b"\r\n"):
            raise ObjectstoreError(400, "body: malformed multipart delimiter")
        parts.append(raw[2:])
    if not closed:
        raise ObjectstoreError(400, "body: multipart body is truncated (no closing boundary)")
    return parts


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ObjectstoreError(400, f"body: malformed part header {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def parse_batch(content_type: str | None, body: bytes, *, decompress: bool = True) -> list[BatchOp]:
    """Parse a batch request into operations, decompressing insert bodies when ``decompress``.

    A caller whose token may not write passes ``decompress=False``: its inserts are refused
    anyway, so their bodies stay as sent. Decompressed, each part gets at most
    :data:`MAX_OBJECT_BYTES` and all of them together :data:`MAX_BATCH_DECOMPRESSED`.
    """
    parts = _split_parts(body, boundary_of(content_type))
    if len(parts) > MAX_BATCH_OPS:
        raise ObjectstoreError(400, f"body: {len(parts)} operations, over {MAX_BATCH_OPS}")
    ops: list[BatchOp] = []
    budget = MAX_BATCH_DECOMPRESSED
    for index, part in enumerate(parts):
        head, sep, payload = part.partition(b"\r\n\r\n")
        if not sep:
            # A part with headers only and an empty body may end right after its headers.
            head, payload = part.rstrip(b"\r\n"), b""
        headers = _parse_headers(head)
        kind = headers.get("x-sn-batch-operation-kind", "")
        if kind not in KINDS:
            raise ObjectstoreError(
                400, f"part {index}: x-sn-batch-operation-kind must be one of {', '.join(KINDS)}"
            )
        raw_key = headers.get("x-sn-batch-operation-key")
        if not raw_key:
            raise ObjectstoreError(400, f"part {index}: x-sn-batch-operation-key is required")
        if kind == "insert" and decompress:
            payload = _decode_part(index, payload, headers.get("content-encoding"), budget)
            budget -= len(payload)
        ops.append(BatchOp(kind=kind, key=unquote(raw_key), headers=headers, body=payload))
    return ops


def _decode_part(index: int, payload: bytes, encoding: str | None, budget: int) -> bytes:
    """One insert's body, within the per-part limit and what is left of the batch's total."""
    try:
        return decode_body(payload, encoding, limit=min(MAX_OBJECT_BYTES, budget))
    except ObjectstoreError as exc:
        message = exc.message.removeprefix("body: ")
        if exc.status == 413 and budget < MAX_OBJECT_BYTES:
            message += (
                f" left of the batch's {MAX_BATCH_DECOMPRESSED}-byte total; send fewer or"
                " smaller objects per batch"
            )
        raise ObjectstoreError(exc.status, f"part {index}: {message}") from exc


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"


def render_batch(results: list[OpResult]) -> tuple[str, bytes]:
    """Serialise batch answers; returns (Content-Type, body)."""
    boundary = f"os-boundary-{secrets.token_hex(16)}"
    out = bytearray()
    for result in results:
        lines = [
            f"--{boundary}",
            'content-disposition: form-data; name="part"',
            f"x-sn-batch-operation-index: {result.index}",
            f"x-sn-batch-operation-status: {status_line(result.status)}",
            f"x-sn-batch-operation-key: {quote(result.key, safe='')}",
        ]
        lines += [f"{name}: {value}" for name, value in result.headers]
        out += ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        out += result.body + b"\r\n"
    out += f"--{boundary}--\r\n".encode("latin-1")
    return f'multipart/form-data; boundary="{boundary}"', bytes(out)
