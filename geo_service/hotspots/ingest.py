"""Store FIRMS detections: stream, attribute, one binary COPY, one INSERT ... ON CONFLICT for updates, one batch row.

Everything happens in the caller's transaction: a refused file leaves nothing behind. (One exception, invisible
to users: the bulk path's load table of a new year is filled and indexed on connections of its own and committed
before it is attached in the caller's transaction; a failed or killed run's table is dropped, at the latest by
the next bulk ingest: ``partitions.BulkYear``.) The detection key
(acquisition time to the minute, position to 1e-4 degree (about 11 m), satellite) makes a re-ingest an
update and lets a standard-processing (SP) detection replace the near-real-time (NRT) one of the same pass;
an NRT row never overwrites an SP one.

How a file goes in (figures in README, *Satellite hotspots / Speed*):

* Ingests take a transaction-level advisory lock, so no other ingest commits detections meanwhile.
* New detections (the usual case) stream into ``hotspots`` through ONE binary COPY that stays open for the
  whole file. A writer thread feeds the connection while the main thread reads and attributes the next
  block, so the two CPU cores work at once: Python on the file, PostgreSQL on the rows.
* A detection whose key is already stored (a re-ingest, SP data for NRT detections) or repeated in the file
  goes to a spool file instead, is COPYed into a temporary table after the stream ends and merged by one
  INSERT ... ON CONFLICT. Stored keys are looked up per block on a second connection (the first one is busy
  with the COPY): one index range scan on the block's time span, empty for a new season.
* ``hotspots`` is partitioned by local year (migration 0021). Rows of a year without a partition land in the
  DEFAULT partition during the COPY and are moved into new year partitions before the ingest returns
  (``partitions.split_default``), so any file goes in and the DEFAULT partition stays empty between ingests.
* Should a key collide anyway (detections written earlier in the caller's own transaction are invisible to
  the second connection), the stream is rolled back to its savepoint and ``ingest_file`` runs the file
  again through the spool and merge only.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.errors import LayerRejected
from geo_service.hashing import sha256_file
from geo_service.hotspots import partitions
from geo_service.hotspots.firms import MAX_REPORTED, Chunk, FirmsFormatError, Problem, read_firms_csv
from geo_service.hotspots.rows import HOTSPOT_SCHEMA, BinaryCopy, copy_sql, hotspot_batch, query_frame
from geo_service.places import Gazetteer
from geo_service.settings import settings_of

INGEST_LOCK = 0x6F5F686F7473706F  # pg_advisory_xact_lock key of hotspot ingests ("o_hotspo")
COLUMNS = HOTSPOT_SCHEMA.names
_SPOOL_IN_MEMORY = 64 << 20  # bytes of spooled (merge-path) rows kept in memory before spilling to disk

_STAGE = f"CREATE TEMP TABLE hotspot_stage ON COMMIT DROP AS SELECT {', '.join(COLUMNS)} FROM hotspots WITH NO DATA"

# One statement from the staging table. An SP detection replaces an NRT one; NRT never replaces SP; an
# unchanged row is not rewritten. ``DISTINCT ON`` is only used when the staged rows repeat a key.
_MERGE = """
WITH src AS (
  SELECT {distinct} * FROM hotspot_stage ORDER BY acq_utc, lat_e4, lon_e4, satellite{order}
), ins AS (
  INSERT INTO hotspots AS h ({columns})
  SELECT {columns} FROM src
  ON CONFLICT ON CONSTRAINT uq_hotspots_detection DO UPDATE SET
    instrument = EXCLUDED.instrument, processing = EXCLUDED.processing, version = EXCLUDED.version,
    latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, brightness = EXCLUDED.brightness,
    bright_2 = EXCLUDED.bright_2, scan = EXCLUDED.scan, track = EXCLUDED.track, frp = EXCLUDED.frp,
    daynight = EXCLUDED.daynight, confidence = EXCLUDED.confidence, confidence_raw = EXCLUDED.confidence_raw,
    fire_type = EXCLUDED.fire_type, batch_id = EXCLUDED.batch_id, geom = EXCLUDED.geom, updated_at = now()
  WHERE NOT (h.processing = 'SP' AND EXCLUDED.processing = 'NRT')
    AND (h.processing, h.version, h.latitude, h.longitude, h.brightness, h.bright_2, h.scan, h.track, h.frp,
         h.daynight, h.confidence_raw, h.fire_type)
        IS DISTINCT FROM
        (EXCLUDED.processing, EXCLUDED.version, EXCLUDED.latitude, EXCLUDED.longitude, EXCLUDED.brightness,
         EXCLUDED.bright_2, EXCLUDED.scan, EXCLUDED.track, EXCLUDED.frp, EXCLUDED.daynight,
         EXCLUDED.confidence_raw, EXCLUDED.fire_type)
  RETURNING acq_utc, lat_e4, lon_e4, satellite
), stored AS (
  -- the keys already stored, as the statement's snapshot sees them before the insert: the rows ``ins`` returns
  -- with such a key were updates (``xmax = 0`` cannot be read from a partitioned table, migration 0021)
  SELECT h.acq_utc, h.lat_e4, h.lon_e4, h.satellite FROM src JOIN hotspots h USING (acq_utc, lat_e4, lon_e4, satellite)
)
SELECT count(*) FILTER (WHERE s.acq_utc IS NULL) AS new, count(*) FILTER (WHERE s.acq_utc IS NOT NULL) AS updated
FROM ins LEFT JOIN stored s USING (acq_utc, lat_e4, lon_e4, satellite)
"""


class FileRejected(LayerRejected):
    """A hotspot file refused as a whole (422); ``details`` lists line, column and reason."""

    code = "file_rejected"
    message = "The file was refused; nothing was stored."


@dataclass
class IngestReport:
    """What one ingest did (also stored as a row of ``hotspot_batches``)."""

    batch_id: int | None
    source: str
    file_name: str | None
    file_sha256: str | None
    rows_total: int = 0
    rows_new: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_refused: int = 0
    rows_outside: int = 0
    first_acq: str | None = None
    last_acq: str | None = None
    duration_s: float = 0.0
    problems: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    event_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The report as a dict (for the API's answer and the audit entry)."""
        return asdict(self)


