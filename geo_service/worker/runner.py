"""The edge of the worker: runs a job (its advisory lock, its run record, the transactions it works in) and the
APScheduler loop of ``geo-service worker``.

A run: take the job's advisory lock without waiting (``worker.store.try_lock``; another worker holding it makes
this run ``skipped``), record the run ``running``, call the job with a ``JobContext`` whose unit of work is a
transaction of the runner's sessions, then record ``ok`` with the rows or ``error`` with the error's text.
An error never stops the worker: the job runs again at its next time, and a pulling job pulls again what it
did not record as pulled.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from geo_service.db.engine import transaction
from geo_service.errors import GeoServiceError
from geo_service.settings import Settings
from geo_service.worker import store
from geo_service.worker.registry import JobContext, Registry

log = logging.getLogger("geo_service.worker")
MAX_ERROR_CHARS = 2000


def worker_name() -> str:
    """This worker's name in the run records: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RunResult:
    """What one run did: ``ok``, ``error`` or ``skipped`` (another worker held the job's lock)."""

    name: str
    status: str
    rows: int | None
    error: str | None
    run_id: int


def describe_error(exc: BaseException) -> str:
    """The error as stored with the run: the service's own message, or the exception's type and text."""
    text = str(exc) if isinstance(exc, GeoServiceError) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


class Runner:
    """Runs the registry's jobs on the database of ``sessions``."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, registry: Registry, worker: str | None = None
    ):
        self.sessions = sessions
        self.settings = settings
        self.registry = registry
        self.worker = worker or worker_name()

    def declare(self) -> None:
        """Write the registered jobs (interval, description, enabled) into ``worker_jobs``."""
        rows = [store.JobRow(j.name, j.description, j.interval_s, j.enabled) for j in self.registry]
        with transaction(self.sessions) as session:
            store.declare_jobs(session, rows)

    def planned(self, at: datetime | None) -> None:
        """Record ``at`` as every enabled job's next run (a worker starting), or None (a worker stopping)."""
        with transaction(self.sessions) as session:
            store.set_next_run(session, None, at)

    def run(
        self, name: str, *, now: datetime | None = None, next_run: Callable[[], datetime | None] | None = None
    ) -> RunResult:
        """Run the job ``name`` once (``now``: the run's time, for the catch-up; default the clock) and record
        it; ``next_run`` tells when the scheduler runs it next."""
        spec = self.registry.get(name)
        engine = self.sessions.kw["bind"]
        with engine.connect() as lock:
            locked = store.try_lock(lock, name)
            lock.commit()
            if not locked:
                with transaction(self.sessions) as session:
                    run_id = store.start_run(
                        session, name, self.worker, "skipped", {"reason": "another worker holds the job's lock"}
                    )
                log.info("%s skipped: another worker is running it", name)
                return RunResult(name, "skipped", None, None, run_id)
            try:
                with transaction(self.sessions) as session:
                    run_id = store.start_run(session, name, self.worker)
                ctx = JobContext(
                    name,
                    self.settings,
                    partial(transaction, self.sessions),
                    now or datetime.now(UTC),
                    run_id,
                    sessions=self.sessions,
                )
                rows: int | None = None
                error: str | None = None
                try:
                    rows = spec.func(ctx)
                except Exception as exc:  # a job's failure is recorded; the worker carries on
                    log.warning(
                        "%s failed: %s", name, describe_error(exc), exc_info=not isinstance(exc, GeoServiceError)
                    )
                    error = describe_error(exc)
                status = "error" if error else "ok"
                with transaction(self.sessions) as session:
                    store.finish_run(session, run_id, status, rows, error, ctx.detail)
                    if next_run is not None:
                        store.set_next_run(session, name, next_run())
                log.info("%s %s: %s rows", name, status, rows)
                return RunResult(name, status, rows, error, run_id)
            finally:
                store.unlock(lock, name)
                lock.commit()

    def run_all(self, names: list[str] | None = None, now: datetime | None = None) -> list[RunResult]:
        """Run the enabled jobs (or the ``names`` given, enabled or not) once each, in registration order."""
        chosen = [self.registry.get(n) for n in names] if names else [j for j in self.registry if j.enabled]
        return [self.run(j.name, now=now) for j in chosen]


