"""The server's signed baseline file, written into the checkout (after `--approve`, and by
`visualreview pull`), and the check that it agrees with the baseline PNGs beside it.

Only the server's `snapshots` are taken. Its `config` block names the server as the server sees
itself (its site URL): for a session against a local server that is a loopback address nobody
else can reach, and committing it would point every later `run create` in CI at 127.0.0.1. So the
block written is the user's: the one snapshots.yml already had, else the server the user
configured (ini or command line) unless that is a loopback address, else none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from .. import imaging, snapshots_yml
from ..settings import ServerSettings


def configured_block(settings: ServerSettings) -> dict[str, str]:
    """The config block for what the user configured; empty for a loopback server."""
    if is_loopback(settings.url):
        return {}
    return {"api": settings.url, "team": settings.project, "repo": settings.repo}


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write(path: Path, content: str, configured: Mapping[str, str]) -> list[str]:
    """Write the server's `baseline_content` (its snapshots, our config block) to `path`.

    Returns the identifiers whose entry changed; the file is left alone when none did and it exists.
    Raises SnapshotsFileError when `content` is not a baseline file.
    """
    after = snapshots_yml.loads(content, name="baseline_content")
    existing = snapshots_yml.read(path) if path.exists() else snapshots_yml.SnapshotsFile()
    before = existing.hashes()
    hashes = after.hashes()
    changed = sorted(k for k in hashes.keys() | before.keys() if hashes.get(k) != before.get(k))
    config = existing.config or dict(configured)
    if changed or not path.exists() or existing.config != config:
        snapshots_yml.write(path, after.snapshots, config)
    return changed


def disagreements(path: Path, baselines: Mapping[str, str]) -> list[str]:
    """Identifiers whose hash in the baseline file at `path` is not the content hash of their
    baseline PNG (`baselines`: identifier -> PNG path; a missing PNG is not judged here)."""
    hashes = snapshots_yml.read(path).hashes() if path.exists() else {}
    out = []
    for identifier, png in sorted(baselines.items()):
        if not Path(png).is_file():
            continue
        on_disk = imaging.content_hash(imaging.read_png(png))
        if hashes.get(identifier) != on_disk:
            out.append(identifier)
    return out
