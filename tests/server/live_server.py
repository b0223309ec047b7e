"""A real review server for tests: ``visualreview serve`` in a subprocess on a free port.

Reusable by any suite (the plugin's server-mode tests import it)::

    from server.live_server import LiveServer  # tests/ is the rootdir on sys.path

    server = LiveServer.start(tmp_path / "data")
    token = server.token("visual_review:read", "visual_review:write")
    repo_id = server.repo("acme/web")
    requests.get(server.api() + "runs/counts/", headers={"Authorization": f"Bearer {token}"})
    server.stop()

Tokens and repos are created with the same functions the admin CLI calls, directly on the data
dir (SQLite in WAL mode allows that while the server runs), which saves a Python start per token.
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

import requests

from pytest_visualreview.server.auth import create_token
from pytest_visualreview.server.repos import create_repo
from pytest_visualreview.server.store import Store

ALL_SCOPES = ("visual_review:read", "visual_review:write")


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running ``visualreview serve`` process and helpers to talk to it."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_args: tuple[str, ...] = ()
    _store: Store | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        timeout: float = 30.0,
    ) -> LiveServer:
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        for _attempt in range(3):  # a free port can be taken between probe and bind
            chosen = port or free_port()
            log_path = data_dir / f"server-{chosen}.log"
            log = open(log_path, "ab")  # noqa: SIM115 - owned by the child process
            process = subprocess.Popen(
                [sys.executable, "-m", "pytest_visualreview.cli", "serve",
                 "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(chosen),
                 "--log-level", "warning", "--no-access-log", *extra_args],
                stdout=log, stderr=subprocess.STDOUT,
            )
            log.close()
            server = cls(data_dir, chosen, process, log_path, extra_args)
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
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.data_dir)
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
            self.data_dir, port=self.port, extra_args=self.extra_args, timeout=timeout
        )
