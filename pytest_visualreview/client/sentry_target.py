"""A run on a Sentry-style server (`--visual-review-api sentry`): the snapshots upload of
`sentry.upload_snapshots`, with each snapshot's manifest metadata as its Sentry image metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..records import TOLERANCE_KEY
from ..settings import ServerSettings, Tolerance
from .manifest import Manifest
from .sentry import SentryImage, upload_snapshots, vcs_fields
from .target import SendOptions, ServerReport
from .transport import ReviewServerError
from .vcs import VcsInfo


@dataclass(frozen=True)
class SentryTarget:
    api: ClassVar[str] = "sentry"

    url: str
    token: str = field(repr=False)
    org: str
    project: str
    app_id: str
    vcs: dict[str, Any]  # Sentry's VCS fields (`sentry.vcs_fields`)

    @classmethod
    def from_settings(cls, settings: ServerSettings, vcs: VcsInfo) -> SentryTarget:
        return cls(settings.url, settings.token, settings.org, settings.project, settings.app_id,
                   vcs_fields(vcs))

    @classmethod
    def from_spool(cls, fields: Mapping[str, Any], token: str) -> SentryTarget:
        options = fields.get("options") or {}
        return cls(fields["api_url"], token, options["org"], str(fields["project"]),
                   options["app_id"], dict(options.get("vcs") or {}))

    def spool_fields(self) -> dict[str, Any]:
        return {"api": self.api, "api_url": self.url, "project": self.project, "run_id": None,
                "options": {"org": self.org, "app_id": self.app_id, "vcs": self.vcs}}

    def send(self, manifest: Manifest, options: SendOptions, report: ServerReport) -> None:
        try:
            result = upload_snapshots(
                self.url, org=self.org, project=self.project, auth_token=self.token,
                app_id=self.app_id, images=images(manifest, options), vcs=self.vcs,
            )
        except ReviewServerError as exc:
            raise exc.within(f"sentry upload to {self.url}") from None
        report.sent = True
        report.run_id = result.artifact_id
        report.uploaded = result.uploaded
        report.review_url = result.review_url
        report.lines.append(
            f"sentry: run {result.artifact_id} of app {self.app_id}: {result.snapshot_count} "
            f"snapshots, uploaded {result.uploaded} images ({result.already_present} already stored)"
        )
        report.lines.append(f"review: {result.review_url}")


def images(manifest: Manifest, options: SendOptions) -> list[SentryImage]:
    """`<identifier>.png` per snapshot; its manifest metadata (node id, name, tolerance, browser,
    and what `pytest_visualreview_snapshot_metadata` hooks added) goes along, after Sentry's
    `display_name` (the snapshot's name), `group` (its test file) and `diff_threshold` (its pixel
    budget) so that hooks can set those too."""
    out = []
    for item in manifest.snapshots:
        metadata = item["metadata"]
        defaults = {"display_name": metadata.get("name", item["identifier"]),
                    "group": str(metadata.get("nodeid", "")).split("::")[0]}
        threshold = diff_threshold(metadata.get(TOLERANCE_KEY), item["width"] * item["height"])
        if threshold is not None:
            defaults["diff_threshold"] = threshold
        out.append(SentryImage(f"{item['identifier']}.png", options.read_image(item["content_hash"]),
                               item["width"], item["height"], {**defaults, **metadata}))
    return out


def diff_threshold(tolerance: Any, total_pixels: int) -> float | None:
    """Sentry's per-image `diff_threshold` for a snapshot's local pixel budget.

    Sentry calls an image changed when `changed / total > diff_threshold`; the plugin fails it
    when `changed > allowed`. With `diff_threshold = allowed / total` the two agree on the pixel
    count (Sentry's own colour sensitivity still decides which pixels count). None when there is
    no tolerance or the budget is the whole image, which Sentry cannot express (it wants < 1).
    """
    if not isinstance(tolerance, Mapping) or total_pixels <= 0:
        return None
    budget = Tolerance(max_diff_pixels=tolerance.get("max_diff_pixels"),
                       max_diff_pixel_ratio=tolerance.get("max_diff_pixel_ratio"))
    allowed = budget.allowed_pixels(total_pixels)
    return allowed / total_pixels if allowed < total_pixels else None
