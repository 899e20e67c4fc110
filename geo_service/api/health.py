"""Health: is the service up, which database and PostGIS it runs on, and which schema version."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text

from geo_service import __version__
from geo_service.api.deps import SessionDep
from geo_service.db.read_routing import format_lsn
from geo_service.layers import queries

router = APIRouter(tags=["health"])


class ServiceInfo(BaseModel):
    """This service's name and version."""

    name: str
    version: str


class DatabaseInfo(BaseModel):
    """The database server, its PostGIS and the schema's migration revision."""

    postgresql: str
    postgis: str
    schema_revision: str | None


class BoundaryCounts(BaseModel):
    """How many current administrative areas and protected-area versions are loaded."""

    admin_areas: int
    protected_areas: int


class ReadsInfo(BaseModel):
    """Which database the heavy read-only routes read now (README, *Read replicas and several API processes*)."""

    reads_from: str = Field(description="primary or replica: where a read without a recent write of its own goes now")
    reason: str = Field(description="why (e.g. 'no replica configured', 'replica lag 42.0 s over 30 s')")
    replica_configured: bool
    replica_reachable: bool | None = Field(default=None, description="null without a replica")
    replica_lag_s: float | None = Field(
        default=None, description="seconds the replica is behind (0 when it has replayed all the primary wrote)"
    )
    replica_replay_lsn: str | None = Field(default=None, description="WAL position the replica has replayed")
    max_lag_s: float | None = Field(default=None, description="reads go to the primary beyond this lag")


class Health(BaseModel):
    """The service is up: what it runs on and what it holds."""

    status: str
    service: ServiceInfo
    database: DatabaseInfo
    data: BoundaryCounts
    reads: ReadsInfo


@router.get("/health", summary="Service, database and PostGIS status")
def health(session: SessionDep, request: Request) -> Health:
    """Answers 200 only when the database answers (a failure is the error handler's 503)."""
    row = (
        session.execute(
            text("""
        SELECT current_setting('server_version') AS postgresql, postgis_full_version() AS postgis_full,
               postgis_lib_version() AS postgis,
               (SELECT version_num FROM alembic_version LIMIT 1) AS schema
    """)
        )
        .mappings()
        .one()
    )
    return Health(
        status="ok",
        service=ServiceInfo(name="geo_service", version=__version__),
        database=DatabaseInfo(postgresql=row["postgresql"], postgis=row["postgis"], schema_revision=row["schema"]),
        data=BoundaryCounts(**queries.boundary_counts(session)),
        reads=reads_info(request),
    )


def reads_info(request: Request) -> ReadsInfo:
    """Where reads go now and how far the replica is behind (a fresh look at it)."""
    router = request.app.state.read_router
    router.forget()
    choice = router.choose()
    status = router.status()
    if status is None:
        return ReadsInfo(reads_from=choice.source, reason=choice.reason, replica_configured=False)
    return ReadsInfo(
        reads_from=choice.source,
        reason=choice.reason,
        replica_configured=True,
        replica_reachable=status.reachable,
        replica_lag_s=None if status.lag_s is None else round(status.lag_s, 3),
        replica_replay_lsn=None if status.replay_lsn is None else format_lsn(status.replay_lsn),
        max_lag_s=router.max_lag_s,
    )
