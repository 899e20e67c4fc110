"""Reports from the public and the volunteer network (issue 17).

- ``citizen_reports``: what a member of the public (or a network member) saw, where and when. The reporter is
  known by nothing stored in clear: no address, no device data. ``receipt_hash`` is the SHA-256 of the receipt
  code (the code itself is shown once, to the reporter); ``idempotency_hash`` the SHA-256 of the client's
  Idempotency-Key. ``sealed_contact`` holds the optional contact details (and a network member's identity) in a
  libsodium sealed box to the investigators' public key: the private key is never in the database.
  Triage: ``status`` received -> accepted (``incident_id``) | merged (``merged_into``) | rejected (``reason``).
- ``citizen_report_photos``: every photo as received (``original``, ``sha256``) and the copy everyone is shown
  (``stripped``: re-encoded pixels, no EXIF/GPS/XMP/text chunks).
- ``citizen_report_additions``: what the reporter added later with the receipt code.
- ``citizen_rate_hits``: fixed-window counters of the abuse limits (one row per keyed hash of an address or a
  receipt and window), shared by every API process; rows older than a day are deleted as new ones come.
- ``network_members``: the volunteer accounts' district (the account itself is a ``users`` row with the
  ``network_member`` role, added to the roles' check here).

Revision ID: 0028_citizen_reports
Revises: 0026_worker_jobs
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0028_citizen_reports"
down_revision = "0026_worker_jobs"
branch_labels = None
depends_on = None

OLD_ROLES = (
    "ARRAY['administrator','investigator','field_officer','committee_member','partner','national_viewer']::text[]"
)
NEW_ROLES = (
    "ARRAY['administrator','investigator','field_officer','committee_member','partner','national_viewer',"
    "'network_member']::text[]"
)


def upgrade() -> None:
    op.drop_constraint("known_roles", "users", type_="check")
    op.create_check_constraint("known_roles", "users", f"roles <@ {NEW_ROLES}")
    op.create_table(
        "citizen_reports",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("receipt_hash", sa.String(64), nullable=False),
        sa.Column("idempotency_hash", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default=sa.text("'public'")),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("observed_at", sa.DateTime(timezone=True)),
        sa.Column("location_text", sa.Text),
        sa.Column("location_format", sa.Text),
        sa.Column("location_datum", sa.Text),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("province_code", sa.String(20)),
        sa.Column("district_code", sa.String(20)),
        sa.Column("subdistrict_code", sa.String(20)),
        sa.Column("reserve_code", sa.String(40)),
        sa.Column("protected_area_codes", postgresql.ARRAY(sa.Text)),
        sa.Column("sealed_contact", sa.LargeBinary),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'received'")),
        sa.Column("reason", sa.Text),
        sa.Column("duplicate_of", sa.BigInteger, sa.ForeignKey("citizen_reports.id")),
        sa.Column("merged_into", sa.BigInteger, sa.ForeignKey("citizen_reports.id")),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id")),
        sa.Column("assigned_to", sa.String(120)),
        sa.Column("triaged_by", sa.String(120)),
        sa.Column("triaged_at", sa.DateTime(timezone=True)),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("source IN ('public', 'member')", name="source"),
        sa.CheckConstraint("kind IN ('encroachment', 'logging', 'burning', 'project_misuse')", name="kind"),
        sa.CheckConstraint("status IN ('received', 'accepted', 'merged', 'rejected')", name="status"),
        sa.UniqueConstraint("receipt_hash", name="uq_citizen_reports_receipt_hash"),
        sa.UniqueConstraint("idempotency_hash", name="uq_citizen_reports_idempotency_hash"),
    )
    op.create_geospatial_index("idx_citizen_reports_geom", "citizen_reports", ["geom"], postgresql_using="gist")
    op.create_index("ix_citizen_reports_status", "citizen_reports", ["status"])
    op.create_index("ix_citizen_reports_district_code", "citizen_reports", ["district_code"])
    op.create_table(
        "citizen_report_additions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("report_id", sa.BigInteger, sa.ForeignKey("citizen_reports.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_citizen_report_additions_report_id", "citizen_report_additions", ["report_id"])
    op.create_table(
        "citizen_report_photos",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("report_id", sa.BigInteger, sa.ForeignKey("citizen_reports.id"), nullable=False),
        sa.Column("addition_id", sa.BigInteger, sa.ForeignKey("citizen_report_additions.id")),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("original", sa.LargeBinary, nullable=False),
        sa.Column("stripped", sa.LargeBinary, nullable=False),
        sa.Column("stripped_type", sa.Text, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("report_id", "sha256", name="uq_citizen_report_photos_report_id"),
    )
    op.create_index("ix_citizen_report_photos_sha256", "citizen_report_photos", ["sha256"])
    op.create_table(
        "citizen_rate_hits",
        sa.Column("bucket", sa.String(80), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        "network_members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("district_code", sa.String(20), nullable=False),
        sa.Column("province_code", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("username", name="uq_network_members_username"),
    )


def downgrade() -> None:
    op.drop_table("network_members")
    op.drop_table("citizen_rate_hits")
    op.drop_table("citizen_report_photos")
    op.drop_table("citizen_report_additions")
    op.drop_table("citizen_reports")
    op.execute("UPDATE users SET roles = array_remove(roles, 'network_member')")
    op.drop_constraint("known_roles", "users", type_="check")
    op.create_check_constraint("known_roles", "users", f"roles <@ {OLD_ROLES}")
