"""Send a session's snapshots to a Sentry-style server the way sentry-cli does.

The plugin's ``--visual-review-api sentry`` (``SentryTarget``) calls :func:`upload_snapshots` at
session end; one call uploads one run of snapshots (Sentry calls it a snapshot artifact). The
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

Every request goes through the shared :class:`~.transport.Transport` (retries of outages, the
transient/refused distinction). Only ``requests``; nothing here imports the server.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

from .transport import ReviewServerError, Transport, is_transient_status
from .vcs import VcsInfo, from_ci

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
    """One snapshot to upload. ``file_name`` is its identity key (``/``-separated relative path)."""

    file_name: str
    png: bytes
    width: int
    height: int
    metadata: Mapping[str, Any] = {}


@dataclass(frozen=True)
class SentryUploadResult:
    """What the server answered about the run, plus what the dedup saved."""

    artifact_id: str  # the run's id on the server
    snapshot_count: int
    review_url: str  # Sentry's ``snapshotUrl``
    uploaded: int  # image objects sent
    already_present: int  # image objects the store had (HEAD hit)


def hints(status: int) -> str:
    """What to check when a Sentry-style server refuses a request."""
    if status == 401:
        return "; check VISUAL_REVIEW_TOKEN (the server does not know this token)"
    if status == 403:
        return "; the token needs the project:write scope"
    if status == 404:
        return "; check --visual-review-org and --visual-review-project"
    return ""


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
    timeout: float = 60.0,
    transport: Transport | None = None,
) -> SentryUploadResult:
    """Upload ``images`` as one run of ``app_id`` and return the created artifact.

    ``base_url`` is the Sentry URL (``https://sentry.io`` or ``http://127.0.0.1:8000`` for the
    reference server); ``org``/``project`` are slugs or ids; ``auth_token`` needs
    ``project:write``. ``images`` are ``(file_name, png_bytes, width, height, metadata)`` tuples
    (or :class:`SentryImage`); metadata may hold ``display_name``, ``group``, ``description``,
    ``tags``, ``diff_threshold`` and any other keys, which the server keeps. ``vcs`` holds the
    keys of :data:`VCS_FIELDS` (see :func:`vcs_from_env`); a comparison starts when ``base_sha``
    and ``base_repo_name`` name an earlier upload's ``head_sha`` and ``head_repo_name``.
    Failures raise :class:`~.transport.ReviewServerError` (``transient`` for outages) naming the
    step, the status and the server's ``detail``; ``transport`` replaces the default one (a
    :class:`~.transport.Transport` with ``auth_token``, ``timeout`` and retries).
    """
    http = transport or Transport(auth_token, timeout=timeout, hints=hints)
    root = base_url.rstrip("/")
    api = f"{root}/api/0/projects/{quote(org, safe='')}/{quote(project, safe='')}"
    items = [SentryImage(*image) for image in images]
    names = [item.file_name for item in items]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ReviewServerError(f"images: duplicate file names {dupes}")

    options = http.json(
        "GET", f"{api}/preprodartifacts/snapshots/upload-options/", what="upload-options",
        params={"usecase": "auto"},
    )
    store = _Objectstore.from_options(options, http)

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
            raise ReviewServerError(f"vcs: unknown field {key!r} (known: {', '.join(VCS_FIELDS)})")
        if value not in (None, ""):
            payload[key] = value
    created = http.json("POST", f"{api}/preprodartifacts/snapshots/", what="create run", body=payload)
    return SentryUploadResult(
        artifact_id=str(created.get("artifactId")),
        snapshot_count=int(created.get("imageCount", len(items))),
        review_url=str(created.get("snapshotUrl", "")),
        uploaded=len(missing),
        already_present=len(by_key) - len(missing),
    )


def vcs_fields(vcs: VcsInfo) -> dict[str, Any]:
    """Sentry's VCS fields from the one VcsInfo. Commits that are not 40 lower-case hex digits
    (a short SHA given by flag) are left out rather than refused by the server."""
    fields: dict[str, Any] = {
        "provider": vcs.provider,
        "head_repo_name": vcs.repo_name,
        "base_repo_name": vcs.repo_name,
        "head_sha": vcs.commit_sha if _SHA.fullmatch(vcs.commit_sha) else None,
        "head_ref": vcs.branch,
        "base_sha": vcs.base_sha if vcs.base_sha and _SHA.fullmatch(vcs.base_sha) else None,
        "base_ref": vcs.base_branch,
        "pr_number": vcs.pr_number,
    }
    return {key: value for key, value in fields.items() if value not in (None, "")}


def vcs_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Sentry's VCS fields from GitHub Actions' environment (empty dict elsewhere).

    Mirrors sentry-cli's detection: on ``pull_request`` events the head/base shas come from the
    event payload and the PR number from the ref; on pushes only the head is known, which makes
    the upload a base for later PRs.
    """
    info = from_ci(environ)
    return vcs_fields(info) if info is not None else {}


