"""Send a session's snapshots to a Sentry-style server the way sentry-cli does.

The plugin's ``--visual-review-api sentry`` calls :func:`upload_snapshots` at session end. The
protocol is sentry-cli 3.8's, recorded on the wire (docs/sentry.md), so the same code talks to
sentry.io and to our reference server:

1. ``GET /api/0/projects/{org}/{project}/preprodartifacts/snapshots/upload-options/?usecase=auto``
   gives the objectstore URL, scopes (org and project ids) and an optional objectstore token.
2. Every image is keyed ``{org_id}/{project_id}/{sha256(file bytes)}``; one batch of ``head``
   operations finds the keys the store already has.
3. Missing objects go up in ``insert`` batches (parts up to 1 MB) or single ``PUT``s (bigger).
   Bodies are sent uncompressed (objectstore treats ``Content-Encoding`` as optional; PNG does
   not shrink under zstd), so the plugin needs no zstd dependency.
4. ``POST .../preprodartifacts/snapshots/`` with ``app_id``, ``images`` and the VCS fields.

Only ``requests``; nothing here imports the server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

import requests

#: objectstore batch limits (per request: operations; per part: bytes).
MAX_BATCH_OPS = 1000
MAX_BATCH_PART = 1024 * 1024
VCS_FIELDS = (
    "head_sha",
    "base_sha",
    "provider",
    "head_repo_name",
    "base_repo_name",
    "head_ref",
    "base_ref",
    "pr_number",
)


class SentryImage(NamedTuple):
    """One image to upload. ``file_name`` is the identity key (``/``-separated relative path)."""

    file_name: str
    png: bytes
    width: int
    height: int
    metadata: Mapping[str, Any] = {}


@dataclass(frozen=True)
class SentryUploadResult:
    """What the server answered, plus what the dedup saved."""

    artifact_id: str
    image_count: int
    snapshot_url: str
    uploaded: int  # objects sent
    already_present: int  # objects the store had (HEAD hit)


class SentryUploadError(RuntimeError):
    """The upload failed; the message names the step, the status and the server's detail."""


def upload_snapshots(
    base_url: str,
    *,
    org: str,
    project: str,
    auth_token: str,
    app_id: str,
    images: Iterable[tuple[str, bytes, int, int, Mapping[str, Any]]],
    vcs: Mapping[str, Any] | None = None,
    diff_threshold: float | None = None,
    selective: bool = False,
    all_image_file_names: list[str] | None = None,
    session: requests.Session | None = None,
    timeout: float = 60.0,
) -> SentryUploadResult:
    """Upload ``images`` as one snapshot of ``app_id`` and return the created artifact.

    ``base_url`` is the Sentry URL (``https://sentry.io`` or ``http://127.0.0.1:8000`` for the
    reference server); ``org``/``project`` are slugs or ids; ``auth_token`` needs
    ``project:write``. ``images`` are ``(file_name, png_bytes, width, height, metadata)`` tuples
    (or :class:`SentryImage`); metadata may hold ``display_name``, ``group``, ``description``,
    ``tags``, ``diff_threshold`` and any other keys, which the server keeps. ``vcs`` holds the
    keys of :data:`VCS_FIELDS` (see :func:`vcs_from_env`); a comparison starts when ``base_sha``
    and ``base_repo_name`` name an earlier upload's ``head_sha`` and ``head_repo_name``.
    """
    http = session or requests.Session()
    root = base_url.rstrip("/")
    api = f"{root}/api/0/projects/{quote(org, safe='')}/{quote(project, safe='')}"
    headers = {"Authorization": f"Bearer {auth_token}"}
    items = [SentryImage(*image) for image in images]
    names = [item.file_name for item in items]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SentryUploadError(f"images: duplicate file names {dupes}")

    options = _json(
        http.get(
            f"{api}/preprodartifacts/snapshots/upload-options/",
            params={"usecase": "auto"},
            headers=headers,
            timeout=timeout,
        ),
        "upload-options",
    )
    store = _Objectstore.from_options(options, http, timeout)

    hashes = {item.file_name: hashlib.sha256(item.png).hexdigest() for item in items}
    by_key = {store.key(h): item.png for item, h in zip(items, hashes.values(), strict=True)}
    missing = store.missing(list(by_key))
    store.insert({key: by_key[key] for key in missing})

    payload: dict[str, Any] = {"app_id": app_id, "images": {}}
    for item in items:
        meta = dict(item.metadata)
        meta.update(content_hash=hashes[item.file_name], width=item.width, height=item.height)
        payload["images"][item.file_name] = meta
    if diff_threshold is not None:
        payload["diff_threshold"] = diff_threshold
    if selective or all_image_file_names is not None:
        payload["selective"] = True
    if all_image_file_names is not None:
        payload["all_image_file_names"] = list(all_image_file_names)
    for key, value in (vcs or {}).items():
        if key not in VCS_FIELDS:
            raise SentryUploadError(f"vcs: unknown field {key!r} (known: {', '.join(VCS_FIELDS)})")
        if value not in (None, ""):
            payload[key] = value
    created = _json(
        http.post(f"{api}/preprodartifacts/snapshots/", json=payload, headers=headers, timeout=timeout),
        "create snapshot",
    )
    return SentryUploadResult(
        artifact_id=str(created.get("artifactId")),
        image_count=int(created.get("imageCount", len(items))),
        snapshot_url=str(created.get("snapshotUrl", "")),
        uploaded=len(missing),
        already_present=len(by_key) - len(missing),
    )


