"""What a run looked like, for people: the terminal summary lines and the static HTML report.

Both are pure functions of the session's SnapshotRecords (plus the obsolete baseline paths), so
the plugin only decides *when* to call them. The HTML report is one self-contained file that opens
from file:// (the viewer's CSS and JS are inlined; images are linked relative to the report, so
the output folder can be zipped or uploaded as a CI artifact and still work). Everything a user
wrote (node ids, names, messages, paths) is escaped.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from html import escape
from importlib import resources
from pathlib import Path

from pytest_visualreview import viewer
from pytest_visualreview.imaging import write_atomic
from pytest_visualreview.records import Outcome, SnapshotRecord

__all__ = [
    "COUNT_KEYS",
    "count_records",
    "format_percent",
    "terminal_summary_lines",
    "write_html_report",
]

#: How the summary and a record's message say that --approve replaced a baseline it could not read.
REPLACED_UNREADABLE = "replaced an unreadable baseline"

#: The counts shown in the summary and the report, in this order. Approved records (new or
#: changed snapshots accepted by --approve) count as approved only, not also as new/changed.
COUNT_KEYS = ("unchanged", "changed", "new", "approved", "error", "obsolete")


def _group(record: SnapshotRecord) -> str:
    if record.approved and record.outcome in (Outcome.NEW, Outcome.CHANGED):
        return "approved"
    return record.outcome.value


def count_records(
    records: Sequence[SnapshotRecord], obsolete: Sequence[str] = ()
) -> dict[str, int]:
    """Counts per COUNT_KEYS; every record lands in exactly one of the first five."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for record in records:
        counts[_group(record)] += 1
    counts["obsolete"] = len(obsolete)
    return counts


def format_percent(ratio: float | None) -> str:
    """A diff ratio as a percentage a human can read: never rounds a real difference to 0%."""
    if ratio is None:
        return "?"
    percent = ratio * 100
    if percent == 0:
        return "0%"
    if percent < 0.01:
        return "<0.01%"
    if percent < 10:
        return f"{percent:.2f}%"
    return f"{percent:.1f}%"


def _difference(record: SnapshotRecord) -> str:
    """'1,234 pixels (1.23%) differ, 0 allowed' or a size change; '' when nothing is known."""
    parts = []
    if record.size_mismatch and record.expected_size:
        ew, eh = record.expected_size
        parts.append(f"size {ew}x{eh} -> {record.width}x{record.height}")
    if record.diff_pixel_count is not None:
        text = f"{record.diff_pixel_count:,} pixels ({format_percent(record.diff_ratio)}) differ"
        if record.allowed_diff_pixels is not None:
            text += f", {record.allowed_diff_pixels:,} allowed"
        parts.append(text)
    return "; ".join(parts)


