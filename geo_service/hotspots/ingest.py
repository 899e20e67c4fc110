"""Store FIRMS detections: stream, attribute, COPY, one INSERT ... ON CONFLICT for updates, one batch row.

Everything happens in the caller's transaction: a refused file leaves nothing behind. Each block of
detections is first COPYed straight into ``hotspots`` inside a savepoint: new detections (the usual case)
are stored in one pass. A block that hits the detection key of a stored row (a re-ingest, SP data for
NRT detections, a file that repeats a detection) is rolled back to the savepoint and COPYed into a
staging table instead, and the staged rows are merged by one INSERT ... ON CONFLICT at the end. The detection key
(satellite, acquisition time to the minute, position to 1e-4 degree, about 11 m) makes a re-ingest an update
and lets a standard-processing (SP) detection replace the near-real-time (NRT) one of the same pass; an NRT
row never overwrites an SP one.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.errors import LayerRejected
from geo_service.hashing import sha256_file
from geo_service.hotspots.firms import MAX_REPORTED, Chunk, FirmsFormatError, Problem, read_firms_csv, to_copy_csv
from geo_service.places import Attribution, Gazetteer

STAGE_COLUMNS = [
    "satellite", "instrument", "processing", "version", "acq_epoch", "acq_date_local", "lat_e4", "lon_e4",
    "latitude", "longitude", "brightness", "bright_2", "scan", "track", "frp", "daynight", "confidence",
    "confidence_raw", "fire_type", "province_code", "district_code", "subdistrict_code", "reserve_code",
    "protected_area_codes",
]
KEY = ["satellite", "acq_epoch", "lat_e4", "lon_e4"]
DIRECT_COLUMNS = [
    "satellite", "instrument", "processing", "version", "acq_utc", "acq_date_local", "lat_e4", "lon_e4",
    "latitude", "longitude", "brightness", "bright_2", "scan", "track", "frp", "daynight", "confidence",
    "confidence_raw", "fire_type", "province_code", "district_code", "subdistrict_code", "reserve_code",
    "protected_area_codes", "batch_id", "geom",
]
_DIRECT_COPY = f"COPY hotspots ({', '.join(DIRECT_COLUMNS)}) FROM STDIN (FORMAT csv)"

_STAGE = """
CREATE TEMP TABLE hotspot_stage (
  satellite text, instrument text, processing text, version text, acq_epoch bigint, acq_date_local date,
  lat_e4 integer, lon_e4 integer, latitude float8, longitude float8, brightness float8, bright_2 float8,
  scan float8, track float8, frp float8, daynight text, confidence smallint, confidence_raw text,
  fire_type smallint, province_code text, district_code text, subdistrict_code text, reserve_code text,
  protected_area_codes text[]
) ON COMMIT DROP
"""

# One statement from the staging table. An SP detection replaces an NRT one; NRT never replaces SP; an
# unchanged row is not rewritten. ``DISTINCT ON`` is only used when the file repeats a key.
_MERGE = """
WITH src AS (
  SELECT {distinct} * FROM hotspot_stage ORDER BY acq_epoch, satellite, lat_e4, lon_e4{order}
), ins AS (
  INSERT INTO hotspots AS h (
    satellite, instrument, processing, version, acq_utc, acq_date_local, lat_e4, lon_e4, latitude, longitude,
    brightness, bright_2, scan, track, frp, daynight, confidence, confidence_raw, fire_type, province_code,
    district_code, subdistrict_code, reserve_code, protected_area_codes, batch_id, geom)
  SELECT satellite, instrument, processing, version, to_timestamp(acq_epoch), acq_date_local, lat_e4, lon_e4,
         latitude, longitude, brightness, bright_2, scan, track, frp, daynight, confidence, confidence_raw,
         fire_type, province_code, district_code, subdistrict_code, reserve_code, protected_area_codes,
         :batch_id, ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)
  FROM src
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
  RETURNING (xmax = 0) AS new
)
SELECT count(*) FILTER (WHERE new) AS new, count(*) FILTER (WHERE NOT new) AS updated FROM ins
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
        return asdict(self)


def attribution_columns(attr: Attribution) -> dict[str, np.ndarray]:
    """Gazetteer result -> the hotspot columns (protected areas as PostgreSQL array literals), vectorised."""
    n = len(attr.district)
    pa_text = np.full(n, None, dtype=object)
    if len(attr.pa_points):
        pairs = pd.DataFrame({"i": attr.pa_points, "code": attr.pa_codes}).drop_duplicates().sort_values(["i", "code"])
        joined = pairs.groupby("i", sort=False)["code"].agg(",".join)
        pa_text[joined.index.to_numpy()] = ("{" + joined + "}").to_numpy()
    return {"province_code": attr.province, "district_code": attr.district, "subdistrict_code": attr.subdistrict,
            "reserve_code": attr.reserve, "protected_area_codes": pa_text}


def _raw_connection(session: Session):
    return session.connection().connection.driver_connection


