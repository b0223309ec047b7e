"""The shared job queue: procrastinate on the same PostgreSQL, for diff workers on many machines.

Why procrastinate: the metadata is already in PostgreSQL, so a queue in the same database adds no
broker to run (Celery would need Redis or RabbitMQ), its jobs commit with the same guarantees as
the rows they describe, and it gives what several machines need out of the box: ``lock`` (jobs
with one lock never run at once, so one run or comparison is worked on by one worker at a time),
``queueing_lock`` (at most one waiting job per item, so repeated wake-ups do not pile up), and
worker heartbeats, from which :func:`retry_stalled` finds the jobs of a worker that died
(kill -9, OOM, a lost machine) and hands them to another. It installs from PyPI over psycopg 3.

What stays the same: the database is still the truth about what is queued (a PostHog run in
``processing``, a Sentry comparison ``pending``/``processing``), and each API's
:class:`~.jobs.JobSource` still does the work, idempotently (results are written with
``needs_diff = 1`` guards and runs finish under the write lock, so work done twice is written
once and a run completes exactly once). A job is only "work on item X of source S" (a Sentry
comparison; a slice of a PostHog run, :data:`RUN_SLICES` per run, so that several workers share
one big run): the API process defers one per queued item (:meth:`SharedQueue.notify`), and
every worker sweeps the sources on start and every :data:`SWEEP_SECONDS`, so an item whose job
was lost (the API died between commit and defer, PostgreSQL was restarting) is queued again.

:class:`SharedQueue` has the embedded :class:`~.jobs.Worker`'s surface (``add_source``,
``notify``, ``start``, ``stop``, ``pool``), so routers do not know which one they have.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any, Protocol

import procrastinate
from procrastinate import exceptions as pexc
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager

from .jobs import PixelPool, Worker, warm_up

log = logging.getLogger(__name__)

TASK = "visualreview.process"
QUEUE = "visualreview"
#: A worker writes its heartbeat this often; one silent for STALLED_SECONDS is taken for dead.
HEARTBEAT_SECONDS = 2.0
STALLED_SECONDS = 10.0
#: How often a worker re-queues items that have no job and retries jobs of dead workers.
SWEEP_SECONDS = 5.0
#: Jobs per PostHog run (slices of its snapshots), so that several workers share one big run.
RUN_SLICES = 4


class ItemSource(Protocol):
    """A job source that can list its queued items and process one (PostHog runs, Sentry
    comparisons)."""

    name: str

    def pending(self) -> list[str]: ...

    def process(self, item: str, pool: PixelPool, stopping: threading.Event) -> None: ...


def ensure_queue_schema(store: Any) -> None:
    """Install procrastinate's tables once, under the store's write lock (replicas race here)."""
    with store.transaction() as conn:
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if not row[0]:
            conn.raw.execute(SchemaManager.get_schema())


class SharedQueue(Worker):
    """The embedded worker's surface over procrastinate (see the module docstring)."""

    def __init__(self, database_url: str, *, workers: int | None = None) -> None:
        super().__init__(workers=workers)
        self.database_url = database_url
        self._deferrer: procrastinate.App | None = None
        self._defer_lock = threading.Lock()
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None

    # -- producing (any process) -------------------------------------------------------------

    def _app(self) -> procrastinate.App:
        with self._defer_lock:
            if self._deferrer is None:
                connector = procrastinate.SyncPsycopgConnector(
                    conninfo=self.database_url, min_size=1, max_size=2
                )
                self._deferrer = procrastinate.App(connector=connector).open()
            return self._deferrer

    def notify(self) -> None:
        """Defer a job for every queued item of every source (duplicates are refused by the
        queueing lock). A failure is logged, not raised: the workers' sweep re-queues it."""
        try:
            enqueue_pending(self._app(), self.sources)
        except Exception as exc:  # the state change is committed; never fail the request here
            log.warning("could not queue jobs now (%s); the workers' sweep will", exc)

    # -- consuming (serve without --no-worker, or `visualreview worker`) ---------------------

    def start(self) -> None:
        """Run a procrastinate worker in a thread of this process (``serve`` without
        ``--no-worker``)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run_thread, name="vr-queue", daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._aloop = loop
        try:
            self._main = loop.create_task(self.work(install_signal_handlers=False))
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()
            for hook in self.on_exit:
                hook()

    def run_forever(self) -> None:
        """``visualreview worker``: work in the foreground until SIGINT/SIGTERM. The process
        exists to diff, so it loads the comparator now rather than in its first job."""
        warm_up()
        try:
            asyncio.run(self.work(install_signal_handlers=True))
        finally:
            self._stop.set()
            self.pool.shutdown()
            for hook in self.on_exit:
                hook()

    async def work(self, *, install_signal_handlers: bool) -> None:
        """The procrastinate worker plus the sweep, until cancelled or signalled; started again
        (after :data:`SWEEP_SECONDS`) when it fails, e.g. while PostgreSQL restarts."""
        while not self._stop.is_set():
            try:
                await self._work_once(install_signal_handlers)
                return  # stopped by a signal
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("queue worker stopped (%s); starting again in %ss", exc, SWEEP_SECONDS)
                await asyncio.sleep(SWEEP_SECONDS)

    async def _work_once(self, install_signal_handlers: bool) -> None:
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self.database_url, min_size=1, max_size=4
            )
        )
        sources = {getattr(source, "name", ""): source for source in self.sources}

        @app.task(name=TASK, queue=QUEUE)
        def process(source: str, item: str) -> None:
            if self._stop.is_set():
                return
            log.info("worker pid %s takes %s:%s", os.getpid(), source, item)
            sources[source].process(item, self.pool, self._stop)  # type: ignore[attr-defined]

        async with app.open_async():
            sweeper = asyncio.create_task(self._sweep(app))
            try:
                await app.run_worker_async(
                    queues=[QUEUE], concurrency=1, install_signal_handlers=install_signal_handlers,
                    update_heartbeat_interval=HEARTBEAT_SECONDS,
                    stalled_worker_timeout=STALLED_SECONDS, delete_jobs="successful",
                    fetch_job_polling_interval=1.0,
                )
            finally:
                sweeper.cancel()

    async def _sweep(self, app: procrastinate.App) -> None:
        while True:
            try:
                await retry_stalled(app)
                await asyncio.to_thread(enqueue_pending, app, self.sources)
            except Exception as exc:  # PostgreSQL restarting: try again next round
                log.warning("queue sweep failed (%s); retrying in %ss", exc, SWEEP_SECONDS)
            await asyncio.sleep(SWEEP_SECONDS)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        loop, main = self._aloop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            loop.call_soon_threadsafe(main.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.pool.shutdown()
        with self._defer_lock:
            if self._deferrer is not None:
                self._deferrer.close()
                self._deferrer = None


def enqueue_pending(app: procrastinate.App, sources: list[Any]) -> int:
    """Defer one job per queued item not already waiting; how many were deferred."""
    deferred = 0
    for source in sources:
        for item in source.pending():
            key = f"{source.name}:{item}"
            try:
                app.configure_task(
                    name=TASK, queue=QUEUE, lock=key, queueing_lock=key
                ).defer(source=source.name, item=item)
                deferred += 1
            except pexc.AlreadyEnqueued:
                pass
    return deferred


async def retry_stalled(app: procrastinate.App) -> int:
    """Give the jobs of workers whose heartbeat stopped back to the queue; how many."""
    stalled = await app.job_manager.get_stalled_jobs(
        queue=QUEUE, seconds_since_heartbeat=STALLED_SECONDS
    )
    count = 0
    for job in stalled:
        log.warning("job %s (%s) was held by a dead worker; retrying it", job.id, job.task_kwargs)
        try:
            await app.job_manager.retry_job(job)
        except pexc.UniqueViolation:
            # A job for the same item is already waiting (its queueing lock refuses a second):
            # that one does the work, so the dead worker's job is closed instead.
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        count += 1
    return count
