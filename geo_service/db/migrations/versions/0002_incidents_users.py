"""Users with roles; field incidents with attribution, idempotent creation and photos.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import (
    Geometry,
    alembic_helpers,  # noqa: F401  registers op.create_geospatial_table & co.
)
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KIND = sa.Enum("encroachment", "land_clearing", "illegal_logging", "burning", "wildfire", "other", name="incident_kind")
STATUS = sa.Enum("reported", "verified", "rejected", "linked", name="incident_status")
SEVERITY = sa.Enum("low", "medium", "high", "critical", name="incident_severity")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("roles", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint(
            "roles <@ ARRAY['administrator','investigator','field_officer','committee_member','partner']::text[]",
            name="known_roles",
        ),
    )
    op.create_geospatial_table(
        "incidents",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("idempotency_key", sa.String(100)),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("kind", KIND, nullable=False),
        sa.Column("status", STATUS, nullable=False, server_default="reported"),
        sa.Column("severity", SEVERITY, nullable=False, server_default="medium"),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("reporter", sa.Text),
        sa.Column("tags", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("location_text", sa.Text, nullable=False),
        sa.Column("location_format", sa.String(10), nullable=False),
        sa.Column("location_datum", sa.String(12), nullable=False),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("area_geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
        sa.Column("area_m2", sa.Float),
        sa.Column("province_code", sa.String(20)),
        sa.Column("district_code", sa.String(20)),
        sa.Column("subdistrict_code", sa.String(20)),
        sa.Column("protected_area_codes", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("reserve_code", sa.String(40)),
        sa.Column("in_reserve", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("reserve_distance_m", sa.Float),
        sa.Column("outside_province", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("created_by", sa.String(120)),
        sa.Column("updated_by", sa.String(120)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("idempotency_key", name="uq_incidents_idempotency_key"),
        sa.CheckConstraint("area_geom IS NULL OR ST_IsValid(area_geom)", name="area_valid"),
    )
    op.create_geospatial_index("idx_incidents_geom", "incidents", ["geom"], postgresql_using="gist")
    op.create_index("ix_incidents_district_code", "incidents", ["district_code"])
    op.create_index("ix_incidents_observed_at", "incidents", ["observed_at"])
    op.create_index("ix_incidents_protected_area_codes", "incidents", ["protected_area_codes"], postgresql_using="gin")

    op.create_table(
        "incident_photos",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("original", sa.LargeBinary, nullable=False),
        sa.Column("thumbnail", sa.LargeBinary, nullable=False),
        sa.Column("exif_lon", sa.Float),
        sa.Column("exif_lat", sa.Float),
        sa.Column("exif_taken_at", sa.DateTime(timezone=True)),
        sa.Column("distance_m", sa.Float),
        sa.Column("time_offset_s", sa.Float),
        sa.Column("flags", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("uploaded_by", sa.String(120)),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("incident_id", "sha256", name="uq_incident_photos_incident_id"),
    )


def downgrade() -> None:
    op.drop_table("incident_photos")
    op.drop_index("ix_incidents_protected_area_codes", "incidents")
    op.drop_index("ix_incidents_observed_at", "incidents")
    op.drop_index("ix_incidents_district_code", "incidents")
    op.drop_geospatial_index("idx_incidents_geom", "incidents", "geom")
    op.drop_geospatial_table("incidents")
    op.drop_table("users")
    for enum in (SEVERITY, STATUS, KIND):
        enum.drop(op.get_bind(), checkfirst=True)