def terminal_summary_lines(
    records: Sequence[SnapshotRecord],
    obsolete: Sequence[str] = (),
    *,
    report_path: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Lines for the terminal summary: counts, one line per snapshot needing attention, obsolete.

    Unchanged snapshots get no line of their own (a clean suite stays one line long).
    """
    counts = count_records(records, obsolete)
    lines = ["visual review: " + ", ".join(f"{counts[k]} {k}" for k in COUNT_KEYS)]
    order = {"changed": 0, "new": 1, "error": 2, "approved": 3}
    notable = sorted(
        (r for r in records if _group(r) in order),
        key=lambda r: (order[_group(r)], r.nodeid, r.identifier),
    )
    for record in notable:
        group = _group(record)
        line = f"  {group.upper():<8} {record.identifier}  ({record.nodeid})"
        if group == "changed":
            detail = _difference(record)
            if detail:
                line += f": {detail}"
            if record.diff_path:
                line += f"; diff: {record.diff_path}"
        elif group == "new":
            line += ": no baseline"
            if record.actual_path:
                line += f"; actual: {record.actual_path}"
        elif group == "error":
            line += f": {record.message or 'error'}"
        else:  # approved
            kind = "new baseline" if record.outcome is Outcome.NEW else "baseline updated"
            if REPLACED_UNREADABLE in (record.message or ""):
                kind = REPLACED_UNREADABLE
            line += f": {kind}"
            if record.baseline_path:
                line += f" {record.baseline_path}"
        lines.append(line)
    if obsolete:
        lines.append(f"obsolete baselines ({len(obsolete)}, no test produced them):")
        lines.extend(f"  {path}" for path in obsolete)
    if report_path is not None:
        lines.append(f"visual review report: {report_path}")
    return lines


def _href(path: str | None, base: Path) -> str | None:
    """A URL for `path` relative to the report's folder (file:// URI when no relative path)."""
    if not path:
        return None
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return Path(path).resolve().as_uri()
    return urllib.parse.quote(Path(rel).as_posix())


def _sized(url: str | None, size: tuple[int, int] | None) -> viewer.ImageRef | None:
    if url is None:
        return None
    width, height = size or (0, 0)
    return viewer.ImageRef(url, width, height)


_SECTIONS = (
    ("changed", "Changed"),
    ("new", "New"),
    ("error", "Errors"),
    ("approved", "Approved"),
)


def _item_html(record: SnapshotRecord, base: Path) -> str:
    group = _group(record)
    # After --approve the baseline file holds the new image; before, it holds the expected one.
    baseline_is_actual = group in ("unchanged", "approved")
    expected = _href(
        record.expected_path or (None if baseline_is_actual else record.baseline_path), base
    )
    actual = _href(
        record.actual_path or (record.baseline_path if baseline_is_actual else None), base
    )
    if group == "unchanged":
        expected = None  # identical within tolerance: one image says it all
    diff = _href(record.diff_path, base)
    # Known sizes let the viewer lay images out before they load (lazy, or in a closed group).
    actual_size = (record.width, record.height)
    expected_size = record.expected_size or (None if record.size_mismatch else actual_size)
    diff_size = actual_size
    if record.size_mismatch and record.expected_size:
        ew, eh = record.expected_size
        diff_size = (max(actual_size[0], ew), max(actual_size[1], eh))
    detail = _difference(record)
    meta = [f'<span class="vr-nodeid">{escape(record.nodeid)}</span>']
    if record.name:
        meta.append(f'<span class="vr-name">{escape(record.name)}</span>')
    if record.width and record.height:
        meta.append(f"<span>{record.width}x{record.height}</span>")
    parts = [
        f'<article class="vr-item" id="snapshot-{escape(record.identifier)}"'
        f' data-identifier="{escape(record.identifier)}" data-group="{group}">',
        '<header class="vr-item-head">',
        f'<h3><span class="vr-badge vr-badge-{group}">{group}</span>',
        f" {escape(record.identifier)}</h3>",
        f'<p class="vr-meta">{" · ".join(meta)}</p>',
    ]
    if detail:
        parts.append(f'<p class="vr-detail">{escape(detail)}</p>')
    if record.message:
        parts.append(f'<pre class="vr-message">{escape(record.message)}</pre>')
    parts.append("</header>")
    if expected or actual or diff:
        parts.append(
            viewer.viewer_html(
                expected=_sized(expected, expected_size),
                actual=_sized(actual, actual_size),
                diff=_sized(diff, diff_size),
                label=record.identifier,
            )
        )
    elif group != "error":
        parts.append('<p class="vr-empty">no image was written for this snapshot</p>')
    parts.append("</article>")
    return "".join(parts)


def _report_css() -> str:
    """The report page's own CSS (layout around the viewers), shipped beside the viewer's."""
    return resources.files(viewer).joinpath("report.css").read_text(encoding="utf-8")


def render_html_report(
    records: Sequence[SnapshotRecord],
    base: Path,
    *,
    title: str = "Visual review report",
    obsolete: Sequence[str] = (),
) -> str:
    """The report page as a string; image links are made relative to the folder `base`."""
    counts = count_records(records, obsolete)
    by_group: dict[str, list[SnapshotRecord]] = {}
    for record in sorted(records, key=lambda r: (r.nodeid, r.identifier)):
        by_group.setdefault(_group(record), []).append(record)

    count_items = "".join(
        f'<li data-count="{key}"{" data-nonzero" if counts[key] else ""}>'
        f"<b>{counts[key]}</b>{key}</li>"
        for key in COUNT_KEYS
    )
    body = []
    if not any(by_group.get(key) for key in ("changed", "new", "error")):
        body.append(
            '<p class="vr-allclear">No visual changes: every snapshot matches its baseline.</p>'
        )
    for key, heading in _SECTIONS:
        group = by_group.get(key, [])
        if group:
            items = "".join(_item_html(r, base) for r in group)
            body.append(
                f'<section id="{key}" data-group="{key}">'
                f"<h2>{heading} ({len(group)})</h2>{items}</section>"
            )
    unchanged = by_group.get("unchanged", [])
    if unchanged:
        items = "".join(_item_html(r, base) for r in unchanged)
        body.append(
            f'<details class="vr-section" id="unchanged" data-group="unchanged">'
            f"<summary>Unchanged ({len(unchanged)})</summary>{items}</details>"
        )
    if obsolete:
        paths = "".join(f"<li><code>{escape(str(p))}</code></li>" for p in obsolete)
        body.append(
            f'<section class="vr-obsolete" id="obsolete" data-group="obsolete">'
            f"<h2>Obsolete baselines ({len(obsolete)})</h2>"
            f"<p>No test produced these baselines in this run.</p><ul>{paths}</ul></section>"
        )
    return (
        '<!doctype html>\n<html lang="en" data-vr-mode="side"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>\n{viewer.assets()}<style>{_report_css()}</style></head>\n"
        f'<body class="vr-report"><header><h1>{escape(title)}</h1>'
        f'<ul class="vr-counts">{count_items}</ul>{viewer.keys_legend_html()}</header>\n'
        f"<main>{''.join(body)}</main></body></html>\n"
    )


def write_html_report(
    records: Sequence[SnapshotRecord],
    path: Path,
    *,
    title: str = "Visual review report",
    obsolete: Sequence[str] = (),
) -> Path:
    """Write the static HTML report to `path` (atomically; parents created) and return `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html_text = render_html_report(records, path.parent.resolve(), title=title, obsolete=obsolete)
    write_atomic(path, html_text.encode("utf-8"))
    return path
