"""Many provinces in one deployment: users scoped to their province(s), cases carrying their province.

- ``users.provinces``: the province codes an account works in. Administrators and the new role
  ``national_viewer`` are national (empty list: every province); every other account is put into the
  deployment's area-of-interest provinces (Phrae, ``54``, in the bundled layers), so nobody loses access.
- ``cases.province_code``: the office a case belongs to. Existing cases get the area of interest's province
  when it is exactly one; otherwise they stay without one, which only administrators see.
- ``briefs.province_code``: the province a brief covers (NULL: the national brief).
- Row-level security: the service now also sets ``geo_service.provinces`` per transaction (``*`` for national
  callers, else the codes, comma-separated); ``geo_province_visible(code)`` reads it and every case policy
  requires it. A case outside the caller's provinces, and its parties, notes, links, files, assignments and
  transitions, do not exist for the caller. A missing setting sees no province (never "everything").

Revision ID: 0020_province_scope
Revises: 0019_hotspot_geom_gist
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020_province_scope"
down_revision = "0019_hotspot_geom_gist"
branch_labels = None
depends_on = None

OLD_ROLES = "ARRAY['administrator','investigator','field_officer','committee_member','partner']::text[]"
NEW_ROLES = (
    "ARRAY['administrator','investigator','field_officer','committee_member','partner','national_viewer']::text[]"
)


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("provinces", postgresql.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    op.drop_constraint("known_roles", "users", type_="check")
    op.create_check_constraint("known_roles", "users", f"roles <@ {NEW_ROLES}")
    # Existing provincial accounts work in the deployment's area of interest (one office so far).
    op.execute("""
        UPDATE users SET provinces = coalesce((SELECT resolved_codes FROM area_of_interest WHERE id = 1), '{}')
        WHERE NOT roles && ARRAY['administrator', 'national_viewer']::text[]
    """)
    op.add_column("cases", sa.Column("province_code", sa.String(20), nullable=True))
    op.create_index("ix_cases_province_code", "cases", ["province_code"])
    op.execute("""
        UPDATE cases SET province_code = (SELECT resolved_codes[1] FROM area_of_interest WHERE id = 1)
        WHERE (SELECT cardinality(resolved_codes) FROM area_of_interest WHERE id = 1) = 1
    """)
    op.add_column("briefs", sa.Column("province_code", sa.String(20), nullable=True))

    op.execute("""
        -- Whether records of province p are within the caller's scope ('*': national; unset: none).
        CREATE FUNCTION geo_province_visible(p text) RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT coalesce(current_setting('geo_service.provinces', true), '') = '*'
              OR p = ANY(string_to_array(coalesce(current_setting('geo_service.provinces', true), ''), ','))
        $$;
        -- (geo_case_visible is unchanged: national viewers see no case row; their briefs count cases as a
        -- national committee member, reports.brief.audience.)
        CREATE OR REPLACE FUNCTION geo_case_visible_id(c integer) RETURNS boolean LANGUAGE sql STABLE
          SECURITY DEFINER SET search_path = public, pg_temp AS
          $$ SELECT geo_case_visible(id, confidentiality) AND geo_province_visible(province_code)
             FROM cases WHERE id = c $$;
        CREATE OR REPLACE FUNCTION geo_case_insider(c integer) RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT (geo_has_role('administrator') OR (geo_has_role('investigator') AND geo_assigned(c)))
             AND coalesce(geo_case_visible_id(c), false)
        $$;
        DROP POLICY cases_visible ON cases;
        CREATE POLICY cases_visible ON cases
          USING (geo_case_visible(id, confidentiality) AND geo_province_visible(province_code))
          WITH CHECK ((geo_has_role('administrator') OR geo_has_role('investigator'))
                      AND geo_province_visible(province_code));
    """)


def downgrade() -> None:
    op.execute("""
        DROP POLICY cases_visible ON cases;
        CREATE POLICY cases_visible ON cases USING (geo_case_visible(id, confidentiality))
          WITH CHECK (geo_has_role('administrator') OR geo_has_role('investigator'));
        CREATE OR REPLACE FUNCTION geo_case_insider(c integer) RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT geo_has_role('administrator') OR (geo_has_role('investigator') AND geo_assigned(c))
        $$;
        CREATE OR REPLACE FUNCTION geo_case_visible_id(c integer) RETURNS boolean LANGUAGE sql STABLE
          SECURITY DEFINER SET search_path = public, pg_temp AS
          $$ SELECT geo_case_visible(id, confidentiality) FROM cases WHERE id = c $$;
        DROP FUNCTION geo_province_visible(text);
    """)
    op.drop_column("briefs", "province_code")
    op.drop_index("ix_cases_province_code", "cases")
    op.drop_column("cases", "province_code")
    op.execute("UPDATE users SET roles = array_remove(roles, 'national_viewer')")
    op.drop_constraint("known_roles", "users", type_="check")
    op.create_check_constraint("known_roles", "users", f"roles <@ {OLD_ROLES}")
    op.drop_column("users", "provinces")
