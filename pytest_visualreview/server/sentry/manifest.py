"""The body of ``POST .../preprodartifacts/snapshots/``: validation, normalisation, storage form.

Sentry validates this body with a JSON schema and answers ``400 {"detail": msg}`` with a message per
top-level field; sentry-cli prints that ``detail`` to the user. We reproduce those messages word for
word (reference notes §2.3) so a team's scripts and muscle memory carry over, and add a ``field``
key that names the exact offending path (``images.home.png.width``), which Sentry's generic images
message does not. The semantic checks run after the schema, in Sentry's order.

This module is pure: it knows nothing of HTTP, storage or images.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

MAX_APP_ID = 255
MAX_IMAGES = 50_000
MAX_VCS_STRING = 255
_SHA_RE = re.compile(r"^(|[0-9a-f]{40})$")

MSG_INVALID_JSON = "Invalid json body"
MSG_APP_ID = "The app_id field is required and must be a string with maximum length of 255 characters."
MSG_IMAGES = "The images field is required and must be an object mapping image names to image metadata."
MSG_DIFF_THRESHOLD = "The diff_threshold field must be a number from 0.0 up to (not including) 1.0."
MSG_SELECTIVE = "The selective field must be a boolean."
MSG_ALL_NAMES = "The all_image_file_names field must be an array of strings with at most 50000 items."
VCS_MESSAGES: dict[str, str] = {
    "head_sha": ("The head_sha field must be a 40-character hexadecimal SHA1 string (no uppercase letters)."),
    "base_sha": ("The base_sha field must be a 40-character hexadecimal SHA1 string (no uppercase letters)."),
    "provider": (
        "The provider field must be a string with maximum length of 255 characters containing "
        "the domain of the VCS provider (ex. github.com)"
    ),
    "head_repo_name": ("The head_repo_name field must be a string with maximum length of 255 characters."),
    "base_repo_name": ("The base_repo_name field must be a string with maximum length of 255 characters."),
    "head_ref": "The head_ref field must be a string with maximum length of 255 characters.",
    "base_ref": "The base_ref field must be a string with maximum length of 255 characters.",
    "pr_number": "The pr_number field must be a positive integer.",
}
# Semantic checks, in the order Sentry runs them.
MSG_NAMES_NEED_SELECTIVE = "all_image_file_names requires selective to be true."
MSG_SELECTIVE_NEEDS_BASE = "selective requires base_sha to be provided."
MSG_NAMES_EMPTY = "all_image_file_names must not be empty."
MSG_NAME_NOT_LISTED = "Every image name must appear in all_image_file_names."

#: Image metadata keys with a meaning; every other key is an "extra", kept and echoed back.
KNOWN_IMAGE_KEYS = (
    "content_hash",
    "display_name",
    "group",
    "width",
    "height",
    "diff_threshold",
    "description",
    "tags",
    "canvas_theme",
)


_NAME = {"type": "string", "maxLength": MAX_VCS_STRING}
_SHA = {"type": "string", "pattern": _SHA_RE.pattern}
_THRESHOLD = {"type": "number", "minimum": 0.0, "exclusiveMaximum": 1.0}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
#: ``parse_upload``'s checks as a JSON schema, for the OpenAPI document. Sentry's four semantic
#: rules are not expressible there and are in its description.
UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "all_image_file_names requires selective; selective requires base_sha; "
        "all_image_file_names must not be empty and must list every image (400 otherwise)"
    ),
    "required": ["app_id", "images"],
    "properties": {
        "app_id": {"type": "string", "maxLength": MAX_APP_ID},
        "images": {
            "type": "object",
            "maxProperties": MAX_IMAGES,
            "additionalProperties": {
                "type": "object",
                "required": ["content_hash", "width", "height"],
                "properties": {
                    "content_hash": {"type": "string", "minLength": 1,
                                     "description": "SHA-256 of the file, in the objectstore"},
                    "width": {"type": "integer", "minimum": 0},
                    "height": {"type": "integer", "minimum": 0},
                    "display_name": _OPTIONAL_TEXT,
                    "group": _OPTIONAL_TEXT,
                    "description": _OPTIONAL_TEXT,
                    "tags": {"anyOf": [{"type": "null"}, {"type": "object"},
                                       {"type": "array", "items": {"type": "string"}}]},
                    "diff_threshold": {"anyOf": [{"type": "null"}, _THRESHOLD]},
                    "canvas_theme": {"description": "light or dark; anything else is ignored"},
                },
            },
        },
        "diff_threshold": {"anyOf": [{"type": "null"}, _THRESHOLD]},
        "selective": {"type": ["boolean", "null"]},
        "all_image_file_names": {"type": ["array", "null"], "maxItems": MAX_IMAGES,
                                 "items": {"type": "string"}},
        "head_sha": {"anyOf": [{"type": "null"}, _SHA]},
        "base_sha": {"anyOf": [{"type": "null"}, _SHA]},
        **{key: {"anyOf": [{"type": "null"}, _NAME]}
           for key in ("provider", "head_repo_name", "base_repo_name", "head_ref", "base_ref")},
        "pr_number": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]},
    },
}

class ManifestError(ValueError):
    """A 400: ``detail`` is Sentry's message, ``field`` the JSON path that caused it."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.detail}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class ImageMeta:
    """One entry of ``images``: Sentry's ``ImageMetadata`` with ``extra = "allow"``."""

    content_hash: str
    width: int
    height: int
    display_name: str | None = None
    group: str | None = None
    description: str | None = None
    tags: dict[str, str] | None = None
    diff_threshold: float | None = None
    canvas_theme: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The stored form (Sentry stores ``.json(exclude_none=True)``), extras included."""
        out: dict[str, Any] = {"content_hash": self.content_hash}
        for key in ("display_name", "group"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["width"] = self.width
        out["height"] = self.height
        for key in ("diff_threshold", "description", "tags", "canvas_theme"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(self.extras)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageMeta:
        """Re-read a stored entry (already validated once, so no error handling)."""
        extras = {k: v for k, v in data.items() if k not in KNOWN_IMAGE_KEYS}
        return cls(
            content_hash=data["content_hash"],
            width=data["width"],
            height=data["height"],
            display_name=data.get("display_name"),
            group=data.get("group"),
            description=data.get("description"),
            tags=data.get("tags"),
            diff_threshold=data.get("diff_threshold"),
            canvas_theme=data.get("canvas_theme"),
            extras=extras,
        )


@dataclass(frozen=True)
class VcsInfo:
    """The VCS fields of an upload; ``None`` where absent."""

    head_sha: str | None = None
    base_sha: str | None = None
    provider: str | None = None
    head_repo_name: str | None = None
    base_repo_name: str | None = None
    head_ref: str | None = None
    base_ref: str | None = None
    pr_number: int | None = None

    @property
    def has_commit(self) -> bool:
        """Sentry creates a CommitComparison only when all four of these are set."""
        return bool(self.head_sha and self.provider and self.head_repo_name and self.head_ref)

    def to_dict(self) -> dict[str, Any]:
        return {
            "head_sha": self.head_sha,
            "base_sha": self.base_sha,
            "provider": self.provider,
            "head_repo_name": self.head_repo_name,
            "base_repo_name": self.base_repo_name,
            "head_ref": self.head_ref,
            "base_ref": self.base_ref,
            "pr_number": self.pr_number,
        }


@dataclass(frozen=True)
class Manifest:
    """What Sentry stores as ``manifest.json``: images and selection flags, no VCS, no app_id."""

    images: dict[str, ImageMeta]
    diff_threshold: float | None = None
    selective: bool = False
    all_image_file_names: list[str] | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {"images": {name: meta.to_dict() for name, meta in self.images.items()}}
        if self.diff_threshold is not None:
            data["diff_threshold"] = self.diff_threshold
        data["selective"] = self.selective
        if self.all_image_file_names is not None:
            data["all_image_file_names"] = self.all_image_file_names
        return json.dumps(data, sort_keys=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(
            images={n: ImageMeta.from_dict(m) for n, m in data["images"].items()},
            diff_threshold=data.get("diff_threshold"),
            selective=bool(data.get("selective", False)),
            all_image_file_names=data.get("all_image_file_names"),
        )

    def threshold_for(self, name: str) -> float:
        """Per-image threshold, else the manifest's, else 0.0 (Sentry reads only the head's)."""
        meta = self.images.get(name)
        if meta is not None and meta.diff_threshold is not None:
            return meta.diff_threshold
        return self.diff_threshold if self.diff_threshold is not None else 0.0


@dataclass(frozen=True)
class SnapshotUpload:
    """A validated POST body."""

    app_id: str
    manifest: Manifest
    vcs: VcsInfo


def parse_json_body(raw: bytes) -> Any:
    """Bytes to JSON, or Sentry's ``Invalid json body``."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(MSG_INVALID_JSON) from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def _threshold(value: Any, message: str, where: str) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not 0.0 <= float(value) < 1.0:
        raise ManifestError(message, where)
    return float(value)


