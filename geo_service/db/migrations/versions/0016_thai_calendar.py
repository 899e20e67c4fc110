"""The Thai calendar as SQL functions: one definition of the Buddhist Era year, the fiscal year and D/M/YYYY BE.

SQL that labels periods (summaries) or writes dates for Thai offices (exports) calls these instead of
repeating ``+ 543`` and the October rule; their Python twins are ``thai.to_be``, ``thai.fiscal_year_be`` and
``thai.be_dmy`` (a test checks that both agree). Plain SQL functions: PostgreSQL inlines them, so they cost
what the expression did.

Revision ID: 0016_thai_calendar
Revises: 0015_user_access
Create Date: 2026-12-02
"""

from alembic import op

revision = "0016_thai_calendar"
down_revision = "0015_user_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION be_year(d date) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT extract(year FROM d)::integer + 543 $$;
        COMMENT ON FUNCTION be_year(date) IS 'Buddhist Era year of a day (thai.to_be)';
        CREATE FUNCTION fiscal_year_be(d date) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT extract(year FROM d)::integer + 543 + CASE WHEN extract(month FROM d) >= 10 THEN 1 ELSE 0 END $$;
        COMMENT ON FUNCTION fiscal_year_be(date) IS
          'Thai fiscal year (1 Oct - 30 Sep) in BE, named by the year it ends in (thai.fiscal_year_be)';
        CREATE FUNCTION be_dmy(d date) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT to_char(d, 'FMDD/FMMM/') || (extract(year FROM d)::integer + 543) $$;
        COMMENT ON FUNCTION be_dmy(date) IS 'D/M/YYYY in the Buddhist Era, as officials write dates (thai.be_dmy)';
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION be_dmy(date); DROP FUNCTION fiscal_year_be(date); DROP FUNCTION be_year(date);")
