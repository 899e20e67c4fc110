"""The deployment's area of interest (AOI): the province(s) the office answers for, with an optional buffer.

One row in ``area_of_interest`` holds the configuration (``GEO_SERVICE_AOI_PROVINCES``, ``GEO_SERVICE_AOI_BUFFER_M``)
and the geometry made from the current boundaries by ``refresh_area_of_interest()``, the one SQL definition.
``in_area_of_interest(geom)`` is the SQL test; ``hotspots.in_aoi`` stores it per detection (computed at
ingest and re-attribution by the Gazetteer from the same stored geometry), so briefs, maps and summaries
filter on a column instead of a spatial test.

Revision ID: 0008_area_of_interest
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import (
    Geometry,
    alembic_helpers,  # noqa: F401  registers op.create_geospatial_table & co.
)
from sqlalchemy.dialects import postgresql

revision = "0008_area_of_interest"
down_revision = "0007"
branch_labels = None
depends_on = None

# The configured province codes (NULL: every loaded province), resolved against the current boundaries:
# a province's own polygon, or the union of its current districts when only districts are loaded.
REFRESH = """
CREATE OR REPLACE FUNCTION refresh_area_of_interest() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  cfg area_of_interest%ROWTYPE;
  codes text[];
  shape geometry;
  changed boolean;
BEGIN
  SELECT * INTO cfg FROM area_of_interest WHERE id = 1 FOR UPDATE;
  WITH parts AS (
    SELECT code, geom FROM admin_areas WHERE is_current AND level = 'province'
    UNION ALL
    SELECT d.parent_code, d.geom FROM admin_areas d
    WHERE d.is_current AND d.level = 'district' AND d.parent_code IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM admin_areas p WHERE p.is_current AND p.level = 'province'
                      AND p.code = d.parent_code)
  ), chosen AS (
    SELECT code, geom FROM parts
    WHERE cfg.province_codes IS NULL OR code = ANY(cfg.province_codes)
  )
  SELECT coalesce(array_agg(DISTINCT code ORDER BY code), '{}'), ST_Union(geom) INTO codes, shape FROM chosen;
  IF shape IS NOT NULL AND cfg.buffer_m > 0 THEN
    shape := ST_Buffer(shape::geography, cfg.buffer_m)::geometry;
  END IF;
  IF shape IS NOT NULL THEN
    shape := ST_SetSRID(ST_Multi(ST_CollectionExtract(ST_MakeValid(shape), 3)), 4326);
  END IF;
  changed := (cfg.resolved_codes IS DISTINCT FROM codes)
             OR (cfg.geom IS NULL) <> (shape IS NULL)
             OR (shape IS NOT NULL AND NOT ST_Equals(cfg.geom, shape));
  IF changed THEN
    UPDATE area_of_interest SET resolved_codes = codes, geom = shape, updated_at = now() WHERE id = 1;
  END IF;
  RETURN changed;
END $$
"""
IN_AOI = """
CREATE OR REPLACE FUNCTION in_area_of_interest(g geometry) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(ST_Intersects(g, (SELECT a.geom FROM area_of_interest a WHERE a.id = 1)), false)
$$
"""
AOI_PROVINCES = """
CREATE OR REPLACE FUNCTION aoi_provinces() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce((SELECT a.resolved_codes FROM area_of_interest a WHERE a.id = 1), '{}')
$$
"""


def upgrade() -> None:
    op.create_geospatial_table(
        "area_of_interest",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("province_codes", postgresql.ARRAY(sa.Text)),
        sa.Column("buffer_m", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("resolved_codes", postgresql.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("buffer_m >= 0", name="buffer_not_negative"),
    )
    op.execute("INSERT INTO area_of_interest (id) VALUES (1)")
    op.execute(REFRESH)
    op.execute(IN_AOI)
    op.execute(AOI_PROVINCES)
    op.execute("SELECT refresh_area_of_interest()")
    op.add_column("hotspots", sa.Column("in_aoi", sa.Boolean, nullable=False, server_default=sa.text("false")))
    op.execute("UPDATE hotspots SET in_aoi = true WHERE in_area_of_interest(geom)")


def downgrade() -> None:
    op.drop_column("hotspots", "in_aoi")
    op.execute("DROP FUNCTION IF EXISTS aoi_provinces()")
    op.execute("DROP FUNCTION IF EXISTS in_area_of_interest(geometry)")
    op.execute("DROP FUNCTION IF EXISTS refresh_area_of_interest()")
    op.drop_geospatial_table("area_of_interest")
