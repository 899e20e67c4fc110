"""Health: is the service up, which database and PostGIS it runs on, and which schema version."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from geo_service import __version__
from geo_service.api.deps import SessionDep
from geo_service.layers import queries

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service, database and PostGIS status")
def health(session: SessionDep) -> dict:
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
    return {
        "status": "ok",
        "service": {"name": "geo_service", "version": __version__},
        "database": {"postgresql": row["postgresql"], "postgis": row["postgis"], "schema_revision": row["schema"]},
        "data": queries.boundary_counts(session),
    }
