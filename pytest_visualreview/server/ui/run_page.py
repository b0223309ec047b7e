"""The run page: what changed, in the shared viewer, with the reviewer's actions beside each image.

Big runs stay responsive because a page holds at most SNAPSHOTS_PER_PAGE viewers, images load
lazily (only the visible mode's images are fetched, and only near the viewport), and unchanged
snapshots are a collapsed group with a tab of their own.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ... import viewer
from .. import runs
from ..processing import waiting_diffs
from ..repos import get_repo
from ..review.contracts import Artifact, Repo, Run, RunSnapshot
from ..serialize import artifacts_by_hash
from . import queries
from .common import html_errors, signed_in
from .pages import run_state_badges
from .render import action_form, badge, h, layout, page_number, pager, percent, quote, short_time, url
from .session import UiSession

router = APIRouter()

SNAPSHOTS_PER_PAGE = 50
UNCHANGED_PREVIEW = 20
GROUP_LABELS = {
    "review": "Changes",
    "changed": "Changed",
    "new": "New",
    "removed": "Removed",
    "unchanged": "Unchanged",
    "quarantined": "Quarantined",
}
KEYS = (("a", "approve"), ("r", "reject"), ("t", "tolerate"))


def reviewable(run: Run) -> bool:
    """Can snapshots of this run be approved now (the domain functions enforce it again)?"""
    return (
        run.status == runs.RunStatus.COMPLETED
        and not run.superseded_by_id
        and run.purpose != "observe"
    )


def _snapshot_html(
    snap: RunSnapshot,
    *,
    run: Run,
    session: UiSession,
    known: dict[str, Artifact],
    back: str,
    next_anchor: str,
) -> str:
    run_id, repo_id = str(run.id), str(run.repo_id)
    result, state = str(snap.result), str(snap.review_state)
    img_base = f"/ui/repos/{quote(repo_id)}/images/"

    def ref(key: str | None) -> viewer.ImageRef | None:
        art = known.get(key) if key else None
        if not key or art is None:
            return None
        return viewer.ImageRef(img_base + key, art.width or 0, art.height or 0)

    expected = ref(snap.baseline_hash)
    actual = ref(snap.current_hash)
    diff = ref(snap.diff_hash)
    meta = []
    if snap.diff_percentage is not None and result != "new":
        meta.append(f'<span class="ui-diff">{h(percent(snap.diff_percentage))} differ</span>')
    if snap.diff_pixel_count is not None:
        meta.append(f"{snap.diff_pixel_count:,} px")
    if snap.change_kind:
        meta.append(h(snap.change_kind))
    if snap.current_width and snap.current_height:
        meta.append(f"{snap.current_width}x{snap.current_height}")
    if snap.classification_reason:
        meta.append(h(str(snap.classification_reason).replace("_", " ")))
    timeline = url(
        f"/ui/repos/{quote(repo_id)}/timeline",
        run_type=run.run_type,
        identifier=snap.identifier,
    )
    actions = []
    if session.can_write and reviewable(run):
        target = f"/ui/runs/{quote(run_id)}/snapshots/{quote(snap.id)}"
        back_to = [("next", back + next_anchor)]
        if result != runs.SnapshotResult.UNCHANGED and not snap.is_quarantined:
            if state != runs.ReviewState.APPROVED:
                actions.append(
                    action_form(
                        session,
                        f"/ui/runs/{quote(run_id)}/approve",
                        "Approve",
                        name="approve",
                        fields=[
                            ("identifier", snap.identifier),
                            ("hash", snap.current_hash),
                            *back_to,
                        ],
                        title="Accept this image as the new baseline (key a)",
                    )
                )
            if state != runs.ReviewState.REJECTED:
                actions.append(
                    action_form(
                        session,
                        target + "/reject",
                        "Reject",
                        name="reject",
                        fields=back_to,
                        title="Mark this change as wrong (key r)",
                        danger=True,
                    )
                )
            if result == runs.SnapshotResult.CHANGED and state != runs.ReviewState.TOLERATED:
                actions.append(
                    action_form(
                        session,
                        target + "/tolerate",
                        "Tolerate",
                        name="tolerate",
                        fields=back_to,
                        title="Rendering noise: treat this exact image as unchanged in future runs, "
                        "keep the baseline (key t)",
                    )
                )
        if snap.is_quarantined:
            actions.append(
                action_form(
                    session,
                    target + "/unquarantine",
                    "Lift quarantine",
                    name="unquarantine",
                    fields=back_to,
                    title="Review this identity again in future runs",
                )
            )
        else:
            actions.append(
                action_form(
                    session,
                    target + "/quarantine",
                    "Quarantine",
                    name="quarantine",
                    fields=back_to,
                    title="Flaky: stop this identity from blocking runs of this type",
                )
            )
    state_badge = f" {badge(state, 'review: ' + state)}" if state else ""
    quarantined = f" {badge('quarantined')}" if snap.is_quarantined else ""
    return (
        f'<article class="vr-item" id="s-{h(snap.id)}" data-snapshot-id="{h(snap.id)}"'
        f' data-identifier="{h(snap.identifier)}" data-result="{h(result)}"'
        f' data-review-state="{h(state)}">'
        '<header class="ui-item-head">'
        f"<h3>{badge(result)}{state_badge}{quarantined} "
        f'<a class="ui-identifier" href="{h(timeline)}" title="baseline timeline">'
        f"{h(snap.identifier)}</a></h3>"
        f'<p class="ui-meta">{" · ".join(meta)}</p>'
        f'<div class="ui-actions">{"".join(actions)}</div></header>'
        + viewer.viewer_html(expected=expected, actual=actual, diff=diff, label=snap.identifier)
        + "</article>"
    )


def _head(
    run: Run, repo: Repo, session: UiSession, groups: dict[str, int],
    waiting: tuple[int, str | None] = (0, None),
) -> str:
    run_id = str(run.id)
    facts = [
        ("repo", h(repo.repo_full_name)),
        ("run type", h(run.run_type)),
        ("branch", h(run.branch)),
        ("commit", f"<code>{h(run.commit_sha)}</code>"),
        ("PR", h(f"#{run.pr_number}") if run.pr_number is not None else "none"),
        ("created", h(short_time(run.created_at))),
        ("decision", h(str(run.review_decision).replace("_", " "))),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    counts = "".join(
        f'<span class="ui-count" data-count="{key}"><b>{value}</b> {label}</span>'
        for key, label, value in (
            ("changed", "changed", run.changed_count),
            ("new", "new", run.new_count),
            ("removed", "removed", run.removed_count),
            ("unchanged", "unchanged", run.unchanged_count),
            ("unresolved", "unresolved", run.unresolved_count),
            ("quarantined", "quarantined", groups["quarantined"]),
        )
    )
    notices = []
    if run.superseded_by_id:
        newer = f"/ui/runs/{quote(str(run.superseded_by_id))}"
        notices.append(
            '<p class="ui-notice ui-stale" role="status">This run is stale: it was superseded by '
            f'<a href="{h(newer)}">run {h(str(run.superseded_by_id)[:8])}</a> of the same branch '
            "and run type. It cannot be approved; review the newer run.</p>"
        )
    if run.status in (runs.RunStatus.PENDING, runs.RunStatus.PROCESSING):
        notices.append(
            f'<p class="ui-notice" role="status">This run is {h(run.status)}: '
            "diffs are still being computed; this page reloads itself until they are done.</p>"
        )
    count, reason = waiting
    if reason:
        notices.append(
            f'<p class="ui-notice ui-stale" role="status" data-waiting="{count}">{count} '
            f"diff(s) waiting: {h(reason)}.</p>"
        )
    if run.status == runs.RunStatus.FAILED:
        notices.append(
            f'<p class="ui-notice ui-stale" role="status">This run failed: '
            f"{h(run.error_message or 'no detail')}</p>"
        )
    if run.status == runs.RunStatus.EXPIRED:
        notices.append(
            '<p class="ui-notice ui-stale" role="status" data-status="expired">This run expired: '
            f"{h(run.error_message or 'it stayed pending too long')}</p>"
        )
    if not session.can_write:
        notices.append(
            '<p class="ui-notice" role="status">Your token is read-only: you can look, not approve.</p>'
        )
    approve_all = ""
    if session.can_write and reviewable(run) and run.unresolved_count:
        approve_all = action_form(
            session,
            f"/ui/runs/{quote(run_id)}/approve",
            f"Approve all ({run.unresolved_count})",
            name="approve-all",
            fields=[("all", "1"), ("next", f"/ui/runs/{quote(run_id)}")],
            title="Approve every changed, new and removed snapshot and mark the run approved",
        )
    return (
        f'<section class="ui-run-head" data-run-id="{h(run_id)}"><h1>Run '
        f"<code>{h(run_id[:8])}</code> {run_state_badges(run)}</h1>"
        f'<dl class="ui-facts">{dl}</dl>{"".join(notices)}'
        f'<div class="ui-counts" aria-label="snapshot counts">{counts}</div>'
        f'<div class="ui-actions">{approve_all}</div></section>'
    )


@router.get("/ui/runs/{run_id}", include_in_schema=False)
@html_errors
def run_page(
    request: Request, run_id: str, group: str = "review", page: int = 1, q: str = ""
) -> Response:
    context, session = signed_in(request)
    store = context.store
    run = runs.get_run(store, session.project_id, run_id)
    repo = get_repo(store, session.project_id, str(run.repo_id))
    group = group if group in queries.GROUPS else "review"
    page = page_number(page)
    groups = queries.group_counts(store, run_id)
    q = q.strip()[:200]
    snaps = queries.snapshots(
        store, run_id, group, limit=SNAPSHOTS_PER_PAGE, offset=(page - 1) * SNAPSHOTS_PER_PAGE, search=q
    )
    preview: list[RunSnapshot] = []
    if group == "review" and groups["unchanged"] and not q:
        preview = queries.snapshots(store, run_id, "unchanged", limit=UNCHANGED_PREVIEW, offset=0)
    keys = [k for snap in (*snaps, *preview) for k in snap.image_keys]
    known = artifacts_by_hash(store, str(run.repo_id), keys)
    base = f"/ui/runs/{quote(run_id)}"
    back = url(base, group=None if group == "review" else group, q=q, page=page if page > 1 else None)

    def items(listed: list[RunSnapshot], headings: bool) -> str:
        out, last = [], ""
        for index, snap in enumerate(listed):
            if headings and snap.result != last:
                last = str(snap.result)
                out.append(
                    f'<h2 class="ui-group" data-group="{h(last)}">{h(GROUP_LABELS.get(last, last))}</h2>'
                )
            following = listed[index + 1] if index + 1 < len(listed) else None
            anchor = f"#s-{following.id}" if following is not None else f"#s-{snap.id}"
            out.append(
                _snapshot_html(snap, run=run, session=session, known=known, back=back, next_anchor=anchor)
            )
        return "".join(out)

    tabs = "".join(
        f'<a class="ui-tab{" ui-active" if g == group else ""}" data-group="{g}"'
        f' href="{h(url(base, group=None if g == "review" else g, q=q))}">{GROUP_LABELS[g]}'
        f" ({groups[g]})</a>"
        for g in queries.GROUPS
    )
    listing = items(snaps, headings=group == "review") or (
        f'<p class="ui-empty">No snapshot in this group has &ldquo;{h(q)}&rdquo; in its name.</p>'
        if q
        else '<p class="ui-empty">Nothing to review: every snapshot matches its baseline.</p>'
        if group == "review"
        else '<p class="ui-empty">No snapshots in this group.</p>'
    )
    search = (
        f'<form method="get" action="{h(base)}" class="ui-filters" role="search">'
        + (f'<input type="hidden" name="group" value="{h(group)}">' if group != "review" else "")
        + f'<label>find <input type="search" name="q" value="{h(q)}" placeholder="identifier contains"'
        ' spellcheck="false"></label><button type="submit" class="ui-button">Find</button>'
        + (f'<a href="{h(url(base, group=None if group == "review" else group))}">clear</a>' if q else "")
        + "</form>"
    )
    unchanged = ""
    if preview:
        more = ""
        if groups["unchanged"] > len(preview):
            more = (
                f'<p><a href="{h(url(base, group="unchanged"))}">all {groups["unchanged"]} '
                "unchanged snapshots &rarr;</a></p>"
            )
        unchanged = (
            f'<details class="ui-unchanged" data-group="unchanged"><summary>Unchanged '
            f"({groups['unchanged']})</summary>{items(preview, headings=False)}{more}</details>"
        )
    total = queries.count(store, run_id, group, search=q) if q else groups[group]
    body = (
        _head(run, repo, session, groups, waiting_diffs(store, run_id))
        + f'<nav class="ui-tabs" aria-label="snapshot groups">{tabs}</nav>'
        + search
        + (f'<p class="ui-total">{total} matching</p>' if q else "")
        + viewer.keys_legend_html(KEYS if session.can_write else ())
        + f'<div class="ui-snapshots">{listing}</div>'
        + pager(
            total,
            page,
            SNAPSHOTS_PER_PAGE,
            lambda p: url(base, group=None if group == "review" else group, q=q, page=p),
        )
        + unchanged
    )
    runs_link = url(f"/ui/repos/{quote(repo.id)}/runs", run_type=run.run_type)
    return layout(
        f"Run {run_id[:8]}",
        body,
        session=session,
        refresh_seconds=3 if run.status in (runs.RunStatus.PENDING, runs.RunStatus.PROCESSING) else None,
        crumbs=[
            ("Repos", "/ui/repos"),
            (repo.repo_full_name, runs_link),
            (f"run {run_id[:8]}", None),
        ],
    )
