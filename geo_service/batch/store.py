"""The batch job record and the parts' results (migration 0022): the only module that names these tables.

A job is found again by its key (command, input, parameters, the parts' names and sizes), so re-running the
same command resumes it. A part's results are written with ``claim_part`` (a row lock: a part already done
is skipped, and two runs of one job never write a part twice) and ``mark_part_done`` in the caller's
transaction, one transaction per part.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.errors import NotFound
from geo_service.hotspots.rows import copy_batch, query_frame

SUMMARY_SCHEMA = pa.schema(
    [
        ("job_id", pa.int32()),
        ("part", pa.string()),
        ("province_code", pa.string()),
        ("district_code", pa.string()),
        ("subdistrict_code", pa.string()),
        ("in_aoi", pa.bool_()),
        ("day", pa.date32()),
        ("detections", pa.int64()),
        ("frp_sum_mw_e3", pa.int64()),
        ("frp_max_mw", pa.float64()),
    ]
)
LEVEL_COLUMNS = {"province": "province_code", "district": "district_code", "subdistrict": "subdistrict_code"}
# the service's period keys (hotspots.summaries.PERIODS; fiscal_year_be is the SQL twin of thai.py, migration 0016)
PERIOD_KEYS = {
    "day": "to_char(day, 'YYYY-MM-DD')",
    "month": "to_char(day, 'YYYY-MM')",
    "fiscal_year": "fiscal_year_be(day)::text",
}
LINK_SCHEMA = pa.schema(
    [("job_id", pa.int32()), ("part", pa.string()), ("detection", pa.int64()), ("component", pa.int64())]
)
MEMBER_SCHEMA = pa.schema([("job_id", pa.int32()), ("detection", pa.int64()), ("event", pa.int64())])


@dataclass
class Job:
    """A batch job as recorded: which parts it has and which of them are done."""

    id: int
    kind: str
    source: str
    status: str
    parts: list[str]
    done: set[str] = field(default_factory=set)
    params: dict = field(default_factory=dict)

    @property
    def todo(self) -> list[str]:
        """The parts not done yet, in the job's order."""
        return [p for p in self.parts if p not in self.done]


def job_key(kind: str, source: str, params: dict, parts: list[tuple[str, int]]) -> str:
    """SHA-256 naming a job: the command, its input, its parameters and the parts (name, size)."""
    doc = {"kind": kind, "source": source, "params": params, "parts": parts}
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


def open_job(
    session: Session,
    kind: str,
    source: str,
    params: dict,
    parts: list[tuple[str, int]],
    *,
    created_by: str | None = None,
) -> Job:
    """The job of this command, input and parameters: the unfinished (or finished) one recorded, or a new one.

    Parameters
    ----------
    parts : list of (name, size)
        The job's parts in processing order; their names are the keys of the job record.
    """
    key = job_key(kind, source, params, parts)
    session.execute(
        text("""
        INSERT INTO batch_jobs (kind, job_key, source, params, parts_total, created_by)
        VALUES (:kind, :key, :source, CAST(:params AS jsonb), :n, :by)
        ON CONFLICT (job_key) DO NOTHING"""),
        {
            "kind": kind,
            "key": key,
            "source": source,
            "params": orjson.dumps(params).decode(),
            "n": len(parts),
            "by": created_by,
        },
    )
    job_id = session.execute(text("SELECT id FROM batch_jobs WHERE job_key = :key"), {"key": key}).scalar_one()
    session.execute(
        text("""
        INSERT INTO batch_job_parts (job_id, part) SELECT :job, unnest(CAST(:parts AS text[]))
        ON CONFLICT DO NOTHING"""),
        {"job": job_id, "parts": [name for name, _ in parts]},
    )
    return get_job(session, job_id)


def get_job(session: Session, job_id: int) -> Job:
    """A recorded job with its parts (NotFound if there is no such job)."""
    row = session.execute(
        text("SELECT id, kind, source, status, params FROM batch_jobs WHERE id = :id"), {"id": job_id}
    ).one_or_none()
    if row is None:
        raise NotFound(f"No batch job has the number {job_id}.", code="batch_job_not_found")
    parts = session.execute(
        text("SELECT part, done_at IS NOT NULL FROM batch_job_parts WHERE job_id = :id ORDER BY part"),
        {"id": job_id},
    ).all()
    return Job(
        id=row.id,
        kind=row.kind,
        source=row.source,
        status=row.status,
        parts=[p for p, _ in parts],
        done={p for p, done in parts if done},
        params=dict(row.params or {}),
    )


