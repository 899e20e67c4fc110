"""Raster products mean what they say: a recorded threshold and its meaning, statistics, versions, one view.

- ``hotspot_rasters`` records whether its product encodes burned area (``burned_area``), the threshold used
  to flag pixels (value, comparison, meaning) where there is one, and its place in a series of versions
  (same name, product and date): ``version`` and ``superseded_by``. At most one current version per series.
- ``raster_zone_stats``: ``fire_pixels`` becomes ``flagged_pixels`` (pixels meeting the product's
  classes or the recorded threshold, whatever they mean) with ``flagged_m2``; ``burned_m2`` is NULL unless
  the product encodes burned area; ``min`` and ``percentiles`` (p10, p25, p50, p75, p90) are added.
- ``raster_burned_area``: the one SQL reading of burned area per raster and zone: current versions of
  products that encode burned area (what the brief, the summary and the maps total).

Existing rows: ``generic`` rasters were counted as burned where value > 0 with no threshold recorded: their
burned area and flags are cleared; ``frp`` rasters keep their FRP > 0 flags as "active fire", not burned
area; ``dnbr`` rasters record the 0.1 threshold they were computed with.

Revision ID: 0009_raster_products
Revises: 0008_area_of_interest
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_raster_products"
down_revision = "0008_area_of_interest"
branch_labels = None
depends_on = None

VIEW = """
CREATE VIEW raster_burned_area AS
SELECT z.id AS stat_id, z.raster_id, r.acq_date, r.product, r.name, r.version, z.zone_type, z.zone_code,
       z.burned_m2
FROM raster_zone_stats z JOIN hotspot_rasters r ON r.id = z.raster_id
WHERE r.burned_area AND r.superseded_by IS NULL AND z.burned_m2 IS NOT NULL
"""


def upgrade() -> None:
    op.add_column("hotspot_rasters", sa.Column("burned_area", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("hotspot_rasters", sa.Column("threshold", sa.Float))
    op.add_column("hotspot_rasters", sa.Column("threshold_op", sa.String(2)))
    op.add_column("hotspot_rasters", sa.Column("threshold_label", sa.Text))
    op.add_column("hotspot_rasters", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("hotspot_rasters", sa.Column("superseded_by", sa.Integer))  # its foreign key after the data
    op.create_check_constraint(
        "threshold_complete",
        "hotspot_rasters",
        "(threshold IS NULL AND threshold_op IS NULL AND threshold_label IS NULL) OR "
        "(threshold IS NOT NULL AND threshold_op IN ('>', '>=', '<', '<=') AND threshold_label IS NOT NULL)",
    )
    op.create_check_constraint(
        "burned_area_products", "hotspot_rasters", "NOT burned_area OR product IN ('fire_mask', 'burned_doy', 'dnbr')"
    )
    op.execute("UPDATE hotspot_rasters SET burned_area = product IN ('fire_mask', 'burned_doy', 'dnbr')")
    op.execute(
        "UPDATE hotspot_rasters SET threshold = 0.1, threshold_op = '>=', threshold_label = 'burned' "
        "WHERE product = 'dnbr'"
    )
    op.execute(
        "UPDATE hotspot_rasters SET threshold = 0, threshold_op = '>', threshold_label = 'active fire' "
        "WHERE product = 'frp'"
    )
    # Versions of earlier registrations: same name, product and date, in order of id; the last is current.
    op.execute("""
        WITH v AS (SELECT id, row_number() OVER w AS n, lead(id) OVER w AS next_id
                   FROM hotspot_rasters WINDOW w AS (PARTITION BY name, product, acq_date ORDER BY id))
        UPDATE hotspot_rasters r SET version = v.n, superseded_by = v.next_id FROM v WHERE v.id = r.id""")
    op.create_index(
        "ix_hotspot_rasters_current_series",
        "hotspot_rasters",
        ["name", "product", "acq_date"],
        unique=True,
        postgresql_where=sa.text("superseded_by IS NULL"),
    )
    # deferred: a new version's id is taken before its row is written (rasters.register_raster)
    op.create_foreign_key(
        "fk_hotspot_rasters_superseded_by_hotspot_rasters",
        "hotspot_rasters",
        "hotspot_rasters",
        ["superseded_by"],
        ["id"],
        ondelete="SET NULL",
        deferrable=True,
        initially="DEFERRED",
    )

    op.alter_column("raster_zone_stats", "fire_pixels", new_column_name="flagged_pixels")
    op.alter_column("raster_zone_stats", "fire_pixels_by_class", new_column_name="flagged_by_class")
    op.alter_column("raster_zone_stats", "flagged_pixels", nullable=True)
    op.alter_column("raster_zone_stats", "burned_m2", nullable=True)
    op.add_column("raster_zone_stats", sa.Column("flagged_m2", sa.Float))
    op.add_column("raster_zone_stats", sa.Column("min", sa.Float))
    op.add_column("raster_zone_stats", sa.Column("percentiles", postgresql.JSONB))
    op.execute("""UPDATE raster_zone_stats z SET flagged_m2 = z.burned_m2 FROM hotspot_rasters r
                  WHERE r.id = z.raster_id AND r.product <> 'generic'""")
    op.execute("""UPDATE raster_zone_stats z SET burned_m2 = NULL FROM hotspot_rasters r
                  WHERE r.id = z.raster_id AND NOT r.burned_area""")
    op.execute("""UPDATE raster_zone_stats z SET flagged_pixels = NULL, flagged_by_class = NULL FROM hotspot_rasters r
                  WHERE r.id = z.raster_id AND r.product = 'generic'""")
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW raster_burned_area")
    op.execute(
        "UPDATE raster_zone_stats SET burned_m2 = coalesce(burned_m2, flagged_m2, 0), "
        "flagged_pixels = coalesce(flagged_pixels, 0)"
    )
    op.drop_column("raster_zone_stats", "percentiles")
    op.drop_column("raster_zone_stats", "min")
    op.drop_column("raster_zone_stats", "flagged_m2")
    op.alter_column("raster_zone_stats", "burned_m2", nullable=False)
    op.alter_column("raster_zone_stats", "flagged_pixels", nullable=False)
    op.alter_column("raster_zone_stats", "flagged_by_class", new_column_name="fire_pixels_by_class")
    op.alter_column("raster_zone_stats", "flagged_pixels", new_column_name="fire_pixels")
    op.drop_index("ix_hotspot_rasters_current_series", "hotspot_rasters")
    op.drop_constraint(op.f("ck_hotspot_rasters_burned_area_products"), "hotspot_rasters", type_="check")
    op.drop_constraint(op.f("ck_hotspot_rasters_threshold_complete"), "hotspot_rasters", type_="check")
    op.drop_constraint("fk_hotspot_rasters_superseded_by_hotspot_rasters", "hotspot_rasters", type_="foreignkey")
    op.drop_column("hotspot_rasters", "superseded_by")
    op.drop_column("hotspot_rasters", "version")
    op.drop_column("hotspot_rasters", "threshold_label")
    op.drop_column("hotspot_rasters", "threshold_op")
    op.drop_column("hotspot_rasters", "threshold")
    op.drop_column("hotspot_rasters", "burned_area")