def serve(runner: Runner, only: list[str] | None = None, *, on_starting: Callable[[], None] | None = None) -> None:
    """Schedule every enabled job (or the jobs named in ``only``) at its interval with APScheduler (each starts at once) and block until
    SIGTERM or SIGINT; a run in progress then finishes before the process ends.

    One run of a job at a time in this process (``max_instances=1``), runs missed while it was busy are
    coalesced into one; across processes the job's advisory lock keeps two workers off the same job.

    ``on_starting`` (a test seam, tests/worker_stop_probe.py): called once inside the scheduler's ``start()``, before
    APScheduler is running, where a stop request is hardest to honour."""
    from apscheduler.events import EVENT_ALL, EVENT_SCHEDULER_START
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BlockingScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )
    runner.declare()
    start = datetime.now(UTC)

    # Stopping: no new run begins, the runs in progress finish, then the jobs are recorded as having no next run.
    # The scheduler is shut down WITHOUT waiting for its runs (shutdown(wait=True) holds the scheduler's job-store
    # lock while it waits, and a finishing run takes that lock to read its next time: a SIGTERM during a run hung
    # the worker for ever, seen under load in tests/test_worker.py); the runs in progress are counted here instead.
    stopping = threading.Event()
    runs = threading.Condition()
    in_progress = 0

    def next_run(name: str) -> datetime | None:
        if stopping.is_set():
            return None  # stopping: no next run
        job = scheduler.get_job(name)
        return job.next_run_time if job else None

    def run_job(name: str) -> None:
        nonlocal in_progress
        with runs:
            if stopping.is_set():
                return  # submitted before the stop but not begun: not begun at all
            in_progress += 1
        try:
            runner.run(name, next_run=partial(next_run, name))
        finally:
            with runs:
                in_progress -= 1
                runs.notify_all()

    chosen = [runner.registry.get(n) for n in only] if only else [j for j in runner.registry if j.enabled]
    for spec in chosen:
        scheduler.add_job(
            run_job,
            IntervalTrigger(seconds=spec.interval_s, timezone=UTC),
            args=[spec.name],
            id=spec.name,
            name=spec.name,
            next_run_time=start,
        )

    def stop(signum, frame) -> None:
        again = stopping.is_set()
        stopping.set()
        log.info("worker stopping (signal %s%s)", signum, ", again" if again else "")
        # Not in the handler itself: the signal can interrupt the scheduler's loop while it holds the scheduler's
        # lock; from its own thread the loop resumes, releases the lock, and stops. A later signal tries again
        # (halt is idempotent) rather than trusting that the first attempt stopped the scheduler.
        threading.Thread(target=halt, name="worker-stop").start()

    # A stop request can land inside start() before APScheduler is running: halt then has nothing to shut down,
    # and start() would go on into its loop for ever. So halt is also called once APScheduler is running (its
    # EVENT_SCHEDULER_START, dispatched inside start() right after the state turns running, before the loop): a
    # request before that is seen by the listener, one after it finds the scheduler running. The lock makes the
    # two callers' check-then-shutdown one step (APScheduler's shutdown is not safe to race with itself).
    halting = threading.Lock()

    def halt() -> None:
        with halting:
            if scheduler.running:
                scheduler.shutdown(wait=False)

    def started(event) -> None:
        if stopping.is_set():
            halt()  # from start() itself: its loop then finds the scheduler stopped and returns at once

    scheduler.add_listener(started, EVENT_SCHEDULER_START)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker %s: %s", runner.worker, ", ".join(j.name for j in chosen) or "no jobs")
    if on_starting is not None:
        # APScheduler dispatches no event before start() (jobs added earlier wait in its pending list): the first
        # event after this is one of start()'s own (its default executor or job store added) while not running
        def starting(event) -> None:
            if not scheduler.running:
                scheduler.remove_listener(starting)
                on_starting()

        scheduler.add_listener(starting, EVENT_ALL)
    runner.planned(start)
    try:
        if not stopping.is_set():
            scheduler.start()
    finally:
        with runs:
            if in_progress:
                log.info("worker stopping: waiting for %d run(s) in progress", in_progress)
            runs.wait_for(lambda: in_progress == 0)
        runner.planned(None)  # no worker, no next run (after the last run recorded its own)
