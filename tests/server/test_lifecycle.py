"""The whole review lifecycle over HTTP: new, changed, unchanged, removed and tolerated snapshots."""

from __future__ import annotations

import requests

from pytest_visualreview import snapshots_yml
from pytest_visualreview.imaging import content_hash, decode_png

from .live_server import LiveServer
from .server_helpers import Client, changed, item, nudged, page


def test_full_lifecycle(client: Client) -> None:
    a, b, c, d, e, f = (page(seed) for seed in range(6))

    # Run 1 on main: everything is new; auto-approve returns the first signed baseline.
    run1 = client.submit({"home": a, "header": b, "footer": c, "gone": d, "noisy": e},
                         branch="main")
    assert run1["status"] == "completed"
    assert run1["summary"] == {"total": 5, "changed": 0, "new": 5, "removed": 0, "unchanged": 0,
                               "unresolved": 5, "tolerated_matched": 0}
    approved = client.post(f"runs/{run1['id']}/auto-approve/")
    assert approved.status_code == 200, approved.text
    baseline1 = snapshots_yml.loads(approved.json()["baseline_content"])
    assert baseline1.config["repo"] == client.repo_id and baseline1.config["team"] == "1"
    assert baseline1.hashes() == {"home": a.hash, "header": b.hash, "footer": c.hash,
                                  "gone": d.hash, "noisy": e.hash}
    assert all(snapshots_yml.is_signed(t) for t in baseline1.snapshots.values())
    assert approved.json()["run"]["approved"] is True

    # Run 2 on a PR branch against that baseline.
    b2, c2, e2 = changed(b), nudged(c), changed(e, 0.5)
    images2 = {"home": a, "header": b2, "footer": c2, "noisy": e2, "fresh": f}
    created = client.create_run([item(k, v) for k, v in images2.items()],
                                baseline_hashes=baseline1.snapshots, pr_number=7)
    # Only images the repo does not hold yet are requested (dedupe across runs).
    assert {u["content_hash"] for u in created["uploads"]} == {b2.hash, c2.hash, e2.hash, f.hash}
    client.upload(created["uploads"], {i.hash: i for i in images2.values()})
    client.complete(created["run_id"])
    run2 = client.wait(created["run_id"])
    run2_id = run2["id"]
    assert run2["status"] == "completed", run2["error_message"]
    assert run2["summary"] == {"total": 5, "changed": 2, "new": 1, "removed": 1, "unchanged": 2,
                               "unresolved": 4, "tolerated_matched": 0}

    snaps = client.snapshots(run2_id)
    assert (snaps["home"]["result"], snaps["home"]["classification_reason"]) == ("unchanged",
                                                                                 "exact")
    assert snaps["home"]["review_state"] == ""
    assert snaps["header"]["result"] == "changed"
    assert snaps["header"]["change_kind"] == "pixel"
    assert snaps["header"]["diff_percentage"] >= 2.5
    assert snaps["header"]["diff_pixel_count"] > 0
    assert snaps["footer"]["result"] == "unchanged"
    assert snaps["footer"]["classification_reason"] == "below_threshold"
    assert 0 < snaps["footer"]["diff_percentage"] < 2.5
    assert snaps["noisy"]["result"] == "changed"
    assert snaps["fresh"]["result"] == "new" and snaps["fresh"]["baseline_artifact"] is None
    assert snaps["gone"]["result"] == "removed" and snaps["gone"]["current_artifact"] is None
    # Non-unchanged first, then by identifier.
    order = list(snaps)
    assert order == ["fresh", "gone", "header", "noisy", "footer", "home"]

    # Images come back by signed URL without a token; the diff image is a real PNG.
    current = requests.get(snaps["header"]["current_artifact"]["download_url"], timeout=10)
    assert current.status_code == 200 and current.headers["content-type"] == "image/png"
    assert content_hash(decode_png(current.content)) == b2.hash
    baseline_png = requests.get(snaps["header"]["baseline_artifact"]["download_url"], timeout=10)
    assert content_hash(decode_png(baseline_png.content)) == b.hash
    diff_png = requests.get(snaps["header"]["diff_artifact"]["download_url"], timeout=10)
    assert decode_png(diff_png.content).shape == (b.height, b.width, 4)
    forged = snaps["header"]["current_artifact"]["download_url"].replace("signature=", "signature=x")
    assert requests.get(forged, timeout=10).status_code == 403

    # Tolerate the noisy one: resolved, but the baseline keeps its old hash.
    tolerated = client.post(f"runs/{run2_id}/tolerate/", {"snapshot_id": snaps["noisy"]["id"]})
    assert tolerated.status_code == 200, tolerated.text
    assert tolerated.json()["review_state"] == "tolerated"
    assert tolerated.json()["result"] == "changed"
    assert tolerated.json()["tolerated_hash_id"]
    bad = client.post(f"runs/{run2_id}/tolerate/", {"snapshot_id": snaps["fresh"]["id"]})
    assert bad.status_code == 400 and bad.json()["attr"] == "snapshot_id"

    # Finalize refuses while changes are open, and refuses to pretend to commit to GitHub.
    refused = client.post(f"runs/{run2_id}/finalize/", {"commit_to_github": False})
    assert refused.status_code == 409 and refused.json()["code"] == "not_fully_resolved"
    assert "fresh" in refused.json()["detail"] and "header" in refused.json()["detail"]
    github = client.post(f"runs/{run2_id}/finalize/", {"approve_all": True})
    assert github.status_code == 400 and github.json()["attr"] == "commit_to_github"

    wrong = client.post(f"runs/{run2_id}/approve/",
                        {"snapshots": [{"identifier": "header", "new_hash": b.hash}]})
    assert wrong.status_code == 400 and "Hash mismatch" in wrong.json()["detail"]
    assert wrong.json()["attr"] == "snapshots[0].new_hash"
    ok = client.post(f"runs/{run2_id}/approve/",
                     {"snapshots": [{"identifier": "header", "new_hash": b2.hash}]})
    assert ok.status_code == 200
    assert ok.json()["run"]["summary"]["unresolved"] == 2  # fresh + gone
    assert client.snapshots(run2_id)["header"]["review_state"] == "approved"

    final = client.post(f"runs/{run2_id}/finalize/",
                        {"approve_all": True, "commit_to_github": False})
    assert final.status_code == 200, final.text
    assert final.json()["run"]["approved"] is True
    assert final.json()["run"]["summary"]["unresolved"] == 0
    assert final.json()["run"]["summary"]["tolerated_matched"] == 1
    baseline2 = snapshots_yml.loads(final.json()["baseline_content"])
    assert baseline2.hashes() == {
        "home": a.hash,      # unchanged
        "header": b2.hash,   # approved change
        "footer": c.hash,    # below threshold: baseline kept
        "noisy": e.hash,     # tolerated: baseline kept
        "fresh": f.hash,     # approved new
    }                        # gone: removed
    assert baseline2.snapshots["home"] == baseline1.snapshots["home"]  # same key, same token

    # Run 3: a new commit on the branch with the new baseline: everything is unchanged, the
    # tolerated and auto-tolerated pairs are recognised without diffing, nothing is uploaded.
    images3 = {"home": a, "header": b2, "footer": c2, "noisy": e2, "fresh": f}
    created3 = client.create_run([item(k, v) for k, v in images3.items()],
                                 baseline_hashes=baseline2.snapshots, pr_number=7,
                                 commit_sha="beef")
    assert created3["uploads"] == []
    done = client.complete(created3["run_id"])
    assert done["status"] == "completed"  # nothing to diff: finished synchronously
    assert done["summary"] == {"total": 5, "changed": 0, "new": 0, "removed": 0, "unchanged": 5,
                               "unresolved": 0, "tolerated_matched": 1}
    snaps3 = client.snapshots(created3["run_id"])
    assert snaps3["footer"]["classification_reason"] == "tolerated_hash"
    assert snaps3["noisy"]["classification_reason"] == "tolerated_hash"
    assert snaps3["header"]["classification_reason"] == "exact"

    # Run 2 is now stale.
    stale = client.get(f"runs/{run2_id}/").json()
    assert stale["is_stale"] is True and stale["superseded_by_id"] == created3["run_id"]
    again = client.post(f"runs/{run2_id}/approve/", {"approve_all": True})
    assert again.status_code == 409 and again.json()["code"] == "stale_run"


