"""Peak resident memory of a live server process, for bounds on what one request may cost.

``peak_growth(pid, action)`` resets the process's high-water mark (``/proc/<pid>/clear_refs``,
value 5, Linux 4.0+) to its current RSS, runs ``action`` and returns how far ``VmHWM`` rose: the
most memory the server held at any instant while answering, however briefly. Each measurement is
printed (``pytest -rP`` shows them), which is where docs/server.md's figures come from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
MiB = 1024 * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def peak_growth(pid: int, action: Callable[[], T], label: str) -> tuple[int, T]:
    """(bytes the peak RSS of ``pid`` rose by while ``action`` ran, what ``action`` returned)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _status_kib(pid, "VmHWM")
    result = action()
    growth = (_status_kib(pid, "VmHWM") - before) * 1024
    print(f"peak RSS growth {growth / MiB:.1f} MiB: {label}")
    return growth, result
