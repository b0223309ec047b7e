"""Keep a run on disk when the server cannot take it, and send it later.

A spooled run is a folder: `run.json` (server, project, manifest, the run id for a shard, why it was
spooled) and `images/<content hash>.png`. It holds copies, so cleaning `.visual-review/images` or
the next test run never loses it; `visualreview upload` sends it and deletes it only once the server
has accepted it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .imaging import write_atomic
from .manifest import Manifest

RUN_FILE = "run.json"


@dataclass(frozen=True)
class SpooledRun:
    folder: Path
    api_url: str
    project: str
    manifest: Manifest
    run_id: str | None  # a shard adds to an existing run
    reason: str
    api: str = "posthog"
    options: dict[str, Any] = field(default_factory=dict)  # api-specific (sentry: org, app_id, vcs)

    def image(self, content_hash: str) -> bytes:
        return (self.folder / "images" / f"{content_hash}.png").read_bytes()


def write(
    root: Path,
    *,
    api_url: str,
    project: str,
    manifest: Manifest,
    run_id: str | None,
    reason: str,
    api: str = "posthog",
    options: dict[str, Any] | None = None,
) -> Path:
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
        target = images / f"{content_hash}.png"
        shutil.copyfile(source, target)
        spooled_images[content_hash] = str(target)
    document = {
        "api_url": api_url,
        "project": project,
        "run_id": run_id,
        "reason": reason,
        "api": api,
        "options": options or {},
        "manifest": {**manifest.to_dict(), "images": spooled_images},
    }
    # run.json last: a folder without it is an interrupted spool, never half a run.
    write_atomic(folder / RUN_FILE, json.dumps(document, indent=2).encode("utf-8"))
    return folder


def read(folder: Path) -> SpooledRun:
    try:
        document: dict[str, Any] = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        return SpooledRun(
            folder=folder,
            api_url=document["api_url"],
            project=str(document["project"]),
            manifest=Manifest.from_dict(document["manifest"]),
            run_id=document.get("run_id"),
            reason=document.get("reason", ""),
            api=document.get("api", "posthog"),
            options=dict(document.get("options") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{folder}: not a spooled run ({exc}); expected {RUN_FILE} in it") from exc


def find(path: Path) -> list[Path]:
    """The spooled run folders at `path`: the folder itself, or the runs inside a spool root."""
    if (path / RUN_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"{path}: no such spool folder; runs are spooled to .visual-review/spool/")
    return sorted(child for child in path.iterdir() if (child / RUN_FILE).is_file())
