"""Keep a run on disk when the server cannot take it, and send it later.

A spooled run is a folder: `run.json` (the target's own description of where the run goes, the
manifest, why it was spooled) and `images/<content hash>.png`. It holds copies, so cleaning
`.visual-review/images` or the next test run never loses it; `visualreview upload` sends it and
deletes it only once the server has accepted it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..imaging import write_atomic
from .manifest import Manifest

RUN_FILE = "run.json"


@dataclass(frozen=True)
class SpooledRun:
    folder: Path
    target: dict[str, Any]  # `Target.spool_fields()`: api, api_url, project, run_id, options
    manifest: Manifest
    reason: str

    def image(self, content_hash: str) -> bytes:
        return (self.folder / "images" / f"{content_hash}.png").read_bytes()


def write(root: Path, *, target: Mapping[str, Any], manifest: Manifest, reason: str) -> Path:
    """Copy the manifest and its images under `root`; returns the new run folder."""
    folder = root / time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
    images = folder / "images"
    images.mkdir(parents=True)
    spooled_images = {}
    for content_hash, source in manifest.images.items():
        copy = images / f"{content_hash}.png"
        shutil.copyfile(source, copy)
        spooled_images[content_hash] = str(copy)
    document = {
        **target,
        "reason": reason,
        "manifest": {**manifest.to_dict(), "images": spooled_images},
    }
    # run.json last: a folder without it is an interrupted spool, never half a run.
    write_atomic(folder / RUN_FILE, json.dumps(document, indent=2).encode("utf-8"))
    return folder


def read(folder: Path) -> SpooledRun:
    try:
        document: dict[str, Any] = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        manifest = Manifest.from_dict(document.pop("manifest"))
        reason = str(document.pop("reason", ""))
        return SpooledRun(folder=folder, target=document, manifest=manifest, reason=reason)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{folder}: not a spooled run ({exc}); expected {RUN_FILE} in it") from exc


def find(path: Path) -> list[Path]:
    """The spooled run folders at `path`: the folder itself, or the runs inside a spool root."""
    if (path / RUN_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"{path}: no such spool folder; runs are spooled to .visual-review/spool/")
    return sorted(child for child in path.iterdir() if (child / RUN_FILE).is_file())
