"""Name categorisation, renames and the threshold rule, against Sentry's semantics."""

from __future__ import annotations

from pytest_visualreview.server.sentry import categorize as c
from pytest_visualreview.server.sentry.manifest import ImageMeta, Manifest


def man(images: dict[str, str], **kw: object) -> Manifest:
    return Manifest(
        images={n: ImageMeta(content_hash=h, width=10, height=10) for n, h in images.items()},
        **kw,  # type: ignore[arg-type]
    )


def test_full_upload_categories() -> None:
    head = man({"same.png": "1", "changed.png": "2x", "new.png": "3"})
    base = man({"same.png": "1", "changed.png": "2", "gone.png": "4"})
    p = c.plan(head, base)
    assert p.candidates == ["changed.png"]
    assert {n: r.status for n, r in p.results.items()} == {
        "same.png": "unchanged",
        "new.png": "added",
        "gone.png": "removed",
    }
    assert p.results["gone.png"].base_hash == "4"
    assert p.results["new.png"].head_hash == "3"


def test_rename_one_to_one() -> None:
    p = c.plan(man({"new/name.png": "h"}), man({"old/name.png": "h"}))
    r = p.results["new/name.png"]
    assert r.status == "renamed"
    assert r.previous_image_file_name == "old/name.png"
    assert "old/name.png" not in p.results


def test_renamed_and_modified_is_removed_plus_added() -> None:
    p = c.plan(man({"b.png": "h2"}), man({"a.png": "h1"}))
    assert {n: r.status for n, r in p.results.items()} == {"b.png": "added", "a.png": "removed"}


def test_rename_ties_pair_by_name_similarity() -> None:
    head = man({"dark/button-primary.png": "h", "light/button-primary.png": "h"})
    base = man({"dark/btn-primary.png": "h", "light/btn-primary.png": "h"})
    p = c.plan(head, base)
    assert p.results["dark/button-primary.png"].previous_image_file_name == "dark/btn-primary.png"
    assert p.results["light/button-primary.png"].previous_image_file_name == "light/btn-primary.png"


def test_pair_by_similarity_uses_each_name_once() -> None:
    pairs = c.pair_by_similarity(["ab", "ac", "zz"], ["ab"])
    assert pairs == [("ab", "ab")]


def test_selective_without_list_skips_instead_of_removing() -> None:
    head = man({"a.png": "1"}, selective=True)
    base = man({"a.png": "1", "b.png": "2"})
    p = c.plan(head, base)
    assert p.results["b.png"].status == "skipped"
    assert p.results["b.png"].base_hash == "2"


def test_selective_with_list_detects_removals_and_skips() -> None:
    head = man({"a.png": "1"}, selective=True, all_image_file_names=["a.png", "b.png"])
    base = man({"a.png": "1", "b.png": "2", "c.png": "3"})
    statuses = {n: r.status for n, r in c.plan(head, base).results.items()}
    assert statuses == {"a.png": "unchanged", "b.png": "skipped", "c.png": "removed"}


def test_selective_rename_against_skipped() -> None:
    head = man({"moved.png": "2"}, selective=True)
    base = man({"orig.png": "2", "other.png": "9"})
    p = c.plan(head, base)
    assert p.results["moved.png"].status == "renamed"
    assert p.results["moved.png"].previous_image_file_name == "orig.png"
    assert p.results["other.png"].status == "skipped"
    assert "orig.png" not in p.results


def test_pixel_limit_is_errored_not_diffed() -> None:
    head = Manifest(images={"big.png": ImageMeta("h1", 8001, 5000)})
    base = Manifest(images={"big.png": ImageMeta("h0", 10, 10)})
    p = c.plan(head, base)
    assert p.candidates == []
    assert p.results["big.png"].status == "errored"
    assert p.results["big.png"].reason == "exceeds_pixel_limit"
    ok = c.plan(
        Manifest(images={"b.png": ImageMeta("h1", 8000, 5000)}),
        Manifest(images={"b.png": ImageMeta("h0", 10, 10)}),
    )
    assert ok.candidates == ["b.png"]


def test_threshold_is_strictly_greater() -> None:
    assert c.decide(1, 100, 0.0) == "changed"
    assert c.decide(0, 100, 0.0) == "unchanged"
    assert c.decide(1, 100, 0.01) == "unchanged"  # equal is not greater
    assert c.decide(2, 100, 0.01) == "changed"
    assert c.decide(0, 0, 0.0) == "unchanged"


def test_summary_counts_every_status() -> None:
    results = {
        "a": c.ImageResult("added"),
        "b": c.ImageResult("added"),
        "c": c.ImageResult("errored"),
    }
    s = c.summarize(results)
    assert s["total"] == 3 and s["added"] == 2 and s["errored"] == 1 and s["changed"] == 0


def test_result_round_trip_and_diff_fraction() -> None:
    r = c.ImageResult("changed", changed_pixels=5, total_pixels=200)
    assert c.ImageResult.from_dict(r.to_dict()) == r
    assert r.diff == 0.025
    assert c.ImageResult("added").diff is None


def test_fold_rebuilds_a_selective_base() -> None:
    anchor = man({"a.png": "1", "b.png": "2", "c.png": "3"})
    partial = man({"a.png": "1x"}, selective=True)  # skipped b, c: inherited
    listed = man({"d.png": "4"}, selective=True, all_image_file_names=["a.png", "b.png", "d.png"])
    assert c.is_complete(anchor) and not c.is_complete(partial) and not c.is_complete(listed)
    folded = c.fold(anchor, [partial, listed])
    assert {n: m.content_hash for n, m in folded.images.items()} == {
        "a.png": "1x",  # the child's version wins
        "b.png": "2",  # skipped: inherited
        "d.png": "4",  # added
    }  # c.png was removed by the listed layer
    assert c.is_complete(folded)


def test_fingerprints_count_what_a_reviewer_saw() -> None:
    results = {
        "a": c.ImageResult("changed", head_hash="h1"),
        "b": c.ImageResult("unchanged", head_hash="h2"),
        "c": c.ImageResult("renamed", head_hash="h3", previous_image_file_name="old"),
        "d": c.ImageResult("removed", base_hash="h4"),
        "e": c.ImageResult("skipped", base_hash="h5"),
    }
    assert c.fingerprints(results) == {
        ("a", "changed", "h1"),
        ("c", "renamed", "h3", "old"),
        ("d", "removed"),
    }
    results["a"] = c.ImageResult("changed", head_hash="h9")
    assert ("a", "changed", "h9") in c.fingerprints(results)
