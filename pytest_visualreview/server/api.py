"""PostHog's visual_review API under ``/api/projects/{project_id}/visual_review/``.

Thin on purpose: each handler validates the request (pydantic models; errors name the field),
calls one function in :mod:`.runs` or :mod:`.repos`, and serialises with :mod:`.serialize`.
Handlers are sync (``def``): FastAPI runs them in its thread pool, which suits SQLite.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from . import repos, runs
from .auth import Principal, require_scope
from .context import ServerContext
from .serialize import (
    artifacts_by_hash,
    page_json,
    quarantine_json,
    run_json,
    snapshots_json,
    timeline_entry_json,
    toleration_json,
)
from .uploads import upload_target

PREFIX = "/api/projects/{project_id}/visual_review"

Read = Annotated[Principal, Depends(require_scope("visual_review:read"))]
Write = Annotated[Principal, Depends(require_scope("visual_review:write"))]
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SnapshotIn(_Model):
    identifier: str = Field(min_length=1, max_length=runs.IDENTIFIER_MAX)
    content_hash: str = Field(min_length=1, max_length=128)
    width: int | None = Field(default=None, ge=1, le=100_000)
    height: int | None = Field(default=None, ge=1, le=100_000)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def item(self) -> runs.ManifestItem:
        return runs.ManifestItem(
            self.identifier, self.content_hash, self.width, self.height, self.metadata
        )


class CreateRunIn(_Model):
    repo_id: str
    run_type: str = "other"
    commit_sha: str
    branch: str
    snapshots: list[SnapshotIn] = Field(default_factory=list)
    pr_number: int | None = Field(default=None, ge=0, le=MAX_INT32)
    baseline_hashes: dict[str, str] = Field(default_factory=dict)
    unchanged_count: int = 0  # accepted and ignored (PostHog delta-mode leftover)
    removed_identifiers: list[str] = Field(default_factory=list)  # accepted and ignored
    purpose: str = "review"
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_partial: bool = False


class AddSnapshotsIn(_Model):
    snapshots: list[SnapshotIn]
    baseline_hashes: dict[str, str] = Field(default_factory=dict)
    story_index_hash: str = ""


class CompleteIn(_Model):
    check_run_id: str | None = Field(default=None, pattern=r"^\d+$")


class ApproveItem(_Model):
    identifier: str = Field(min_length=1)
    new_hash: str | None = None


class ApproveIn(_Model):
    snapshots: list[ApproveItem] = Field(default_factory=list)
    approve_all: bool = False
    commit_to_github: bool = False


class FinalizeIn(_Model):
    approve_all: bool = False
    commit_to_github: bool = True
    add_images_to_comment_on_pr: bool = False


class SnapshotIdIn(_Model):
    snapshot_id: str = Field(min_length=1)
    comment: str = ""


class RepoIn(_Model):
    repo_full_name: str = Field(min_length=1, max_length=repos.NAME_MAX)
    repo_external_id: int | None = Field(default=None, ge=0, le=MAX_INT64)
    trust_unsigned_baselines: bool = False


class RepoPatch(_Model):
    repo_full_name: str | None = None
    baseline_file_paths: dict[str, str] | None = None
    trust_unsigned_baselines: bool | None = None
    default_branches: list[str] | None = None


class QuarantineIn(_Model):
    identifier: str = Field(min_length=1, max_length=runs.IDENTIFIER_MAX)
    reason: str = Field(default="", max_length=255)
    expires_at: str | None = None
    source_run_id: str | None = None
    notify_owners: bool = False


class ExpireIn(_Model):
    identifier: str = Field(min_length=1, max_length=runs.IDENTIFIER_MAX)


def install(app: FastAPI, context: ServerContext) -> None:
    app.include_router(build_router(context))


def build_router(context: ServerContext) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["visual_review"])
    store = context.store

    def url_for(request: Request) -> Any:
        return lambda key: context.download_url(request, key)

    def uploads(request: Request, repo_id: str, hashes: list[str]) -> list[dict[str, Any]]:
        base = context.base_url(request)
        return [upload_target(store.url_secret, base, repo_id, h) for h in hashes]

    def api_url(request: Request) -> str:
        return context.base_url(request)

    def page_base(request: Request) -> str:
        return context.base_url(request) + request.url.path

    # -- repos ---------------------------------------------------------------------------------

    @router.get("/repos/")
    def list_repos(principal: Read) -> dict[str, Any]:
        rows = repos.list_repos(store, principal.project_id)
        results = [repos.repo_json(r) for r in rows]
        return {"count": len(results), "next": None, "previous": None, "results": results}

    @router.post("/repos/", status_code=201)
    def create_repo(principal: Write, body: RepoIn) -> dict[str, Any]:
        row = repos.create_repo(
            store, principal.project_id, body.repo_full_name,
            external_id=body.repo_external_id, trust_unsigned=body.trust_unsigned_baselines,
        )
        return repos.repo_json(row)

    @router.get("/repos/{repo_id}/")
    def get_repo(principal: Read, repo_id: str) -> dict[str, Any]:
        return repos.repo_json(repos.get_repo(store, principal.project_id, repo_id))

    @router.patch("/repos/{repo_id}/")
    def patch_repo(principal: Write, repo_id: str, body: RepoPatch) -> dict[str, Any]:
        row = repos.update_repo(
            store, principal.project_id, repo_id, **body.model_dump(exclude_none=True)
        )
        return repos.repo_json(row)

    @router.get("/repos/{repo_id}/runs/counts/")
    def repo_counts(principal: Read, repo_id: str) -> dict[str, int]:
        return runs.counts(store, principal.project_id, repo_id)

    @router.get("/repos/{repo_id}/runs/")
    def repo_runs(
        request: Request, principal: Read, repo_id: str, review_state: str | None = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> dict[str, Any]:
        count, rows = runs.list_runs(
            store, principal.project_id, repo_id=repo_id, review_state=review_state,
            limit=limit, offset=offset,
        )
        results = [run_json(store, r) for r in rows]
        params = {"review_state": review_state}
        return page_json(page_base(request), params, count, limit, offset, results)

    @router.get("/repos/{repo_id}/snapshots/{run_type}/{identifier}/")
    def snapshot_timeline(
        request: Request, principal: Read, repo_id: str, run_type: str, identifier: str,
        limit: Limit = 100, offset: Offset = 0,
    ) -> dict[str, Any]:
        count, rows = runs.timeline(
            store, principal.project_id, repo_id, run_type, identifier, limit=limit, offset=offset
        )
        artifacts = artifacts_by_hash(store, repo_id, [str(r["current_hash"]) for r in rows])
        results = [timeline_entry_json(r, artifacts, url_for(request)) for r in rows]
        return page_json(page_base(request), {}, count, limit, offset, results)

    @router.get("/repos/{repo_id}/quarantine/")
    def list_quarantine(
        principal: Read, repo_id: str, identifier: str | None = None, run_type: str | None = None
    ) -> list[dict[str, Any]]:
        rows = runs.list_quarantine(
            store, principal.project_id, repo_id, identifier=identifier, run_type=run_type
        )
        return [quarantine_json(store, r) for r in rows]

    @router.post("/repos/{repo_id}/quarantine/{run_type}/", status_code=201)
    def create_quarantine(
        principal: Write, repo_id: str, run_type: str, body: QuarantineIn
    ) -> dict[str, Any]:
        row = runs.quarantine(
            store, principal.project_id, repo_id, run_type, body.identifier, reason=body.reason,
            expires_at=body.expires_at, token_id=principal.token_id,
            source_run_id=body.source_run_id,
        )
        return quarantine_json(store, row)

    @router.post("/repos/{repo_id}/quarantine/{run_type}/expire/", status_code=204,
                 response_class=Response)
    def expire_quarantine(
        principal: Write, repo_id: str, run_type: str, body: ExpireIn
    ) -> Response:
        runs.unquarantine(store, principal.project_id, repo_id, run_type, body.identifier)
        return Response(status_code=204)

    # -- runs ----------------------------------------------------------------------------------

    @router.get("/runs/counts/")
    def project_counts(principal: Read) -> dict[str, int]:
        return runs.counts(store, principal.project_id)

    @router.get("/runs/")
    def list_runs(
        request: Request, principal: Read, review_state: str | None = None,
        branch: str | None = None,
        pr_number: Annotated[int | None, Query(ge=0, le=MAX_INT32)] = None,
        commit_sha: str | None = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> dict[str, Any]:
        count, rows = runs.list_runs(
            store, principal.project_id, review_state=review_state, branch=branch,
            pr_number=pr_number, commit_sha=commit_sha, limit=limit, offset=offset,
        )
        params = {"review_state": review_state, "branch": branch, "pr_number": pr_number,
                  "commit_sha": commit_sha}
        results = [run_json(store, r) for r in rows]
        return page_json(page_base(request), params, count, limit, offset, results)

    @router.post("/runs/", status_code=201)
    def create_run(request: Request, principal: Write, body: CreateRunIn) -> dict[str, Any]:
        run, hashes = runs.create_run(
            store, principal.project_id, repo_id=body.repo_id, run_type=body.run_type,
            commit_sha=body.commit_sha, branch=body.branch,
            snapshots=[s.item() for s in body.snapshots], pr_number=body.pr_number,
            baseline_hashes=body.baseline_hashes, purpose=body.purpose, metadata=body.metadata,
            is_partial=body.is_partial,
        )
        return {"run_id": run.id, "uploads": uploads(request, str(run.repo_id), hashes)}

    @router.get("/runs/{run_id}/")
    def get_run(principal: Read, run_id: str) -> dict[str, Any]:
        return run_json(store, runs.get_run(store, principal.project_id, run_id))

    @router.post("/runs/{run_id}/add-snapshots/")
    def add_snapshots(
        request: Request, principal: Write, run_id: str, body: AddSnapshotsIn
    ) -> dict[str, Any]:
        added, hashes = runs.add_snapshots(
            store, principal.project_id, run_id, [s.item() for s in body.snapshots],
            body.baseline_hashes,
        )
        run = runs.get_run(store, principal.project_id, run_id)
        return {
            "added": added,
            "uploads": uploads(request, str(run.repo_id), hashes),
            "story_index_upload": None,
        }

    @router.post("/runs/{run_id}/complete/")
    def complete_run(
        principal: Write, run_id: str, body: Annotated[CompleteIn | None, Body()] = None
    ) -> dict[str, Any]:
        run = runs.complete_run(store, principal.project_id, run_id)
        if run.status == runs.RunStatus.PROCESSING:
            context.worker.notify()
        return run_json(store, run)

    @router.get("/runs/{run_id}/snapshots/")
    def list_snapshots(
        request: Request, principal: Read, run_id: str, limit: Limit = 100, offset: Offset = 0,
        include_quarantined: bool = False, exclude_unchanged: bool = False,
        snapshot_id: str | None = None,
    ) -> dict[str, Any]:
        page = runs.list_snapshots(
            store, principal.project_id, run_id, limit=limit, offset=offset,
            include_quarantined=include_quarantined, exclude_unchanged=exclude_unchanged,
            snapshot_id=snapshot_id,
        )
        run = runs.get_run(store, principal.project_id, run_id)
        results = snapshots_json(store, str(run.repo_id), page.rows, url_for(request))
        params = {"include_quarantined": str(include_quarantined).lower()
                  if include_quarantined else None,
                  "exclude_unchanged": str(exclude_unchanged).lower()
                  if exclude_unchanged else None,
                  "snapshot_id": snapshot_id}
        body = page_json(page_base(request), params, page.count, limit, offset, results)
        body["quarantined_count"] = page.quarantined_count
        return body

    @router.get("/runs/{run_id}/tolerated-hashes/")
    def tolerated_hashes(
        principal: Read, run_id: str, identifier: Annotated[str, Query(min_length=1)]
    ) -> list[dict[str, Any]]:
        rows = runs.tolerated_hashes(store, principal.project_id, run_id, identifier)
        return [toleration_json(r) for r in rows]

    @router.get("/runs/{run_id}/snapshot-history/")
    def snapshot_history(
        request: Request, principal: Read, run_id: str,
        identifier: Annotated[str, Query(min_length=1)], limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        run = runs.get_run(store, principal.project_id, run_id)
        count, rows = runs.timeline(
            store, principal.project_id, str(run.repo_id), str(run.run_type), identifier,
            limit=limit, offset=offset,
        )
        keys = [str(r["current_hash"]) for r in rows]
        artifacts = artifacts_by_hash(store, str(run.repo_id), keys)
        results = [timeline_entry_json(r, artifacts, url_for(request)) for r in rows]
        return page_json(page_base(request), {"identifier": identifier}, count, limit, offset,
                         results)

    @router.post("/runs/{run_id}/approve/")
    def approve(request: Request, principal: Write, run_id: str, body: ApproveIn) -> dict[str, Any]:
        run = runs.approve(
            store, principal.project_id, run_id, token_id=principal.token_id,
            snapshots=[(s.identifier, s.new_hash) for s in body.snapshots],
            approve_all=body.approve_all,
        )
        baseline = runs.build_baseline(store, principal.project_id, run_id, api_url(request))
        return {"run": run_json(store, run), "baseline_content": baseline}

    @router.post("/runs/{run_id}/auto-approve/")
    def auto_approve(request: Request, principal: Write, run_id: str) -> dict[str, Any]:
        run, baseline = runs.auto_approve(
            store, principal.project_id, run_id, token_id=principal.token_id,
            api_url=api_url(request),
        )
        return {"run": run_json(store, run), "baseline_content": baseline}

    @router.post("/runs/{run_id}/finalize/")
    def finalize(
        request: Request, principal: Write, run_id: str,
        body: Annotated[FinalizeIn | None, Body()] = None,
    ) -> dict[str, Any]:
        body = body or FinalizeIn()
        run, baseline = runs.finalize(
            store, principal.project_id, run_id, token_id=principal.token_id,
            approve_all=body.approve_all, commit_to_github=body.commit_to_github,
            api_url=api_url(request),
        )
        return {"run": run_json(store, run), "baseline_content": baseline}

    @router.post("/runs/{run_id}/tolerate/")
    def tolerate(
        request: Request, principal: Write, run_id: str, body: SnapshotIdIn
    ) -> dict[str, Any]:
        row = runs.tolerate(
            store, principal.project_id, run_id, body.snapshot_id, token_id=principal.token_id
        )
        run = runs.get_run(store, principal.project_id, run_id)
        return snapshots_json(store, str(run.repo_id), [row], url_for(request))[0]

    @router.post("/runs/{run_id}/reject/")
    def reject(
        request: Request, principal: Write, run_id: str, body: SnapshotIdIn
    ) -> dict[str, Any]:
        row = runs.reject(
            store, principal.project_id, run_id, body.snapshot_id, token_id=principal.token_id,
            comment=body.comment,
        )
        run = runs.get_run(store, principal.project_id, run_id)
        return snapshots_json(store, str(run.repo_id), [row], url_for(request))[0]

    @router.post("/runs/{run_id}/recompute/")
    def recompute(principal: Write, run_id: str) -> dict[str, Any]:
        result = runs.recompute(store, principal.project_id, run_id)
        return {
            "run": run_json(store, result.run),
            "counts_changed": result.counts_changed,
            "unresolved": result.unresolved,
            "ci_rerun_triggered": result.ci_rerun_triggered,
            "ci_rerun_error": result.ci_rerun_error,
        }

    return router
