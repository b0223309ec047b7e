"""Sentry comparisons run on the server's one worker, which lives and dies with the app."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from pytest_visualreview.server.app import create_app
from pytest_visualreview.server.auth import create_token

from .conftest import Sentry, png, sha


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free port in this process (lifespan included)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def vcs(head: int, base: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "head_sha": sha(head), "provider": "github", "head_repo_name": "acme/web", "head_ref": "main",
    }
    if base is not None:
        out.update(base_sha=sha(base), base_repo_name="acme/web", base_ref="main")
    return out


@pytest.mark.slow
def test_comparisons_wait_for_the_worker_and_its_processes_stop_with_the_app(tmp_path: Path) -> None:
    app = create_app(tmp_path / "data", start_worker=False, diff_workers=2)
    context = app.state.context
    with serving(app) as url:
        token = create_token(context.store, 1, ["project:write"], name="ci")
        sentry = Sentry(server=SimpleNamespace(url=url), token=token)  # type: ignore[arg-type]
        images = {"home.png": png(40, 30, (10, 20, 30, 255))}
        sentry.upload("app", images, vcs=vcs(1))
        changed = {"home.png": png(40, 30, (10, 20, 30, 255), dot=True)}
        head = sentry.upload("app", changed, vcs=vcs(2, base=1))
        pending = sentry.details(head)
        assert pending["comparison_state"] == "pending", pending  # start_worker=False

        assert context.worker.run_once()  # one pass of the shared worker runs it
        done = sentry.details(head)
        assert done["comparison_state"] == "success", done
        assert done["changed_count"] == 1
        assert multiprocessing.active_children()  # the pair was diffed in a worker process
    assert not multiprocessing.active_children()  # app shutdown stopped the pool
