"""Red flags in province scope (issue 15 follow-up): contracts, parcels and flags carry a province.

- ``redflag_province_of(geometry)``: the province of a shape, from the current district that holds a point on its
  surface (the district's ``parent_code``), else the current province that holds it; NULL outside every loaded
  province (such records are seen by national roles and administrators only).
- ``province_code`` on ``redflag_contracts`` (from the contract's area), ``redflag_parcels`` (from the polygon) and
  ``red_flags`` (from its contract or parcel, or the reserve cell's shape); filled here for existing rows, kept by
  the red-flag store at every load, edit and rule run.
- ``redflag_vegetation``: per reforestation plot, the latest mean index change (NDVI or NBR, before -> after)
  measured from a raster pair a user registered (rule ``reforestation_loss``: no vegetation gain).

Revision ID: 0031_red_flag_scope
Revises: 0030_alert_red_flags
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0031_red_flag_scope"
down_revision = "0030_alert_red_flags"
branch_labels = None
depends_on = None

TABLES = ("redflag_contracts", "redflag_parcels", "red_flags")


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION redflag_province_of(g geometry) RETURNS text
          LANGUAGE sql STABLE PARALLEL SAFE
          AS $$
            SELECT coalesce(
              (SELECT a.parent_code FROM current_admin_areas a
               WHERE a.level = 'district' AND ST_Intersects(a.geom, ST_PointOnSurface(g)) ORDER BY a.code LIMIT 1),
              (SELECT a.code FROM current_admin_areas a
               WHERE a.level = 'province' AND ST_Intersects(a.geom, ST_PointOnSurface(g)) ORDER BY a.code LIMIT 1))
          $$;
        COMMENT ON FUNCTION redflag_province_of(geometry) IS
          'Province of a red-flag subject: the current district holding a point on its surface, else the province';
    """)
    for table in TABLES:
        op.add_column(table, sa.Column("province_code", sa.String(10)))
        op.create_index(f"ix_{table}_province_code", table, ["province_code"])
    op.create_table(
        "redflag_vegetation",
        sa.Column(
            "contract_id",
            sa.BigInteger,
            sa.ForeignKey("redflag_contracts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index_name", sa.Text, nullable=False),
        sa.Column("before_mean", sa.Float, nullable=False),
        sa.Column("after_mean", sa.Float, nullable=False),
        sa.Column("change", sa.Float, nullable=False),  # mean of (after - before) over the plot's valid pixels
        sa.Column("pixels", sa.Integer, nullable=False),
        sa.Column("before_date", sa.Date),
        sa.Column("after_date", sa.Date),
        sa.Column("source", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),  # files and SHA-256
        sa.Column("measured_by", sa.String(120), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("index_name IN ('ndvi', 'nbr')", name="index_name"),
        sa.CheckConstraint("pixels > 0", name="pixels"),
    )
    op.execute("UPDATE redflag_contracts SET province_code = redflag_province_of(area_geom)")
    op.execute("UPDATE redflag_parcels SET province_code = redflag_province_of(geom)")
    op.execute("""
        UPDATE red_flags f SET province_code = coalesce(
          (SELECT c.province_code FROM redflag_contracts c WHERE c.id = f.contract_ids[1]),
          (SELECT p.province_code FROM redflag_parcels p WHERE p.id = f.parcel_ids[1]),
          CASE WHEN f.geom IS NOT NULL THEN redflag_province_of(f.geom) END)
    """)


def downgrade() -> None:
    op.drop_table("redflag_vegetation")
    for table in TABLES:
        op.drop_index(f"ix_{table}_province_code", table_name=table)
        op.drop_column(table, "province_code")
    op.execute("DROP FUNCTION redflag_province_of(geometry)")
