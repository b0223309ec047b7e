"""PostHog's visual_review API under ``/api/projects/{project_id}/visual_review/``.

Thin on purpose: each handler validates the request (pydantic models; errors name the field),
calls one function in :mod:`.runs` or :mod:`.repos`, and serialises with :mod:`.serialize`.
Handlers are sync (``def``): FastAPI runs them in its thread pool, which suits SQLite.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.json_schema import JsonDict

from . import repos, runs
from .auth import Principal, require_scope
from .context import ServerContext
from .openapi import READ, WRITE, errors
from .serialize import (
    artifacts_by_hash,
    page_json,
    quarantine_json,
    run_json,
    snapshots_json,
    timeline_entry_json,
    toleration_json,
)

PREFIX = "/api/projects/{project_id}/visual_review"

Read = Annotated[Principal, Depends(require_scope("visual_review:read"))]
Write = Annotated[Principal, Depends(require_scope("visual_review:write"))]
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]
#: The counts buckets ``review_state`` filters on (``runs.REVIEW_STATE_FILTERS``).
ReviewStateFilter = Literal["needs_review", "clean", "processing", "stale"]
assert set(get_args(ReviewStateFilter)) == set(runs.REVIEW_STATE_FILTERS)


def checked(pattern: str) -> JsonDict:
    """A ``pattern`` for the schema only: the domain function checks it, with a message that says
    what to send (pydantic's would only quote the regex)."""
    return {"pattern": pattern}


#: What ``lifecycle.validate_items`` accepts as an identifier: no ``/``, no control characters.
Identifier = Annotated[str, Field(min_length=1, max_length=runs.IDENTIFIER_MAX,
                                  json_schema_extra=checked(r"^[^/\x00-\x1f]+$"))]
RunType = Annotated[str, Field(json_schema_extra=checked(runs.RUN_TYPE_RE.pattern),
                               description="1..64 of [A-Za-z0-9_.-], e.g. playwright")]
RunTypePath = Annotated[str, Path(json_schema_extra=checked(runs.RUN_TYPE_RE.pattern))]
#: A ``snapshots.yml`` token: a bare hash or a signed ``v1.<kid>.<hash>.<mac>``.
BaselineHashes = dict[Annotated[str, Field(min_length=1, max_length=runs.IDENTIFIER_MAX)],
                      Annotated[str, Field(max_length=256)]]
RepoName = Annotated[str, Field(min_length=1, max_length=repos.NAME_MAX,
                                json_schema_extra=checked(r"\S"), description="owner/name; not blank")]
#: Write operations: a body, and data stored (a full disk answers 507).
WRITES = errors(*WRITE)
#: Review actions refuse runs superseded by a newer one with 409 ``stale_run``.
REVIEWS = errors(*WRITE, 409)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SnapshotIn(_Model):
    identifier: Identifier
    content_hash: str = Field(json_schema_extra=checked(runs.HASH_RE.pattern),
                              description="BLAKE3 of the RGBA pixels, 64 lower-case hex")
    width: int | None = Field(default=None, ge=1, le=100_000)
    height: int | None = Field(default=None, ge=1, le=100_000)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def item(self) -> runs.ManifestItem:
        return runs.ManifestItem(
            self.identifier, self.content_hash, self.width, self.height, self.metadata
        )


class CreateRunIn(_Model):
    repo_id: str
    run_type: RunType = "other"
    commit_sha: str = Field(min_length=1, max_length=64)
    branch: str = Field(min_length=1, max_length=255)
    snapshots: list[SnapshotIn] = Field(default_factory=list)
    pr_number: int | None = Field(default=None, ge=0, le=MAX_INT32)
    baseline_hashes: BaselineHashes = Field(default_factory=dict)
    unchanged_count: int = 0  # accepted and ignored (PostHog delta-mode leftover)
    removed_identifiers: list[str] = Field(default_factory=list)  # accepted and ignored
    purpose: Literal["review", "observe"] = "review"
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_partial: StrictBool = False


class AddSnapshotsIn(_Model):
    snapshots: list[SnapshotIn]
    baseline_hashes: BaselineHashes = Field(default_factory=dict)
    story_index_hash: str = ""


class CompleteIn(_Model):
    check_run_id: str | None = Field(default=None, pattern=r"^[0-9]+$")


class ApproveItem(_Model):
    identifier: str = Field(min_length=1)
    new_hash: str | None = None


class ApproveIn(_Model):
    snapshots: list[ApproveItem] = Field(
        default_factory=list, description="required unless approve_all is true"
    )
    approve_all: StrictBool = False
    commit_to_github: StrictBool = False


class FinalizeIn(_Model):
    approve_all: StrictBool = False
    commit_to_github: StrictBool = Field(
        default=True, description="must be false: this server has no GitHub integration (400)"
    )
    add_images_to_comment_on_pr: StrictBool = False


class SnapshotIdIn(_Model):
    snapshot_id: str = Field(min_length=1)
    comment: str = ""


class RepoIn(_Model):
    repo_full_name: RepoName
    repo_external_id: int | None = Field(default=None, ge=0, le=MAX_INT64)
    trust_unsigned_baselines: StrictBool = False


class RepoPatch(_Model):
    repo_full_name: RepoName | None = None
    baseline_file_paths: dict[str, str] | None = None
    trust_unsigned_baselines: StrictBool | None = None
    default_branches: list[Annotated[str, Field(min_length=1)]] | None = None


class QuarantineIn(_Model):
    identifier: str = Field(min_length=1, max_length=runs.IDENTIFIER_MAX)
    reason: str = Field(default="", max_length=255)
    expires_at: str | None = Field(default=None, description="ISO-8601 (400 otherwise)")
    source_run_id: str | None = Field(default=None, description="a run of this repo")
    notify_owners: StrictBool = False


class ExpireIn(_Model):
    identifier: str = Field(min_length=1, max_length=runs.IDENTIFIER_MAX)


def install(app: FastAPI, context: ServerContext) -> None:
    app.include_router(build_router(context))


def build_router(context: ServerContext) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["visual_review"], responses=errors(*READ))
    store = context.store

    def url_for(request: Request) -> Any:
        return lambda key: context.download_url(request, key)

    def uploads(
        request: Request, repo_id: str, hashes: list[str], snapshots: list[SnapshotIn]
    ) -> list[dict[str, Any]]:
        """Upload targets, each with the size its manifest entry declared (checked on upload
        before decoding)."""
        sizes = {s.content_hash: (s.width, s.height) for s in reversed(snapshots)}
        return context.upload_targets(request, repo_id, hashes, sizes)

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

    @router.post("/repos/", status_code=201, responses=WRITES)
    def create_repo(principal: Write, body: RepoIn) -> dict[str, Any]:
        row = repos.create_repo(
            store, principal.project_id, body.repo_full_name,
            external_id=body.repo_external_id, trust_unsigned=body.trust_unsigned_baselines,
        )
        return repos.repo_json(row)

    @router.get("/repos/{repo_id}/")
    def get_repo(principal: Read, repo_id: str) -> dict[str, Any]:
        return repos.repo_json(repos.get_repo(store, principal.project_id, repo_id))

    @router.patch("/repos/{repo_id}/", responses=WRITES)
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
        request: Request, principal: Read, repo_id: str, review_state: ReviewStateFilter | None = None,
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
        count, entries = runs.timeline(
            store, principal.project_id, repo_id, run_type, identifier, limit=limit, offset=offset
        )
        keys = [e.snapshot.current_hash for e in entries]
        artifacts = artifacts_by_hash(store, repo_id, keys)
        results = [timeline_entry_json(e, artifacts, url_for(request)) for e in entries]
        return page_json(page_base(request), {}, count, limit, offset, results)

    @router.get("/repos/{repo_id}/quarantine/")
    def list_quarantine(
        principal: Read, repo_id: str, identifier: str | None = None, run_type: str | None = None
    ) -> list[dict[str, Any]]:
        rows = runs.list_quarantine(
            store, principal.project_id, repo_id, identifier=identifier, run_type=run_type
        )
        return [quarantine_json(store, r) for r in rows]

    @router.post("/repos/{repo_id}/quarantine/{run_type}/", status_code=201, responses=WRITES)
    def create_quarantine(
        principal: Write, repo_id: str, run_type: RunTypePath, body: QuarantineIn
    ) -> dict[str, Any]:
        row = runs.quarantine(
            store, principal.project_id, repo_id, run_type, body.identifier, reason=body.reason,
            expires_at=body.expires_at, token_id=principal.token_id,
            source_run_id=body.source_run_id,
        )
        return quarantine_json(store, row)

    @router.post("/repos/{repo_id}/quarantine/{run_type}/expire/", status_code=204,
                 response_class=Response, responses=WRITES)
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
        request: Request, principal: Read, review_state: ReviewStateFilter | None = None,
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

    @router.post("/runs/", status_code=201, responses=WRITES)
    def create_run(request: Request, principal: Write, body: CreateRunIn) -> dict[str, Any]:
        run, hashes = runs.create_run(
            store, principal.project_id, repo_id=body.repo_id, run_type=body.run_type,
            commit_sha=body.commit_sha, branch=body.branch,
            snapshots=[s.item() for s in body.snapshots], pr_number=body.pr_number,
            baseline_hashes=body.baseline_hashes, purpose=body.purpose, metadata=body.metadata,
            is_partial=body.is_partial,
        )
        return {
            "run_id": run.id,
            "uploads": uploads(request, str(run.repo_id), hashes, body.snapshots),
        }

    @router.get("/runs/{run_id}/")
    def get_run(principal: Read, run_id: str) -> dict[str, Any]:
        return run_json(store, runs.get_run(store, principal.project_id, run_id))

    @router.post("/runs/{run_id}/add-snapshots/", responses=WRITES)
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
            "uploads": uploads(request, str(run.repo_id), hashes, body.snapshots),
            "story_index_upload": None,
        }

    @router.post("/runs/{run_id}/complete/", responses=WRITES)
    def complete_run(
        principal: Write, run_id: str, body: Annotated[CompleteIn | None, Body()] = None
    ) -> dict[str, Any]:
        pending = runs.get_run(store, principal.project_id, run_id)
        arrived = (
            context.arrived_uploads(pending) if pending.status == runs.RunStatus.PENDING else set()
        )
        run = runs.complete_run(store, principal.project_id, run_id, arrived)
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
        count, entries = runs.timeline(
            store, principal.project_id, str(run.repo_id), str(run.run_type), identifier,
            limit=limit, offset=offset,
        )
        keys = [e.snapshot.current_hash for e in entries]
        artifacts = artifacts_by_hash(store, str(run.repo_id), keys)
        results = [timeline_entry_json(e, artifacts, url_for(request)) for e in entries]
        return page_json(page_base(request), {"identifier": identifier}, count, limit, offset,
                         results)

    @router.post("/runs/{run_id}/approve/", responses=REVIEWS)
    def approve(request: Request, principal: Write, run_id: str, body: ApproveIn) -> dict[str, Any]:
        run = runs.approve(
            store, principal.project_id, run_id, token_id=principal.token_id,
            snapshots=[(s.identifier, s.new_hash) for s in body.snapshots],
            approve_all=body.approve_all,
        )
        baseline = runs.build_baseline(store, principal.project_id, run_id, api_url(request))
        return {"run": run_json(store, run), "baseline_content": baseline}

    @router.post("/runs/{run_id}/auto-approve/", responses=REVIEWS)
    def auto_approve(request: Request, principal: Write, run_id: str) -> dict[str, Any]:
        run, baseline = runs.auto_approve(
            store, principal.project_id, run_id, token_id=principal.token_id,
            api_url=api_url(request),
        )
        return {"run": run_json(store, run), "baseline_content": baseline}

    @router.post("/runs/{run_id}/finalize/", responses=REVIEWS)
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

    @router.post("/runs/{run_id}/tolerate/", responses=WRITES)
    def tolerate(
        request: Request, principal: Write, run_id: str, body: SnapshotIdIn
    ) -> dict[str, Any]:
        snap = runs.tolerate(
            store, principal.project_id, run_id, body.snapshot_id, token_id=principal.token_id
        )
        run = runs.get_run(store, principal.project_id, run_id)
        return snapshots_json(store, str(run.repo_id), [snap], url_for(request))[0]

    @router.post("/runs/{run_id}/reject/", responses=REVIEWS)
    def reject(
        request: Request, principal: Write, run_id: str, body: SnapshotIdIn
    ) -> dict[str, Any]:
        snap = runs.reject(
            store, principal.project_id, run_id, body.snapshot_id, token_id=principal.token_id,
            comment=body.comment,
        )
        run = runs.get_run(store, principal.project_id, run_id)
        return snapshots_json(store, str(run.repo_id), [snap], url_for(request))[0]

    @router.post("/runs/{run_id}/recompute/", responses=WRITES)
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
