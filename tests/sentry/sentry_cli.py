"""Find or install the real sentry-cli (npm ``@sentry/cli``, which carries the binary).

Installed once into a cache folder outside the repository (``$VISUALREVIEW_SENTRY_CLI_DIR``, else
``~/.cache/pytest-visualreview/sentry-cli``), under a file lock so xdist workers do not race. The
version is pinned: 3.8.0 is the version whose wire traffic docs/sentry.md records.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

SENTRY_CLI_VERSION = "3.8.0"


def cache_dir() -> Path:
    configured = os.environ.get("VISUALREVIEW_SENTRY_CLI_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "pytest-visualreview" / f"sentry-cli-{SENTRY_CLI_VERSION}"


def ensure_sentry_cli() -> Path:
    """Path of a working sentry-cli binary; raises RuntimeError saying how to fix it otherwise."""
    root = cache_dir()
    binary = root / "node_modules" / ".bin" / "sentry-cli"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _works(binary):
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError(
                    "sentry-cli is needed for this test and npm is not on PATH: install Node.js "
                    f"(npm), or put @sentry/cli@{SENTRY_CLI_VERSION} in {root} yourself "
                    f"(npm install --prefix {root} @sentry/cli@{SENTRY_CLI_VERSION})"
                )
            proc = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(root),
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    f"@sentry/cli@{SENTRY_CLI_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode != 0 or not _works(binary):
                raise RuntimeError(
                    f"npm could not install @sentry/cli@{SENTRY_CLI_VERSION} into {root} "
                    f"(exit {proc.returncode}); is the npm registry reachable?\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
                )
    return binary


def _works(binary: Path) -> bool:
    if not binary.exists():
        return False
    try:
        proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return proc.returncode == 0 and SENTRY_CLI_VERSION in proc.stdout
