"""The partitions of the detections (migration 0021): one per Asia/Bangkok calendar year, and a DEFAULT.

A store (README, Layout): the only code besides ``hotspots.store``, ``hotspots.ingest`` and ``hotspots.events``
that names the detection tables in SQL, always in the caller's transaction.

* ``ensure_years`` / ``ensure_ahead`` create year partitions (the app at start-up, ``geo-service hotspots
  partitions ensure --ahead N``, later the worker). Rows of those years waiting in the DEFAULT partition are
  moved first, or PostgreSQL would refuse the new partition.
* ``split_default`` is what an ingest calls before it commits: a file of a year with no partition (a 2009
  archive) lands in ``hotspots_default`` (the COPY cannot stop to run DDL on its own connection), and is
  moved into new year partitions in the same transaction, so the DEFAULT partition is empty between ingests.
* ``list_partitions``: bounds and exact row counts; ``detach`` / ``attach``: the archive (the GeoParquet side
  is in ``hotspots.partition_archive``).

Creating or detaching a partition takes an ACCESS EXCLUSIVE lock on ``hotspots`` for the rest of the
transaction; these transactions are short, and ``lock_timeout`` keeps a detach from queueing behind a long
export and blocking every reader meanwhile. ``DETACH ... CONCURRENTLY`` would avoid the lock, but PostgreSQL
does not allow it on a table with a DEFAULT partition, and the DEFAULT partition is what lets any ingest
succeed: an archive detach is a rare, scheduled step, an ingest failing on an old file is not acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.errors import Conflict

# Thailand has kept UTC+7 without daylight saving since 1920: a fixed offset (the tz database's Asia/Bangkok
# would give its 1880s mean solar time, +06:42, to the far dates a filter may name)
BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
PARENT = "hotspots"
DEFAULT = "hotspots_default"
NAME = re.compile(r"^hotspots_y(\d{4})$")
PARTITION_LOCK = 0x6F5F7061727469  # pg_advisory_xact_lock key of partition DDL ("o_parti")
FIRST_YEAR, LAST_YEAR = 1990, 2200  # years a partition may be made for (FIRMS MODIS data start in 2000)


class PartitionError(Conflict):
    """A partition operation that cannot be done as asked (409; the CLI exits non-zero)."""

    code = "partition_conflict"


@dataclass
class Partition:
    """One partition of ``hotspots``: name, year (None for DEFAULT), bounds (UTC instants), rows, bytes."""

    name: str
    year: int | None
    lower: datetime | None
    upper: datetime | None
    rows: int
    bytes: int
    is_default: bool = False


def partition_name(year: int) -> str:
    """The name of the partition of a local calendar year: ``hotspots_y2024``."""
    if not FIRST_YEAR <= year <= LAST_YEAR:  # interpolated into DDL: only a plain year
        raise PartitionError(f"{year} is not a year a partition can be made for ({FIRST_YEAR}-{LAST_YEAR}).")
    return f"hotspots_y{int(year)}"


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The partition bounds of a year: local (Asia/Bangkok) midnight of 1 January, to the next one (excluded)."""
    return datetime(year, 1, 1, tzinfo=BANGKOK), datetime(year + 1, 1, 1, tzinfo=BANGKOK)


def local_day_start(day: date) -> datetime:
    """The instant a local (Asia/Bangkok) day begins: ``acq_date_local >= day`` is ``acq_utc >= this``."""
    return datetime(day.year, day.month, day.day, tzinfo=BANGKOK)


def local_day_end(day: date) -> datetime:
    """The instant the local day after ``day`` begins: ``acq_date_local <= day`` is ``acq_utc < this`` (the end
    of time for the last representable day)."""
    if day >= date.max:
        return datetime.max.replace(tzinfo=UTC)
    return local_day_start(day + timedelta(days=1))


def _bounds_sql(year: int) -> str:
    lo, hi = year_bounds(year)
    return f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"