def claim_part(session: Session, job_id: int, part: str) -> bool:
    """Lock a part's record for this transaction; False if the part is done already (its results are written)."""
    done = session.execute(
        text("SELECT done_at IS NOT NULL FROM batch_job_parts WHERE job_id = :job AND part = :part FOR UPDATE"),
        {"job": job_id, "part": part},
    ).scalar_one()
    return not done


def mark_part_done(
    session: Session, job_id: int, part: str, *, rows: int, refused: int, seconds: float, cpu_seconds: float
) -> None:
    """Record a part as done (in the transaction that wrote its results), with its task's wall and CPU time."""
    session.execute(
        text("""
        UPDATE batch_job_parts SET done_at = now(), rows = :rows, rows_refused = :refused, seconds = :seconds,
          cpu_seconds = :cpu
        WHERE job_id = :job AND part = :part"""),
        {"job": job_id, "part": part, "rows": rows, "refused": refused, "seconds": seconds, "cpu": cpu_seconds},
    )


def finish_job(session: Session, job_id: int) -> None:
    """Mark a job done (every part written, and for a clustering the final events)."""
    session.execute(
        text("UPDATE batch_jobs SET status = 'done', finished_at = now() WHERE id = :id AND status <> 'done'"),
        {"id": job_id},
    )


def write_summaries(session: Session, job_id: int, part: str, frame: pd.DataFrame) -> None:
    """COPY a part's summary rows (``batch.summaries.SUMMARY_COLUMNS``) into ``batch_summaries``."""
    if frame.empty:
        return
    n = len(frame)
    arrays = {
        "job_id": pa.array(np.full(n, job_id, dtype=np.int32)),
        "part": pa.array([part] * n, pa.string()),
        **{c: pa.array(frame[c].to_numpy(dtype=object), pa.string()) for c in LEVEL_COLUMNS.values()},
        "in_aoi": pa.array(frame["in_aoi"].to_numpy(bool)),
        "day": pa.array(frame["day"].to_numpy().astype("datetime64[D]"), pa.date32()),
        "detections": pa.array(frame["detections"].to_numpy(np.int64)),
        "frp_sum_mw_e3": pa.array(frame["frp_sum_mw_e3"].to_numpy(np.int64)),
        "frp_max_mw": pa.array(frame["frp_max_mw"].to_numpy(np.float64), pa.float64(), from_pandas=True),
    }
    batch = pa.RecordBatch.from_arrays([arrays[c] for c in SUMMARY_SCHEMA.names], schema=SUMMARY_SCHEMA)
    copy_batch(driver_connection(session), "batch_summaries", batch)


def job_summaries(session: Session, job_id: int, level: str, period_kind: str, area: str = "all") -> list[dict]:
    """A job's figures by area of ``level`` (province, district, subdistrict) and period (day, month,
    fiscal_year): the parts' rows summed.

    ``area``: ``aoi`` (detections inside the area of interest), ``outside`` or ``all``, as the service's
    summaries. Rows as ``hotspots.summaries`` reports them: code ('' for none), period, detections,
    ``frp_sum_mw`` (rounded to 0.01 MW), ``frp_max_mw``, ``first_date``, ``last_date``.
    """
    column, key = LEVEL_COLUMNS[level], PERIOD_KEYS[period_kind]  # KeyError: the CLI checks both first
    where = {"aoi": "AND in_aoi", "outside": "AND NOT in_aoi", "all": ""}[area]
    rows = session.execute(
        text(f"""
        SELECT {column} AS code, {key} AS period, sum(detections)::bigint AS detections,
               round(sum(frp_sum_mw_e3) / 1000.0, 2)::float8 AS frp_sum_mw, max(frp_max_mw) AS frp_max_mw,
               min(day) AS first_date, max(day) AS last_date
        FROM batch_summaries WHERE job_id = :job {where}
        GROUP BY 1, 2 ORDER BY 2, 1"""),
        {"job": job_id},
    )
    return [dict(r) for r in rows.mappings().all()]


