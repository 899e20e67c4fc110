"""Alembic migrations: upgrade head on an empty database, downgrade base, and agreement with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from geo_service.db import migrate
from geo_service.db.models import Base

TABLES = {
    "layer_sources",
    "admin_areas",
    "protected_areas",
    "hotspots",
    "hotspot_batches",
    "fire_events",
    "hotspot_rasters",
    "raster_zone_stats",
    "briefs",
}


def _head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrate.alembic_config(None)).get_current_head()


def _state(url):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            tables = set(insp.get_table_names()) - {"spatial_ref_sys"}
            gist = {
                r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'"))
            }
            enums = {r[0] for r in conn.execute(text("SELECT typname FROM pg_type WHERE typtype = 'e'"))}
            func = conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'utm_srid'")).scalar()
        return tables, gist, enums, func
    finally:
        engine.dispose()


@pytest.mark.slow
def test_upgrade_head_then_downgrade_base_then_upgrade_again(empty_db_url):
    migrate.upgrade(empty_db_url)
    tables, gist, enums, func = _state(empty_db_url)
    assert tables >= TABLES
    assert {"idx_admin_areas_geom", "idx_protected_areas_geom"} <= gist
    assert {"admin_level", "protected_kind"} <= enums
    assert func == 1
    assert migrate.current(empty_db_url) == _head()

    migrate.downgrade(empty_db_url, "base")
    tables, gist, enums, func = _state(empty_db_url)
    assert tables == {"alembic_version"}
    assert not ({"admin_level", "protected_kind"} & enums)
    assert func == 0
    assert migrate.current(empty_db_url) is None

    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == _head()


@pytest.mark.slow
def test_models_match_migrations(empty_db_url):
    """Autogenerate against the migrated schema finds nothing to change."""
    migrate.upgrade(empty_db_url)
    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"include_object": migrate.include_object, "compare_type": True}
            )
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_utm_srid_picks_the_zone(db_url):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            q = "SELECT utm_srid(ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            assert conn.execute(text(q), {"x": 100.14, "y": 18.14}).scalar() == 32647  # Phrae
            assert conn.execute(text(q), {"x": 102.5, "y": 15.0}).scalar() == 32648  # eastern Thailand
            assert conn.execute(text(q), {"x": 151.2, "y": -33.9}).scalar() == 32756  # southern hemisphere
    finally:
        engine.dispose()