def _optional_str(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ManifestError(MSG_IMAGES, f"{where}.{key}")


def _tags(value: Any, where: str) -> dict[str, str] | None:
    """dict values are str()-ed; a list of strings becomes ``{t: t}`` (Sentry's coercion)."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return {t: t for t in value}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    raise ManifestError(MSG_IMAGES, f"{where}.tags")


def parse_image(name: str, data: Any) -> ImageMeta:
    """Validate one image entry; errors carry Sentry's images message and the exact path."""
    where = f"images.{name}"
    if not isinstance(data, dict):
        raise ManifestError(MSG_IMAGES, where)
    content_hash = data.get("content_hash")
    if not isinstance(content_hash, str) or not content_hash:
        raise ManifestError(MSG_IMAGES, f"{where}.content_hash")
    dims: dict[str, int] = {}
    for key in ("width", "height"):
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ManifestError(MSG_IMAGES, f"{where}.{key}")
        dims[key] = value
    theme = data.get("canvas_theme")
    return ImageMeta(
        content_hash=content_hash,
        width=dims["width"],
        height=dims["height"],
        display_name=_optional_str(data, "display_name", where),
        group=_optional_str(data, "group", where),
        description=_optional_str(data, "description", where),
        tags=_tags(data.get("tags"), where),
        diff_threshold=_threshold(data.get("diff_threshold"), MSG_IMAGES, f"{where}.diff_threshold"),
        canvas_theme=theme if theme in ("light", "dark") else None,
        extras={k: v for k, v in data.items() if k not in KNOWN_IMAGE_KEYS},
    )


def _vcs(body: dict[str, Any]) -> VcsInfo:
    values: dict[str, Any] = {}
    for key in ("head_sha", "base_sha"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not _SHA_RE.match(value)):
            raise ManifestError(VCS_MESSAGES[key], key)
        values[key] = value or None
    for key in ("provider", "head_repo_name", "base_repo_name", "head_ref", "base_ref"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_VCS_STRING):
            raise ManifestError(VCS_MESSAGES[key], key)
        values[key] = value or None
    pr = body.get("pr_number")
    if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool) or pr < 1):
        raise ManifestError(VCS_MESSAGES["pr_number"], "pr_number")
    values["pr_number"] = pr
    return VcsInfo(**values)


