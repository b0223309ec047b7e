"""A real PostgreSQL for tests: Debian's server binaries, ``initdb`` into a temporary folder.

We run as root and PostgreSQL refuses to, so the cluster belongs to the ``postgres`` user the
Debian package creates (``runuser -u postgres``); as any other user it runs as that user. The
cluster listens on a free port on 127.0.0.1 with ``trust`` auth (nothing else can reach it), and
durability is off (``fsync=off``): a test database that loses its data on a power cut is fine.
Each test server gets its own database (:meth:`Postgres.new_database`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from .live_server import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin(name: str) -> str | None:
    """Path of a PostgreSQL server binary (``initdb``, ``pg_ctl``), newest version first."""
    for folder in BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def available() -> bool:
    return pg_bin("initdb") is not None and pg_bin("pg_ctl") is not None


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    """A running cluster; ``url(db)`` for a database in it."""

    root: Path
    port: int
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def start(cls) -> Postgres:
        root = Path(tempfile.mkdtemp(prefix="vr-pg-"))
        data = root / "data"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            _as_owner([str(pg_bin("initdb")), "-D", str(data), "--auth=trust", "-U", "postgres",
                       "--encoding=UTF8", "--locale=C.UTF-8"]),
            check=True, capture_output=True,
        )
        port = free_port()
        server = cls(root, port)
        server.pg_ctl("start")
        return server

    @property
    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.root / "data" / "postmaster.pid").read_text().split()[0])

    def pg_ctl(self, action: str) -> None:
        """``start``, ``stop`` (fast) or ``restart`` the cluster, waiting until it is done."""
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off"
                   f" -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
                   f" -c unix_socket_directories={self.root}")
        cmd = [str(pg_bin("pg_ctl")), "-D", str(self.root / "data"), "-w", "-m", "fast",
               "-l", str(self.root / "server.log")]
        if action in ("start", "restart"):
            cmd += ["-o", options]
        subprocess.run(_as_owner([*cmd, action]), check=True, capture_output=True)
        if action != "stop":
            self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "vr") -> str:
        """A new empty database; its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self.pg_ctl("stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
