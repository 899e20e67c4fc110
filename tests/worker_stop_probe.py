"""A worker process for tests/test_worker.py that stops itself at an exact moment, with real signals, instead of a
test guessing the moment with a sleep: ``python -m tests.worker_stop_probe MODE`` (the database and data folder from
``GEO_SERVICE_*`` as for the CLI) serves two jobs, ``probe_a`` (its runs return 7 rows) and ``probe_b``.

- ``start``: SIGTERM arrives inside the scheduler's ``start()``, before APScheduler is running (``serve``'s
  ``on_starting`` seam), and the stop's thread has finished its attempt before the scheduler goes on: the moment
  a restart at start-up used to be lost in (the worker then ran until SIGKILL).
- ``run``: ``probe_a``'s first run sends SIGTERM, waits until the worker has taken it, sends a second SIGTERM,
  waits again, then ends: the second stop request while the first is waiting for the run must change nothing.

Prints ``PROBE ...`` lines on stdout for the test to check that each moment was really reached."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from sqlalchemy import text

from geo_service.db.engine import make_engine, make_sessionmaker
from geo_service.settings import Settings
from geo_service.worker.registry import JobContext, Registry
from geo_service.worker.runner import Runner, serve

WAIT_S = 20  # only a safety net: each wait ends as soon as the worker has logged the stop


class StopSeen(logging.Handler):
    """Counts the worker's "worker stopping" log lines (one per SIGTERM it took)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Semaphore(0)

    def emit(self, record: logging.LogRecord) -> None:
        """Count a stop request."""
        if record.getMessage().startswith("worker stopping (signal"):
            self.seen.release()


def main(mode: str) -> None:
    """Serve the two probe jobs and send this process's SIGTERM(s) at ``mode``'s moment."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stops = StopSeen()
    logging.getLogger("geo_service.worker").addHandler(stops)
    settings = Settings()
    engine = make_engine(os.environ["GEO_SERVICE_DATABASE_URL"], pool_size=4)
    sessions = make_sessionmaker(engine, settings)

    def sigterm_from_a_run(times: int) -> None:
        for n in range(times):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs in the main thread
            if not stops.seen.acquire(timeout=WAIT_S):
                print(f"PROBE stop {n + 1} not taken", flush=True)
                return
            print(f"PROBE stop {n + 1} taken during the run", flush=True)

    def probe_a(ctx: JobContext) -> int:
        """The probe job that answers 7 rows."""
        if mode == "run":
            sigterm_from_a_run(2)
        return 7

    def probe_b(ctx: JobContext) -> int:
        """The other probe job."""
        return 0

    registry = Registry()
    registry.register_job("probe_a", probe_a, 3600)
    registry.register_job("probe_b", probe_b, 3600)
    runner = Runner(sessions, settings, registry, worker="probe:1")

    def on_starting() -> None:
        with engine.connect() as c:
            planned = c.execute(text("SELECT count(next_run_at) FROM worker_jobs WHERE name LIKE 'probe%'")).scalar()
        print(f"PROBE starting, {planned} jobs planned", flush=True)
        signal.raise_signal(signal.SIGTERM)  # the handler runs here, before raise_signal returns
        for t in threading.enumerate():  # the stop's own thread: let it try before the scheduler runs
            if t.name == "worker-stop":
                t.join()
        print("PROBE stop taken before the scheduler runs", flush=True)

    serve(runner, on_starting=on_starting if mode == "start" else None)
    engine.dispose()
    print("PROBE served", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