def _lock(session: Session) -> None:
    """Serialise partition DDL (two app replicas starting at once, a worker and a CLI command)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})


def attached_years(session: Session) -> set[int]:
    """The years that have a partition attached to ``hotspots``."""
    rows = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:p AS regclass)"
        ),
        {"p": PARENT},
    ).scalars()
    return {int(m.group(1)) for name in rows if (m := NAME.match(name))}


def _table_exists(session: Session, name: str) -> bool:
    return bool(session.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar())


def default_years(session: Session) -> list[int]:
    """The local years of the detections waiting in the DEFAULT partition (none between ingests)."""
    return list(
        session.execute(
            text(
                f"SELECT DISTINCT extract(year FROM acq_utc AT TIME ZONE 'Asia/Bangkok')::int FROM {DEFAULT} ORDER BY 1"
            )
        ).scalars()
    )


def split_default(session: Session) -> list[str]:
    """Move the detections in the DEFAULT partition into partitions of their years (created as needed), with
    their ids; returns the partitions created. Cheap when the DEFAULT partition is empty (the usual case)."""
    if not session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT})")).scalar():
        return []
    return ensure_years(session, default_years(session))


def ensure_years(session: Session, years: Sequence[int]) -> list[str]:
    """Create the partitions of these local years that do not exist; returns their names.

    Detections of these years waiting in the DEFAULT partition are moved into them (ids unchanged). A
    detached archive table with the same name is refused: attach it back or drop it first.
    """
    wanted = sorted({int(y) for y in years} - attached_years(session))
    if not wanted:
        return []
    _lock(session)
    wanted = sorted(set(wanted) - attached_years(session))  # another process may have made them meanwhile
    names = [partition_name(y) for y in wanted]
    for name in names:
        if _table_exists(session, name):
            raise PartitionError(
                f"A table {name} exists but is not attached (a detached archive year): attach it back "
                "(hotspots partitions attach) or drop it before detections of that year can be stored."
            )
    moved = session.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE extract(year FROM acq_utc AT TIME ZONE 'Asia/Bangkok') = ANY(:y))"
        ),
        {"y": wanted},
    ).scalar()
    if moved:
        session.execute(text("DROP TABLE IF EXISTS hotspot_default_rows"))
        session.execute(text(f"CREATE TEMP TABLE hotspot_default_rows (LIKE {PARENT}) ON COMMIT DROP"))
        session.execute(
            text(f"""
            WITH d AS (DELETE FROM {DEFAULT}
                       WHERE extract(year FROM acq_utc AT TIME ZONE 'Asia/Bangkok') = ANY(:y) RETURNING *)
            INSERT INTO hotspot_default_rows SELECT * FROM d"""),
            {"y": wanted},
        )
    for year, name in zip(wanted, names, strict=True):
        session.execute(text(f"CREATE TABLE {name} PARTITION OF {PARENT} {_bounds_sql(year)}"))
    if moved:
        session.execute(text(f"INSERT INTO {PARENT} SELECT * FROM hotspot_default_rows"))
        session.execute(text("DROP TABLE hotspot_default_rows"))
    return names


def ensure_ahead(session: Session, ahead: int, today: date | None = None) -> list[str]:
    """Partitions for this local year and ``ahead`` years after it (those missing); returns the ones created."""
    if ahead < 0:
        raise PartitionError("--ahead is a number of years, 0 or more.")
    year = (today or datetime.now(BANGKOK).date()).year
    return ensure_years(session, range(year, year + ahead + 1))


_LIST = """
SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound, pg_total_relation_size(c.oid) AS bytes
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = CAST(:p AS regclass)
ORDER BY c.relname
"""


def list_partitions(session: Session) -> list[Partition]:
    """Every partition of ``hotspots``, oldest year first and DEFAULT last, with exact row counts (a count per
    partition: about a second per 10 million rows)."""
    out = []
    for r in session.execute(text(_LIST), {"p": PARENT}).mappings():
        name = r["name"]
        m = NAME.match(name)
        rows = session.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()  # a name from the catalogue
        if m:
            lo, hi = year_bounds(int(m.group(1)))
            out.append(Partition(name, int(m.group(1)), lo, hi, rows, r["bytes"]))
        else:
            out.append(Partition(name, None, None, None, rows, r["bytes"], is_default=r["bound"] == "DEFAULT"))
    return sorted(out, key=lambda p: (p.year is None, p.year or 0, p.name))


def years_before(session: Session, before: date) -> list[int]:
    """The attached years that end on or before local midnight of ``before`` (a year is detached whole)."""
    limit = local_day_start(before)
    return sorted(y for y in attached_years(session) if year_bounds(y)[1] <= limit)


def ids_linked(session: Session, year: int, hotspot_ids: Sequence[str], event_ids: Sequence[str]) -> dict:
    """How many detections of the year's partition a case links, directly (``hotspot_ids``) or through their
    fire event (``event_ids``): ``{"hotspots": n, "via_events": n}``."""
    name = partition_name(year)
    direct = session.execute(
        text(f"SELECT count(*) FROM {name} WHERE id::text = ANY(:i)"), {"i": list(hotspot_ids)}
    ).scalar_one()
    via = session.execute(
        text(
            f"SELECT count(*) FROM {name} h JOIN hotspot_events he ON he.hotspot_id = h.id "
            "WHERE he.event_id::text = ANY(:e)"
        ),
        {"e": list(event_ids)},
    ).scalar_one()
    return {"hotspots": int(direct), "via_events": int(via)}


def lock_for_archive(session: Session, year: int, lock_timeout_s: float) -> None:
    """Stop writes to the year's partition until commit (SHARE lock), waiting at most ``lock_timeout_s``."""
    session.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'"))
    session.execute(text(f"LOCK TABLE {partition_name(year)} IN SHARE MODE"))


