"""Alerts about red flags and contract areas (issue 16, item 2): two read-only views for the alert matcher.

- ``alert_red_flags``: the red flags as an alert may show them: rule, severity, Thai and English reason, district
  and reserve (the rule's, else the ones under the flag), the province they lie in, status, whether the last
  run still finds them, version, the contracts they concern, a point on them and their geometry. No parcel ids,
  document numbers, owners, evidence or figures: an alert never carries them.
- ``alert_contract_areas``: the area polygon of each red-flag contract (the subject of a ``contract_area``
  subscription), with its number and project name.

Revision ID: 0030_alert_red_flags
Revises: 0029_public_briefs
Create Date: 2026-12-03
"""

from alembic import op

revision = "0030_alert_red_flags"
down_revision = "0029_public_briefs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE VIEW alert_red_flags AS
          SELECT f.id, f.rule, f.severity, f.subject_type AS flag_subject, f.reason_th, f.reason_en,
                 coalesce(f.district_code, under.district_code) AS district_code,
                 coalesce(f.reserve_code, under.reserve_code) AS reserve_code,
                 f.status, f.current, f.version, f.contract_ids, f.first_found_at, f.last_found_at,
                 coalesce(d.parent_code, under.province_code) AS province_code,
                 ST_Y(pt.p) AS latitude, ST_X(pt.p) AS longitude, f.geom
          FROM red_flags f
          CROSS JOIN LATERAL (SELECT ST_PointOnSurface(f.geom) AS p) pt
          -- where a rule names no district or reserve (contracts, parcels): the ones under the flag
          CROSS JOIN LATERAL (
            SELECT (SELECT a.code FROM current_admin_areas a WHERE a.level::text = 'district'
                      AND ST_Intersects(a.geom, pt.p) ORDER BY a.code LIMIT 1) AS district_code,
                   (SELECT a.code FROM current_admin_areas a WHERE a.level::text = 'province'
                      AND ST_Intersects(a.geom, pt.p) ORDER BY a.code LIMIT 1) AS province_code,
                   (SELECT p.code FROM latest_protected_areas p
                      WHERE ST_Intersects(p.geom, pt.p) ORDER BY p.code LIMIT 1) AS reserve_code
          ) under
          LEFT JOIN current_admin_areas d
            ON d.level::text = 'district' AND d.code = coalesce(f.district_code, under.district_code);
        COMMENT ON VIEW alert_red_flags IS
          'Red flags as an alert may show them (no parcel, document number, owner or evidence; read-only)';

        CREATE VIEW alert_contract_areas AS
          SELECT c.id, c.contract_number, c.project_name, c.work_type, c.area_geom AS geom
          FROM redflag_contracts c;
        COMMENT ON VIEW alert_contract_areas IS
          'Contract areas (red-flag contracts) as subjects of alert subscriptions (read-only)';
    """)


def downgrade() -> None:
    op.execute("DROP VIEW alert_contract_areas; DROP VIEW alert_red_flags;")
