"""Red-flag rules re-run over what an ingest changed (issue 15/16 hardening): ``fire_detections_v`` shows the
detection's ``batch_id`` (the FIRMS ingest that last wrote it), so a hotspot ingest's listener finds the detections
it wrote (``batch_id`` and the ingest's acquisition span: the detection key's index) without reading the
hotspots table.

Revision ID: 0032_rule_scope
Revises: 0031_red_flag_scope
Create Date: 2026-12-03
"""

from alembic import op

revision = "0032_rule_scope"
down_revision = "0031_red_flag_scope"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE OR REPLACE VIEW fire_detections_v AS
          SELECT id, acq_utc, acq_date_local, satellite, confidence, frp, district_code, reserve_code,
                 protected_area_codes, geom, batch_id
          FROM hotspots;
        COMMENT ON VIEW fire_detections_v IS
          'FIRMS detections as the red-flag rules read them (read-only); batch_id: the ingest that last wrote one';
    """)


def downgrade() -> None:
    op.execute("""
        DROP VIEW fire_detections_v;
        CREATE VIEW fire_detections_v AS
          SELECT id, acq_utc, acq_date_local, satellite, confidence, frp, district_code, reserve_code,
                 protected_area_codes, geom
          FROM hotspots;
        COMMENT ON VIEW fire_detections_v IS 'FIRMS detections as the red-flag rules read them (read-only)';
    """)
