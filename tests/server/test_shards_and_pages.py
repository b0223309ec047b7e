"""Shard flow under concurrency, and pagination edges."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .server_helpers import Client, item, page


def test_two_shards_adding_concurrently_lose_nothing_and_first_write_wins(client: Client) -> None:
    run_id = client.create_run([])["run_id"]
    images = {f"s{i:03d}": page(100 + i, 40, 30) for i in range(60)}
    shared = page(999, 40, 30)
    other = page(998, 40, 30)
    # Both shards send s000..s059 split in halves, plus the same identifier 'both' with
    # different hashes; each sends its batch in 6 requests, interleaving with the other.
    shard_a = [item(k, v) for k, v in list(images.items())[:30]] + [item("both", shared)]
    shard_b = [item(k, v) for k, v in list(images.items())[30:]] + [item("both", other)]
    results: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def shard(name: str, items: list[dict[str, Any]]) -> None:
        barrier.wait()
        for start in range(0, len(items), 6):
            response = client.post(f"runs/{run_id}/add-snapshots/",
                                   {"snapshots": items[start : start + 6]})
            assert response.status_code == 200, response.text
            results[name].append(response.json())

    threads = [threading.Thread(target=shard, args=("a", shard_a)),
               threading.Thread(target=shard, args=("b", shard_b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    added = sum(r["added"] for rs in results.values() for r in rs)
    assert added == 61  # 60 distinct + 'both' once
    # Re-sending is a no-op.
    again = client.post(f"runs/{run_id}/add-snapshots/", {"snapshots": shard_a[:3]})
    assert again.json()["added"] == 0
    every = {**{i.hash: i for i in images.values()}, shared.hash: shared, other.hash: other}
    for batch in (*results["a"], *results["b"]):
        client.upload(batch["uploads"], every)
    client.complete(run_id)
    run = client.wait(run_id)
    assert run["status"] == "completed"
    assert run["summary"]["total"] == 61 and run["summary"]["new"] == 61
    snaps = client.snapshots(run_id)
    assert set(snaps) == {*images, "both"}
    winner = snaps["both"]["current_artifact"]["content_hash"]
    assert winner in (shared.hash, other.hash)
    for identifier, image in images.items():
        assert snaps[identifier]["current_artifact"]["content_hash"] == image.hash


@pytest.fixture
def run_with_25(client: Client) -> str:
    images = {f"id-{i:02d}": page(200 + i, 30, 20) for i in range(25)}
    return str(client.submit(images)["id"])


def test_pagination_edges(client: Client, run_with_25: str) -> None:
    path = f"runs/{run_with_25}/snapshots/"
    first = client.get(path, params={"limit": 10}).json()
    assert first["count"] == 25 and len(first["results"]) == 10
    assert first["previous"] is None
    assert "offset=10" in first["next"] and "limit=10" in first["next"]
    assert first["next"].startswith("http://127.0.0.1:")

    # Follow next links to the end: every snapshot exactly once, in order.
    seen: list[str] = []
    url: str | None = first["next"]
    seen += [s["identifier"] for s in first["results"]]
    while url:
        body = client.session.get(url, headers=client.headers, timeout=10).json()
        seen += [s["identifier"] for s in body["results"]]
        url = body["next"]
    assert seen == [f"id-{i:02d}" for i in range(25)]

    last = client.get(path, params={"limit": 10, "offset": 20}).json()
    assert len(last["results"]) == 5 and last["next"] is None
    assert "offset=10" in last["previous"]
    second = client.get(path, params={"limit": 10, "offset": 10}).json()
    assert "offset" not in second["previous"]  # back to the first page
    past = client.get(path, params={"limit": 10, "offset": 25}).json()
    assert past["results"] == [] and past["next"] is None and past["count"] == 25
    far = client.get(path, params={"offset": 1000}).json()
    assert far["results"] == [] and far["count"] == 25
    one = client.get(path, params={"limit": 1, "offset": 24}).json()
    assert [s["identifier"] for s in one["results"]] == ["id-24"] and one["next"] is None
    big = client.get(path, params={"limit": 1000}).json()
    assert len(big["results"]) == 25 and big["next"] is None

    for params, attr in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                         ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset")):
        response = client.get(path, params=params)
        assert response.status_code == 400 and response.json()["attr"] == attr


def test_run_list_pagination_and_filters(client: Client) -> None:
    ids = [client.create_run([], branch=f"b{i}", pr_number=i)["run_id"] for i in range(3)]
    body = client.get(f"repos/{client.repo_id}/runs/", params={"limit": 2}).json()
    assert body["count"] == 3
    assert [r["id"] for r in body["results"]] == ids[::-1][:2]  # newest first
    filtered = client.get("runs/", params={"branch": "b1"}).json()
    assert [r["id"] for r in filtered["results"]] == [ids[1]]