def _key_hash(frame: pd.DataFrame) -> np.ndarray:
    """64-bit hash of the detection key (a collision only sends rows through the slower merge)."""
    sat = pd.util.hash_array(frame["satellite"].to_numpy(dtype=object))
    with np.errstate(over="ignore"):
        h = frame["acq_epoch"].to_numpy(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= sat
        h = h * np.uint64(0xBF58476D1CE4E5B9) ^ frame["lat_e4"].to_numpy(np.int64).astype(np.uint64)
        h = h * np.uint64(0x94D049BB133111EB) ^ frame["lon_e4"].to_numpy(np.int64).astype(np.uint64)
    return h


def ewkb_hex(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Hex EWKB of 2D points in EPSG:4326 (what PostGIS reads in COPY), built in numpy."""
    rec = np.empty(len(lon), dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"], rec["type"], rec["srid"] = 1, 0x20000001, 4326
    rec["x"], rec["y"] = lon, lat
    return np.frombuffer(binascii.hexlify(rec.tobytes()), dtype="S50")


def _direct_csv(frame: pd.DataFrame, batch_id: int) -> bytes:
    import pyarrow as pa

    out = frame.assign(acq_utc=pd.to_datetime(frame["acq_epoch"], unit="s", utc=True), batch_id=batch_id)
    table = pa.Table.from_pandas(out[DIRECT_COLUMNS[:-1]], preserve_index=False)
    geom = pa.array(ewkb_hex(frame["longitude"].to_numpy(), frame["latitude"].to_numpy()),
                    type=pa.binary(50)).cast(pa.string())
    return to_copy_csv(table.append_column("geom", geom), None)


def ingest_chunks(session: Session, chunks: Iterable[Chunk], gaz: Gazetteer, *, source: str,
                  file_name: str | None = None, file_sha256: str | None = None, loaded_by: str | None = None,
                  skip_invalid: bool = False, progress: Callable[[int], None] | None = None) -> IngestReport:
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

    Returns
    -------
    IngestReport

    Raises
    ------
    FileRejected
        The file is not FIRMS CSV, or has invalid rows and ``skip_invalid`` is false; nothing is stored.
    """
    started = time.perf_counter()
    report = IngestReport(batch_id=None, source=source, file_name=file_name, file_sha256=file_sha256)
    conn = _raw_connection(session)
    batch_id = session.execute(text(
        "INSERT INTO hotspot_batches (source, file_name, file_sha256, loaded_by) "
        "VALUES (:source, :file_name, :sha, :by) RETURNING id"),
        {"source": source, "file_name": file_name, "sha": file_sha256, "by": loaded_by}).scalar_one()
    session.execute(text("DROP TABLE IF EXISTS hotspot_stage"))
    session.execute(text(_STAGE))
    problems: list[Problem] = []
    hashes: list[np.ndarray] = []
    first = last = None
    misses, direct_rows = 0, 0
    seen = np.empty(0, dtype=np.uint64)  # key hashes of the rows read so far (sorted)
    tm = {"read": 0.0, "attribute": 0.0, "copy": 0.0, "merge": 0.0}
    mark = time.perf_counter()
    try:
        with conn.cursor() as cur:
            for chunk in chunks:
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
                attr = gaz.attribute(frame["longitude"].to_numpy(), frame["latitude"].to_numpy(),
                                     frame["acq_date_local"].to_numpy())
                for name, values in attribution_columns(attr).items():
                    frame[name] = values
                lo, hi = int(frame["acq_epoch"].min()), int(frame["acq_epoch"].max())
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
                frame = frame.sort_values("acq_epoch", kind="stable")  # appends to the time-first key index
                now2 = time.perf_counter()
                tm["attribute"] += now2 - now
                # a detection repeated in the file goes to the merge; the first one may go straight in
                h = _key_hash(frame)
                repeat = np.ones(len(h), dtype=bool)
                repeat[np.unique(h, return_index=True)[1]] = False
                if len(seen):
                    pos = np.minimum(np.searchsorted(seen, h), len(seen) - 1)
                    repeat |= seen[pos] == h
                seen = np.union1d(seen, h)
                rest = [frame[repeat]] if repeat.any() else []
                fresh = frame[~repeat] if repeat.any() else frame
                if misses < 3:
                    stored, more = _copy_direct_split(conn, cur, fresh, batch_id, max(4096, len(fresh) // 16))
                    direct_rows += stored
                    rest += more
                    misses = misses + 1 if stored < len(fresh) // 2 else 0  # a re-ingest: stop trying
                else:
                    rest.append(fresh)
                if rest:
                    with cur.copy("COPY hotspot_stage FROM STDIN (FORMAT csv)") as copy:
                        for piece in rest:
                            hashes.append(_key_hash(piece))
                            copy.write(to_copy_csv(piece, STAGE_COLUMNS))
                mark = time.perf_counter()
                tm["copy"] += mark - now2
    except FirmsFormatError as exc:
        raise FileRejected(details=[p.as_dict() for p in exc.problems[:MAX_REPORTED]]) from None
    report.problems = [p.as_dict() for p in problems[:MAX_REPORTED]]
    if problems and not skip_invalid:
        raise FileRejected(
            f"The file was refused: {report.rows_refused} of {report.rows_total} rows are invalid "
            "(the first are listed); nothing was stored.", details=report.problems)
    all_hashes = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    repeated = len(np.unique(all_hashes)) < len(all_hashes)
    # A file that repeats a detection (NRT and SP of a pass in one file): keep SP, then the last line.
    merge = _MERGE.format(distinct="DISTINCT ON (acq_epoch, satellite, lat_e4, lon_e4)" if repeated else "",
                          order=", (processing = 'SP') DESC" if repeated else "")
    session.execute(text("SET LOCAL work_mem = '256MB'"))  # sort the staged rows in memory
    now = time.perf_counter()
    new = updated = 0
    if hashes:
        row = session.execute(text(merge), {"batch_id": batch_id}).one()
        new, updated = int(row.new), int(row.updated)
    tm["merge"] = time.perf_counter() - now
    report.timings = {k: round(v, 3) for k, v in tm.items()}
    report.rows_new, report.rows_updated = direct_rows + new, updated
    stored = report.rows_total - report.rows_refused - report.rows_outside
    report.rows_unchanged = stored - report.rows_new - report.rows_updated
    if first is not None:
        report.first_acq = pd.Timestamp(first, unit="s", tz="UTC").isoformat()
        report.last_acq = pd.Timestamp(last, unit="s", tz="UTC").isoformat()
    report.duration_s = round(time.perf_counter() - started, 3)
    report.batch_id = batch_id
    session.execute(text("""
        UPDATE hotspot_batches SET rows_total = :rows_total, rows_new = :rows_new, rows_updated = :rows_updated,
          rows_unchanged = :rows_unchanged, rows_refused = :rows_refused, rows_outside = :rows_outside,
          first_acq = CAST(:first_acq AS timestamptz), last_acq = CAST(:last_acq AS timestamptz),
          duration_s = :duration_s, report = CAST(:report AS jsonb)
        WHERE id = :id"""), {**{k: getattr(report, k) for k in (
            "rows_total", "rows_new", "rows_updated", "rows_unchanged", "rows_refused", "rows_outside",
            "first_acq", "last_acq", "duration_s")}, "report": _json({"problems": report.problems}), "id": batch_id})
    session.execute(text("DROP TABLE IF EXISTS hotspot_stage"))
    return report


def _copy_direct(conn, cur, frame: pd.DataFrame, batch_id: int) -> bool:
    """COPY a block straight into ``hotspots`` inside a savepoint; False (and nothing kept) on a key collision."""
    import psycopg

    cur.execute("SAVEPOINT hotspot_block")
    try:
        with cur.copy(_DIRECT_COPY) as copy:
            copy.write(_direct_csv(frame, batch_id))
    except psycopg.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT hotspot_block")
        return False
    cur.execute("RELEASE SAVEPOINT hotspot_block")
    return True


def _copy_direct_split(conn, cur, frame: pd.DataFrame, batch_id: int,
                       smallest: int = 8192) -> tuple[int, list[pd.DataFrame]]:
    """COPY new detections directly; a colliding block is halved until the collisions are isolated in
    pieces of at most ``smallest`` rows, which are returned (a list: pandas 3.1 + pyarrow 26 corrupt the
    strings of a frame concatenated from slices) for the staging table."""
    if _copy_direct(conn, cur, frame, batch_id):
        return len(frame), []
    if len(frame) <= smallest:
        return 0, [frame]
    half = len(frame) // 2
    n1, r1 = _copy_direct_split(conn, cur, frame.iloc[:half], batch_id, smallest)
    n2, r2 = _copy_direct_split(conn, cur, frame.iloc[half:], batch_id, smallest)
    return n1 + n2, r1 + r2


def _json(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


def ingest_file(session: Session, path: Path | str, gaz: Gazetteer, *, source: str | None = None,
                loaded_by: str | None = None, processing: str | None = None, skip_invalid: bool = False,
                country_bbox: tuple[float, float, float, float] | None = None, original_name: str | None = None,
                block_size: int = 16 << 20, progress: Callable[[int], None] | None = None) -> IngestReport:
    """Ingest one FIRMS CSV file in the session's transaction (see ``ingest_chunks``).

    Parameters
    ----------
    path : path-like
        FIRMS CSV (MODIS or VIIRS, NRT or SP).
    processing : {"NRT", "SP"}, optional
        Overrides the processing level read from the ``version`` column.
    country_bbox : tuple, optional
        Detections outside this lon/lat box are skipped and counted as outside.
    """
    path = Path(path)
    name = original_name or path.name
    chunks = read_firms_csv(path, block_size=block_size, processing=processing, country_bbox=country_bbox)
    return ingest_chunks(session, chunks, gaz, source=source or f"file:{name}", file_name=name,
                         file_sha256=sha256_file(path), loaded_by=loaded_by, skip_invalid=skip_invalid,
                         progress=progress)
