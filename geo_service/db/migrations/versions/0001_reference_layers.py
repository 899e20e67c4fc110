"""Reference layers: layer sources, administrative areas, protected areas.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import (
    Geometry,
    alembic_helpers,  # noqa: F401  registers op.create_geospatial_table & co.
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ADMIN_LEVEL = sa.Enum("province", "district", "subdistrict", name="admin_level")
PROTECTED_KIND = sa.Enum(
    "national_reserved_forest",
    "national_park",
    "wildlife_sanctuary",
    "forest_park",
    "community_forest",
    "other",
    name="protected_kind",
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    # The WGS 84 / UTM zone (north or south) of a geometry's centroid: where areas and distances are measured.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION utm_srid(g geometry) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
          SELECT CASE WHEN ST_Y(c) >= 0 THEN 32600 ELSE 32700 END
                 + LEAST(60, GREATEST(1, floor((ST_X(c) + 180) / 6)::int + 1))
          FROM (SELECT ST_PointOnSurface(ST_Transform(g, 4326)) AS c) s
        $$
        """
    )
    op.create_table(
        "layer_sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("layer_type", sa.String(30), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("attribution", sa.Text, nullable=False),
        sa.Column("illustrative", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("file_name", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("feature_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("loaded_by", sa.String(120)),
        sa.UniqueConstraint("name", "version", name="uq_layer_sources_name_version"),
    )
    op.create_geospatial_table(
        "admin_areas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("level", ADMIN_LEVEL, nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("parent_code", sa.String(20)),
        sa.Column("name_th", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("layer_sources.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.UniqueConstraint("level", "code", "version", name="uq_admin_areas_level_code_version"),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
    )
    op.create_geospatial_index("idx_admin_areas_geom", "admin_areas", ["geom"], postgresql_using="gist")
    op.create_index(
        "uq_admin_areas_current", "admin_areas", ["level", "code"], unique=True, postgresql_where=sa.text("is_current")
    )
    op.create_index("ix_admin_areas_parent", "admin_areas", ["parent_code"])

    op.create_geospatial_table(
        "protected_areas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("kind", PROTECTED_KIND, nullable=False),
        sa.Column("name_th", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("legal_reference", sa.Text),
        sa.Column("agency", sa.Text),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Column("note", sa.Text),
        sa.Column("illustrative", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("layer_sources.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.UniqueConstraint("code", "version", name="uq_protected_areas_code_version"),
        sa.CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from", name="validity_order"),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
    )
    op.create_geospatial_index("idx_protected_areas_geom", "protected_areas", ["geom"], postgresql_using="gist")
    op.create_index("ix_protected_areas_kind", "protected_areas", ["kind"])


def downgrade() -> None:
    op.drop_geospatial_index("idx_protected_areas_geom", "protected_areas", "geom")
    op.drop_geospatial_table("protected_areas")
    op.drop_geospatial_index("idx_admin_areas_geom", "admin_areas", "geom")
    op.drop_geospatial_table("admin_areas")
    op.drop_table("layer_sources")
    PROTECTED_KIND.drop(op.get_bind(), checkfirst=True)
    ADMIN_LEVEL.drop(op.get_bind(), checkfirst=True)
    op.execute("DROP FUNCTION IF EXISTS utm_srid(geometry)")
