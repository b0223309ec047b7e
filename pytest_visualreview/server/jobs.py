"""The server's one job queue and worker: PostHog run diffs and Sentry comparisons alike.

The queue is the database (a PostHog run in ``processing`` with snapshots ``needs_diff = 1``; a
Sentry comparison ``pending`` or ``processing``), not a broker: one process, restart-safe, no
setup. Each API registers a :class:`JobSource` that knows its tables; one coordinator thread asks
each source in turn for work and owns every database write, and the pixel work (decode, compare,
encode the diff image, write its blob) runs in a pool of worker *processes* (spawned, one per core
by default) shared by both. Threads measured slower than one thread on two cores, because decode,
compare and encode hold the GIL for much of their time; only small results cross the process
boundary. With one worker the jobs run inline in the coordinator.

The worker lives and dies with the app: ``create_app`` starts it in the lifespan (unless
``start_worker=False``) and stops it, pool included, on shutdown.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


#: Seconds before a job source tries again a job that could not store its results because the
#: disk is full (the job stays queued meanwhile; see ``processing`` and ``sentry.compare``).
DISK_FULL_RETRY_SECONDS = 3.0

class JobSource(Protocol):
    """One API's queue: ``run_once`` does one unit of queued work and says whether there was any."""

    def run_once(self, pool: PixelPool, stopping: threading.Event) -> bool: ...


class PixelPool:
    """Worker processes for pixel work, created on first use (a server that never diffs, like
    most test servers, never pays for spawning them)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Executor | None = None
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` (a module-level function) in a worker process, or inline with one."""
        pool = self._ensure()
        if pool is None:
            future: Future[T] = Future()
            future.set_result(fn(*args))
            return future
        return pool.submit(fn, *args)

    def _ensure(self) -> Executor | None:
        with self._lock:
            if self._pool is None and self.workers > 1 and not self._closed:
                # spawn, not fork: the server process has threads (uvicorn, SQLite) that fork
                # would copy in an undefined state.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_watch_parent,
                    initargs=(os.getpid(),),
                )
                for _ in range(self.workers):  # start all workers at once, not one per job
                    self._pool.submit(warm_up)
            return self._pool

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class Worker:
    """The coordinator thread draining every registered :class:`JobSource`; ``notify()`` wakes it."""

    def __init__(self, *, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.pool = PixelPool(self.workers)
        self.sources: list[JobSource] = []
        self.on_exit: list[Callable[[], None]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_source(self, source: JobSource) -> None:
        self.sources.append(source)

    def start(self) -> None:
        """Start draining (resuming work a previous process left queued)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="vr-worker", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.pool.shutdown()

    def run_once(self) -> bool:
        """One pass over every source; False when none had work."""
        worked = False
        for source in self.sources:
            if self._stop.is_set():
                break
            try:
                worked = source.run_once(self.pool, self._stop) or worked
            except Exception:  # keep the worker alive; the job stays queued for the next pass
                log.exception("worker pass of %s failed", type(source).__name__)
        return worked

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.run_once():
                self._wake.wait(1.0)
                self._wake.clear()
        for hook in self.on_exit:
            hook()


def _watch_parent(parent_pid: int) -> None:
    """Pool initializer: exit when the server process is gone (e.g. SIGKILL), instead of
    lingering as an orphan waiting for work that will never come."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="vr-parent-watch", daemon=True).start()


def warm_up() -> None:
    """Import the comparator in a fresh worker process before the first real job."""
    from .. import diff  # noqa: F401