def images_from_records(records: Iterable[Any]) -> list[SentryImage]:
    """The plugin's ``SnapshotRecord``s as upload items: ``<identifier>.png`` with the actual PNG.

    Records without a captured image (errors) are left out. ``metadata`` travels along, so
    ``display_name``/``group``/``description``/``tags`` set by hooks reach the server.
    """
    out: list[SentryImage] = []
    for record in records:
        if not record.actual_path or not os.path.exists(record.actual_path):
            continue
        with open(record.actual_path, "rb") as handle:
            data = handle.read()
        out.append(
            SentryImage(f"{record.identifier}.png", data, record.width, record.height, record.metadata)
        )
    return out


def vcs_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """VCS fields from GitHub Actions' environment (empty dict elsewhere).

    Mirrors sentry-cli's detection: on ``pull_request`` events the head/base shas come from the
    event payload and the PR number from ``GITHUB_REF=refs/pull/N/merge``; on pushes only the
    head is known, which makes the upload a base for later PRs.
    """
    env = os.environ if environ is None else environ
    if not env.get("GITHUB_ACTIONS"):
        return {}
    repo = env.get("GITHUB_REPOSITORY")
    out: dict[str, Any] = {
        "provider": "github",
        "head_repo_name": repo,
        "base_repo_name": repo,
        "head_sha": env.get("GITHUB_SHA"),
        "head_ref": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME"),
    }
    if env.get("GITHUB_EVENT_NAME") in ("pull_request", "pull_request_target"):
        event: dict[str, Any] = {}
        path = env.get("GITHUB_EVENT_PATH")
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                event = json.load(handle)
        pr = event.get("pull_request") or {}
        out["head_sha"] = (pr.get("head") or {}).get("sha") or out["head_sha"]
        out["base_sha"] = (pr.get("base") or {}).get("sha")
        out["base_ref"] = env.get("GITHUB_BASE_REF")
        match = re.match(r"refs/pull/(\d+)/", env.get("GITHUB_REF", ""))
        if match:
            out["pr_number"] = int(match.group(1))
    return {k: v for k, v in out.items() if v not in (None, "")}


