"""The reviewer's actions: plain form POSTs that call the same domain functions as the API.

Each action checks, in this order: a session (401), the CSRF token and origin (403), the write
scope (403), then lets :mod:`..runs` enforce the run's state (a stale run answers 409 with the
reason). Success redirects back (303) to the page the form came from, at the next snapshot, so
the new state is what the reviewer sees at once and a reload never repeats the action.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from .. import runs
from ..errors import Invalid, PermissionDenied
from .common import html_errors, safe_next, signed_in
from .render import quote
from .session import WRITE_SCOPE, UiSession, check_csrf

router = APIRouter()


def _writer(request: Request, csrf: str) -> UiSession:
    context, session = signed_in(request)
    check_csrf(request, session, csrf)
    if not session.can_write:
        raise PermissionDenied(f"your token is read-only; acting needs the '{WRITE_SCOPE}' scope")
    del context
    return session


def _back(next_url: str, run_id: str) -> Response:
    return RedirectResponse(safe_next(next_url, f"/ui/runs/{quote(run_id)}"), status_code=303)


@router.post("/ui/runs/{run_id}/approve", include_in_schema=False)
@html_errors
def approve(
    request: Request,
    run_id: str,
    csrf: str = Form(""),
    identifier: str = Form(""),
    hash: str = Form(""),
    all: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Approve one snapshot (at the hash the reviewer saw) or, with all=1, the whole run."""
    session = _writer(request, csrf)
    store = request.app.state.context.store
    if all:
        runs.approve(store, session.project_id, run_id, token_id=session.principal.token_id, approve_all=True)
    elif identifier:
        runs.approve(
            store,
            session.project_id,
            run_id,
            token_id=session.principal.token_id,
            snapshots=[(identifier, hash or None)],
        )
    else:
        raise Invalid("nothing to approve: give a snapshot or all=1", attr="identifier")
    return _back(next, run_id)


@router.post("/ui/runs/{run_id}/snapshots/{snapshot_id}/reject", include_in_schema=False)
@html_errors
def reject(
    request: Request,
    run_id: str,
    snapshot_id: str,
    csrf: str = Form(""),
    comment: str = Form(""),
    next: str = Form(""),
) -> Response:
    session = _writer(request, csrf)
    runs.reject(
        request.app.state.context.store,
        session.project_id,
        run_id,
        snapshot_id,
        token_id=session.principal.token_id,
        comment=comment[:1000],
    )
    return _back(next, run_id)


@router.post("/ui/runs/{run_id}/snapshots/{snapshot_id}/tolerate", include_in_schema=False)
@html_errors
def tolerate(
    request: Request, run_id: str, snapshot_id: str, csrf: str = Form(""), next: str = Form("")
) -> Response:
    session = _writer(request, csrf)
    runs.tolerate(
        request.app.state.context.store,
        session.project_id,
        run_id,
        snapshot_id,
        token_id=session.principal.token_id,
        reason="human",
    )
    return _back(next, run_id)


def _restamp(request: Request, session: UiSession, run_id: str) -> None:
    """Show a (un)quarantine in this run at once, as the API's recompute would."""
    store = request.app.state.context.store
    run = runs.get_run(store, session.project_id, run_id)
    if run.status == runs.RunStatus.COMPLETED and not run.approved:
        runs.recompute(store, session.project_id, run_id)


@router.post("/ui/runs/{run_id}/snapshots/{snapshot_id}/quarantine", include_in_schema=False)
@html_errors
def quarantine(
    request: Request,
    run_id: str,
    snapshot_id: str,
    csrf: str = Form(""),
    reason: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Quarantine the snapshot's identity for this repo and run type (flaky: stop blocking)."""
    session = _writer(request, csrf)
    store = request.app.state.context.store
    run = runs.get_run(store, session.project_id, run_id)
    snap = runs.get_snapshot(store, run_id, snapshot_id)
    runs.quarantine(
        store,
        session.project_id,
        str(run.repo_id),
        str(run.run_type),
        snap.identifier,
        reason=reason[:255] or "quarantined in the review pages",
        token_id=session.principal.token_id,
        source="human",
        source_run_id=run_id,
    )
    _restamp(request, session, run_id)
    return _back(next, run_id)


@router.post("/ui/runs/{run_id}/snapshots/{snapshot_id}/unquarantine", include_in_schema=False)
@html_errors
def unquarantine(
    request: Request, run_id: str, snapshot_id: str, csrf: str = Form(""), next: str = Form("")
) -> Response:
    session = _writer(request, csrf)
    store = request.app.state.context.store
    run = runs.get_run(store, session.project_id, run_id)
    snap = runs.get_snapshot(store, run_id, snapshot_id)
    runs.unquarantine(
        store, session.project_id, str(run.repo_id), str(run.run_type), snap.identifier
    )
    _restamp(request, session, run_id)
    return _back(next, run_id)
