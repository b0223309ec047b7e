"""Server-side baselines over HTTP (review/accepted.py): runs without `baseline_hashes` are
compared with the accepted state of their branch over the default branch's."""

from __future__ import annotations

from pytest_visualreview import snapshots_yml

from .server_helpers import Client, changed, page

A, B, C = page(501), page(502), page(503)


def results(client: Client, run: dict) -> dict[str, str]:
    return {name: snap["result"] for name, snap in client.snapshots(run["id"]).items()}


def test_a_completed_default_branch_run_establishes_the_baseline_unreviewed(client: Client) -> None:
    """Like Argos' reference builds: main's run is the baseline of the next, even unapproved."""
    first = client.submit({"a": A, "b": B}, branch="main")
    assert results(client, first) == {"a": "new", "b": "new"}
    second = client.submit({"a": changed(A), "c": C}, branch="main")
    assert results(client, second) == {"a": "changed", "b": "removed", "c": "new"}
    third = client.submit({"a": changed(A), "c": C}, branch="main")
    assert results(client, third) == {"a": "unchanged", "c": "unchanged"}
    assert third["summary"]["unresolved"] == 0


def test_a_pr_approval_moves_its_branch_only(client: Client) -> None:
    client.submit({"a": A, "b": B}, branch="main")
    pr = client.submit({"a": changed(A), "b": B}, branch="feature/x", pr_number=4)
    assert results(client, pr) == {"a": "changed", "b": "unchanged"}
    approved = client.post(f"runs/{pr['id']}/approve/", {"approve_all": True})
    assert approved.status_code == 200, approved.text
    again = client.submit({"a": changed(A), "b": B}, branch="feature/x", pr_number=4)
    assert results(client, again) == {"a": "unchanged", "b": "unchanged"}
    other = client.submit({"a": changed(A), "b": B}, branch="feature/y", pr_number=5)
    assert results(client, other) == {"a": "changed", "b": "unchanged"}  # main did not move
    assert other["summary"]["unresolved"] == 1


def test_an_approved_removal_hides_the_default_branchs_entry(client: Client) -> None:
    client.submit({"a": A, "b": B}, branch="main")
    pr = client.submit({"a": A}, branch="feature/drop-b", pr_number=6)
    assert results(client, pr) == {"a": "unchanged", "b": "removed"}
    client.post(f"runs/{pr['id']}/approve/", {"snapshots": [{"identifier": "b"}]})
    again = client.submit({"a": A}, branch="feature/drop-b", pr_number=6)
    assert results(client, again) == {"a": "unchanged"}
    assert again["summary"]["removed"] == 0


def test_client_sent_hashes_win_over_the_servers_state(client: Client) -> None:
    first = client.submit({"a": A, "b": B}, branch="main")
    content = client.post(f"runs/{first['id']}/auto-approve/").json()["baseline_content"]
    signed = snapshots_yml.loads(content).snapshots
    client.submit({"a": changed(A), "b": B}, branch="main")  # main's state: a changed
    old_file = client.submit({"a": changed(A), "b": B}, branch="main", baseline_hashes=signed)
    assert results(client, old_file) == {"a": "changed", "b": "unchanged"}
    only_b = client.submit({"b": B}, branch="main", baseline_hashes={"b": signed["b"]})
    assert results(client, only_b) == {"b": "unchanged"}  # no `a` removed: the file has none


def test_main_after_a_merge_is_clean_for_what_the_pr_approved(client: Client) -> None:
    client.submit({"a": A, "b": B}, branch="main")
    pr = client.submit({"a": changed(A), "b": B}, branch="feature/merge", pr_number=8)
    client.post(f"runs/{pr['id']}/approve/", {"approve_all": True})
    merged = client.submit({"a": changed(A), "b": B, "c": C}, branch="main")
    snaps = client.snapshots(merged["id"])
    assert {n: (s["result"], s["review_state"]) for n, s in snaps.items()} == {
        "a": ("changed", "approved"), "b": ("unchanged", ""), "c": ("new", "pending")}
    assert merged["summary"]["unresolved"] == 1  # only what nobody reviewed


def test_baselines_are_per_run_type(client: Client) -> None:
    client.submit({"a": A}, branch="main", run_type="storybook")
    other = client.submit({"a": A}, branch="main", run_type="playwright")
    assert results(client, other) == {"a": "new"}


def test_a_repo_with_master_as_default_falls_back_to_master(client: Client) -> None:
    patched = client.session.patch(client.api + f"repos/{client.repo_id}/", headers=client.headers,
                                   json={"default_branches": ["master"]}, timeout=30)
    assert patched.status_code == 200, patched.text
    client.submit({"a": A}, branch="main")  # not a default branch here: establishes nothing
    client.submit({"a": B}, branch="master")
    pr = client.submit({"a": B}, branch="feature/z", pr_number=9)
    assert results(client, pr) == {"a": "unchanged"}


def test_rejecting_an_approved_snapshot_puts_the_baseline_back(client: Client) -> None:
    client.submit({"a": A, "b": B}, branch="main")
    pr = client.submit({"a": changed(A), "b": B, "c": C}, branch="feature/undo", pr_number=10)
    client.post(f"runs/{pr['id']}/approve/", {"approve_all": True})
    snaps = client.snapshots(pr["id"])
    for name in ("a", "c"):
        rejected = client.post(f"runs/{pr['id']}/reject/", {"snapshot_id": snaps[name]["id"]})
        assert rejected.status_code == 200, rejected.text
    again = client.submit({"a": changed(A), "b": B, "c": C}, branch="feature/undo", pr_number=10)
    assert results(client, again) == {"a": "changed", "b": "unchanged", "c": "new"}