def _json(response: requests.Response, step: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            detail: Any = response.json()
        except ValueError:
            detail = response.text[:500]
        raise SentryUploadError(f"{step}: HTTP {response.status_code}: {detail}")
    try:
        data = response.json()
    except ValueError as exc:
        raise SentryUploadError(f"{step}: the answer is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise SentryUploadError(f"{step}: expected a JSON object, got {data!r:.200}")
    return data


class _Objectstore:
    """The objectstore calls of one upload: batch HEAD, batch insert, single PUT."""

    def __init__(
        self,
        url: str,
        usecase: str,
        scopes: list[tuple[str, str]],
        token: str | None,
        expiration: str | None,
        http: requests.Session,
        timeout: float,
    ) -> None:
        self.url = url.rstrip("/")
        self.usecase = usecase
        self.scope = ";".join(f"{k}={v}" for k, v in scopes)
        self.ids = dict(scopes)
        self.http = http
        self.timeout = timeout
        self.headers = {"x-os-auth": f"Bearer {token}"} if token else {}
        self.expiration = expiration

    @classmethod
    def from_options(cls, options: dict[str, Any], http: requests.Session, timeout: float) -> _Objectstore:
        store = options.get("objectstore")
        if not isinstance(store, dict) or not isinstance(store.get("url"), str):
            raise SentryUploadError(f"upload-options: missing field `objectstore` in {options!r}")
        scopes = [(str(k), str(v)) for k, v in store.get("scopes") or []]
        if not {"org", "project"} <= dict(scopes).keys():
            raise SentryUploadError(f"upload-options: scopes need org and project: {scopes!r}")
        return cls(
            store["url"],
            str(options.get("usecase") or "preprod"),
            scopes,
            store.get("authToken"),
            store.get("expirationPolicy"),
            http,
            timeout,
        )

    def key(self, sha256: str) -> str:
        return f"{self.ids['org']}/{self.ids['project']}/{sha256}"

    def _batch(self, ops: list[tuple[str, str, bytes]]) -> dict[int, tuple[int, bytes]]:
        boundary = uuid.uuid4().hex
        body = bytearray()
        for kind, key, payload in ops:
            lines = [
                f"--{boundary}",
                'Content-Disposition: form-data; name="part"',
                f"x-sn-batch-operation-kind: {kind}",
                f"x-sn-batch-operation-key: {quote(key, safe='')}",
            ]
            if kind == "insert":
                lines.append("content-type: image/png")
                if self.expiration:
                    lines.append(f"x-sn-expiration: {self.expiration}")
            body += ("\r\n".join(lines) + "\r\n\r\n").encode() + payload + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        response = self.http.post(
            f"{self.url}/v1/objects:batch/{self.usecase}/{self.scope}/",
            data=bytes(body),
            headers={**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise SentryUploadError(f"objectstore batch: HTTP {response.status_code}: {response.text[:500]}")
        return _parse_batch_answer(response.headers.get("Content-Type", ""), response.content)

    def missing(self, keys: list[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(keys), MAX_BATCH_OPS):
            chunk = keys[start : start + MAX_BATCH_OPS]
            answers = self._batch([("head", key, b"") for key in chunk])
            for index, key in enumerate(chunk):
                status, body = answers.get(index, (0, b"no answer"))
                if status == 404:
                    out.append(key)
                elif not 200 <= status < 300:
                    raise SentryUploadError(f"objectstore head {key}: {status}: {body[:200]!r}")
        return out

    def insert(self, objects: dict[str, bytes]) -> None:
        small = [(k, v) for k, v in objects.items() if len(v) <= MAX_BATCH_PART]
        for key, data in objects.items():
            if len(data) > MAX_BATCH_PART:
                response = self.http.put(
                    f"{self.url}/v1/objects/{self.usecase}/{self.scope}/{key}",
                    data=data,
                    headers={**self.headers, "Content-Type": "image/png"},
                    timeout=self.timeout,
                )
                if response.status_code >= 400:
                    raise SentryUploadError(
                        f"objectstore put {key}: HTTP {response.status_code}: {response.text[:500]}"
                    )
        for start in range(0, len(small), MAX_BATCH_OPS):
            chunk = small[start : start + MAX_BATCH_OPS]
            answers = self._batch([("insert", key, data) for key, data in chunk])
            for index, (key, _) in enumerate(chunk):
                status, body = answers.get(index, (0, b"no answer"))
                if not 200 <= status < 300:
                    raise SentryUploadError(f"objectstore insert {key}: {status}: {body[:200]!r}")


def _parse_batch_answer(content_type: str, body: bytes) -> dict[int, tuple[int, bytes]]:
    """index -> (status, body) from a multipart batch answer."""
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if not match:
        raise SentryUploadError(f"objectstore batch: answer is not multipart ({content_type!r})")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode()
    answers: dict[int, tuple[int, bytes]] = {}
    for raw in body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        raw = raw[2:] if raw.startswith(b"\r\n") else raw
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw
        head, _, payload = raw.partition(b"\r\n\r\n")
        fields = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        try:
            index = int(fields["x-sn-batch-operation-index"])
            status = int(fields["x-sn-batch-operation-status"].split()[0])
        except (KeyError, ValueError, IndexError) as exc:
            raise SentryUploadError(f"objectstore batch: malformed answer part {head!r}") from exc
        answers[index] = (status, payload)
    return answers
