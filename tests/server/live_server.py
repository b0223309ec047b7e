"""A real review server for tests: ``visualreview serve`` in a subprocess on a free port.

Reusable by any suite (the plugin's server-mode tests import it)::

    from tests.server.live_server import LiveServer

    server = LiveServer.start(tmp_path / "data")
    token = server.token("visual_review:read", "visual_review:write")
    repo_id = server.repo("acme/web")
    requests.get(server.api() + "runs/counts/", headers={"Authorization": f"Bearer {token}"})
    server.stop()

Tokens and repos are created with the same functions the admin CLI calls, directly on the data
dir (SQLite in WAL mode allows that while the server runs), which saves a Python start per token.

With ``database_url`` the server runs on the shared store instead (PostgreSQL for the metadata and
the job queue, ``data_dir/blobs`` for the blobs), with its worker in-process unless
``extra_args`` has ``--no-worker``; tokens and repos then go straight to that database.
``LiveServer.start(..., s3=moto)`` keeps the blobs in a bucket of a moto S3 server
(``tests/server/s3_server.py``) under a prefix of the server's own, with uploads going straight
to the bucket. :data:`BACKENDS` names the two configurations tests marked
``@pytest.mark.backends`` run on: ``embedded`` (SQLite + folder) and ``shared`` (PostgreSQL +
S3, as a multi-machine deployment runs), see :func:`start_live`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from pytest_visualreview.server.auth import create_token
from pytest_visualreview.server.repos import create_repo
from pytest_visualreview.server.storage import StorageConfig, open_store
from pytest_visualreview.server.store import Store

from .s3_server import CREDENTIALS, MotoS3

ALL_SCOPES = ("visual_review:read", "visual_review:write")
#: The configurations tests marked ``@pytest.mark.backends`` run on (see :func:`start_live`).
BACKENDS = ("embedded", "shared")


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def storage_args(
    data_dir: Path, database_url: str | None, s3: MotoS3 | None = None, prefix: str = ""
) -> list[str]:
    """The storage options of a server command: the data dir or PostgreSQL for the metadata,
    and the blobs in the data dir's folder or under ``prefix`` in the moto bucket."""
    metadata = ["--data-dir", str(data_dir)] if database_url is None else ["--database-url", database_url]
    if s3 is not None:
        return [*metadata, *s3.server_args(prefix)]
    return metadata if database_url is None else [*metadata, "--blob-url", str(data_dir / "blobs")]


@dataclass
class LiveServer:
    """A running ``visualreview serve`` process and helpers to talk to it."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_args: tuple[str, ...] = ()
    database_url: str | None = None
    s3: MotoS3 | None = None
    s3_prefix: str = ""
    _store: Store | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        timeout: float = 30.0,
        database_url: str | None = None,
        s3: MotoS3 | None = None,
        s3_prefix: str | None = None,
    ) -> LiveServer:
        """A server on ``data_dir``; with ``s3``, its blobs in that bucket under ``s3_prefix``
        (a new prefix of its own unless given, as a restart gives it)."""
        data_dir = Path(data_dir)
        prefix = (s3_prefix or s3.new_prefix()) if s3 is not None else ""
        storage = storage_args(data_dir, database_url, s3, prefix)
        env = {**os.environ, **CREDENTIALS} if s3 is not None else None
        data_dir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        for _attempt in range(3):  # a free port can be taken between probe and bind
            chosen = port or free_port()
            log_path = data_dir / f"server-{chosen}.log"
            log = open(log_path, "ab")  # noqa: SIM115 - owned by the child process
            process = subprocess.Popen(
                [sys.executable, "-m", "pytest_visualreview.cli", "serve",
                 *storage, "--host", "127.0.0.1", "--port", str(chosen),
                 "--log-level", "warning", "--no-access-log", *extra_args],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
            log.close()
            server = cls(data_dir, chosen, process, log_path, extra_args, database_url, s3, prefix)
            try:
                server.wait_ready(timeout)
                return server
            except RuntimeError as exc:
                last_error = exc
                server.kill()
                if port is not None:
                    break
        raise RuntimeError(f"review server did not start: {last_error}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, project_id: int = 1) -> str:
        """Base of the visual_review API, with trailing slash."""
        return f"{self.url}/api/projects/{project_id}/visual_review/"

    @property
    def storage(self) -> StorageConfig:
        """The stores this server runs on, as the server commands see them (the same facts as
        :func:`storage_args`)."""
        shared = self.database_url is not None
        blob_url = str(self.data_dir / "blobs") if shared else None
        if self.s3 is not None:
            blob_url = f"s3://{self.s3.bucket}/{self.s3_prefix}"
        return StorageConfig(
            data_dir=None if shared else self.data_dir, database_url=self.database_url,
            blob_url=blob_url, s3_endpoint_url=self.s3.endpoint if self.s3 is not None else None,
        )

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.storage)
        return self._store

    def token(self, *scopes: str, project: int = 1, name: str | None = None) -> str:
        return create_token(self.store, project, list(scopes or ALL_SCOPES), name=name)

    def repo(self, name: str = "acme/web", *, project: int = 1, trust_unsigned: bool = False) -> str:
        return str(create_repo(self.store, project, name, trust_unsigned=trust_unsigned).id)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}: {self.log_path.read_text()}"
                )
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s: {self.log_path.read_text()}")

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM, like Ctrl-C in production)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Hard kill (SIGKILL): what a crash or an OOM kill looks like."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def restart(self, timeout: float = 30.0) -> LiveServer:
        """A new server process on the same data dir and port."""
        return LiveServer.start(
            self.data_dir, port=self.port, extra_args=self.extra_args, timeout=timeout,
            database_url=self.database_url, s3=self.s3, s3_prefix=self.s3_prefix or None,
        )

    def bucket_keys(self, under: str = "") -> list[str]:
        """Object keys this server has in the bucket (below ``under``, relative to its prefix)."""
        assert self.s3 is not None, "a folder-backed server has no bucket"
        start = len(self.s3_prefix) + 1
        return [k[start:] for k in self.s3.keys(self.s3_prefix) if k[start:].startswith(under)]


def start_live(
    data_dir: Path, backend: str, request: Any, **kwargs: Any
) -> LiveServer:
    """A live server on ``backend`` (the ``backend`` fixture of tests/conftest.py): a data dir,
    or a new database in the session's PostgreSQL cluster (the ``postgres`` fixture) with its
    blobs under a prefix of its own in the session's moto S3 bucket (the ``moto_s3`` fixture)."""
    assert backend in BACKENDS, f"unknown backend {backend!r}"
    if backend == "shared":
        kwargs.setdefault("database_url", request.getfixturevalue("postgres").new_database())
        kwargs.setdefault("s3", request.getfixturevalue("moto_s3"))
    return LiveServer.start(data_dir, **kwargs)


def start_worker(
    data_dir: Path, database_url: str, s3: MotoS3, prefix: str, name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """A ``visualreview worker`` process (one diff process) on the shared store, logging to
    ``data_dir/worker-NAME.log``."""
    log_path = data_dir / f"worker-{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest_visualreview.cli", "worker",
             *storage_args(data_dir, database_url, s3, prefix), "--diff-workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS},
        )
    return process, log_path
