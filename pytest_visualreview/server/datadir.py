"""The data folder's safety at start: created private, writable, and free of kill -9 leftovers.

The SQLite database holds the signing secret, so anyone who can read it can forge session
cookies, upload policies and download URLs: the folder is created 0700 and the database 0600
(SQLite gives its -wal and -shm files the database's mode). A folder the server cannot write is
reported in one line naming it, before anything else runs.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


class DataDirError(Exception):
    """The data folder cannot be used; the message names it and the problem."""


def prepare(data_dir: Path, db_file: Path) -> None:
    """Create ``data_dir`` (0700) and ``db_file`` (0600) if missing; prove the folder writable."""
    try:
        if not data_dir.exists():
            data_dir.mkdir(parents=True, mode=DIR_MODE)
            data_dir.chmod(DIR_MODE)
        if not data_dir.is_dir():
            raise DataDirError(f"data folder {data_dir} is not a folder")
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=data_dir)
        os.close(fd)
        os.unlink(probe)
        if not db_file.exists():
            os.close(os.open(db_file, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DataDirError(
            f"data folder {data_dir} cannot be written ({reason}); choose a writable folder "
            "with --data-dir or fix its permissions"
        ) from None
    warn_if_loosened(data_dir, [db_file])


def warn_if_loosened(data_dir: Path, files: list[Path]) -> list[str]:
    """Log (and return) one warning per secret-holding path readable by group or others."""
    warnings = []
    for path, wanted in [(data_dir, DIR_MODE)] + [(f, FILE_MODE) for f in files]:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            warnings.append(
                f"{path} is mode {mode:04o}; it holds the server's secrets, "
                f"run: chmod {wanted:04o} {path}"
            )
    for message in warnings:
        log.warning(message)
    return warnings


def remove_orphan_temps(blob_root: Path) -> int:
    """Delete ``*.tmp`` files a kill -9 left mid-write in the blob folder; how many were removed."""
    removed = 0
    for leftover in blob_root.rglob("*.tmp"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed
