"""The review pages in real Chromium against a live `visualreview serve`.

Every action is checked twice: on the page the reviewer sees, and through the PostHog-shaped API
(the state other clients get), so the pages cannot drift from the domain rules.
"""

from __future__ import annotations

import io
import re

import requests
from PIL import Image
from playwright.sync_api import Dialog, Page, expect

from pytest_visualreview import snapshots_yml

from .ui_env import Env

# --- sign-in ----------------------------------------------------------------------------------


def test_sign_in_sets_an_httponly_samesite_cookie_and_returns_to_the_page(view: Env) -> None:
    page = view.page()
    target = f"/ui/runs/{view.seeded.pr_run}"
    page.goto(view.url + target)
    assert "/ui/sign-in" in page.url  # not signed in: sent to the form, remembering the page

    page.get_by_label("API token").fill("vrt_not-a-real-token")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".ui-error-detail")).to_contain_text("Invalid token")
    assert not any(c["name"] == "vr_session" for c in page.context.cookies())

    page.get_by_label("API token").fill(view.writer_token)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url == view.url + target
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "vr_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert view.writer_token not in cookie["value"]  # the token itself never sits in the browser
    assert "vr_session" not in page.evaluate("document.cookie")
    expect(page.locator(".ui-who")).to_contain_text("reviewer · read and write")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/sign-in")
    page.goto(view.url + target)
    assert "/ui/sign-in" in page.url


