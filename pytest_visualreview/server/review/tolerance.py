"""The tolerance a client judged a snapshot with (``metadata.tolerance``), read the plugin's way.

Why: one verdict. The plugin sends each snapshot's ``{threshold, max_diff_pixels,
max_diff_pixel_ratio}`` (``records.TOLERANCE_KEY``); the server classifies with it instead of
PostHog's fixed 2.5 % / SSIM rule, so a snapshot the plugin fails is never ``unchanged`` here and
one it passes is never ``changed``. The values are parsed by the plugin's own
``settings.resolve_tolerance`` (same ranges, same defaults: an absent threshold is Playwright's
0.2; with neither budget set no pixel may differ; with both the smaller wins).
"""

from __future__ import annotations

from typing import Any

from ...records import TOLERANCE_KEY
from ...settings import SettingsError, Tolerance, resolve_tolerance
from ..errors import Invalid
from ..store import Row, loads

KEYS = ("threshold", "max_diff_pixels", "max_diff_pixel_ratio")


def parse(value: Any, where: str) -> Tolerance:
    """``metadata.tolerance`` as a :class:`Tolerance`; :class:`Invalid` names the field."""
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be an object with {', '.join(KEYS)}", attr=where)
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise Invalid(f"{where}.{unknown[0]}: unknown key; allowed are {', '.join(KEYS)}",
                      attr=f"{where}.{unknown[0]}")
    for key in KEYS:
        if isinstance(value.get(key), bool):
            raise Invalid(f"{where}.{key} must be a number", attr=f"{where}.{key}")
    try:
        return resolve_tolerance(Tolerance(), value, f"{where}.{{key}}")
    except SettingsError as exc:
        attr = next((f"{where}.{key}" for key in KEYS if f"{where}.{key}" in str(exc)), where)
        raise Invalid(str(exc), attr=attr) from exc


def validate_tolerance(metadata: dict[str, Any], where: str) -> None:
    """Refuse a malformed tolerance at ingest, so the worker never meets one."""
    if isinstance(metadata, dict) and metadata.get(TOLERANCE_KEY) is not None:
        parse(metadata[TOLERANCE_KEY], f"{where}.{TOLERANCE_KEY}")


def tolerance_of(row: Row) -> Tolerance | None:
    """The tolerance a stored snapshot row carries in its metadata, or None (PostHog's rule).

    Rows are validated at ingest; one stored before that (or by hand) that does not parse gets
    PostHog's rule rather than an exception in the worker, which would retry it forever."""
    metadata = loads(row["metadata"])
    value = metadata.get(TOLERANCE_KEY) if isinstance(metadata, dict) else None
    if value is None:
        return None
    try:
        return parse(value, f"metadata.{TOLERANCE_KEY}")
    except Invalid:
        return None
