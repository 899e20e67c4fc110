"""Health: is the service up, which database and PostGIS it runs on, and which schema version."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from geo_service import __version__
from geo_service.api.deps import SessionDep
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


class Health(BaseModel):
    """The service is up: what it runs on and what it holds."""

    status: str
    service: ServiceInfo
    database: DatabaseInfo
    data: BoundaryCounts


@router.get("/health", summary="Service, database and PostGIS status")
def health(session: SessionDep) -> Health:
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
    )
