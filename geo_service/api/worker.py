"""The worker's scheduled jobs as the administrator sees them: last run, rows, errors, next run."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from geo_service.api.deps import AdminDep, SessionDep, SettingsDep
from geo_service.worker import status

router = APIRouter(prefix="/api/v1/worker", tags=["worker"])


class WorkerJobOut(BaseModel):
    """One scheduled job of the worker and how its runs went (times in UTC)."""

    name: str
    description: str
    interval_s: float = Field(description="Seconds between runs")
    enabled: bool
    next_run_at: datetime | None = Field(description="When a running worker will run it next")
    last_run_id: int | None
    last_worker: str | None = Field(description="host:pid of the worker that ran it last")
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None = Field(
        description="running, ok, error, or lost (still running after GEO_SERVICE_WORKER_JOB_TIMEOUT_S); "
        "null: never run"
    )
    last_rows: int | None = Field(description="Rows the last run stored or changed")
    last_error: str | None
    last_ok_at: datetime | None
    errors_since_ok: int = Field(description="Failed runs since the last successful one")
    windows_open: int = Field(description="UTC days pulled that are still open (pulled again each run)")
    windows_done: int = Field(description="UTC days pulled after they closed (never pulled again)")
    last_window: date | None


@router.get("/jobs", summary="The worker's jobs: last run, rows, errors, next run")
def list_jobs(session: SessionDep, settings: SettingsDep, principal: AdminDep) -> list[WorkerJobOut]:
    """Every job the workers declared, by name."""
    return [WorkerJobOut(**r) for r in status.job_status(session, settings)]
