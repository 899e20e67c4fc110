"""Forest-loss alerts as clearing patches (issue 14): the ingests, the patches, their zones and the field tasks.

- ``forest_alert_ingests``: one row per alert raster ingested (source, encoding, file hash, the window read, the
  parameters that define the result: date window, minimum confidence, forest definition, a change pair's index and
  threshold). ``params_key`` (a hash of source, encoding, file hash and parameters) makes a re-ingest of the same
  file with the same parameters a no-op.
- ``clearing_patches``: connected alert pixels within a date window (definition in forest_loss/patches.py),
  vectorised. A patch keeps its ``id`` when later alerts extend it (``merged_into`` records a patch absorbed by an
  older one). Areas are measured in UTM (``area_m2``; ha and rai are derived with thai.py). The attribution columns
  hold the zone with the largest share; ``clearing_patch_zones`` holds every zone and its share.
- ``clearing_patch_zones``: the share of each patch inside each province, district, subdistrict and protected area
  (protected areas in force on the patch's first alert date).
- ``field_tasks``: a patch sent to the field ("verify clearing at ..."), its outcome and the incident it produced.

Revision ID: 0024_forest_alerts
Revises: 0022_batch_jobs
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

revision = "0024_forest_alerts"
down_revision = "0022_batch_jobs"
branch_labels = None
depends_on = None

SOURCES = ("gfw_integrated", "glad_l", "glad_s2", "radd", "dist_alert", "hansen_lossyear", "change_pair")
VERIFICATION = ("unverified", "verified", "false_alarm", "already_known")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "forest_alert_ingests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("encoding", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("params_key", sa.String(64), nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("crs", sa.Text, nullable=False),
        sa.Column("window", JSONB),  # the window read: row/col offsets, size, bounds in the file's CRS
        sa.Column("alert_pixels", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("patches_new", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("patches_extended", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("alert_from", sa.Date),
        sa.Column("alert_to", sa.Date),
        sa.Column("created_by", sa.String(120)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(_in("source", SOURCES), name="source"),
        sa.UniqueConstraint("params_key", name="uq_forest_alert_ingests_params_key"),
    )
    op.create_table(
        "clearing_patches",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("sources", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("first_date", sa.Date, nullable=False),  # first alert date (the alert system's own date)
        sa.Column("last_date", sa.Date, nullable=False),
        sa.Column("pixels", sa.Integer, nullable=False),
        sa.Column("area_m2", sa.Float, nullable=False),  # measured in UTM (the patch's own zone)
        # confidence: 2 = low, 3 = high, 4 = highest (GFW integrated classes; other systems mapped onto them)
        sa.Column("confidence_max", sa.SmallInteger, nullable=False),
        sa.Column("pixels_low", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("pixels_high", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("pixels_highest", sa.Integer, nullable=False, server_default=sa.text("0")),
        # attribution: the zone holding the largest share (all zones and shares in clearing_patch_zones)
        sa.Column("province_code", sa.String(20)),
        sa.Column("district_code", sa.String(20)),
        sa.Column("subdistrict_code", sa.String(20)),
        sa.Column("reserve_code", sa.String(40)),
        sa.Column("protected_area_codes", postgresql.ARRAY(sa.Text)),
        sa.Column("in_aoi", sa.Boolean, nullable=False, server_default=sa.text("false")),
        # "cleared by fire": hotspots or fire events within the configured distance and days before/after
        sa.Column("cleared_by_fire", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("fire_evidence", JSONB),  # {hotspots: n, events: [ids], nearest_m: x, days: [a, b], rule: {...}}
        sa.Column("verification", sa.Text, nullable=False, server_default=sa.text("'unverified'")),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("verified_by", sa.String(120)),
        sa.Column("merged_into", sa.BigInteger),  # a patch absorbed by an older one when alerts joined them
        sa.Column("first_ingest_id", sa.Integer, sa.ForeignKey("forest_alert_ingests.id"), nullable=False),
        sa.Column("last_ingest_id", sa.Integer, sa.ForeignKey("forest_alert_ingests.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("confidence_max IN (2, 3, 4)", name="confidence_max"),
        sa.CheckConstraint(_in("verification", VERIFICATION), name="verification"),
        sa.CheckConstraint("last_date >= first_date", name="date_order"),
    )
    op.create_geospatial_index("idx_clearing_patches_geom", "clearing_patches", ["geom"], postgresql_using="gist")
    op.create_index("ix_clearing_patches_last_date", "clearing_patches", ["last_date"])
    op.create_index("ix_clearing_patches_district_code", "clearing_patches", ["district_code"])
    op.create_table(
        "clearing_patch_zones",
        sa.Column(
            "patch_id", sa.BigInteger, sa.ForeignKey("clearing_patches.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("zone_type", sa.Text, primary_key=True),
        sa.Column("zone_code", sa.Text, primary_key=True),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("share", sa.Float, nullable=False),  # area inside the zone / patch area, 0..1
        sa.CheckConstraint(_in("zone_type", ("province", "district", "subdistrict", "protected_area")), name="zone"),
    )
    op.create_index("ix_clearing_patch_zones_zone", "clearing_patch_zones", ["zone_type", "zone_code"])
    op.create_table(
        "field_tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patch_id", sa.BigInteger, sa.ForeignKey("clearing_patches.id"), nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'open'")),
        sa.Column("outcome", sa.Text),  # verified / false_alarm / already_known once done
        sa.Column("note", sa.Text),
        sa.Column("assigned_to", sa.String(120)),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("done_by", sa.String(120)),
        sa.Column("incident_id", sa.BigInteger),  # the incident the visit produced (links back to the patch)
        sa.CheckConstraint(_in("status", ("open", "done", "cancelled")), name="status"),
        sa.CheckConstraint("outcome IS NULL OR " + _in("outcome", VERIFICATION[1:]), name="outcome"),
    )
    op.create_index("ix_field_tasks_patch_id", "field_tasks", ["patch_id"])
    op.create_index("ix_field_tasks_open", "field_tasks", ["status"], postgresql_where=sa.text("status = 'open'"))
    # a clearing patch can be linked to a case as evidence
    op.execute("ALTER TYPE link_target ADD VALUE IF NOT EXISTS 'clearing_patch'")


def downgrade() -> None:
    op.drop_table("field_tasks")
    op.drop_table("clearing_patch_zones")
    op.drop_table("clearing_patches")
    op.drop_table("forest_alert_ingests")
    # PostgreSQL cannot drop an enum value; 'clearing_patch' stays in link_target (unused).