def parse_upload(body: Any) -> SnapshotUpload:
    """Validate a decoded POST body: schema first, then Sentry's four semantic checks in order."""
    if not isinstance(body, dict):
        raise ManifestError(MSG_INVALID_JSON)
    app_id = body.get("app_id")
    if not isinstance(app_id, str) or len(app_id) > MAX_APP_ID:
        raise ManifestError(MSG_APP_ID, "app_id")
    raw_images = body.get("images")
    if not isinstance(raw_images, dict) or len(raw_images) > MAX_IMAGES:
        raise ManifestError(MSG_IMAGES, "images")
    images = {name: parse_image(name, meta) for name, meta in raw_images.items()}
    diff_threshold = _threshold(body.get("diff_threshold"), MSG_DIFF_THRESHOLD, "diff_threshold")
    selective = body.get("selective", False)
    if selective is None:
        selective = False
    if not isinstance(selective, bool):
        raise ManifestError(MSG_SELECTIVE, "selective")
    names = body.get("all_image_file_names")
    if names is not None and (
        not isinstance(names, list) or len(names) > MAX_IMAGES or not all(isinstance(n, str) for n in names)
    ):
        raise ManifestError(MSG_ALL_NAMES, "all_image_file_names")
    vcs = _vcs(body)

    if names is not None and not selective:
        raise ManifestError(MSG_NAMES_NEED_SELECTIVE, "all_image_file_names")
    if selective and not vcs.base_sha:
        raise ManifestError(MSG_SELECTIVE_NEEDS_BASE, "selective")
    if names is not None and not names:
        raise ManifestError(MSG_NAMES_EMPTY, "all_image_file_names")
    if names is not None:
        listed = set(names)
        missing = sorted(n for n in images if n not in listed)
        if missing:
            raise ManifestError(MSG_NAME_NOT_LISTED, f"images.{missing[0]}")

    manifest = Manifest(
        images=images,
        diff_threshold=diff_threshold,
        selective=selective,
        all_image_file_names=names,
    )
    return SnapshotUpload(app_id=app_id, manifest=manifest, vcs=vcs)
