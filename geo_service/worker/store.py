"""The worker's record (migration 0026): the only module that names ``worker_jobs``, ``worker_job_runs`` and
``worker_windows``.

Every function works in the caller's transaction, except the job lock (``try_lock`` / ``unlock``), a
session-level PostgreSQL advisory lock held on a connection of its own for the whole run: it ends with the
connection, so a worker killed mid-run never leaves a job locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geo_service.errors import NotFound

# pg_advisory_lock(key1, key2) namespace of the worker's jobs ("geow"); key2 is hashtext(job name)
LOCK_CLASS = 0x67656F77


@dataclass(frozen=True)
class JobRow:
    """A job as the worker declares it to the database."""

    name: str
    description: str
    interval_s: float
    enabled: bool


def declare_jobs(session: Session, jobs: Sequence[JobRow]) -> None:
    """Insert or update the declared jobs (interval, description, enabled); jobs not declared are kept with
    their history but marked disabled."""
    names = [j.name for j in jobs]
    for j in jobs:
        session.execute(
            text("""
            INSERT INTO worker_jobs (name, description, interval_s, enabled, updated_at)
            VALUES (:name, :description, :interval_s, :enabled, now())
            ON CONFLICT (name) DO UPDATE SET description = excluded.description, interval_s = excluded.interval_s,
                enabled = excluded.enabled, updated_at = now(),
                next_run_at = CASE WHEN excluded.enabled THEN worker_jobs.next_run_at END"""),
            {"name": j.name, "description": j.description, "interval_s": j.interval_s, "enabled": j.enabled},
        )
    session.execute(
        text("UPDATE worker_jobs SET enabled = false, next_run_at = NULL WHERE NOT (name = ANY(:names))"),
        {"names": names},
    )


def set_next_run(session: Session, name: str | None, at: datetime | None) -> None:
    """Record when the scheduler will run the job next (None: not scheduled); ``name`` None: every enabled job
    (a worker starting: all at once; stopping: none)."""
    session.execute(
        text("""
        UPDATE worker_jobs SET next_run_at = :at, updated_at = now()
        WHERE CASE WHEN CAST(:name AS text) IS NULL THEN enabled ELSE name = :name END"""),
        {"name": name, "at": at},
    )


def try_lock(conn: Connection, name: str) -> bool:
    """Take the job's advisory lock on ``conn`` (session level) without waiting; False if another worker has it."""
    return bool(
        conn.execute(
            text("SELECT pg_try_advisory_lock(:cls, hashtext(:name))"), {"cls": LOCK_CLASS, "name": name}
        ).scalar()
    )


def unlock(conn: Connection, name: str) -> None:
    """Release the job's advisory lock taken on ``conn``."""
    conn.execute(text("SELECT pg_advisory_unlock(:cls, hashtext(:name))"), {"cls": LOCK_CLASS, "name": name})


def start_run(session: Session, name: str, worker: str, status: str = "running", detail: dict | None = None) -> int:
    """Record a run of the job (``running``, or ``skipped`` straight away); returns its id."""
    return int(
        session.execute(
            text("""
            INSERT INTO worker_job_runs (job_name, worker, status, detail, finished_at)
            VALUES (:name, :worker, :status, CAST(:detail AS jsonb), CASE WHEN :status = 'running' THEN NULL ELSE now() END)
            RETURNING id"""),
            {"name": name, "worker": worker, "status": status, "detail": orjson.dumps(detail or {}).decode()},
        ).scalar_one()
    )


def finish_run(
    session: Session, run_id: int, status: str, rows: int | None, error: str | None, detail: dict | None = None
) -> None:
    """Close a run: ``ok`` with its rows, or ``error`` with the error's text."""
    session.execute(
        text("""
        UPDATE worker_job_runs SET finished_at = now(), status = :status, rows = :rows, error = :error,
            detail = detail || CAST(:detail AS jsonb)
        WHERE id = :id"""),
        {"id": run_id, "status": status, "rows": rows, "error": error, "detail": orjson.dumps(detail or {}).decode()},
    )


