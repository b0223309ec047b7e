"""Counts buckets, supersession, quarantine and recompute, with PostHog's semantics."""

from __future__ import annotations

from pytest_visualreview import snapshots_yml

from .live_server import LiveServer
from .server_helpers import Client, changed, page


def baseline_of(client: Client, run_id: str) -> dict[str, str]:
    response = client.post(f"runs/{run_id}/auto-approve/")
    assert response.status_code == 200, response.text
    return snapshots_yml.loads(response.json()["baseline_content"]).snapshots


def test_counts_follow_posthogs_buckets(fresh_server: LiveServer, fresh_client: Client) -> None:
    client = fresh_client
    a = page(300)
    zero = {"needs_review": 0, "clean": 0, "processing": 0, "stale": 0}
    assert client.get("runs/counts/").json() == zero

    first = client.submit({"x": a}, branch="main")
    baseline = baseline_of(client, first["id"])  # approved -> clean
    client.submit({"x": a}, baseline_hashes=baseline, branch="other")  # no changes -> clean
    review = client.submit({"x": changed(a)}, baseline_hashes=baseline, branch="feat",
                           pr_number=1)
    client.submit({"x": changed(a)}, baseline_hashes=baseline, branch="nopr")  # no PR: nowhere
    assert client.get("runs/counts/").json() == {**zero, "clean": 2, "needs_review": 1}

    # A new run on the same branch supersedes the PR run: it becomes stale.
    newer = client.create_run([], branch="feat", pr_number=1)
    old = client.get(f"runs/{review['id']}/").json()
    assert old["is_stale"] is True and old["superseded_by_id"] == newer["run_id"]
    assert client.get("runs/counts/").json() == {**zero, "clean": 2, "stale": 1}
    assert client.get(f"repos/{client.repo_id}/runs/counts/").json()["stale"] == 1
    stale_list = client.get("runs/", params={"review_state": "stale"}).json()
    assert [r["id"] for r in stale_list["results"]] == [review["id"]]

    # Another repo's counts are its own.
    other = Client(client.api, client.token, fresh_server.repo("acme/other"))
    assert client.get(f"repos/{other.repo_id}/runs/counts/").json() == zero

    # Runs on different branches or run types never supersede each other.
    assert client.get(f"runs/{first['id']}/").json()["is_stale"] is False


def test_quarantine_hides_from_counts_but_not_from_diffing(client: Client) -> None:
    q, z = page(310), page(311)
    baseline = baseline_of(client, client.submit({"q": q, "z": z}, branch="main")["id"])
    made = client.post(f"repos/{client.repo_id}/quarantine/playwright/",
                       {"identifier": "q", "reason": "flaky clock"})
    assert made.status_code == 201 and made.json()["identifier"] == "q"
    assert made.json()["expires_at"] is None and made.json()["created_by"]["id"] > 0

    run = client.submit({"q": changed(q), "z": changed(z)}, baseline_hashes=baseline,
                        branch="feat", pr_number=2)
    assert run["summary"]["changed"] == 1 and run["summary"]["unresolved"] == 1
    listing = client.get(f"runs/{run['id']}/snapshots/").json()
    assert [s["identifier"] for s in listing["results"]] == ["z"]
    assert listing["quarantined_count"] == 1
    full = client.snapshots(run["id"], include_quarantined="true")
    assert full["q"]["is_quarantined"] is True
    assert full["q"]["result"] == "changed" and full["q"]["diff_artifact"]  # still diffed

    # Lift the quarantine and recompute: q counts again.
    expired = client.post(f"repos/{client.repo_id}/quarantine/playwright/expire/",
                          {"identifier": "q"})
    assert expired.status_code == 204
    gone = client.post(f"repos/{client.repo_id}/quarantine/playwright/expire/",
                       {"identifier": "q"})
    assert gone.status_code == 404 and gone.json()["attr"] == "identifier"
    recomputed = client.post(f"runs/{run['id']}/recompute/").json()
    assert recomputed["counts_changed"] is True and recomputed["unresolved"] == 2
    assert "JOB_CHECK_RUN_ID" in recomputed["ci_rerun_error"]
    history = client.get(f"repos/{client.repo_id}/quarantine/", params={"identifier": "q"}).json()
    assert len(history) == 1 and history[0]["expires_at"] is not None
    assert client.get(f"repos/{client.repo_id}/quarantine/").json() == []

    # Quarantine again: finalize goes through with q still pending, and q keeps its baseline.
    client.post(f"repos/{client.repo_id}/quarantine/playwright/", {"identifier": "q"})
    again = client.post(f"runs/{run['id']}/recompute/").json()
    assert again["unresolved"] == 1
    final = client.post(f"runs/{run['id']}/finalize/",
                        {"approve_all": True, "commit_to_github": False})
    assert final.status_code == 200, final.text
    hashes = snapshots_yml.loads(final.json()["baseline_content"]).hashes()
    assert hashes == {"q": q.hash, "z": changed(z).hash}


def test_explicit_approval_of_a_quarantined_snapshot_reaches_the_baseline(client: Client) -> None:
    q = page(320)
    baseline = baseline_of(client, client.submit({"q": q}, branch="main")["id"])
    client.post(f"repos/{client.repo_id}/quarantine/playwright/", {"identifier": "q"})
    run = client.submit({"q": changed(q)}, baseline_hashes=baseline, branch="feat")
    client.post(f"runs/{run['id']}/approve/", {"snapshots": [{"identifier": "q"}]})
    final = client.post(f"runs/{run['id']}/finalize/", {"commit_to_github": False})
    assert final.status_code == 200, final.text
    assert snapshots_yml.loads(final.json()["baseline_content"]).hashes() == {
        "q": changed(q).hash
    }


def test_tolerations_and_history_per_identifier(client: Client) -> None:
    a = page(330)
    first = client.submit({"x": a}, branch="main")
    baseline = baseline_of(client, first["id"])
    run = client.submit({"x": changed(a)}, baseline_hashes=baseline, branch="main")
    snap = client.snapshots(run["id"])["x"]
    assert client.get(f"runs/{run['id']}/tolerated-hashes/", params={"identifier": "x"}).json() == []
    client.post(f"runs/{run['id']}/tolerate/", {"snapshot_id": snap["id"]})
    listed = client.get(f"runs/{run['id']}/tolerated-hashes/", params={"identifier": "x"}).json()
    assert len(listed) == 1 and listed[0]["reason"] == "human"
    assert listed[0]["baseline_hash"] == a.hash and listed[0]["alternate_hash"] == changed(a).hash
    assert listed[0]["source_run_id"] == run["id"]
    missing = client.get(f"runs/{run['id']}/tolerated-hashes/")
    assert missing.status_code == 400 and missing.json()["attr"] == "identifier"

    history = client.get(f"runs/{run['id']}/snapshot-history/", params={"identifier": "x"}).json()
    assert history["count"] == 2
    assert [e["run_id"] for e in history["results"]] == [run["id"], first["id"]]
    assert history["results"][0]["result"] == "changed"
