"""Shared place rules as database objects: the current administrative areas, the protected areas in force on a
day, and the newest version of each protected area.

Before this, "the current district" was written out in ten modules and "the protected area in force on a day"
in seven. Modules outside the layers domain now name these views and functions instead of the ``admin_areas``
and ``protected_areas`` tables (``tests/test_house_rules.py`` checks it). They are plain SQL: views and
``LANGUAGE sql`` functions that PostgreSQL inlines, so the planner still uses the tables' spatial and code
indexes (``protected_areas_on`` is STABLE with a single SELECT, which is what inlining a set-returning function
needs).

- ``current_admin_areas``: every level's current boundary (``is_current``), with the layer's name and licence.
- ``in_force(valid_from, valid_to, day)``: the validity rule, [valid_from, valid_to), open at either end.
- ``protected_areas_on(day)``: the protected-area versions in force on a day.
- ``latest_protected_areas``: the newest version of each code (for names and kinds, whatever the day).

Revision ID: 0017_shared_places
Revises: 0016_thai_calendar
Create Date: 2026-12-02
"""

from alembic import op

revision = "0017_shared_places"
down_revision = "0016_thai_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE VIEW current_admin_areas AS
          SELECT a.id, a.level, a.code, a.parent_code, a.name_th, a.name_en, a.area_m2, a.version, a.source_id,
                 a.updated_at, a.geom, s.name AS source_name, s.licence, s.attribution, s.illustrative
          FROM admin_areas a JOIN layer_sources s ON s.id = a.source_id
          WHERE a.is_current;
        COMMENT ON VIEW current_admin_areas IS
          'Provinces, districts and subdistricts as they are now (admin_areas.is_current), with their source';

        CREATE FUNCTION in_force(valid_from date, valid_to date, day date) RETURNS boolean
          LANGUAGE sql IMMUTABLE PARALLEL SAFE
          AS $$ SELECT (valid_from IS NULL OR valid_from <= day) AND (valid_to IS NULL OR valid_to > day) $$;
        COMMENT ON FUNCTION in_force(date, date, date) IS
          'Validity rule of versioned boundaries: in force from valid_from (inclusive) to valid_to (exclusive)';

        CREATE FUNCTION protected_areas_on(day date) RETURNS SETOF protected_areas
          LANGUAGE sql STABLE PARALLEL SAFE
          AS $$ SELECT * FROM protected_areas p WHERE in_force(p.valid_from, p.valid_to, day) $$;
        COMMENT ON FUNCTION protected_areas_on(date) IS 'Protected-area boundary versions in force on a day';

        CREATE VIEW latest_protected_areas AS
          SELECT DISTINCT ON (code) * FROM protected_areas ORDER BY code, valid_from DESC NULLS LAST, id DESC;
        COMMENT ON VIEW latest_protected_areas IS
          'The newest version of each protected area (names and kind), whatever the day';
    """)


def downgrade() -> None:
    op.execute("""
        DROP VIEW latest_protected_areas;
        DROP FUNCTION protected_areas_on(date);
        DROP FUNCTION in_force(date, date, date);
        DROP VIEW current_admin_areas;
    """)