def windows(session: Session, name: str, first: date, last: date) -> dict[date, str]:
    """The job's recorded windows (UTC days) in [first, last] and their status (``open`` or ``done``)."""
    rows = session.execute(
        text("""
        SELECT window_start, status FROM worker_windows
        WHERE job_name = :name AND window_start BETWEEN :first AND :last"""),
        {"name": name, "first": first, "last": last},
    )
    return {r.window_start: r.status for r in rows}


def first_window(session: Session, name: str) -> date | None:
    """The first day the job ever pulled (None before its first pull)."""
    return session.execute(
        text("SELECT min(window_start) FROM worker_windows WHERE job_name = :n"), {"n": name}
    ).scalar()


def record_windows(
    session: Session, name: str, days: Iterable[tuple[date, str]], batch_id: int | None, rows: int | None
) -> None:
    """Record pulled days (``open`` or ``done``) with the batch that stored them; a ``done`` day stays done."""
    for day, status in days:
        session.execute(
            text("""
            INSERT INTO worker_windows (job_name, window_start, status, batch_id, rows)
            VALUES (:name, :day, :status, :batch, :rows)
            ON CONFLICT (job_name, window_start) DO UPDATE SET
                status = CASE WHEN worker_windows.status = 'done' THEN 'done' ELSE excluded.status END,
                pulls = worker_windows.pulls + 1, batch_id = excluded.batch_id, rows = excluded.rows,
                last_pulled_at = now()"""),
            {"name": name, "day": day, "status": status, "batch": batch_id, "rows": rows},
        )


def job_status(session: Session, timeout_s: float) -> list[dict]:
    """Each job with its interval, next run, last run (status, rows, error, times), last success, the errors
    since then, and its windows (open, done, the newest). A run ``running`` for longer than ``timeout_s`` is
    reported as ``lost`` (its worker died)."""
    rows = session.execute(
        text("""
        SELECT j.name, j.description, j.interval_s, j.enabled, j.next_run_at,
               r.id AS last_run_id, r.worker AS last_worker, r.started_at AS last_started_at,
               r.finished_at AS last_finished_at,
               CASE WHEN r.status = 'running' AND r.started_at < now() - make_interval(secs => :timeout)
                    THEN 'lost' ELSE r.status END AS last_status,
               r.rows AS last_rows, r.error AS last_error,
               ok.finished_at AS last_ok_at,
               (SELECT count(*) FROM worker_job_runs e WHERE e.job_name = j.name AND e.status = 'error'
                  AND e.id > coalesce(ok.id, 0)) AS errors_since_ok,
               (SELECT count(*) FROM worker_windows w WHERE w.job_name = j.name AND w.status = 'open') AS windows_open,
               (SELECT count(*) FROM worker_windows w WHERE w.job_name = j.name AND w.status = 'done') AS windows_done,
               (SELECT max(window_start) FROM worker_windows w WHERE w.job_name = j.name) AS last_window
        FROM worker_jobs j
        LEFT JOIN LATERAL (SELECT * FROM worker_job_runs x WHERE x.job_name = j.name AND x.status <> 'skipped'
                           ORDER BY x.id DESC LIMIT 1) r ON true
        LEFT JOIN LATERAL (SELECT id, finished_at FROM worker_job_runs x WHERE x.job_name = j.name
                           AND x.status = 'ok' ORDER BY x.id DESC LIMIT 1) ok ON true
        ORDER BY j.name"""),
        {"timeout": timeout_s},
    )
    return [dict(r) for r in rows.mappings().all()]


def job_runs(session: Session, name: str, limit: int = 20) -> list[dict]:
    """The job's latest runs, newest first (NotFound for an unknown job)."""
    known = session.execute(text("SELECT 1 FROM worker_jobs WHERE name = :n"), {"n": name}).first()
    if not known:
        raise NotFound(f"No worker job is called {name!r}.", code="worker_job_not_found")
    rows = session.execute(
        text("""
        SELECT id, worker, started_at, finished_at, status, rows, error, detail FROM worker_job_runs
        WHERE job_name = :n ORDER BY id DESC LIMIT :limit"""),
        {"n": name, "limit": limit},
    )
    return [dict(r) for r in rows.mappings().all()]
