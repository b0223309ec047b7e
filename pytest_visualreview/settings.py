"""One frozen Settings per session, resolved once from command line > ini > defaults, validated with
messages that name the option and what to do.

Per-snapshot tolerances resolve later (call > marker > ini > default) in `resolve_tolerance`, so the
precedence rule lives in one place.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

#: `__visual_snapshots__`, not `__snapshots__`: that folder is syrupy's, and its --snapshot-update
#: deletes files it does not know there.
DEFAULT_BASELINE_TEMPLATE = "{test_dir}/__visual_snapshots__/{test_file_stem}/{identifier}.png"
DEFAULT_OUTPUT_DIR = ".visual-review"
DEFAULT_THRESHOLD = 0.2  # Playwright's (options.threshold ?? 0.2); pixelmatch's own is 0.1
DEFAULT_TIMEOUT = 5.0
DEFAULT_MASK_COLOR = "#FF00FF"
TEMPLATE_FIELDS = ("test_dir", "test_file_stem", "identifier", "rootdir", "platform")

#: ini key -> (help text, pytest ini type, default)
INI_OPTIONS: dict[str, tuple[str, str, Any]] = {
    "visual_review_threshold": (
        "per-pixel colour tolerance 0..1 (pixelmatch YIQ distance)", "string", ""),
    "visual_review_max_diff_pixels": (
        "differing pixels a snapshot may have and still pass", "string", ""),
    "visual_review_max_diff_pixel_ratio": (
        "fraction 0..1 of pixels that may differ (smaller budget wins)", "string", ""),
    "visual_review_full_page": ("capture whole scrollable pages by default", "bool", False),
    "visual_review_timeout": (
        "seconds to wait for a stable screenshot (default 5)", "string", ""),
    "visual_review_mask": (
        "CSS selectors masked in every page screenshot", "linelist", []),
    "visual_review_mask_color": ("colour of masked boxes (default #FF00FF)", "string", ""),
    "visual_review_style": (
        "CSS text, or a path to a .css file, applied while capturing", "string", ""),
    "visual_review_output": (
        "folder for actual/expected/diff images and report.html (default .visual-review)",
        "string", ""),
    "visual_review_soft": (
        "a failing snapshot lets its test go on and fails it at its end, listing every mismatch "
        "(Playwright's expect.soft)", "bool", False),
    "visual_review_platform": (
        "append the platform (-linux, -darwin, -win32) to every identifier, as Playwright does",
        "bool", False),
    "visual_review_baseline_template": (
        f"where baselines live (default {DEFAULT_BASELINE_TEMPLATE})", "string", ""),
}

#: Server mode: key -> (flag, help); the ini key is `visual_review_<key>`. Flags win over ini, ini over
#: the snapshots.yml config block.
SERVER_OPTIONS: dict[str, tuple[str, str]] = {
    "url": ("--visual-review-url", "review server base URL, e.g. http://127.0.0.1:8000"),
    "api": ("--visual-review-api", "posthog (default: PostHog visual_review API) or sentry"),
    "org": ("--visual-review-org", "sentry: organization slug or id (default 'default')"),
    "app_id": ("--visual-review-app-id", "sentry: app id (default: the rootdir's name)"),
    "project": ("--visual-review-project", "project (team) id on the review server"),
    "repo": ("--visual-review-repo", "repo id on the review server"),
    "run_type": ("--visual-review-run-type", "run type (default playwright)"),
    "baseline": ("--visual-review-baseline", "path of snapshots.yml (default <rootdir>/snapshots.yml)"),
    "purpose": ("--visual-review-purpose", "review (gates the session) or observe (never fails)"),
    "deadline": ("--visual-review-deadline", "seconds to wait for the server's verdict (default 900)"),
    "run_id": ("--visual-review-run-id", "add this session's snapshots to an existing run (shards)"),
    "branch": ("--visual-review-branch", "branch (default: CI environment, else git)"),
    "commit": ("--visual-review-commit", "commit SHA (default: CI environment, else git)"),
    "pr": ("--visual-review-pr", "pull request number (default: CI environment)"),
}
TOKEN_ENV = "VISUAL_REVIEW_TOKEN"
DEFAULT_RUN_TYPE = "playwright"
DEFAULT_DEADLINE = 900.0


class Mode(StrEnum):
    OFF = "off"  # snapshot() captures nothing and passes
    CHECK = "check"  # --visual-review: compare with baselines
    APPROVE = "approve"  # --approve: compare, and accept new/changed as baselines


class SettingsError(Exception):
    """An invalid option value; pytest shows it as a usage error."""


@dataclass(frozen=True)
class Tolerance:
    """How different a snapshot may be from its baseline and still pass."""

    threshold: float = DEFAULT_THRESHOLD
    max_diff_pixels: int | None = None
    max_diff_pixel_ratio: float | None = None

    def allowed_pixels(self, total_pixels: int) -> int:
        """The pixel budget; when both limits are set the smaller wins, and with neither it is 0."""
        budgets = []
        if self.max_diff_pixels is not None:
            budgets.append(self.max_diff_pixels)
        if self.max_diff_pixel_ratio is not None:
            budgets.append(math.floor(self.max_diff_pixel_ratio * total_pixels))
        return min(budgets) if budgets else 0


@dataclass(frozen=True)
class CaptureDefaults:
    full_page: bool = False
    timeout: float = DEFAULT_TIMEOUT
    mask_selectors: tuple[str, ...] = ()
    mask_color: str = DEFAULT_MASK_COLOR
    style: str | None = None


@dataclass(frozen=True)
class ServerSettings:
    """Where and how a session is sent to a review server. The token is never printed."""

    url: str
    project: str
    repo: str
    token: str = field(repr=False)
    api: str = "posthog"  # or "sentry": Sentry's preprod snapshots API
    org: str = "default"
    app_id: str = ""
    run_type: str = DEFAULT_RUN_TYPE
    baseline_path: Path = Path("snapshots.yml")
    purpose: str = "review"
    deadline: float = DEFAULT_DEADLINE
    run_id: str | None = None
    branch: str | None = None
    commit_sha: str | None = None
    pr_number: int | None = None


@dataclass(frozen=True)
class Settings:
    mode: Mode = Mode.OFF
    rootdir: Path = field(default_factory=Path.cwd)
    output_dir: Path = field(default_factory=lambda: Path(DEFAULT_OUTPUT_DIR).resolve())
    baseline_template: str = DEFAULT_BASELINE_TEMPLATE
    tolerance: Tolerance = Tolerance()
    capture: CaptureDefaults = CaptureDefaults()
    server: ServerSettings | None = None
    soft: bool = False  # failing snapshots fail their test at its end, not at the call
    platform_suffix: bool = False  # identifiers end in -<platform>, as Playwright's file names
    notes: tuple[str, ...] = ()  # said once in the summary (e.g. why server mode is off)

    @property
    def enabled(self) -> bool:
        return self.mode is not Mode.OFF


def parse_threshold(value: Any, source: str) -> float:
    number = _parse_number(value, source, float)
    if not 0 <= number <= 1:
        raise SettingsError(f"{source}: threshold must be between 0 and 1, got {value!r}")
    return number


def parse_max_diff_pixels(value: Any, source: str) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise SettingsError(f"{source}: max_diff_pixels must be a whole number, got {value!r}")
    number = _parse_number(value, source, int)
    if number < 0:
        raise SettingsError(f"{source}: max_diff_pixels must be 0 or more, got {value!r}")
    return number


def parse_ratio(value: Any, source: str) -> float:
    number = _parse_number(value, source, float)
    if not 0 <= number <= 1:
        raise SettingsError(
            f"{source}: max_diff_pixel_ratio must be a fraction between 0 and 1, got {value!r}"
        )
    return number


def parse_timeout(value: Any, source: str) -> float:
    number = _parse_number(value, source, float)
    if number <= 0:
        raise SettingsError(f"{source}: timeout must be a positive number of seconds, got {value!r}")
    return number


def resolve_tolerance(base: Tolerance, overrides: dict[str, Any], source: str) -> Tolerance:
    """Apply `threshold`/`max_diff_pixels`/`max_diff_pixel_ratio` overrides on top of `base`.

    `source` names where the values came from in errors; `{key}` in it becomes the option name.
    """
    threshold = base.threshold
    pixels = base.max_diff_pixels
    ratio = base.max_diff_pixel_ratio
    if overrides.get("threshold") is not None:
        threshold = parse_threshold(overrides["threshold"], source.format(key="threshold"))
    if overrides.get("max_diff_pixels") is not None:
        pixels = parse_max_diff_pixels(
            overrides["max_diff_pixels"], source.format(key="max_diff_pixels")
        )
    if overrides.get("max_diff_pixel_ratio") is not None:
        ratio = parse_ratio(
            overrides["max_diff_pixel_ratio"], source.format(key="max_diff_pixel_ratio")
        )
    return Tolerance(threshold, pixels, ratio)


def from_pytest_config(config: Any) -> Settings:
    """Build the session's Settings from a pytest Config (command line, then ini).

    Without --visual-review/--approve nothing is read or validated (no style file, no
    snapshots.yml, no ini value): installing the plugin must never fail somebody's suite."""
    approve = bool(config.getoption("visual_review_approve"))
    check = bool(config.getoption("visual_review"))
    mode = Mode.APPROVE if approve else Mode.CHECK if check else Mode.OFF
    rootdir = Path(config.rootpath)
    if mode is Mode.OFF:
        return Settings(mode=mode, rootdir=rootdir)

    def ini(name: str) -> Any:
        return config.getini(name)

    output = config.getoption("visual_review_output") or ini("visual_review_output")
    output_dir = Path(output or DEFAULT_OUTPUT_DIR)
    if not output_dir.is_absolute():
        output_dir = rootdir / output_dir

    template = ini("visual_review_baseline_template") or DEFAULT_BASELINE_TEMPLATE
    validate_template(template)

    tolerance = resolve_tolerance(
        Tolerance(),
        {
            "threshold": ini("visual_review_threshold") or None,
            "max_diff_pixels": ini("visual_review_max_diff_pixels") or None,
            "max_diff_pixel_ratio": ini("visual_review_max_diff_pixel_ratio") or None,
        },
        "ini option visual_review_{key}",
    )
    timeout_text = ini("visual_review_timeout")
    mask_color = ini("visual_review_mask_color")
    capture = CaptureDefaults(
        full_page=bool(ini("visual_review_full_page")),
        timeout=parse_timeout(timeout_text, "ini option visual_review_timeout")
        if timeout_text
        else DEFAULT_TIMEOUT,
        mask_selectors=tuple(s for s in ini("visual_review_mask") if s.strip()),
        mask_color=parse_mask_color(mask_color, "ini option visual_review_mask_color")
        if mask_color
        else DEFAULT_MASK_COLOR,
        style=load_style(ini("visual_review_style") or None, rootdir),
    )
    server, notes = server_settings(
        lambda key: config.getoption(f"visual_review_server_{key}") or ini(f"visual_review_{key}"),
        rootdir,
        os.environ,
    )
    return Settings(
        mode=mode,
        rootdir=rootdir,
        output_dir=output_dir,
        baseline_template=template,
        tolerance=tolerance,
        capture=capture,
        server=server,
        soft=bool(ini("visual_review_soft")),
        platform_suffix=bool(ini("visual_review_platform")),
        notes=notes,
    )