def _key_hash(frame: pd.DataFrame) -> np.ndarray:
    """64-bit hash of the detection key (a collision only sends rows through the slower merge)."""
    sat = pd.util.hash_array(frame["satellite"].to_numpy(dtype=object))
    with np.errstate(over="ignore"):
        h = frame["acq_epoch"].to_numpy(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= sat
        h = h * np.uint64(0xBF58476D1CE4E5B9) ^ frame["lat_e4"].to_numpy(np.int64).astype(np.uint64)
        h = h * np.uint64(0x94D049BB133111EB) ^ frame["lon_e4"].to_numpy(np.int64).astype(np.uint64)
    return h


class _SeenKeys:
    """Key hashes of the rows read so far (8 bytes a row), as a few sorted runs of doubling size.

    A block is looked up in each run (binary search) and added as a new run; two runs are merged when the
    older is at most twice the newer, so each hash is re-sorted O(log n) times in all (a single sorted
    array merged per block made a 5M-row file quadratic).
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def repeats(self, h: np.ndarray) -> np.ndarray:
        """True for each hash seen before (earlier in the file or earlier in ``h``); remembers ``h``."""
        order = np.argsort(h, kind="stable")  # equal hashes keep their file order: the first is not a repeat
        hs = h[order]
        found = np.zeros(len(hs), dtype=bool)
        found[1:] = hs[1:] == hs[:-1]
        for run in self._runs:  # sorted queries: the binary searches walk each run in order
            pos = np.minimum(np.searchsorted(run, hs), len(run) - 1)
            found |= run[pos] == hs
        repeat = np.empty(len(h), dtype=bool)
        repeat[order] = found
        if not found.all():
            self._runs.append(hs[~found])
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            newer, older = self._runs.pop(), self._runs.pop()
            self._runs.append(np.sort(np.concatenate([older, newer]), kind="stable"))  # merges two sorted runs
        return repeat


class _StoredKeys:
    """Detection keys already committed, looked up on a second connection while the first one streams."""

    def __init__(self, session: Session):
        # autocommit: each lookup reads what is committed at that moment and leaves no transaction open (the
        # pool resets the isolation level when the connection goes back)
        self._lookup = session.get_bind().engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._conn = self._lookup.connection.driver_connection

    def contains(self, frame: pd.DataFrame, h: np.ndarray) -> np.ndarray:
        """True for each row of the block whose key is stored (one index range scan on its time span)."""
        lo, hi = int(frame["acq_epoch"].min()), int(frame["acq_epoch"].max())
        stored = query_frame(
            self._conn,
            "SELECT extract(epoch FROM acq_utc)::bigint, satellite, lat_e4, lon_e4 "
            "FROM hotspots WHERE acq_utc BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
            (lo, hi),
            ["acq_epoch", "satellite", "lat_e4", "lon_e4"],
            text_columns=("satellite",),
        )
        if stored.empty:
            return np.zeros(len(h), dtype=bool)
        return np.isin(h, _key_hash(stored))

    def close(self) -> None:
        """Give the lookup connection back to the pool."""
        self._lookup.close()


class DirectCollision(Exception):
    """A streamed detection met a stored key the lookup could not see; the stream was rolled back."""


def ingest_chunks(
    session: Session,
    chunks: Iterable[Chunk],
    gaz: Gazetteer,
    *,
    source: str,
    file_name: str | None = None,
    file_sha256: str | None = None,
    loaded_by: str | None = None,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    direct: bool = True,
    bulk: bool = False,
    bulk_lock_timeout_s: float = 5.0,
    bulk_build_connections: int = 2,
) -> IngestReport:
    """Attribute and store normalised FIRMS chunks in the session's transaction.

    Parameters
    ----------
    session : Session
        The caller commits (or rolls back) the whole ingest.
    chunks : iterable of Chunk
        From ``read_firms_csv``.
    gaz : Gazetteer
        Boundaries used to attribute each detection (district, subdistrict, protected areas in force on
        the detection's local date).
    source : str
        Where the rows come from (file, FIRMS source name), recorded with the batch.
    skip_invalid : bool
        Store the valid rows of a file with invalid ones (counted as refused and listed in the batch report).
        By default any invalid row refuses the whole file.
    progress : callable, optional
        Called with the number of rows read after each chunk.
    direct : bool
        Stream new detections straight into ``hotspots`` (default). False sends every row through the
        staging table and the merge (the safe path after a ``DirectCollision``).
    bulk : bool
        Bulk path (a large file): when most rows of the first chunk fall in a year with no detections, the
        rows of that year are COPYed into a bare table (committed apart, not attached), keyed and indexed on
        ``bulk_build_connections`` connections at once and attached as the year's partition in the caller's
        transaction (``partitions.BulkYear``); the other rows take the merge. Same rows, attribution, batch
        row and counts as the row path; a year that holds detections takes the row path.
    bulk_lock_timeout_s : float
        How long the bulk path waits for each lock of the attach before ``BulkLockTimeout``.
    bulk_build_connections : int
        Connections that build the bulk table's keys and indexes at once (one per core PostgreSQL may use).

    Returns
    -------
    IngestReport

    Raises
    ------
    FileRejected
        The file is not FIRMS CSV, or has invalid rows and ``skip_invalid`` is false; nothing is stored.
    DirectCollision
        Only with ``direct``: nothing of this ingest is left in the transaction; run it again with
        ``direct=False``.
    partitions.BulkLockTimeout
        Only with ``bulk``: nothing of this ingest is left in the transaction; run it again with ``bulk=False``.
    """
    with ExitStack() as cleanup:  # the bulk path's connections (and its table, unless attached)
        started = time.perf_counter()
        report = IngestReport(batch_id=None, source=source, file_name=file_name, file_sha256=file_sha256)
        conn = driver_connection(session)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK})
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT hotspot_ingest")
        batch_id = session.execute(
            text(
                "INSERT INTO hotspot_batches (source, file_name, file_sha256, loaded_by) "
                "VALUES (:source, :file_name, :sha, :by) RETURNING id"
            ),
            {"source": source, "file_name": file_name, "sha": file_sha256, "by": loaded_by},
        ).scalar_one()
        problems: list[Problem] = []
        staged_hashes: list[np.ndarray] = []
        first = last = None
        direct_rows = 0
        seen = _SeenKeys()
        stored_keys = _StoredKeys(session) if direct else None
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by _undo or after the merge)
        spool_rows = BinaryCopy(HOTSPOT_SCHEMA)
        spool.write(spool_rows.header())
        late = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 (closed below or by _undo)
        late_encoder = BinaryCopy(HOTSPOT_SCHEMA)
        late.write(late_encoder.header())
        late_count = 0
        stream_rows = BinaryCopy(HOTSPOT_SCHEMA)
        tm = {"read": 0.0, "attribute": 0.0, "encode": 0.0, "copy_wait": 0.0, "merge": 0.0}
        mark = time.perf_counter()
        bulk_year: int | None = None
        bulk_load: partitions.BulkYear | None = None
        try:
            chunks = iter(chunks)
            head = next(chunks, None)  # the first chunk decides the bulk path (raises FirmsFormatError like any)
            if bulk and direct and head is not None and not head.problems and not head.frame.empty:
                years = pd.DatetimeIndex(head.frame["acq_date_local"]).year
                year = int(pd.Series(years).mode().iloc[0])
                bulk_load = partitions.start_bulk_year(session, year, bulk_build_connections)
                if bulk_load is not None:
                    cleanup.callback(bulk_load.close)
                    bulk_year = year
            # the bulk table is filled on a connection of its own, in a transaction committed when the stream
            # ends (its indexes are then built on several connections at once; partitions.BulkYear)
            stream = bulk_load.filling() if bulk_load is not None else nullcontext(conn)
            sql = (
                partitions.copy_sql(bulk_load.table, COLUMNS)
                if bulk_load is not None
                else copy_sql("hotspots", HOTSPOT_SCHEMA)
            )
            with stream as stream_conn, stream_conn.cursor() as cur:
                copy_started = time.perf_counter()
                # the writer thread sends while this thread prepares the next block
                with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
                    copy.write(stream_rows.header())
                    for chunk in itertools.chain([head] if head is not None else [], chunks):
                        now = time.perf_counter()
                        tm["read"] += now - mark
                        report.rows_total += chunk.rows_read
                        report.rows_refused += chunk.refused
                        report.rows_outside += getattr(chunk, "outside", 0)
                        problems.extend(chunk.problems)
                        if progress:
                            progress(chunk.rows_read)
                        frame = chunk.frame
                        if (problems and not skip_invalid) or frame.empty:
                            mark = time.perf_counter()
                            continue  # keep reading to report every problem; nothing will be stored
                        frame = frame.sort_values("acq_epoch", kind="stable", ignore_index=True)  # index edge
                        attr = gaz.attribute(
                            frame["longitude"].to_numpy(),
                            frame["latitude"].to_numpy(),
                            frame["acq_date_local"].to_numpy(),
                        )
                        lo, hi = int(frame["acq_epoch"].iloc[0]), int(frame["acq_epoch"].iloc[-1])
                        first = lo if first is None else min(first, lo)
                        last = hi if last is None else max(last, hi)
                        h = _key_hash(frame)
                        other = None  # bulk path: the rows not of the bulk year
                        merge = seen.repeats(h)
                        if stored_keys is None:
                            merge[:] = True
                        else:
                            if bulk_year is not None:  # the bulk year is empty: no stored key to look up there
                                other = pd.DatetimeIndex(frame["acq_date_local"]).year.to_numpy() != bulk_year
                            if not merge.all() and (other is None or (other & ~merge).any()):
                                merge |= stored_keys.contains(frame, h)
                        now2 = time.perf_counter()
                        tm["attribute"] += now2 - now
                        rows = hotspot_batch(frame, attr, batch_id)
                        if merge.any():
                            staged_hashes.append(h[merge])
                            spool.write(spool_rows.rows(rows.filter(pa.array(merge))))
                        fresh = ~merge
                        if other is not None and (late_rows := fresh & other).any():
                            # new detections of other years: COPYed into ``hotspots`` after the attach, as the
                            # row path would have streamed them
                            late.write(late_encoder.rows(rows.filter(pa.array(late_rows))))
                            direct_rows += int(late_rows.sum())
                            late_count += int(late_rows.sum())
                            fresh &= ~other
                        data = None
                        if fresh.any():
                            data = stream_rows.rows(rows if fresh.all() else rows.filter(pa.array(fresh)))
                            direct_rows += int(fresh.sum())
                        now3 = time.perf_counter()
                        tm["encode"] += now3 - now2
                        if data is not None:
                            copy.write(data)
                        mark = time.perf_counter()
                        tm["copy_wait"] += mark - now3
                    copy.write(stream_rows.finish())
                    wait = time.perf_counter()
                tm["copy_wait"] += time.perf_counter() - wait
                tm["stream"] = time.perf_counter() - copy_started
        except FirmsFormatError as exc:
            _undo(conn, spool, late)
            raise FileRejected(details=[p.as_dict() for p in exc.problems[:MAX_REPORTED]]) from None
        except psycopg.errors.UniqueViolation:
            _undo(conn, spool, late)
            raise DirectCollision() from None
        finally:
            if stored_keys is not None:
                stored_keys.close()
        report.problems = [p.as_dict() for p in problems[:MAX_REPORTED]]
        if problems and not skip_invalid:
            _undo(conn, spool, late)  # the rows streamed before the first problem, and the batch row
            raise FileRejected(
                f"The file was refused: {report.rows_refused} of {report.rows_total} rows are invalid "
                "(the first are listed); nothing was stored.",
                details=report.problems,
            )
        if bulk_load is not None:
            # keys and indexes built over the loaded rows, then attached: before the merge, whose ON CONFLICT
            # must see these rows (a key repeated in the file)
            tm.update(bulk_load.build())
            try:
                tm.update(bulk_load.attach(bulk_lock_timeout_s))
            except partitions.BulkLockTimeout:
                _undo(conn, spool, late, bulk_load)
                raise
            if late_count:  # (the encoder may hold rows back until finish())
                now = time.perf_counter()
                late.write(late_encoder.finish())
                late.seek(0)
                try:
                    with conn.cursor() as cur, cur.copy(copy_sql("hotspots", HOTSPOT_SCHEMA)) as copy:
                        while block := late.read(8 << 20):
                            copy.write(block)
                except psycopg.errors.UniqueViolation:
                    _undo(conn, spool, late, bulk_load)
                    raise DirectCollision() from None
                tm["other_years"] = time.perf_counter() - now
        late.close()
        now = time.perf_counter()
        new = updated = 0
        if staged_hashes:
            new, updated = _merge_spool(session, conn, spool, spool_rows, np.concatenate(staged_hashes))
        spool.close()
        tm["merge"] = time.perf_counter() - now
        # rows of a year without a partition went to the DEFAULT one: into partitions of their own before commit
        now = time.perf_counter()
        if partitions.split_default(session):
            tm["partitions"] = time.perf_counter() - now
        with conn.cursor() as cur:
            cur.execute("RELEASE SAVEPOINT hotspot_ingest")
        report.timings = {k: round(v, 3) for k, v in tm.items()}
        report.rows_new, report.rows_updated = direct_rows + new, updated
        stored = report.rows_total - report.rows_refused - report.rows_outside
        report.rows_unchanged = stored - report.rows_new - report.rows_updated
        if first is not None:
            report.first_acq = pd.Timestamp(first, unit="s", tz="UTC").isoformat()
            report.last_acq = pd.Timestamp(last, unit="s", tz="UTC").isoformat()
        report.duration_s = round(time.perf_counter() - started, 3)
        report.batch_id = batch_id
        session.execute(
            text("""
            UPDATE hotspot_batches SET rows_total = :rows_total, rows_new = :rows_new, rows_updated = :rows_updated,
              rows_unchanged = :rows_unchanged, rows_refused = :rows_refused, rows_outside = :rows_outside,
              first_acq = CAST(:first_acq AS timestamptz), last_acq = CAST(:last_acq AS timestamptz),
              duration_s = :duration_s, report = CAST(:report AS jsonb)
            WHERE id = :id"""),
            {
                **{
                    k: getattr(report, k)
                    for k in (
                        "rows_total",
                        "rows_new",
                        "rows_updated",
                        "rows_unchanged",
                        "rows_refused",
                        "rows_outside",
                        "first_acq",
                        "last_acq",
                        "duration_s",
                    )
                },
                "report": _json({"problems": report.problems}),
                "id": batch_id,
            },
        )
        return report


def _undo(conn, spool, late, bulk_load: partitions.BulkYear | None = None) -> None:
    """Roll this ingest back to its savepoint: nothing of it stays, even if the caller commits (the bulk table,
    committed apart, is dropped once the rollback has let go of it)."""
    spool.close()
    late.close()
    with conn.cursor() as cur:
        cur.execute("ROLLBACK TO SAVEPOINT hotspot_ingest")
        cur.execute("RELEASE SAVEPOINT hotspot_ingest")
    if bulk_load is not None:
        bulk_load.discard()


def _merge_spool(session: Session, conn, spool, encoder: BinaryCopy, hashes: np.ndarray) -> tuple[int, int]:
    """COPY the spooled rows into a temporary table and merge them with one INSERT ... ON CONFLICT."""
    spool.write(encoder.finish())
    spool.seek(0)
    session.execute(text("DROP TABLE IF EXISTS hotspot_stage"))
    session.execute(text(_STAGE))
    with conn.cursor() as cur, cur.copy(copy_sql("hotspot_stage", HOTSPOT_SCHEMA)) as copy:
        while block := spool.read(8 << 20):
            copy.write(block)
    # A file that repeats a detection (NRT and SP of a pass in one file): keep SP, then any one line.
    repeated = len(np.unique(hashes)) < len(hashes)
    merge = _MERGE.format(
        distinct="DISTINCT ON (acq_utc, lat_e4, lon_e4, satellite)" if repeated else "",
        order=", (processing = 'SP') DESC" if repeated else "",
        columns=", ".join(COLUMNS),
    )
    session.execute(text("SET LOCAL work_mem = '256MB'"))  # sort the staged rows in memory
    row = session.execute(text(merge)).one()
    session.execute(text("DROP TABLE hotspot_stage"))
    return int(row.new), int(row.updated)


def _json(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


def ingest_file(
    session: Session,
    path: Path | str,
    gaz: Gazetteer,
    *,
    source: str | None = None,
    loaded_by: str | None = None,
    processing: str | None = None,
    skip_invalid: bool = False,
    country_bbox: tuple[float, float, float, float] | None = None,
    original_name: str | None = None,
    block_size: int = 4 << 20,
    progress: Callable[[int], None] | None = None,
    bulk_min_bytes: int | None = None,
    bulk_lock_timeout_s: float | None = None,
    bulk_build_connections: int | None = None,
) -> IngestReport:
    """Ingest one FIRMS CSV file in the session's transaction (see ``ingest_chunks``).

    Parameters
    ----------
    path : path-like
        FIRMS CSV (MODIS or VIIRS, NRT or SP).
    processing : {"NRT", "SP"}, optional
        Overrides the processing level read from the ``version`` column.
    country_bbox : tuple, optional
        Detections outside this lon/lat box are skipped and counted as outside.
    bulk_min_bytes, bulk_lock_timeout_s, bulk_build_connections : optional
        A file of at least this size may take the bulk path (``ingest_chunks``); default from
        the session's ``PartitionSettings`` (``GEO_SERVICE_PARTITIONS_BULK_MIN_BYTES``, ``..._BULK_LOCK_TIMEOUT_S``,
        ``..._BULK_BUILD_CONNECTIONS``). On a lock timeout the file runs again through the row path in the same
        transaction.
    """
    path = Path(path)
    name = original_name or path.name
    kw: dict[str, Any] = dict(
        source=source or f"file:{name}",
        file_name=name,
        file_sha256=sha256_file(path),
        loaded_by=loaded_by,
        skip_invalid=skip_invalid,
        progress=progress,
    )

    def chunks():
        return read_firms_csv(path, block_size=block_size, processing=processing, country_bbox=country_bbox)

    if bulk_min_bytes is None or bulk_lock_timeout_s is None or bulk_build_connections is None:
        cfg = settings_of(session).partitions
        bulk_min_bytes = cfg.bulk_min_bytes if bulk_min_bytes is None else bulk_min_bytes
        bulk_lock_timeout_s = cfg.bulk_lock_timeout_s if bulk_lock_timeout_s is None else bulk_lock_timeout_s
        if bulk_build_connections is None:
            bulk_build_connections = cfg.bulk_build_connections
    if path.stat().st_size >= bulk_min_bytes:
        try:
            return ingest_chunks(
                session,
                chunks(),
                gaz,
                bulk=True,
                bulk_lock_timeout_s=bulk_lock_timeout_s,
                bulk_build_connections=bulk_build_connections,
                **kw,
            )
        except partitions.BulkLockTimeout:  # the attach could not get its locks in time: the row path
            pass
        except DirectCollision:
            return ingest_chunks(session, chunks(), gaz, direct=False, **kw)
    try:
        return ingest_chunks(session, chunks(), gaz, **kw)
    except DirectCollision:  # detections of this transaction met again: everything through the merge
        return ingest_chunks(session, chunks(), gaz, direct=False, **kw)
