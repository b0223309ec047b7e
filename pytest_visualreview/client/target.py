"""The seam between a finished session and a review service: one `Target` per API.

A target owns its protocol (what is sent, in which order, what the session prints) and what it
needs to be rebuilt from a spool folder. `delivery.deliver` owns what is common: it spools the run
when the target raises `ReviewServerError`, and a refusal (not `transient`) fails the session.
Adding a service means one module with one class here, registered in `delivery.TARGETS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..settings import DEFAULT_DEADLINE, ServerSettings
from .manifest import Manifest
from .vcs import VcsInfo

Progress = Callable[[str], None]


def quiet(line: str) -> None:
    """A `Progress` that shows nothing."""


@dataclass
class ServerReport:
    """What happened to one run on its way to the server; `lines` are printed after the tests."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False  # the session should exit non-zero because of the review
    sent: bool = False  # the server has the run: a spooled copy may be deleted
    run_id: str | None = None
    review_url: str | None = None
    uploaded: int = 0  # images sent (the others the server had already)


@dataclass(frozen=True)
class SendOptions:
    """How one run is sent, whichever the target."""

    read_image: Callable[[str], bytes]  # content hash -> PNG bytes
    approve: bool = False
    baseline_path: Path | None = None  # snapshots.yml, rewritten on approval
    baseline_config: Mapping[str, str] = field(default_factory=dict)  # its config block if it has none
    deadline: float = DEFAULT_DEADLINE  # seconds to wait for the verdict
    progress: Progress = quiet


class Target(Protocol):
    """Where runs go. `api` names it in settings (`--visual-review-api`) and in spool files."""

    api: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: ServerSettings, vcs: VcsInfo) -> Target: ...

    @classmethod
    def from_spool(cls, fields: Mapping[str, Any], token: str) -> Target: ...

    def send(self, manifest: Manifest, options: SendOptions, report: ServerReport) -> None:
        """Send the run and fill `report`; raise ReviewServerError when the server did not take it."""

    def spool_fields(self) -> dict[str, Any]:
        """JSON the target is rebuilt from (`from_spool`), without the token."""