def server_settings(
    option: Any, rootdir: Path, env: Any
) -> tuple[ServerSettings | None, tuple[str, ...]]:
    """Resolve server mode: `option(key)` gives the flag-or-ini value of a SERVER_OPTIONS key.

    Server mode is on when a URL is known. One from a flag or ini without VISUAL_REVIEW_TOKEN is an
    error; one only from snapshots.yml's config block without a token leaves the session local
    (developers run the suite without credentials), with a note.
    """
    from . import snapshots_yml

    baseline = Path(option("baseline") or "snapshots.yml")
    if not baseline.is_absolute():
        baseline = rootdir / baseline
    try:
        file_config = snapshots_yml.read(baseline).config
    except snapshots_yml.SnapshotsFileError as exc:
        raise SettingsError(f"{exc}; fix or delete the file") from exc
    explicit_url = option("url")
    url = explicit_url or file_config.get("api")
    if not url:
        return None, ()
    token = env.get(TOKEN_ENV, "")
    if not token:
        if explicit_url:
            raise SettingsError(
                f"--visual-review-url is set but {TOKEN_ENV} is not; export the review server's "
                "API token (scopes visual_review:read and visual_review:write)"
            )
        return None, (f"review server {url} from {baseline.name} not used: {TOKEN_ENV} is not set",)
    api = option("api") or "posthog"
    if api not in ("posthog", "sentry"):
        raise SettingsError(f"--visual-review-api must be posthog or sentry, got {api!r}")
    project = option("project") or file_config.get("team")
    repo = option("repo") or file_config.get("repo") or ("-" if api == "sentry" else None)
    for value, flag in ((project, "--visual-review-project"), (repo, "--visual-review-repo")):
        if not value:
            raise SettingsError(
                f"server mode needs {flag} (or ini visual_review_{flag[16:]}, or the config block "
                f"of {baseline.name})"
            )
    purpose = option("purpose") or "review"
    if purpose not in ("review", "observe"):
        raise SettingsError(f"--visual-review-purpose must be review or observe, got {purpose!r}")
    deadline_text = option("deadline")
    pr_text = option("pr")
    if pr_text and not str(pr_text).isdigit():
        raise SettingsError(f"--visual-review-pr must be a pull request number, got {pr_text!r}")
    return (
        ServerSettings(
            url=str(url).rstrip("/"),
            project=str(project),
            repo=str(repo),
            token=token,
            api=api,
            org=option("org") or "default",
            app_id=option("app_id") or rootdir.name,
            run_type=option("run_type") or DEFAULT_RUN_TYPE,
            baseline_path=baseline,
            purpose=purpose,
            deadline=parse_timeout(deadline_text, "--visual-review-deadline")
            if deadline_text
            else DEFAULT_DEADLINE,
            run_id=option("run_id") or None,
            branch=option("branch") or None,
            commit_sha=option("commit") or None,
            pr_number=int(pr_text) if pr_text else None,
        ),
        (),
    )