_SHA = re.compile(r"[0-9a-f]{40}")


class _Objectstore:
    """The objectstore calls of one upload: batch HEAD, batch insert, single PUT."""

    def __init__(
        self,
        url: str,
        usecase: str,
        scopes: list[tuple[str, str]],
        token: str | None,
        expiration: str | None,
        http: Transport,
    ) -> None:
        self.url = url.rstrip("/")
        self.usecase = usecase
        self.scope = ";".join(f"{k}={v}" for k, v in scopes)
        self.ids = dict(scopes)
        self.http = http
        self.headers = {"x-os-auth": f"Bearer {token}"} if token else {}
        self.expiration = expiration

    @classmethod
    def from_options(cls, options: dict[str, Any], http: Transport) -> _Objectstore:
        store = options.get("objectstore")
        if not isinstance(store, dict) or not isinstance(store.get("url"), str):
            raise ReviewServerError(f"upload-options: missing field `objectstore` in {options!r}")
        scopes = [(str(k), str(v)) for k, v in store.get("scopes") or []]
        if not {"org", "project"} <= dict(scopes).keys():
            raise ReviewServerError(f"upload-options: scopes need org and project: {scopes!r}")
        return cls(
            store["url"],
            str(options.get("usecase") or "preprod"),
            scopes,
            store.get("authToken"),
            store.get("expirationPolicy"),
            http,
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
        response = self.http.send(
            "POST",
            f"{self.url}/v1/objects:batch/{self.usecase}/{self.scope}/",
            what="objectstore batch",
            authorized=False,
            data=bytes(body),
            headers={**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
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
                    raise _part_error(f"objectstore head {key}", status, body)
        return out

    def insert(self, objects: dict[str, bytes]) -> None:
        small = [(k, v) for k, v in objects.items() if len(v) <= MAX_BATCH_PART]
        for key, data in objects.items():
            if len(data) > MAX_BATCH_PART:
                self.http.send(
                    "PUT",
                    f"{self.url}/v1/objects/{self.usecase}/{self.scope}/{key}",
                    what=f"objectstore put {key}",
                    authorized=False,
                    data=data,
                    headers={**self.headers, "Content-Type": "image/png"},
                )
        for start in range(0, len(small), MAX_BATCH_OPS):
            chunk = small[start : start + MAX_BATCH_OPS]
            answers = self._batch([("insert", key, data) for key, data in chunk])
            for index, (key, _) in enumerate(chunk):
                status, body = answers.get(index, (0, b"no answer"))
                if not 200 <= status < 300:
                    raise _part_error(f"objectstore insert {key}", status, body)


def _part_error(what: str, status: int, body: bytes) -> ReviewServerError:
    """One operation of a batch failed although the batch request itself succeeded."""
    return ReviewServerError(f"{what}: HTTP {status}: {body[:200]!r}", status=status or None,
                             transient=is_transient_status(status))


def _parse_batch_answer(content_type: str, body: bytes) -> dict[int, tuple[int, bytes]]:
    """index -> (status, body) from a multipart batch answer."""
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if not match:
        raise ReviewServerError(f"objectstore batch: answer is not multipart ({content_type!r})")
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
            raise ReviewServerError(f"objectstore batch: malformed answer part {head!r}") from exc
        answers[index] = (status, payload)
    return answers
