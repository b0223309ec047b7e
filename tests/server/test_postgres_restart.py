"""PostgreSQL restarting under a running server: requests made while it is down get a 503 that
says so (never a 500, never a wrong answer), and once it is back the server reconnects by itself
and a run started before the restart completes with the right verdict."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live_server import LiveServer
from .postgres import Postgres
from .server_helpers import Client, changed, item, page

pytestmark = pytest.mark.slow


@pytest.fixture
def own_cluster() -> Iterator[Postgres]:
    """A cluster of this test's own: stopping it must not disturb other tests' servers."""
    cluster = Postgres.start()
    yield cluster
    cluster.stop()


def test_a_postgres_restart_is_a_503_then_business_as_usual(
    tmp_path: Path, own_cluster: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISUALREVIEW_DB_RETRY_SECONDS", "2")  # read by the server process
    assert os.environ["VISUALREVIEW_DB_RETRY_SECONDS"] == "2"
    url = own_cluster.new_database()
    live = LiveServer.start(tmp_path / "data", database_url=url)
    try:
        client = Client(live.api(), live.token(), live.repo("acme/web", trust_unsigned=True))
        base = {"a": page(11), "b": page(12)}
        client.submit(base, branch="main")
        created = client.create_run([item("a", changed(base["a"])), item("b", base["b"])],
                                    baseline_hashes={k: v.hash for k, v in base.items()})
        client.upload(created["uploads"], {changed(base["a"]).hash: changed(base["a"]),
                                           base["b"].hash: base["b"]})

        own_cluster.pg_ctl("stop")
        down = client.get(f"runs/{created['run_id']}/")
        assert down.status_code == 503, down.text
        assert "PostgreSQL" in down.json()["detail"] and "retry" in down.json()["detail"]
        refused = client.post(f"runs/{created['run_id']}/complete/")
        assert refused.status_code == 503, refused.text

        own_cluster.pg_ctl("start")
        assert client.complete(created["run_id"])["status"] in ("processing", "completed")
        run = client.wait(created["run_id"], timeout=60)
        assert run["status"] == "completed"
        assert run["summary"]["changed"] == 1 and run["summary"]["unchanged"] == 1
    finally:
        live.stop()