def write_event_links(session: Session, job_id: int, part: str, detection: np.ndarray, component: np.ndarray) -> None:
    """COPY a block's (detection, block component) pairs into ``batch_event_links``."""
    n = len(detection)
    if not n:
        return
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(np.full(n, job_id, dtype=np.int32)),
            pa.array([part] * n, pa.string()),
            pa.array(np.asarray(detection, np.int64)),
            pa.array(np.asarray(component, np.int64)),
        ],
        schema=LINK_SCHEMA,
    )
    copy_batch(driver_connection(session), "batch_event_links", batch)


def event_links(session: Session, job_id: int) -> pd.DataFrame:
    """Every (detection, component) pair the job's blocks wrote (COPY out)."""
    return query_frame(
        driver_connection(session),
        "SELECT detection, component FROM batch_event_links WHERE job_id = %s",
        (job_id,),
        ["detection", "component"],
    )


def write_event_members(session: Session, job_id: int, detection: np.ndarray, event: np.ndarray) -> None:
    """Replace the job's final events: (detection, event) pairs COPYed into ``batch_event_members``."""
    session.execute(text("DELETE FROM batch_event_members WHERE job_id = :job"), {"job": job_id})
    n = len(detection)
    if not n:
        return
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(np.full(n, job_id, dtype=np.int32)),
            pa.array(np.asarray(detection, np.int64)),
            pa.array(np.asarray(event, np.int64)),
        ],
        schema=MEMBER_SCHEMA,
    )
    copy_batch(driver_connection(session), "batch_event_members", batch)


def event_members(session: Session, job_id: int) -> pd.DataFrame:
    """The job's final events: one row per detection (``detection``, ``event``)."""
    return query_frame(
        driver_connection(session),
        "SELECT detection, event FROM batch_event_members WHERE job_id = %s ORDER BY detection",
        (job_id,),
        ["detection", "event"],
    )


def list_jobs(session: Session, job_id: int | None = None) -> list[dict]:
    """Jobs (or one) with their progress: parts done of total, rows, refused rows, seconds of work."""
    rows = session.execute(
        text("""
        SELECT j.id, j.kind, j.source, j.status, j.created_at, j.finished_at, j.created_by,
               count(p.part) AS parts_total, count(p.done_at) AS parts_done,
               coalesce(sum(p.rows), 0)::bigint AS rows, coalesce(sum(p.rows_refused), 0)::bigint AS rows_refused,
               coalesce(sum(p.seconds), 0)::float8 AS seconds, coalesce(sum(p.cpu_seconds), 0)::float8 AS cpu_seconds
        FROM batch_jobs j LEFT JOIN batch_job_parts p ON p.job_id = j.id
        WHERE CAST(:id AS integer) IS NULL OR j.id = CAST(:id AS integer)
        GROUP BY j.id ORDER BY j.id"""),
        {"id": job_id},
    )
    out = [dict(r) for r in rows.mappings().all()]
    if job_id is not None and not out:
        raise NotFound(f"No batch job has the number {job_id}.", code="batch_job_not_found")
    return out


def job_parts(session: Session, job_id: int) -> list[dict]:
    """One job's parts: name, rows, refused rows, seconds and when each was done (None: not yet)."""
    rows = session.execute(
        text("""
        SELECT part, rows, rows_refused, seconds, done_at FROM batch_job_parts
        WHERE job_id = :id ORDER BY part"""),
        {"id": job_id},
    )
    return [dict(r) for r in rows.mappings().all()]


def interrupted_jobs(session: Session, idle_s: float) -> list[int]:
    """Running jobs with no part done (and not started) in the last ``idle_s`` seconds: a command that was
    killed or lost its machine. Oldest first."""
    rows = session.execute(
        text("""
        SELECT j.id FROM batch_jobs j LEFT JOIN batch_job_parts p ON p.job_id = j.id
        WHERE j.status = 'running'
        GROUP BY j.id
        HAVING greatest(j.created_at, max(p.done_at)) < now() - make_interval(secs => :idle)
        ORDER BY j.id"""),
        {"idle": idle_s},
    )
    return [r.id for r in rows]