def validate_template(template: str) -> None:
    """The template must put `{identifier}` in the file name, so every snapshot gets its own file
    and obsolete baselines can be found by listing the folder."""
    try:
        sample = template.format(**{name: name.upper() for name in TEMPLATE_FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        raise SettingsError(
            f"ini option visual_review_baseline_template={template!r} is invalid ({exc}); "
            f"use the fields {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        ) from exc
    if "IDENTIFIER" not in Path(sample).name or not sample.endswith(".png"):
        raise SettingsError(
            f"ini option visual_review_baseline_template={template!r} must end in a file name "
            "containing {identifier} and ending in .png, e.g. " + DEFAULT_BASELINE_TEMPLATE
        )


def load_style(value: str | None, base: Path, source: str = "visual_review_style") -> str | None:
    """CSS text, or a path (relative to `base`) to a .css file whose text is used."""
    if not value:
        return None
    if value.strip().endswith(".css") and "{" not in value:
        path = Path(value.strip())
        if not path.is_absolute():
            path = base / path
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(
                f"{source}: cannot read CSS file {path} ({exc.strerror}); "
                "give CSS text or the path of an existing .css file"
            ) from exc
    return value


_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_FUNCTIONAL_COLOR = re.compile(
    r"(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\(\s*[-+0-9a-zA-Z.%,/\s]+\)", re.IGNORECASE
)


def parse_mask_color(value: Any, source: str) -> str:
    """A CSS colour the browser will paint: a wrong one would make the mask invisible and let
    the masked content (a clock, a random number) into the baseline."""
    from PIL import ImageColor  # its table is CSS's 148 named colours

    text = value.strip() if isinstance(value, str) else ""
    if text.lower() == "transparent":
        raise SettingsError(
            f"{source}: mask colour {value!r} would hide nothing; give an opaque CSS colour "
            f"such as {DEFAULT_MASK_COLOR} or magenta"
        )
    known = (
        text.lower() in ImageColor.colormap
        or _HEX_COLOR.fullmatch(text)
        or _FUNCTIONAL_COLOR.fullmatch(text)
    )
    if not known:
        raise SettingsError(
            f"{source}: {value!r} is not a CSS colour; give a name (magenta), #rgb, #rrggbb, "
            f"#rrggbbaa or rgb(...)/hsl(...), e.g. {DEFAULT_MASK_COLOR}"
        )
    return text


def _parse_number(value: Any, source: str, kind: type) -> Any:
    if isinstance(value, bool):
        raise SettingsError(f"{source}: expected a number, got {value!r}")
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: expected a number, got {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise SettingsError(f"{source}: expected a finite number, got {value!r}")
    return number
