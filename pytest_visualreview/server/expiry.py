"""Pending-run expiry as a job source of the one worker (:mod:`.jobs`).

Why: a session interrupted between ``POST runs/`` and ``complete`` leaves its run ``pending``
forever, counted nowhere and never finished. The worker marks such runs ``expired`` once they are
older than the server's ``--pending-expiry-hours`` (default 24). One mechanism: the worker does
it, reads never change state. The check is one indexed UPDATE, made at most every
:data:`MAX_INTERVAL` seconds (more often for short ages, so a test can use seconds). On the shared
queue (:mod:`.queue`) it is an item like any other: the sweep of every worker asks
:meth:`PendingExpiry.pending`, and the queueing lock keeps it to one job at a time.
"""

from __future__ import annotations

import threading
import time

from . import runs
from .jobs import PixelPool
from .store import Store

DEFAULT_HOURS = 24.0
MAX_INTERVAL = 60.0


class PendingExpiry:
    """Expire runs left ``pending`` longer than ``max_age_seconds`` (0 or less: never)."""

    name = "expiry"

    def __init__(self, store: Store, max_age_seconds: float) -> None:
        self.store = store
        self.max_age_seconds = max_age_seconds
        self.interval = min(MAX_INTERVAL, max(max_age_seconds / 4, 0.05))
        self._next = 0.0

    def run_once(self, pool: PixelPool, stopping: threading.Event) -> bool:
        del pool, stopping  # no pixel work; one short transaction
        if self.max_age_seconds <= 0 or time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.interval
        return runs.expire_pending(self.store, self.max_age_seconds) > 0

    def pending(self) -> list[str]:
        """The shared queue's item: one while some run is due to expire."""
        if self.max_age_seconds <= 0 or not runs.due_to_expire(self.store, self.max_age_seconds):
            return []
        return ["due"]

    def process(self, item: str, pool: PixelPool, stopping: threading.Event) -> None:
        del item, pool, stopping
        runs.expire_pending(self.store, self.max_age_seconds)