def archive_columns(session: Session) -> list[tuple[str, str]]:
    """(column, PostgreSQL type name) of the detections, in table order."""
    rows = session.execute(
        text("""
        SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a
        WHERE a.attrelid = CAST(:p AS regclass) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""),
        {"p": PARENT},
    ).all()
    return [(r[0], r[1]) for r in rows]


def partition_rows(session: Session, year: int, batch: int = 50_000) -> Iterator[list[tuple]]:
    """The rows of a year's partition in ``archive_columns`` order (the geometry as WKB), by id, in batches
    read through a server-side cursor of the session's connection (memory stays at one batch)."""
    cols = archive_columns(session)
    select = ", ".join("ST_AsBinary(geom)" if c == "geom" else f'"{c}"' for c, _ in cols)
    conn = driver_connection(session)
    with conn.cursor(name=f"archive_{year}") as cur:
        cur.itersize = batch
        cur.execute(f"SELECT {select} FROM {partition_name(year)} ORDER BY id")
        while rows := cur.fetchmany(batch):
            yield rows


def detach(session: Session, year: int, *, drop: bool, lock_timeout_s: float = 5.0) -> None:
    """Detach the year's partition from ``hotspots`` (its detections leave every query at commit) and drop the
    table, or keep it as a plain table of the same name."""
    name = partition_name(year)
    _lock(session)
    session.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'"))
    session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
    if drop:
        session.execute(text(f"DROP TABLE {name}"))


def attach_rows(session: Session, year: int, columns: Sequence[str], batches: Iterator[list[tuple]]) -> int:
    """Bring an archived year back: a new table filled by COPY (the geometry from WKB), then attached as the
    year's partition. Refused when the year has detections again (they would need the ingest's merge)."""
    name = partition_name(year)
    _lock(session)
    if year in attached_years(session):
        rows = session.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        if rows:
            raise PartitionError(
                f"{name} is attached and holds {rows:,} detections: ingest the archive's rows instead of attaching."
            )
        session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
        session.execute(text(f"DROP TABLE {name}"))
    elif _table_exists(session, name):
        raise PartitionError(f"A table {name} exists (a kept archive table): attach or drop it first.")
    if session.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE extract(year FROM acq_utc AT TIME ZONE 'Asia/Bangkok') = :y)"
        ),
        {"y": year},
    ).scalar():
        raise PartitionError(f"Detections of {year} are waiting in {DEFAULT}: ingest the archive's rows instead.")
    session.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    stage_cols = ", ".join(f'"{c}"' for c in columns)
    session.execute(text("DROP TABLE IF EXISTS hotspot_attach"))
    session.execute(
        text(
            f"CREATE TEMP TABLE hotspot_attach ON COMMIT DROP AS SELECT {stage_cols} FROM {PARENT} WITH NO DATA; "
            "ALTER TABLE hotspot_attach ALTER COLUMN geom TYPE bytea USING NULL"
        )
    )
    conn = driver_connection(session)
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY hotspot_attach ({stage_cols}) FROM STDIN") as copy:
        for rows in batches:
            for row in rows:
                copy.write_row(row)
            n += len(rows)
    select = ", ".join("ST_SetSRID(ST_GeomFromWKB(geom), 4326)" if c == "geom" else f'"{c}"' for c in columns)
    session.execute(text(f"INSERT INTO {name} ({stage_cols}) SELECT {select} FROM hotspot_attach"))
    session.execute(text("DROP TABLE hotspot_attach"))
    lo, hi = year_bounds(year)
    outside = session.execute(
        text(f"SELECT count(*) FROM {name} WHERE NOT (acq_utc >= :lo AND acq_utc < :hi)"), {"lo": lo, "hi": hi}
    ).scalar_one()
    if outside:
        raise PartitionError(f"{outside:,} rows of the archive are not of {year}: it is not one year's archive.")
    session.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {_bounds_sql(year)}"))
    return n


