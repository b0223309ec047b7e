"""A Sentry comparison whose diff mask cannot be stored (blob folder full) waits for space
instead of being recorded as failed or done (issue 14, point 4)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.server.live_server import LiveServer
from tests.server.tmpfs import fill, full_disk_server

from .conftest import Sentry, png, sha

__all__ = ["full_disk_server"]  # the fixture, used by name

pytestmark = pytest.mark.slow


def _vcs(head: int, base: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"head_sha": sha(head), "provider": "github",
                           "head_repo_name": "acme/full", "head_ref": "main"}
    if base is not None:
        out.update(base_sha=sha(base), base_repo_name="acme/full", base_ref="main")
    return out


def test_a_comparison_waits_for_disk_space(full_disk_server: LiveServer) -> None:
    live = full_disk_server
    sentry = Sentry(live, live.token("project:write", name="ci"))
    before = {"home.png": png(64, 48, (10, 20, 30, 255))}
    after = {"home.png": png(64, 48, (10, 20, 30, 255), dot=True)}
    sentry.upload("warm", after, vcs=_vcs(100))  # the head image is stored before the disk fills
    sentry.upload("app", before, vcs=_vcs(1))
    filler = fill(live.data_dir / "blobs")
    head = sentry.upload("app", after, vcs=_vcs(2, base=1))

    deadline = time.monotonic() + 60
    while "waits for disk space" not in live.log_path.read_text():
        assert time.monotonic() < deadline, live.log_path.read_text()
        time.sleep(0.1)
    waiting = sentry.details(head)
    assert waiting["comparison_state"] in ("pending", "processing"), waiting

    filler.unlink()
    done = sentry.settled(head, timeout=60)
    assert done["comparison_state"] == "success", done
    assert done["changed_count"] == 1, done
