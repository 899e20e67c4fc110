"""Satellite hotspots: FIRMS detections and their ingest batches, fire events, hotspot rasters and zonal stats.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import (
    Geometry,
    alembic_helpers,  # noqa: F401  registers op.create_geospatial_table & co.
)
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotspot_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("rows_total", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_new", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_updated", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_unchanged", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_refused", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_outside", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("first_acq", sa.DateTime(timezone=True)),
        sa.Column("last_acq", sa.DateTime(timezone=True)),
        sa.Column("duration_s", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("report", postgresql.JSONB),
        sa.Column("loaded_by", sa.String(120)),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_hotspot_batches_file_sha256", "hotspot_batches", ["file_sha256"])

    op.create_geospatial_table(
        "fire_events",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detections", sa.Integer, nullable=False),
        sa.Column("max_frp", sa.Float),
        sa.Column("sensors", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("district_code", sa.String(20)),
        sa.Column("reserve_code", sa.String(40)),
        sa.Column("area_m2", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("footprint", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_geospatial_index("idx_fire_events_footprint", "fire_events", ["footprint"], postgresql_using="gist")
    op.create_index("ix_fire_events_first_seen", "fire_events", ["first_seen"])

    op.create_geospatial_table(
        "hotspots",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("satellite", sa.String(12), nullable=False),
        sa.Column("instrument", sa.String(8), nullable=False),
        sa.Column("processing", sa.String(3), nullable=False),
        sa.Column("version", sa.String(16)),
        sa.Column("acq_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acq_date_local", sa.Date, nullable=False),
        sa.Column("lat_e4", sa.Integer, nullable=False),
        sa.Column("lon_e4", sa.Integer, nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("brightness", sa.Float),
        sa.Column("bright_2", sa.Float),
        sa.Column("scan", sa.Float),
        sa.Column("track", sa.Float),
        sa.Column("frp", sa.Float),
        sa.Column("daynight", sa.String(1)),
        sa.Column("confidence", sa.SmallInteger, nullable=False),
        sa.Column("confidence_raw", sa.String(8), nullable=False),
        sa.Column("fire_type", sa.SmallInteger),
        sa.Column("province_code", sa.String(20)),
        sa.Column("district_code", sa.String(20)),
        sa.Column("subdistrict_code", sa.String(20)),
        sa.Column("reserve_code", sa.String(40)),
        sa.Column("protected_area_codes", postgresql.ARRAY(sa.Text)),
        # References kept by the service, not foreign keys: an RI trigger per row would double the bulk ingest time.
        sa.Column("event_id", sa.BigInteger),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        # Time first: a new ingest appends at the right edge of the index instead of touching all of it.
        sa.UniqueConstraint("acq_utc", "satellite", "lat_e4", "lon_e4", name="uq_hotspots_detection"),
        sa.CheckConstraint("confidence BETWEEN 1 AND 3", name="confidence_scale"),
        sa.CheckConstraint("processing IN ('NRT', 'SP')", name="processing_kind"),
    )
    # Detections arrive in time order: BRIN indexes (a few pages, nearly free to maintain) serve date and
    # bbox filters; district/reserve are stored columns read by date range. A GiST index on 1M points costs
    # more than the rest of the ingest together (measured in bench/firms_ingest.py).
    op.create_index("ix_hotspots_acq_date_local", "hotspots", ["acq_date_local"], postgresql_using="brin")
    op.create_index("ix_hotspots_geom_brin", "hotspots", ["geom"], postgresql_using="brin")
    op.create_index("ix_hotspots_event_id", "hotspots", ["event_id"], postgresql_where=sa.text("event_id IS NOT NULL"))

    op.create_geospatial_table(
        "hotspot_rasters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("product", sa.String(20), nullable=False),
        sa.Column("acq_date", sa.Date, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("file_path", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("crs", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("nodata", sa.Float),
        sa.Column("transform", postgresql.ARRAY(sa.Float), nullable=False),
        sa.Column("res_x", sa.Float, nullable=False),
        sa.Column("res_y", sa.Float, nullable=False),
        sa.Column("uploaded_by", sa.String(120)),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("footprint", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.UniqueConstraint("file_sha256", "product", name="uq_hotspot_rasters_file_sha256_product"),
        sa.CheckConstraint("product IN ('fire_mask', 'burned_doy', 'frp', 'dnbr', 'generic')", name="product_kind"),
    )
    op.create_geospatial_index(
        "idx_hotspot_rasters_footprint", "hotspot_rasters", ["footprint"], postgresql_using="gist"
    )
    op.create_table(
        "raster_zone_stats",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("raster_id", sa.Integer, sa.ForeignKey("hotspot_rasters.id", ondelete="CASCADE"), nullable=False),
        sa.Column("zone_type", sa.String(30), nullable=False),
        sa.Column("zone_code", sa.String(64), nullable=False),
        sa.Column("pixels", sa.Float, nullable=False),
        sa.Column("fire_pixels", sa.Float, nullable=False),
        sa.Column("fire_pixels_by_class", postgresql.JSONB),
        sa.Column("burned_m2", sa.Float, nullable=False),
        sa.Column("mean", sa.Float),
        sa.Column("max", sa.Float),
        sa.UniqueConstraint("raster_id", "zone_type", "zone_code", name="uq_raster_zone_stats_raster_id"),
    )


def downgrade() -> None:
    op.drop_table("raster_zone_stats")
    op.drop_geospatial_index("idx_hotspot_rasters_footprint", "hotspot_rasters", "footprint")
    op.drop_geospatial_table("hotspot_rasters")
    op.drop_geospatial_table("hotspots")
    op.drop_geospatial_index("idx_fire_events_footprint", "fire_events", "footprint")
    op.drop_geospatial_table("fire_events")
    op.drop_table("hotspot_batches")
