"""Review pages other than a run: sign-in, repos, a repo's runs, an identity's baseline timeline."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from ... import viewer
from .. import runs
from ..context import get_context
from ..errors import Invalid, Unauthenticated
from ..repos import get_repo, list_repos
from ..review.contracts import Run
from ..serialize import artifacts_by_hash
from . import queries
from .common import html_errors, safe_next, signed_in
from .render import badge, h, layout, page_number, pager, percent, quote, short_time, url
from .session import (
    check_csrf,
    check_signin_csrf,
    clear_session_cookie,
    read_session,
    set_session_cookie,
    set_signin_cookie,
    sign_in,
    signin_nonce,
)

router = APIRouter()

RUNS_PER_PAGE = 25
TIMELINE_PER_PAGE = 20
STATE_LABELS = {
    "needs_review": "needs review",
    "clean": "clean",
    "processing": "processing",
    "stale": "stale",
}


@router.get("/ui", include_in_schema=False)
@router.get("/ui/", include_in_schema=False)
def home(request: Request) -> Response:
    session = read_session(get_context(request).store, request)
    return RedirectResponse("/ui/repos" if session else "/ui/sign-in", status_code=303)


def _sign_in_form(request: Request, *, next_url: str, error: str = "", status: int = 200) -> Response:
    nonce = signin_nonce(request)
    problem = f'<p class="ui-error-detail" role="alert">{h(error)}</p>' if error else ""
    body = (
        '<section class="ui-signin"><h1>Sign in to review</h1>'
        "<p>Paste an API token of this server (<code>visualreview token create</code>). "
        "A token with <code>visual_review:read</code> can look; "
        "<code>visual_review:write</code> can approve and reject.</p>"
        f"{problem}"
        '<form method="post" action="/ui/sign-in">'
        f'<input type="hidden" name="csrf" value="{h(nonce)}">'
        f'<input type="hidden" name="next" value="{h(next_url)}">'
        '<label>API token <input type="password" name="token" autocomplete="off" required'
        ' autofocus spellcheck="false"></label>'
        '<button type="submit" class="ui-button ui-primary">Sign in</button></form></section>'
    )
    page = layout("Sign in", body, session=None, status=status)
    set_signin_cookie(page, request, nonce)
    return page


@router.get("/ui/sign-in", include_in_schema=False)
def sign_in_form(request: Request, next: str = "") -> Response:
    return _sign_in_form(request, next_url=safe_next(next, "/ui/repos"))


@router.post("/ui/sign-in", include_in_schema=False)
@html_errors
def sign_in_submit(
    request: Request, token: str = Form(""), csrf: str = Form(""), next: str = Form("")
) -> Response:
    check_signin_csrf(request, csrf)
    target = safe_next(next, "/ui/repos")
    try:
        cookie, _ = sign_in(get_context(request).store, token)
    except Unauthenticated as exc:
        return _sign_in_form(request, next_url=target, error=f"token: {exc.detail}", status=401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, cookie)
    return response


@router.post("/ui/sign-out", include_in_schema=False)
@html_errors
def sign_out(request: Request, csrf: str = Form("")) -> Response:
    _, session = signed_in(request)
    check_csrf(request, session, csrf)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/ui/repos", include_in_schema=False)
@html_errors
def repos_page(request: Request) -> Response:
    context, session = signed_in(request)
    store = context.store
    rows = []
    for repo in list_repos(store, session.project_id):
        repo_id = repo.id
        counts = runs.counts(store, session.project_id, repo_id)
        runs_url = f"/ui/repos/{quote(repo_id)}/runs"
        cells = "".join(
            f'<td><a href="{h(url(runs_url, state=key))}">{counts[key]}</a></td>'
            for key in STATE_LABELS
        )
        rows.append(
            f'<tr data-repo-id="{h(repo_id)}"><td><a href="{h(runs_url)}">'
            f"{h(repo.repo_full_name)}</a></td>{cells}</tr>"
        )
    head = "".join(f"<th>{h(label)}</th>" for label in STATE_LABELS.values())
    table = (
        f'<table class="ui-table"><thead><tr><th>repo</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="ui-empty">No repos yet: the first run uploaded by the plugin creates one '
        "(or <code>visualreview repo create</code>).</p>"
    )
    return layout("Repos", f"<h1>Repos</h1>{table}", session=session, crumbs=[("Repos", None)])


@router.get("/ui/repos/{repo_id}/runs", include_in_schema=False)
@html_errors
def runs_page(
    request: Request,
    repo_id: str,
    run_type: str = "",
    branch: str = "",
    state: str = "",
    status: str = "",
    page: int = 1,
) -> Response:
    context, session = signed_in(request)
    store = context.store
    repo = get_repo(store, session.project_id, repo_id)
    types = queries.run_types(store, repo_id)
    state = state if state in STATE_LABELS else ""
    status = status if status in queries.RUN_STATUSES else ""
    page = page_number(page)
    total, rows = queries.list_runs(
        store,
        session.project_id,
        repo_id,
        run_type=run_type or None,
        branch=branch or None,
        state=state or None,
        status=status or None,
        limit=RUNS_PER_PAGE,
        offset=(page - 1) * RUNS_PER_PAGE,
    )
    base = f"/ui/repos/{quote(repo_id)}/runs"

    def link(**changes: object) -> str:
        params: dict[str, object] = {"run_type": run_type, "branch": branch, "state": state, "status": status}
        params.update(changes)
        return url(base, **params)

    counts = runs.counts(store, session.project_id, repo_id)
    count_links = "".join(
        f'<a class="ui-count{" ui-active" if state == key else ""}" data-count="{key}"'
        f' href="{h(link(state="" if state == key else key))}"><b>{counts[key]}</b> {h(label)}</a>'
        for key, label in STATE_LABELS.items()
    )
    type_tabs = "".join(
        f'<a class="ui-tab{" ui-active" if (run_type or "") == t else ""}" href="{h(link(run_type=t))}">'
        f"{h(t or 'all run types')}</a>"
        for t in ["", *types]
    )
    branch_options = "".join(
        f'<option value="{h(b)}"{" selected" if b == branch else ""}>{h(b)}</option>'
        for b in queries.branches(store, repo_id, run_type or None)
    )
    state_options = "".join(
        f'<option value="{k}"{" selected" if k == state else ""}>{h(v)}</option>'
        for k, v in STATE_LABELS.items()
    )
    status_options = "".join(
        f'<option value="{s}"{" selected" if s == status else ""}>{s}</option>' for s in queries.RUN_STATUSES
    )
    filters = (
        f'<form method="get" action="{h(base)}" class="ui-filters" role="search">'
        f'<input type="hidden" name="run_type" value="{h(run_type)}">'
        f'<label>branch <select name="branch"><option value="">any</option>{branch_options}</select></label>'
        f'<label>review <select name="state"><option value="">any</option>{state_options}</select></label>'
        f'<label>status <select name="status"><option value="">any</option>{status_options}</select></label>'
        '<button type="submit" class="ui-button">Filter</button>'
        f'<a href="{h(url(base, run_type=run_type))}">clear</a></form>'
    )
    body_rows = "".join(_run_row(run) for run in rows)
    table = (
        '<table class="ui-table ui-runs"><thead><tr><th>created</th><th>status</th><th>type</th>'
        "<th>branch</th><th>commit</th><th>PR</th><th>changed</th><th>new</th><th>removed</th>"
        f"<th>unresolved</th></tr></thead><tbody>{body_rows}</tbody></table>"
        if rows
        else '<p class="ui-empty">No runs match these filters.</p>'
    )
    body = (
        f"<h1>{h(repo.repo_full_name)}</h1>"
        f'<div class="ui-counts" aria-label="runs by review state">{count_links}</div>'
        f'<nav class="ui-tabs" aria-label="run types">{type_tabs}</nav>{filters}'
        f'<p class="ui-total">{total} run{"s" if total != 1 else ""}</p>{table}'
        f"{pager(total, page, RUNS_PER_PAGE, lambda p: link(page=p))}"
    )
    return layout(
        f"Runs of {repo.repo_full_name}",
        body,
        session=session,
        crumbs=[("Repos", "/ui/repos"), (repo.repo_full_name, None)],
    )


def run_state_badges(row: Run) -> str:
    """Status plus what a reviewer cares about: stale, approved, needs review."""
    parts = [badge(str(row.status))]
    if row.superseded_by_id and not row.approved:
        parts.append(badge("stale"))
    if row.approved:
        parts.append(badge("approved"))
    elif row.status == "completed" and row.unresolved_count:
        parts.append(badge("unresolved", "needs review"))
    return " ".join(parts)


def _run_row(r: Run) -> str:
    pr = f"#{r.pr_number}" if r.pr_number is not None else ""
    link = f"/ui/runs/{quote(str(r.id))}"
    return (
        f'<tr data-run-id="{h(r.id)}">'
        f'<td><a href="{h(link)}">{h(short_time(r.created_at))}</a></td>'
        f"<td>{run_state_badges(r)}</td><td>{h(r.run_type)}</td>"
        f"<td>{h(r.branch)}</td><td><code>{h(str(r.commit_sha)[:10])}</code></td>"
        f"<td>{h(pr)}</td><td>{r.changed_count}</td><td>{r.new_count}</td>"
        f"<td>{r.removed_count}</td><td>{r.unresolved_count}</td></tr>"
    )


@router.get("/ui/repos/{repo_id}/timeline", include_in_schema=False)
@html_errors
def timeline_page(
    request: Request, repo_id: str, run_type: str = "", identifier: str = "", page: int = 1
) -> Response:
    context, session = signed_in(request)
    store = context.store
    repo = get_repo(store, session.project_id, repo_id)
    if not run_type or not identifier:
        raise Invalid("a timeline needs ?run_type=...&identifier=...", attr="identifier")
    page = page_number(page)
    total, timeline = runs.timeline(
        store,
        session.project_id,
        repo_id,
        run_type,
        identifier,
        limit=TIMELINE_PER_PAGE,
        offset=(page - 1) * TIMELINE_PER_PAGE,
    )
    keys = [k for entry in timeline for k in entry.snapshot.image_keys]
    known = artifacts_by_hash(store, repo_id, keys)
    img_base = f"/ui/repos/{quote(repo_id)}/images/"

    def ref(key: str | None) -> viewer.ImageRef | None:
        art = known.get(key) if key else None
        if not key or art is None:
            return None
        return viewer.ImageRef(img_base + key, art.width or 0, art.height or 0)

    entries = []
    for entry in timeline:
        snap = entry.snapshot
        run_link = f"/ui/runs/{quote(snap.run_id)}#s-{snap.id}"
        pr = f" · PR #{entry.pr_number}" if entry.pr_number is not None else ""
        entries.append(
            f'<article class="vr-item ui-entry" data-run-id="{h(snap.run_id)}">'
            f'<header class="ui-item-head"><h3><a href="{h(run_link)}">'
            f"{h(short_time(entry.run_created_at))}</a> {badge(str(snap.result))}"
            f"{' ' + badge(str(snap.review_state)) if snap.review_state else ''}</h3>"
            f'<p class="ui-meta">{h(entry.branch)} · <code>{h(entry.commit_sha[:10])}</code>'
            f"{h(pr)} · baseline <code>{h(snap.baseline_hash[:12] or 'none')}</code>"
            f"{' · diff ' + h(percent(snap.diff_percentage)) if snap.diff_percentage is not None else ''}"
            "</p></header>"
            + viewer.viewer_html(
                expected=ref(snap.baseline_hash),
                actual=ref(snap.current_hash),
                diff=ref(snap.diff_hash),
                label=identifier,
            )
            + "</article>"
        )
    runs_link = url(f"/ui/repos/{quote(repo_id)}/runs", run_type=run_type)
    body = (
        f'<h1 class="ui-identifier">{h(identifier)}</h1>'
        f'<p class="ui-meta">Baseline timeline on the default branches of '
        f"{h(repo.repo_full_name)}, run type {h(run_type)}: one entry per baseline change, "
        f"newest first. {total} entr{'ies' if total != 1 else 'y'}.</p>"
        f"{viewer.keys_legend_html()}"
        + (
            "".join(entries)
            or '<p class="ui-empty">No completed run on a default branch has this snapshot yet.</p>'
        )
        + pager(
            total,
            page,
            TIMELINE_PER_PAGE,
            lambda p: url(
                f"/ui/repos/{quote(repo_id)}/timeline", run_type=run_type, identifier=identifier, page=p
            ),
        )
    )
    return layout(
        f"Timeline of {identifier}",
        body,
        session=session,
        crumbs=[("Repos", "/ui/repos"), (repo.repo_full_name, runs_link), (identifier, None)],
    )
