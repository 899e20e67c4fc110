"""What the API and the CLI show of the worker: each job's last run, rows, errors and next run."""

from __future__ import annotations

from sqlalchemy.orm import Session

from geo_service.settings import Settings
from geo_service.worker import store


def job_status(session: Session, settings: Settings) -> list[dict]:
    """Every job the workers declared: interval, enabled, next run, the last run (status, rows, error; a run
    older than ``GEO_SERVICE_WORKER_JOB_TIMEOUT_S`` still ``running`` is ``lost``), the last success, the errors
    since it, and the windows pulled (open, done, newest)."""
    return store.job_status(session, settings.worker.job_timeout_s)


def job_runs(session: Session, name: str, limit: int = 20) -> list[dict]:
    """The job's latest runs, newest first."""
    return store.job_runs(session, name, limit)
