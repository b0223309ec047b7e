"""``snapshots.yml``: PostHog's baseline file, read and written byte-compatibly.

The file maps each snapshot identifier to a token, either a bare content hash or a server-signed
``v1.<kid>.<hash>.<mac>``. It lives in the repository next to the code so a baseline change merges
with the change that caused it. Format (PostHog ``logic/baselines.py``)::

    version: 1
    config:
        api: https://review.example.com
        team: '1'
        repo: 3d760a0a-0763-477d-89ee-f1e4e92cdd78
    snapshots:
        button--primary:
            hash: v1.k794b7964.af0c....ypACU5X...

Writing uses exactly ``yaml.dump(doc, default_flow_style=False, sort_keys=False, indent=4)`` with
identifiers sorted, so files written here and by PostHog's server are byte-identical and diffs in
review stay minimal. Reading follows PostHog's parsers: only ``version: 1``; entries that are not
mappings with a ``hash`` key are ignored; a missing file is an empty baseline.

Pure data: no server imports and no keys. Verifying signatures is the server's job
(``pytest_visualreview.server.signing``); the client only needs :func:`token_hash`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

VERSION = 1


class SnapshotsFileError(ValueError):
    """A snapshots.yml that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SnapshotsFile:
    """A parsed baseline file: ``snapshots`` maps identifier -> token (as written)."""

    snapshots: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    version: int = VERSION

    def hashes(self) -> dict[str, str]:
        """identifier -> plain content hash (signature stripped, not verified)."""
        return {identifier: token_hash(token) for identifier, token in self.snapshots.items()}


def token_hash(token: str) -> str:
    """The content hash inside a token: the third dot segment of ``v1.<kid>.<hash>.<mac>``,
    or the token itself when it is a bare hash (what PostHog's CLI does)."""
    parts = token.split(".")
    return parts[2] if len(parts) == 4 else token


def is_signed(token: str) -> bool:
    return token.startswith("v1.") and len(token.split(".")) == 4


def dumps(snapshots: Mapping[str, str], config: Mapping[str, str] | None = None) -> str:
    """The file text for ``snapshots`` (identifier -> token), identifiers sorted."""
    document: dict[str, object] = {"version": VERSION}
    if config:
        document["config"] = {str(key): str(value) for key, value in config.items()}
    document["snapshots"] = {
        identifier: {"hash": snapshots[identifier]} for identifier in sorted(snapshots)
    }
    return yaml.dump(document, default_flow_style=False, sort_keys=False, indent=4)


def loads(text: str, *, name: str = "snapshots.yml") -> SnapshotsFile:
    """Parse file text; raises :class:`SnapshotsFileError` naming ``name`` when unusable."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SnapshotsFileError(f"{name}: not valid YAML ({exc})") from exc
    if document is None:
        return SnapshotsFile()
    if not isinstance(document, dict):
        raise SnapshotsFileError(f"{name}: expected a mapping with 'version' and 'snapshots'")
    version = document.get("version")
    if version != VERSION:
        raise SnapshotsFileError(
            f"{name}: unsupported version {version!r}; only 'version: 1' is understood"
        )
    raw_config = document.get("config") or {}
    config = (
        {str(k): str(v) for k, v in raw_config.items() if v is not None}
        if isinstance(raw_config, dict)
        else {}
    )
    raw = document.get("snapshots") or {}
    if not isinstance(raw, dict):
        raise SnapshotsFileError(f"{name}: 'snapshots' must be a mapping of identifier -> entry")
    snapshots: dict[str, str] = {}
    for identifier, entry in raw.items():
        if isinstance(entry, dict) and isinstance(entry.get("hash"), str):
            snapshots[str(identifier)] = entry["hash"]
    return SnapshotsFile(snapshots=snapshots, config=config, version=VERSION)


def read(path: str | os.PathLike[str]) -> SnapshotsFile:
    """Read a baseline file; a missing file is an empty baseline (everything is new)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SnapshotsFile()
    except OSError as exc:
        raise SnapshotsFileError(f"{path}: cannot read ({exc.strerror})") from exc
    return loads(text, name=str(path))


def write(
    path: str | os.PathLike[str],
    snapshots: Mapping[str, str],
    config: Mapping[str, str] | None = None,
) -> None:
    """Write a baseline file atomically (a reader never sees half a file)."""
    from .imaging import write_atomic

    write_atomic(path, dumps(snapshots, config).encode("utf-8"))