def test_sign_in_form_refuses_a_forged_post(view: Env) -> None:
    """Login CSRF: a POST without the form's double-submit value signs nobody in."""
    response = requests.post(
        view.url + "/ui/sign-in",
        data={"token": view.writer_token, "csrf": "x"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 403
    assert "vr_session" not in response.cookies


# --- the run page -----------------------------------------------------------------------------


def test_run_page_groups_counts_and_states(view: Env) -> None:
    page = view.run_page(view.sign_in())
    assert [view.count(page, k) for k in ("changed", "new", "removed", "unchanged", "unresolved")] == [
        1,
        1,
        1,
        1,
        3,
    ]
    groups = page.locator(".ui-snapshots h2.ui-group").all_inner_texts()
    assert groups == ["Changed", "New", "Removed"]
    order = page.locator(".ui-snapshots .vr-item").evaluate_all(
        "els => els.map(e => [e.dataset.identifier, e.dataset.result, e.dataset.reviewState])"
    )
    assert order == [
        ["home", "changed", "pending"],
        ["signup", "new", "pending"],
        ["footer", "removed", "pending"],
    ]
    expect(view.item(page, "home").locator(".ui-meta")).to_contain_text("% differ")
    unchanged = page.locator("details.ui-unchanged")
    assert unchanged.get_attribute("open") is None
    assert not unchanged.locator('.vr-item[data-identifier="pricing"]').is_visible()
    unchanged.locator("summary").click()
    assert unchanged.locator('.vr-item[data-identifier="pricing"]').is_visible()


def _pixel(png: bytes, x: float, y: float) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    px = image.getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(px, tuple)
    return (px[0], px[1], px[2])


def test_every_view_of_a_changed_snapshot(view: Env) -> None:
    page = view.run_page(view.sign_in())
    home = view.item(page, "home")
    viewer = home.locator(".vr-viewer")
    side = viewer.locator('.vr-pane[data-pane="side"] img')
    assert side.evaluate_all("imgs => imgs.map(i => i.dataset.role)") == [
        "expected",
        "actual",
        "diff",
    ]
    widths = side.evaluate_all("imgs => Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth)))")
    assert widths == [480, 480, 480]  # served by hash, decoded by the browser

    # The changed button: blue in the baseline, green and moved right in the new image.
    viewer.get_by_role("button", name="Overlay").click()
    assert viewer.get_attribute("data-mode") == "overlay"
    viewer.locator(".vr-opacity input").fill("0")
    stack = viewer.locator('.vr-pane[data-pane="overlay"] .vr-stack')
    at_button = (50 / 480, 238 / 300)  # inside the old button, left of the new one
    assert _pixel(stack.screenshot(), *at_button) == (37, 99, 235)  # expected only
    viewer.locator(".vr-opacity input").fill("100")
    assert _pixel(stack.screenshot(), *at_button) == (255, 255, 255)  # actual only

    page.keyboard.press("3")
    assert viewer.get_attribute("data-mode") == "slider"
    slider = viewer.locator('.vr-pane[data-pane="slider"] .vr-stack')
    box = slider.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    shot = slider.screenshot()
    assert _pixel(shot, *at_button) == (37, 99, 235)  # left of the divider: expected
    assert _pixel(shot, 0.5, 0.95) == (255, 255, 255)  # no banner in the expected image
    page.mouse.click(box["x"] + box["width"] * 0.02, box["y"] + box["height"] / 2)
    assert _pixel(slider.screenshot(), 0.5, 0.95) == (253, 230, 138)  # the new banner

    page.keyboard.press("4")
    diff = viewer.locator('.vr-pane[data-pane="diff"] img')
    expect(diff).to_be_visible()
    assert diff.evaluate("i => i.decode().then(() => i.naturalWidth)") == 480
    assert viewer.get_by_role("button", name="Diff").get_attribute("aria-pressed") == "true"

    viewer.get_by_role("button", name="100%").click()
    assert viewer.get_attribute("data-zoom") == "100"
    assert diff.bounding_box()["width"] == 480  # type: ignore[index]


def test_approve_with_the_keyboard_then_approve_all(env: Env) -> None:
    run_id = env.seeded.pr_run
    refused = requests.post(
        env.live.api() + f"runs/{run_id}/finalize/",
        json={"commit_to_github": False},
        headers={"Authorization": f"Bearer {env.writer_token}"},
        timeout=10,
    )
    assert refused.status_code == 409  # nothing approved yet: the run cannot ship

    page = env.run_page(env.sign_in())
    page.keyboard.press("j")  # the first snapshot: home (changed)
    assert page.locator(".vr-item.vr-current").get_attribute("data-identifier") == "home"
    with page.expect_navigation():
        page.keyboard.press("a")
    expect(env.item(page, "home")).to_have_attribute("data-review-state", "approved")
    assert env.count(page, "unresolved") == 2
    # Back at the next snapshot, which is now current.
    signup_id = env.item(page, "signup").get_attribute("data-snapshot-id")
    assert signup_id and page.url.endswith(f"#s-{signup_id}")
    assert page.locator(".vr-item.vr-current").get_attribute("data-identifier") == "signup"
    api = env.snapshots()
    assert api["home"]["review_state"] == "approved"
    assert api["signup"]["review_state"] == "pending"

    with page.expect_navigation():
        page.get_by_role("button", name="Approve all (2)").click()
    expect(page.locator(".ui-run-head h1")).to_contain_text("approved")
    assert env.count(page, "unresolved") == 0
    run = env.api.call("GET", f"runs/{run_id}/")
    assert run["approved"] is True

    shipped = env.api.call("POST", f"runs/{run_id}/finalize/", json={"commit_to_github": False})[
        "baseline_content"
    ]
    hashes = snapshots_yml.loads(shipped).hashes()
    assert hashes == {
        "home": env.seeded.images["home_changed"][1],  # the approved new image
        "pricing": env.seeded.images["pricing"][1],
        "signup": env.seeded.images["signup"][1],
    }  # footer (removed, approved) is gone


def test_reject_and_tolerate(env: Env) -> None:
    page = env.run_page(env.sign_in())
    with page.expect_navigation():
        env.item(page, "signup").get_by_role("button", name="Reject").click()
    expect(env.item(page, "signup")).to_have_attribute("data-review-state", "rejected")
    assert env.count(page, "unresolved") == 3  # a rejection still needs a decision
    with page.expect_navigation():
        env.item(page, "home").get_by_role("button", name="Tolerate").click()
    expect(env.item(page, "home")).to_have_attribute("data-review-state", "tolerated")
    assert env.count(page, "unresolved") == 2
    api = env.snapshots()
    assert api["signup"]["review_state"] == "rejected"
    assert api["home"]["review_state"] == "tolerated"
    # A rejected snapshot has no reject button any more, but can still be approved.
    assert env.item(page, "signup").get_by_role("button", name="Reject").count() == 0
    assert env.item(page, "signup").get_by_role("button", name="Approve").count() == 1


def test_quarantine_moves_the_identity_out_of_review(env: Env) -> None:
    page = env.run_page(env.sign_in())
    with page.expect_navigation():
        env.item(page, "signup").get_by_role("button", name="Quarantine").click()
    assert env.item(page, "signup").count() == 0
    assert env.count(page, "quarantined") == 1 and env.count(page, "new") == 0
    page.locator('.ui-tab[data-group="quarantined"]').click()
    expect(env.item(page, "signup")).to_be_visible()
    repo = env.seeded.repo_id
    active = env.api.call("GET", f"repos/{repo}/quarantine/")
    assert [q["identifier"] for q in active] == ["signup"]
    with page.expect_navigation():
        env.item(page, "signup").get_by_role("button", name="Lift quarantine").click()
    assert env.api.call("GET", f"repos/{repo}/quarantine/") == []


# --- who may act ------------------------------------------------------------------------------


def _post(page: Page, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> int:
    """POST a form with the page's cookies (a script on another tab, or a forged request)."""
    fields: dict[str, str | float | bool] = dict(form)
    response = page.request.post(
        page.url.split("/ui/")[0] + path, form=fields, headers=headers or {}, max_redirects=0
    )
    return response.status


def test_read_only_token_can_look_but_not_act(view: Env) -> None:
    reader = view.live.token("visual_review:read", name="viewer")
    page = view.run_page(view.sign_in(reader))
    expect(page.locator(".ui-who")).to_contain_text("read only")
    expect(page.locator(".ui-run-head .ui-notice")).to_contain_text("read-only")
    assert page.locator(".ui-main form[data-action]").count() == 0
    page.keyboard.press("j")
    page.keyboard.press("a")
    expect(page.locator(".ui-status")).to_contain_text("cannot approve")

    status = _post(page, f"/ui/runs/{view.seeded.pr_run}/approve", {"csrf": view.csrf(page), "all": "1"})
    assert status == 403
    assert view.snapshots()["home"]["review_state"] == "pending"


def test_actions_without_a_valid_csrf_token_are_refused(env: Env) -> None:
    page = env.run_page(env.sign_in())
    path = f"/ui/runs/{env.seeded.pr_run}/approve"
    assert _post(page, path, {"all": "1"}) == 403
    assert _post(page, path, {"all": "1", "csrf": "forged"}) == 403
    other_site = {"Origin": "http://evil.example"}
    assert _post(page, path, {"all": "1", "csrf": env.csrf(page)}, other_site) == 403
    assert env.api.call("GET", f"runs/{env.seeded.pr_run}/")["approved"] is False
    assert _post(page, path, {"all": "1", "csrf": env.csrf(page)}) == 303
    assert env.api.call("GET", f"runs/{env.seeded.pr_run}/")["approved"] is True


def test_a_stale_run_names_its_successor_and_refuses_approval(env: Env) -> None:
    seeded = env.seeded
    newer = env.api.run(
        seeded.repo_id,
        {"home": seeded.images["home_changed"]},
        branch="feature/dark-mode",
        baselines=seeded.baselines,
        pr_number=42,
        commit="4" * 40,
    )
    page = env.run_page(env.sign_in())
    notice = page.locator(".ui-stale")
    expect(notice).to_contain_text("superseded")
    assert notice.locator("a").get_attribute("href") == f"/ui/runs/{newer}"
    assert page.locator(".ui-main form[data-action]").count() == 0
    status = _post(page, f"/ui/runs/{seeded.pr_run}/approve", {"csrf": env.csrf(page), "all": "1"})
    assert status == 409
    assert env.snapshots()["home"]["review_state"] == "pending"


def test_no_page_shows_another_projects_data(view: Env) -> None:
    other = view.live.store.create_project("other-team")
    outsider = view.live.token("visual_review:read", "visual_review:write", project=other, name="outsider")
    insider = view.run_page(view.sign_in())
    image = insider.locator(".vr-viewer img").first.get_attribute("src")
    assert image

    page = view.sign_in(outsider)
    expect(page.locator(".ui-main")).to_contain_text("No repos yet")
    for path in (
        f"/ui/runs/{view.seeded.pr_run}",
        f"/ui/repos/{view.seeded.repo_id}/runs",
        f"/ui/repos/{view.seeded.repo_id}/timeline?run_type=playwright&identifier=home",
        image,
    ):
        response = page.request.get(view.url + path)
        assert response.status == 404, path
        assert "acme/web" not in response.text()
    status = _post(page, f"/ui/runs/{view.seeded.pr_run}/approve", {"csrf": view.csrf(page), "all": "1"})
    assert status == 404
    assert view.api.call("GET", f"runs/{view.seeded.pr_run}/")["approved"] is False


def test_images_by_hash_are_private_and_cached_for_a_year(view: Env) -> None:
    page = view.run_page(view.sign_in())
    src = view.item(page, "home").locator('img[data-role="actual"]').first.get_attribute("src")
    assert src == (f"/ui/repos/{view.seeded.repo_id}/images/{view.seeded.images['home_changed'][1]}")
    response = page.request.get(view.url + src)
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert response.body() == view.seeded.images["home_changed"][0]
    anonymous = requests.get(view.url + src, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303 and "/ui/sign-in" in anonymous.headers["location"]
    assert page.request.get(view.url + src.replace("images/", "images/00")).status == 404


# --- runs list and timeline -------------------------------------------------------------------


def test_runs_list_filters_and_pages(env: Env) -> None:
    for index in range(26):  # empty runs complete at once
        env.api.run(env.seeded.repo_id, {}, branch=f"topic-{index % 2}", run_type="unit")
    page = env.sign_in()
    page.goto(f"{env.url}/ui/repos/{env.seeded.repo_id}/runs")
    expect(page.locator(".ui-total")).to_have_text("29 runs")
    assert page.locator("table.ui-runs tbody tr").count() == 25
    with page.expect_navigation():
        page.locator('.ui-pager a[rel="next"]').click()
    assert page.locator("table.ui-runs tbody tr").count() == 4

    with page.expect_navigation():
        page.locator(".ui-tab", has_text="playwright").click()
    expect(page.locator(".ui-total")).to_have_text("3 runs")
    page.locator('select[name="branch"]').select_option("main")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert page.locator("table.ui-runs tbody tr").count() == 2
    assert set(page.locator("table.ui-runs tbody td:nth-child(4)").all_inner_texts()) == {"main"}

    with page.expect_navigation():
        page.locator('.ui-count[data-count="needs_review"]').click()
    assert "state=needs_review" in page.url
    expect(page.locator(".ui-empty")).to_be_visible()  # main has nothing needing review
    page.goto(f"{env.url}/ui/repos/{env.seeded.repo_id}/runs?state=needs_review")
    rows = page.locator("table.ui-runs tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-run-id") == env.seeded.pr_run
    assert int(page.locator('.ui-count[data-count="needs_review"] b').inner_text()) == 1


def test_identity_timeline_from_the_run_page(view: Env) -> None:
    page = view.run_page(view.sign_in())
    with page.expect_navigation():
        view.item(page, "home").locator("a.ui-identifier").click()
    expect(page.locator("h1")).to_have_text("home")
    entries = page.locator("article.ui-entry")
    assert entries.count() == 2  # two baseline transitions on main: none -> v1 -> v2
    assert entries.evaluate_all("els => els.map(e => e.dataset.runId)")[0] == view.seeded.main_run
    newest_expected = entries.first.locator('.vr-pane[data-pane="side"] img[data-role="expected"]')
    assert newest_expected.get_attribute("src", timeout=1000) is not None
    assert re.search(view.seeded.images["home_v1"][1], newest_expected.get_attribute("src") or "")


def test_a_timeline_without_an_identity_is_a_clear_error_page(view: Env) -> None:
    page = view.sign_in()
    response = page.goto(f"{view.url}/ui/repos/{view.seeded.repo_id}/timeline")
    assert response is not None and response.status == 400
    expect(page.locator(".ui-error-detail")).to_have_text("a timeline needs ?run_type=...&identifier=...")


def test_sign_in_never_redirects_off_site(view: Env) -> None:
    page = view.sign_in(next_path="//evil.example/ui/")
    assert page.url == view.url + "/ui/repos"


def test_user_text_is_escaped_on_every_page(env: Env) -> None:
    evil = "<img src=x onerror=alert(1)>"
    image = env.seeded.images["signup"]
    # a run type of its own: no accepted baseline, so the run has this one snapshot (no removals)
    run_id = env.api.run(env.seeded.repo_id, {evil: image}, branch="<b>evil</b>", pr_number=9,
                         run_type="escaping")
    page = env.run_page(env.sign_in(), run_id)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    card = page.locator(".ui-snapshots .vr-item")
    assert card.get_attribute("data-identifier") == evil
    expect(card.locator("a.ui-identifier")).to_have_text(evil)
    expect(page.locator(".ui-facts")).to_contain_text("<b>evil</b>")
    assert page.locator('img[src="x"]').count() == 0 and page.locator(".ui-facts b").count() == 0
    page.goto(f"{env.url}/ui/repos/{env.seeded.repo_id}/runs")
    expect(page.locator("table.ui-runs")).to_contain_text("<b>evil</b>")
    page.goto(f"{env.url}/ui/runs/{run_id}")
    with page.expect_navigation():
        page.locator("a.ui-identifier").click()
    expect(page.locator("h1")).to_have_text(evil)
    assert page.locator('img[src="x"]').count() == 0
    assert dialogs == []


def test_a_run_still_processing_reloads_itself(view: Env) -> None:
    digest = view.seeded.images["signup"][1]
    created = view.api.call(
        "POST",
        "runs/",
        json={
            "repo_id": view.seeded.repo_id,
            "run_type": "pending-demo",
            "commit_sha": "5" * 40,
            "branch": "pending",
            "snapshots": [{"identifier": "signup", "content_hash": digest}],
        },
    )  # never completed: stays pending
    page = view.sign_in()
    page.goto(f"{view.url}/ui/runs/{created['run_id']}")
    expect(page.locator(".ui-run-head .ui-notice")).to_contain_text("reloads itself")
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "3"
    assert page.locator(".ui-main form[data-action]").count() == 0  # nothing to approve yet
