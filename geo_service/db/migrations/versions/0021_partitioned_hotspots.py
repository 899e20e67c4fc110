"""Detections range-partitioned by acquisition time: one partition per Asia/Bangkok calendar year, and a DEFAULT.

Why ``acq_utc`` and why years (README, *Satellite hotspots / Partitioned detections*):

* ``acq_utc`` leads the detection key (acq_utc, lat_e4, lon_e4, satellite), so the unique key already holds the
  partition key and stays a real, enforced constraint: a re-ingest and the SP version of an NRT detection
  still meet their row through ``ON CONFLICT ON CONSTRAINT uq_hotspots_detection`` (PostgreSQL routes the
  conflict check to the one partition of the time). The local date is derived from it (+07:00, no DST), so a
  filter on ``acq_date_local`` is turned into an exact ``acq_utc`` range that prunes partitions.
* Years, not months: Thailand's VIIRS + MODIS detections come to 1-3 million a year, a good partition size;
  months would make 180 partitions since 2012, many nearly empty (the rainy season), and every query that
  cannot prune (lookups by id from case links and event membership) would visit all of them. A year is also
  the unit of the archive (``hotspots partitions detach --before 2014-01-01``). The bounds are local
  (Asia/Bangkok) midnights of 1 January, so a partition holds exactly the detections of one local year.
* ``hotspots_default`` catches rows of a year that has no partition yet (an archive file from 2009): an ingest
  never fails for that reason. The ingest moves such rows into new year partitions before it commits
  (``hotspots.partitions.split_default``), so the DEFAULT partition is empty between ingests.

The primary key becomes (id, acq_utc): a primary key of a partitioned table must hold the partition key. The
ids still come from the same sequence (``hotspots_id_seq``), so ``id`` alone stays unique, and every id is kept
as it was (rows are copied with their ids). Nothing references ``hotspots`` by a foreign key: event membership
(``hotspot_events.hotspot_id``), case links (``case_links.target_id`` with ``target_type = 'hotspot'``) and
batches are references kept by the service (migrations 0003, 0007), so there is no foreign key to replace.

Also ``case_linked_ids(link_target)``: every target id of a kind that any case links (SECURITY DEFINER like
0018's ``case_linked_targets``, only ids leave), used to refuse detaching a year holding case evidence.

Revision ID: 0021_partitioned_hotspots
Revises: 0020_province_scope
Create Date: 2026-12-02
"""

from datetime import date

from alembic import op
from sqlalchemy import text

revision = "0021_partitioned_hotspots"
down_revision = "0020_province_scope"
branch_labels = None
depends_on = None

APP_ROLE = "geo_service_app"  # as in 0004 (a migration keeps its own names)
OLD = "hotspots_unpartitioned"
AHEAD_YEARS = 1  # partitions created ahead of the current year here; the service keeps this up at start-up
FIRST_YEAR = 2012  # the national archive's first year (VIIRS since 2012): empty partitions cost nothing