# --- bulk path of large ingests into an empty year (hotspots.ingest) ---


class BulkLockTimeout(Exception):
    """The bulk path could not take its locks within the lock timeout; nothing of it stays (the ingest runs the
    file again through the row path)."""


def load_table_name(year: int) -> str:
    """The bare table a bulk ingest of ``year`` fills before it is attached: ``hotspots_y2024_load``."""
    return f"{partition_name(year)}_load"


LOAD_TABLE = re.compile(r"^hotspots_y(\d{4})_load$")
# rough relative cost of building an index of each access method over the same rows (measured on 1M
# detections, README *FIRMS ingest vs a bare COPY*: GiST 1.6 s, each B-tree 0.4-0.65 s, BRIN 0.12 s); used to
# share the builds between the build connections (the longest first, each to the least loaded one)
_BUILD_COST = {"gist": 4.0, "spgist": 4.0, "btree": 1.5, "hash": 1.5, "brin": 0.3}


def bulk_index_statements(session: Session, load: str, name: str) -> tuple[list[tuple[float, str]], list[str]]:
    """The parent's keys and indexes as ``CREATE INDEX`` statements on the load table (cost, statement), and the
    ``ADD CONSTRAINT ... USING INDEX`` statements that make the keys' indexes keys again (after the builds).

    From the catalogue, so a later migration's index is built too; a key is built as a plain unique index
    (SHARE lock, so builds on other connections run at once; ``ALTER TABLE ... ADD PRIMARY KEY`` would take
    ACCESS EXCLUSIVE and make them wait), then adopted as the constraint (no second build, no scan: its
    columns are NOT NULL already). Names are our own, so they never meet PostgreSQL's.
    """
    builds: list[tuple[float, str]] = []
    adopt: list[str] = []
    cons = session.execute(text(_PARENT_CONSTRAINTS), {"p": PARENT}).all()
    for n, (_cname, ctype, idef) in enumerate(cons):
        index = f"{name}_bulk_k{n}"
        tail = idef.partition(" USING ")[2]
        builds.append(
            (_BUILD_COST.get(tail.split(" ", 1)[0], 1.5), f'CREATE UNIQUE INDEX "{index}" ON {load} USING {tail}')
        )
        kind = "PRIMARY KEY" if ctype == "p" else "UNIQUE"
        adopt.append(f'ALTER TABLE {load} ADD CONSTRAINT "{index}" {kind} USING INDEX "{index}"')
    for n, (_iname, idef) in enumerate(session.execute(text(_PARENT_INDEXES), {"p": PARENT}).all()):
        # "CREATE INDEX ix ON ONLY public.hotspots USING ..." -> the same index on the bare table
        head, _, tail = idef.partition(" USING ")
        unique = "UNIQUE " if head.startswith("CREATE UNIQUE") else ""
        cost = _BUILD_COST.get(tail.split(" ", 1)[0], 1.5)
        builds.append((cost, f'CREATE {unique}INDEX "{name}_bulk_i{n}" ON {load} USING {tail}'))
    return builds, adopt


def share_builds(builds: list[tuple[float, str]], connections: int) -> list[list[str]]:
    """The build statements shared between ``connections`` lists: the costliest first, each to the list with the
    least cost so far (longest-processing-time scheduling)."""
    lists: list[list[str]] = [[] for _ in range(max(1, connections))]
    load = [0.0] * len(lists)
    for cost, statement in sorted(builds, key=lambda b: -b[0]):
        i = load.index(min(load))
        lists[i].append(statement)
        load[i] += cost
    return [s for s in lists if s]


