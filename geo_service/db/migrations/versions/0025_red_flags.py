"""Red flags on public money and public land (issue 15): contract areas, land documents, the flags and their history.

- ``redflag_contracts``: public-works contracts on forest land (firebreaks, fire control, patrols, reforestation,
  check dams, forest roads): agency, project, e-GP number, contractor, budget and paid THB, fiscal year (BE),
  period, delivery, stated quantities, the stated geometry (polygon, or line with a stated width) and the derived
  area polygon the rules use; ``version`` for optimistic locking. ``redflag_contract_history`` keeps every version.
- ``redflag_parcels``: land documents (Chanote, Nor Sor 3 Gor, Nor Sor 3, Sor Kor 1, Sor Por Kor 4-01, other) with
  number, issue date, issuing office and polygon; confidential by default. ``redflag_parcel_history`` likewise.
- ``red_flags``: what a rule found, keyed by ``flag_key`` (rule + subject + discriminator) so a re-run keeps the
  identifier and a dismissed flag is never recreated; ``red_flag_history`` every change of a flag.
- Read-only views the rules read instead of other domains' tables: ``fire_detections_v``, ``fire_events_v``,
  ``active_clearing_patches_v``, ``protected_area_versions_v``.
- The case-link target enum gains ``red_flag``, ``contract`` and ``parcel``.

Revision ID: 0025_red_flags
Revises: 0024_forest_alerts
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

revision = "0025_red_flags"
down_revision = "0024_forest_alerts"
branch_labels = None
depends_on = None

WORK_TYPES = ("firebreak", "fire_control", "patrol", "reforestation", "check_dam", "forest_road", "other")
DOC_TYPES = ("chanote", "nor_sor_3_gor", "nor_sor_3", "sor_kor_1", "sor_por_kor_4_01", "other")
SEVERITIES = ("low", "medium", "high")
STATUSES = ("open", "dismissed", "linked")
SUBJECTS = ("contract", "parcel", "reserve_cell")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _history(name: str, parent: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("record_id", sa.BigInteger, sa.ForeignKey(f"{parent}.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.Text, nullable=False),  # load / create / update
        sa.Column("data", JSONB, nullable=False),  # the record as it was at this version (geometry as WKT)
        sa.Column("changed_by", sa.String(120), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(f"ix_{name}_record_id", name, ["record_id"])


def upgrade() -> None:
    op.create_table(
        "redflag_contracts",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("contract_number", sa.Text, nullable=False),  # contract or e-GP project number
        sa.Column("project_name", sa.Text, nullable=False),
        sa.Column("agency", sa.Text, nullable=False),
        sa.Column("contractor", sa.Text),
        sa.Column("work_type", sa.Text, nullable=False),
        sa.Column("budget_thb", sa.Numeric(16, 2)),
        sa.Column("paid_thb", sa.Numeric(16, 2)),
        sa.Column("fiscal_year_be", sa.Integer),
        sa.Column("start_date", sa.Date),
        sa.Column("end_date", sa.Date),
        sa.Column("delivery_date", sa.Date),
        sa.Column("quantities", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("named_district_code", sa.String(20)),  # the district its documents name
        sa.Column("named_reserve_code", sa.String(40)),  # the reserve or park its documents name
        sa.Column("width_m", sa.Float),  # stated width of a line contract (firebreak, road)
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("source_layer", sa.Text),
        sa.Column("source_version", sa.Text),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("area_geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint(_in("work_type", WORK_TYPES), name="work_type"),
        sa.CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="period"),
        sa.CheckConstraint("width_m IS NULL OR width_m > 0", name="width"),
        sa.UniqueConstraint("contract_number", name="uq_redflag_contracts_contract_number"),
    )
    op.create_geospatial_index(
        "idx_redflag_contracts_area_geom", "redflag_contracts", ["area_geom"], postgresql_using="gist"
    )
    op.create_index("ix_redflag_contracts_contractor", "redflag_contracts", ["contractor"])
    _history("redflag_contract_history", "redflag_contracts")
    op.create_table(
        "redflag_parcels",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("doc_type", sa.Text, nullable=False),
        sa.Column("doc_number", sa.Text, nullable=False),
        sa.Column("issue_date", sa.Date),
        sa.Column("issuing_office", sa.Text),
        sa.Column("confidential", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("source_layer", sa.Text),
        sa.Column("source_version", sa.Text),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint(_in("doc_type", DOC_TYPES), name="doc_type"),
        sa.UniqueConstraint("doc_type", "doc_number", name="uq_redflag_parcels_doc_type"),
    )
    op.create_geospatial_index("idx_redflag_parcels_geom", "redflag_parcels", ["geom"], postgresql_using="gist")
    _history("redflag_parcel_history", "redflag_parcels")
    op.create_table(
        "red_flags",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("flag_key", sa.Text, nullable=False),  # rule:subject:discriminator; stable across re-runs
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("subject_type", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("contract_ids", postgresql.ARRAY(sa.BigInteger), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("parcel_ids", postgresql.ARRAY(sa.BigInteger), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("reason_th", sa.Text, nullable=False),
        sa.Column("reason_en", sa.Text, nullable=False),
        sa.Column("figures", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("evidence", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("district_code", sa.String(20)),
        sa.Column("reserve_code", sa.String(40)),
        sa.Column("agency", sa.Text),
        sa.Column("contractor", sa.Text),
        sa.Column("fiscal_year_be", sa.Integer),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'open'")),
        sa.Column("current", sa.Boolean, nullable=False, server_default=sa.text("true")),  # last run still found it
        sa.Column("dismissed_reason", sa.Text),
        sa.Column("dismissed_by", sa.String(120)),
        sa.Column("dismissed_at", sa.DateTime(timezone=True)),
        sa.Column("case_id", sa.Integer),  # the case it opened or was linked to (kept by the service)
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("first_found_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_found_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
        sa.CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        sa.CheckConstraint(_in("status", STATUSES), name="status"),
        sa.CheckConstraint(_in("subject_type", SUBJECTS), name="subject_type"),
        sa.CheckConstraint("status <> 'dismissed' OR dismissed_reason IS NOT NULL", name="dismissed_reason"),
        sa.UniqueConstraint("flag_key", name="uq_red_flags_flag_key"),
    )
    op.create_index("ix_red_flags_rule", "red_flags", ["rule"])
    op.create_index("ix_red_flags_contract_ids", "red_flags", ["contract_ids"], postgresql_using="gin")
    op.create_index("ix_red_flags_parcel_ids", "red_flags", ["parcel_ids"], postgresql_using="gin")
    op.create_table(
        "red_flag_history",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("flag_id", sa.BigInteger, sa.ForeignKey("red_flags.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.Text, nullable=False),  # found / changed / gone / dismissed / linked / case_opened
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("ix_red_flag_history_flag_id", "red_flag_history", ["flag_id"])
    # Read-only views: the rules read other domains' data through these, never their tables.
    op.execute("""
        CREATE VIEW fire_detections_v AS
          SELECT id, acq_utc, acq_date_local, satellite, confidence, frp, district_code, reserve_code,
                 protected_area_codes, geom
          FROM hotspots;
        COMMENT ON VIEW fire_detections_v IS 'FIRMS detections as the red-flag rules read them (read-only)';
        CREATE VIEW fire_events_v AS
          SELECT id, first_seen, last_seen, detections, max_frp, district_code, reserve_code, area_m2,
                 footprint AS geom
          FROM fire_events;
        COMMENT ON VIEW fire_events_v IS 'Fire events (clustered detections) as the red-flag rules read them';
        CREATE VIEW active_clearing_patches_v AS
          SELECT id, first_date, last_date, area_m2, confidence_max, district_code, reserve_code, geom
          FROM clearing_patches
          WHERE merged_into IS NULL AND verification <> 'false_alarm';
        COMMENT ON VIEW active_clearing_patches_v IS
          'Clearing patches not merged away and not found to be false alarms (read-only)';
        CREATE VIEW protected_area_versions_v AS
          SELECT id, code, version, kind::text AS kind, name_th, name_en, valid_from, valid_to, illustrative,
                 area_m2, geom
          FROM protected_areas;
        COMMENT ON VIEW protected_area_versions_v IS
          'Every boundary version of every protected area with its validity (read-only)';
    """)
    for target in ("red_flag", "contract", "parcel"):
        op.execute(f"ALTER TYPE link_target ADD VALUE IF NOT EXISTS '{target}'")


def downgrade() -> None:
    op.execute("""
        DROP VIEW protected_area_versions_v;
        DROP VIEW active_clearing_patches_v;
        DROP VIEW fire_events_v;
        DROP VIEW fire_detections_v;
    """)
    op.drop_table("red_flag_history")
    op.drop_table("red_flags")
    op.drop_table("redflag_parcel_history")
    op.drop_table("redflag_parcels")
    op.drop_table("redflag_contract_history")
    op.drop_table("redflag_contracts")
    # PostgreSQL cannot drop an enum value; 'red_flag', 'contract', 'parcel' stay in link_target (unused).