def _indexes(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that do not back a constraint."""
    rows = op.get_bind().execute(
        text("""
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = CAST(:t AS regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
        ORDER BY i.relname"""),
        {"t": table},
    )
    return [(r[0], r[1]) for r in rows]


def _grants(table: str) -> list[str]:
    """The privileges granted on the table, as GRANT statements on ``hotspots``."""
    rows = op.get_bind().execute(
        text(
            "SELECT grantee, string_agg(privilege_type, ', ') FROM information_schema.role_table_grants "
            "WHERE table_name = :t AND grantee <> current_user GROUP BY grantee"
        ),
        {"t": table},
    )
    return [f'GRANT {privs} ON hotspots TO "{grantee}"' for grantee, privs in rows]


def _year_partition(year: int) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS hotspots_y{year} PARTITION OF hotspots FOR VALUES "
        f"FROM ('{year}-01-01 00:00:00+07') TO ('{year + 1}-01-01 00:00:00+07')"
    )


def _recreate(indexes: list[tuple[str, str]], grants: list[str]) -> None:
    for _, definition in indexes:
        op.execute(definition.replace(" ON ONLY ", " ON "))  # a partitioned table's index reads "ON ONLY"
    for grant in grants:
        op.execute(grant)


def upgrade() -> None:
    bind = op.get_bind()
    indexes = _indexes("hotspots")
    grants = _grants("hotspots")
    for name, _ in indexes:
        op.execute(f'DROP INDEX "{name}"')
    op.execute("ALTER TABLE hotspots DROP CONSTRAINT uq_hotspots_detection")
    op.execute("ALTER TABLE hotspots DROP CONSTRAINT pk_hotspots")
    op.execute(f"ALTER TABLE hotspots RENAME TO {OLD}")
    op.execute("ALTER SEQUENCE hotspots_id_seq OWNED BY NONE")  # or it goes with the old table
    # LIKE: the same columns (types, collations, NOT NULL), defaults (the id sequence) and CHECK constraints,
    # whatever later migrations added to the table
    op.execute(
        f"CREATE TABLE hotspots (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE "
        "INCLUDING COMMENTS) PARTITION BY RANGE (acq_utc)"
    )
    op.execute("ALTER SEQUENCE hotspots_id_seq OWNED BY hotspots.id")
    op.execute("ALTER TABLE hotspots ADD CONSTRAINT pk_hotspots PRIMARY KEY (id, acq_utc)")
    op.execute("ALTER TABLE hotspots ADD CONSTRAINT uq_hotspots_detection UNIQUE (acq_utc, lat_e4, lon_e4, satellite)")
    _recreate(indexes, grants)
    op.execute("CREATE TABLE hotspots_default PARTITION OF hotspots DEFAULT")
    # a partition for every local year from 2012 (or the oldest stored detection) to AHEAD_YEARS after this one
    oldest = bind.execute(
        text(f"SELECT extract(year FROM min(acq_utc) AT TIME ZONE 'Asia/Bangkok')::int FROM {OLD}")
    ).scalar()
    this_year = date.today().year
    for year in range(min(oldest or FIRST_YEAR, FIRST_YEAR), this_year + AHEAD_YEARS + 1):
        op.execute(_year_partition(year))
    op.execute(f"INSERT INTO hotspots SELECT * FROM {OLD}")
    op.execute(f"DROP TABLE {OLD}")
    op.execute("ANALYZE hotspots")
    op.execute(f"""
        CREATE FUNCTION case_linked_ids(t link_target) RETURNS SETOF text
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
          AS $$ SELECT DISTINCT target_id FROM case_links WHERE target_type = t $$;
        COMMENT ON FUNCTION case_linked_ids(link_target) IS
          'Every target of this kind that any case links, whatever the caller may see (only the ids leave)';
        REVOKE ALL ON FUNCTION case_linked_ids(link_target) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION case_linked_ids(link_target) TO {APP_ROLE};
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION case_linked_ids(link_target)")
    indexes = _indexes("hotspots")
    grants = _grants("hotspots")
    op.execute(f"CREATE TABLE {OLD} (LIKE hotspots INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
    # the rows of every attached partition (a detached archive table stays as it is, outside ``hotspots``)
    op.execute(f"INSERT INTO {OLD} SELECT * FROM hotspots")
    op.execute("ALTER SEQUENCE hotspots_id_seq OWNED BY NONE")
    op.execute("DROP TABLE hotspots")  # and its partitions
    op.execute(f"ALTER TABLE {OLD} RENAME TO hotspots")
    op.execute("ALTER SEQUENCE hotspots_id_seq OWNED BY hotspots.id")
    op.execute("ALTER TABLE hotspots ADD CONSTRAINT pk_hotspots PRIMARY KEY (id)")
    op.execute("ALTER TABLE hotspots ADD CONSTRAINT uq_hotspots_detection UNIQUE (acq_utc, lat_e4, lon_e4, satellite)")
    _recreate(indexes, grants)