def test_unsigned_baselines_are_new_unless_the_repo_trusts_them(server: LiveServer) -> None:
    token = server.token()
    strict = Client(server.api(), token, server.repo("acme/strict"))
    trusting = Client(server.api(), token, server.repo("acme/trusting", trust_unsigned=True))
    a, b = page(40), page(41)
    bare = {"home": a.hash, "side": b.hash}
    forged = {"home": "v1.k00000001." + a.hash + "." + "A" * 43}

    run = strict.submit({"home": a, "side": b}, baseline_hashes=bare)
    assert run["summary"]["new"] == 2 and run["summary"]["unchanged"] == 0
    run = strict.submit({"home": a}, baseline_hashes=forged)
    assert run["summary"]["new"] == 1

    run = trusting.submit({"home": a, "side": b}, baseline_hashes=bare)
    assert run["summary"]["unchanged"] == 2 and run["summary"]["new"] == 0
    # The server re-signs what it trusted, so the next file is verifiable.
    body = trusting.post(f"runs/{run['id']}/auto-approve/").json()
    signed = snapshots_yml.loads(body["baseline_content"])
    assert all(snapshots_yml.is_signed(t) for t in signed.snapshots.values())
    assert signed.hashes() == bare


def test_partial_runs_report_no_removals_and_keep_unrendered_baselines(client: Client) -> None:
    a, b = page(50), page(51)
    first = client.submit({"one": a, "two": b}, branch="main")
    baseline = snapshots_yml.loads(
        client.post(f"runs/{first['id']}/auto-approve/").json()["baseline_content"]
    )
    partial = client.submit({"one": a}, baseline_hashes=baseline.snapshots, is_partial=True)
    assert partial["summary"]["removed"] == 0 and partial["is_partial"] is True
    full = client.submit({"one": a}, baseline_hashes=baseline.snapshots)
    assert full["summary"]["removed"] == 1
    kept = client.post(f"runs/{partial['id']}/auto-approve/")
    assert kept.status_code == 409  # superseded by the full run on the same branch
    content = client.post(f"runs/{full['id']}/auto-approve/").json()["baseline_content"]
    assert set(snapshots_yml.loads(content).snapshots) == {"one"}


def test_observe_runs_cannot_be_approved_and_never_gate(client: Client) -> None:
    a = page(60)
    first = client.submit({"x": a}, branch="main")
    baseline = snapshots_yml.loads(
        client.post(f"runs/{first['id']}/auto-approve/").json()["baseline_content"]
    )
    run = client.submit({"x": changed(a)}, baseline_hashes=baseline.snapshots, purpose="observe",
                        branch="main")
    assert run["summary"]["changed"] == 1 and run["summary"]["unresolved"] == 0
    refused = client.post(f"runs/{run['id']}/approve/", {"approve_all": True})
    assert refused.status_code == 400 and refused.json()["attr"] == "purpose"