class BulkYear:
    """The bare table a large ingest of an empty year fills, indexes and attaches (``start_bulk_year``).

    The table is created, filled and indexed on connections of its own, **committed apart from the ingest's
    transaction**, so that its indexes can be built on several connections at once (a build on another
    connection sees only committed rows). It is not attached until ``attach``, in the ingest's transaction:
    until then it is a table no query of the service reads (``hotspots`` and its partitions do not include
    it), and it holds no key, so nothing of the file is visible to users before the ingest commits.

    Cleaned, not resumed: a run that fails before the attach drops the table (``close``); a run killed
    meanwhile leaves it, and the next bulk ingest drops every leftover ``hotspots_yYYYY_load`` before it
    starts (ingests are serialised by the ingest lock, so a leftover is never another ingest's work). A run
    whose transaction rolls back after the attach leaves the table too (the attach is undone, the rows stay):
    the same clean-up drops it.
    """

    def __init__(self, session: Session, year: int, build_connections: int = 2):
        self.session = session
        self.year = year
        self.name = partition_name(year)
        self.table = load_table_name(year)
        self.build_connections = max(1, build_connections)
        self.attached = False
        self._conns: list = []
        self._builds, self._adopt = bulk_index_statements(session, self.table, self.name)

    def _connection(self, i: int = 0):
        """The ``i``-th autocommit connection of the session's engine, opened on first use (given back by
        ``close``): the filling connection is the first build connection, and the clean-up reuses it."""
        while len(self._conns) <= i:
            conn = self.session.get_bind().engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._conns.append(conn)
        return self._conns[i].connection.driver_connection

    @contextmanager
    def filling(self) -> Iterator:
        """A connection in a transaction of its own that creates the bare table (dropping leftovers of killed
        runs first), for the caller's ``COPY ... (FREEZE)`` (``copy_sql``); committed when the block ends
        (rolled back if it raises: then no table is left).

        The table has the shape of ``hotspots`` (columns, NOT NULL, defaults including the id sequence, CHECK
        constraints) plus a CHECK of the year's bounds (ATTACH then skips its scan of the rows), and no key
        or index. FREEZE: the rows are written frozen and all-visible (the table is new in this transaction),
        so the index builds and later vacuums need not set hint bits or freeze them.
        """
        conn = self._connection()
        lo, hi = year_bounds(self.year)
        leftovers = [
            t
            for t in conn.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
                "AND relname LIKE 'hotspots\\_y%\\_load'"
            ).fetchall()
            if LOAD_TABLE.match(t[0])
        ]
        for (leftover,) in leftovers:  # a name from the catalogue that matched LOAD_TABLE
            conn.execute(f"DROP TABLE IF EXISTS {leftover}")
        # a transaction of this connection's own (not the caller's unit of work): COPY FREEZE needs the table
        # created in it, and the builds on other connections need it committed
        with conn.transaction():
            conn.execute(
                f"CREATE TABLE {self.table} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE, "
                f"CONSTRAINT {self.table}_bounds CHECK (acq_utc >= '{lo.isoformat()}' AND acq_utc < '{hi.isoformat()}'))"
            )  # DDL takes no parameters: the bounds are our own timestamps (as in _bounds_sql)
            yield conn

    def build(self) -> dict[str, float]:
        """Build the parent's keys (as unique indexes) and indexes over the committed rows, shared between
        ``build_connections`` connections working at once; returns ``{"builds": seconds}``."""
        import time
        from concurrent.futures import ThreadPoolExecutor

        t = time.perf_counter()
        lists = share_builds(self._builds, self.build_connections)
        conns = [self._connection(i) for i in range(len(lists))]

        def run(conn, statements: list[str]) -> None:
            # the sorts of the builds in memory (64 MB by default: 1M rows of the detection key spill to disk);
            # one process per build: parallel workers did not shorten 1M-row builds (README) and would take the
            # other connection's core
            conn.execute("SET maintenance_work_mem = '256MB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            try:
                for statement in statements:
                    conn.execute(statement)
            finally:  # the connection goes back to the pool as it came
                conn.execute("RESET maintenance_work_mem")
                conn.execute("RESET max_parallel_maintenance_workers")

        if len(lists) == 1:
            run(conns[0], lists[0])
        else:  # psycopg waits for the server without the GIL: the threads only wait
            with ThreadPoolExecutor(len(lists)) as pool:
                for future in [pool.submit(run, c, s) for c, s in zip(conns, lists, strict=True)]:
                    future.result()
        return {"builds": time.perf_counter() - t}

    def attach(self, lock_timeout_s: float) -> dict[str, float]:
        """In the ingest's transaction: the keys' indexes adopted as the keys, then the table attached as the
        year's partition; returns ``{"attach": seconds}``.

        ``ATTACH PARTITION`` adopts the keys and indexes built (none is built twice); the CHECK of the year's
        bounds spares it its scan of the rows. Locks (held to commit): ATTACH takes SHARE UPDATE EXCLUSIVE on
        ``hotspots`` (readers and writers of other years go on; other DDL waits) and ACCESS EXCLUSIVE on the
        DEFAULT partition (only queries that the planner cannot prune to named years wait) and on the new
        partition. When the year has an empty partition already (made ahead by the worker) it is detached and
        dropped first: ACCESS EXCLUSIVE on ``hotspots``, so every reader waits until commit. Each lock is
        waited for at most ``lock_timeout_s``; then ``BulkLockTimeout`` (nothing of the attach stays).
        """
        import time

        import psycopg

        t = time.perf_counter()
        name, load = self.name, self.table
        conn = driver_connection(self.session)
        with conn.cursor() as cur:
            (previous,) = cur.execute("SHOW lock_timeout").fetchone() or ("0",)
            cur.execute("SAVEPOINT hotspot_bulk_attach")
            try:
                cur.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
                for statement in self._adopt:
                    cur.execute(statement)
                if self.year in attached_years(self.session):  # an empty partition made ahead
                    cur.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                    cur.execute(f"DROP TABLE {name}")
                cur.execute(f"ALTER TABLE {load} RENAME TO {name}")
                cur.execute(f"ALTER TABLE {name} RENAME CONSTRAINT {load}_bounds TO {name}_bounds")
                cur.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {_bounds_sql(self.year)}")
                cur.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")
            except psycopg.errors.LockNotAvailable:
                cur.execute("ROLLBACK TO SAVEPOINT hotspot_bulk_attach")
                raise BulkLockTimeout() from None
            cur.execute("SELECT set_config('lock_timeout', %s, true)", (previous,))
            cur.execute("RELEASE SAVEPOINT hotspot_bulk_attach")
        self.attached = True
        return {"attach": time.perf_counter() - t}

    def discard(self) -> None:
        """Drop the bare table (after the ingest's transaction let go of it); if a lock keeps it, the next bulk
        ingest drops it."""
        import psycopg

        self.attached = False
        try:
            conn = self._connection()
            conn.execute("SET lock_timeout = '2s'")
            try:
                conn.execute(f"DROP TABLE IF EXISTS {self.table}")
            finally:
                conn.execute("RESET lock_timeout")
        except psycopg.Error:
            pass

    def close(self) -> None:
        """Drop the table unless it was attached, and give the connections back to the pool."""
        if not self.attached:
            self.discard()
        for conn in self._conns:
            conn.close()
        self._conns.clear()


def start_bulk_year(session: Session, year: int, build_connections: int = 2) -> BulkYear | None:
    """The bulk load of an empty year (``BulkYear``), or None when the year holds detections (the row path
    then) or a detached archive table of the year exists.

    Takes the partition-DDL advisory lock (held to commit), so no partition of that year is made meanwhile.
    """
    name = partition_name(year)
    _lock(session)
    if year in attached_years(session):
        if session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {name})")).scalar():
            return None
    elif _table_exists(session, name):
        return None  # a detached archive table: the row path refuses it with its message
    if session.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE extract(year FROM acq_utc AT TIME ZONE 'Asia/Bangkok') = :y)"
        ),
        {"y": year},
    ).scalar():
        return None
    return BulkYear(session, year, build_connections)


def copy_sql(table: str, columns: Sequence[str]) -> str:
    """``COPY`` of the bare table in binary format, FREEZE (the table is new in the filling transaction)."""
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary, FREEZE)"


_PARENT_CONSTRAINTS = """
SELECT c.conname, c.contype, pg_get_indexdef(c.conindid) FROM pg_constraint c
WHERE c.conrelid = CAST(:p AS regclass) AND c.contype IN ('p', 'u') ORDER BY c.contype, c.conname"""
_PARENT_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = CAST(:p AS regclass) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
ORDER BY i.relname"""
