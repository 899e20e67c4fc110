"""The forest-loss store: the only writer of ``forest_alert_ingests``, ``clearing_patches`` and
``clearing_patch_zones`` (issue 14). Runs in the caller's transaction; never begins, commits or rolls back.

Areas are measured in UTM, per UTM zone: a patch is cut along the zone lines (6 degrees of longitude) and each
part is measured in its own zone's WGS 84 / UTM projection, so a patch across the 47/48 line (102 E) is measured
as the sum of its part in zone 47 (measured in EPSG:32647) and its part in zone 48 (EPSG:32648).

Zones: the provinces, districts and subdistricts as they are now and the protected areas in force on the patch's
first alert date; ``in_aoi``: the patch meets the stored area of interest. New patches are measured in memory
(``forest_loss.measure``, against the Gazetteer's boundaries, read through the layers store) and written with their
figures by binary COPY (:func:`insert_patch_batch`, :func:`update_patch_batch`); after a boundary change
:func:`reattribute` attributes stored ones again. The same rules in
plain PostGIS (tests/attribution_oracle.py, on the shared views ``current_admin_areas`` and
``protected_areas_on(first_date)``) give the same answers (tests/test_forest_loss_measure.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.forest_loss import measure
from geo_service.gc_pause import no_cyclic_gc
from geo_service.places import gazetteer, gazetteer_in_transaction

# --- ingests ---


def find_ingest(session: Session, params_key: str) -> int | None:
    """The id of the ingest with this parameter key (same file, same parameters), if any."""
    return session.execute(
        text("SELECT id FROM forest_alert_ingests WHERE params_key = :k"), {"k": params_key}
    ).scalar()


def create_ingest(
    session: Session,
    *,
    source: str,
    encoding: str,
    file_name: str,
    file_sha256: str,
    params_key: str,
    params: dict[str, Any],
    crs: str,
    window: dict[str, Any] | None,
    created_by: str | None,
) -> int:
    """Record an ingest (its counts are filled in by :func:`finish_ingest`); returns its id."""
    return int(
        session.execute(
            text("""
            INSERT INTO forest_alert_ingests
              (source, encoding, file_name, file_sha256, params_key, params, crs, "window", created_by)
            VALUES (:source, :encoding, :file_name, :sha, :key, CAST(:params AS jsonb), :crs,
                    CAST(:window AS jsonb), :by)
            RETURNING id"""),
            {
                "source": source,
                "encoding": encoding,
                "file_name": file_name,
                "sha": file_sha256,
                "key": params_key,
                "params": json.dumps(params, default=str),
                "crs": crs,
                "window": json.dumps(window) if window is not None else None,
                "by": created_by,
            },
        ).scalar_one()
    )


def finish_ingest(
    session: Session,
    ingest_id: int,
    *,
    alert_pixels: int,
    patches_new: int,
    patches_extended: int,
    alert_from: date | None,
    alert_to: date | None,
) -> None:
    """Store an ingest's counts and alert date range."""
    session.execute(
        text("""
        UPDATE forest_alert_ingests SET alert_pixels = :px, patches_new = :new, patches_extended = :ext,
               alert_from = :lo, alert_to = :hi
        WHERE id = :id"""),
        {
            "id": ingest_id,
            "px": alert_pixels,
            "new": patches_new,
            "ext": patches_extended,
            "lo": alert_from,
            "hi": alert_to,
        },
    )


_INGEST_COLUMNS = """i.id, i.source, i.encoding, i.file_name, i.file_sha256, i.params, i.crs, i."window",
       i.alert_pixels, i.patches_new, i.patches_extended, i.alert_from, i.alert_to, i.created_by, i.created_at"""


def list_ingests(session: Session, limit: int = 100) -> list[RowMapping]:
    """The latest ingests, newest first."""
    return list(
        session.execute(
            text(f"SELECT {_INGEST_COLUMNS} FROM forest_alert_ingests i ORDER BY i.id DESC LIMIT :n"), {"n": limit}
        ).mappings()
    )


def get_ingest(session: Session, ingest_id: int) -> RowMapping | None:
    """One ingest, with the number of patches it last touched and their area (m2), or None."""
    return (
        session.execute(
            text(f"""
            SELECT {_INGEST_COLUMNS},
                   (SELECT count(*) FROM clearing_patches p WHERE p.last_ingest_id = i.id AND p.merged_into IS NULL)
                     AS patches,
                   (SELECT coalesce(sum(p.area_m2), 0) FROM clearing_patches p
                     WHERE p.last_ingest_id = i.id AND p.merged_into IS NULL) AS area_m2
            FROM forest_alert_ingests i WHERE i.id = :id"""),
            {"id": ingest_id},
        )
        .mappings()
        .first()
    )


# --- patches ---


def candidate_patches(
    session: Session, bounds: tuple[float, float, float, float], lo: date, hi: date, margin_deg: float
) -> list[RowMapping]:
    """Stored patches (not merged away) meeting ``bounds`` (EPSG:4326, widened by ``margin_deg``) whose dates
    meet [lo, hi]: the ones a new ingest may extend. Geometry as WKB."""
    return list(
        session.execute(
            text("""
            SELECT id, ST_AsBinary(geom) AS wkb, first_date, last_date, pixels, pixels_low, pixels_high,
                   pixels_highest, confidence_max, sources
            FROM clearing_patches
            WHERE merged_into IS NULL
              AND geom && ST_Expand(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), :m)
              AND first_date <= :hi AND last_date >= :lo
            ORDER BY id"""),
            {"x0": bounds[0], "y0": bounds[1], "x1": bounds[2], "y1": bounds[3], "m": margin_deg, "lo": lo, "hi": hi},
        ).mappings()
    )


def new_patch_ids(session: Session, n: int) -> list[int]:
    """``n`` fresh patch ids from the table's sequence (so rows can be written set-based with known ids). They
    come back as one packed value (int8send aggregated), not one row each: 100,000 rows took a second to read.

    The sequence is looked up once and passed as a ``regclass``: ``pg_get_serial_sequence`` is not folded into a
    constant, so calling it inside ``nextval`` ran a catalog lookup per id (0.26 s per 100,000 ids; 0.036 s now)."""
    if n == 0:
        return []
    sequence = session.execute(text("SELECT pg_get_serial_sequence('clearing_patches', 'id')")).scalar_one()
    packed = session.execute(
        text("SELECT string_agg(int8send(nextval(CAST(:seq AS regclass))), ''::bytea) FROM generate_series(1, :n)"),
        {"n": n, "seq": sequence},
    ).scalar_one()
    return np.frombuffer(bytes(packed), dtype=">i8").astype(np.int64).tolist()


INSERT_CHUNK = 20_000  # patches measured per COPY batch (the server stores one while the next is measured)


@dataclass
class PatchBatch:
    """Patches to write, as columns (what :func:`insert_patch_batch` and :func:`update_patch_batch` take; the
    ingest builds them from its arrays, :func:`batch_of_rows` from row dicts): ids, geometries (Shapely, EPSG:4326),
    first and last alert days (datetime64[D]), pixel counts (all, low, high, highest), highest confidence class,
    sources (one list per patch, or one source for all) and the "cleared by fire" evidence as JSON text (None: not
    burned; ``fire_evidence`` None: none burned)."""

    ids: np.ndarray
    geoms: np.ndarray
    first: np.ndarray
    last: np.ndarray
    pixels: np.ndarray  # (n, 4) int: pixels, pixels_low, pixels_high, pixels_highest
    confidence_max: np.ndarray
    sources: list[list[str]] | str
    fire_evidence: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)


def batch_of_rows(rows: Sequence[dict]) -> PatchBatch:
    """A :class:`PatchBatch` of row dicts (id, wkb, first_date, last_date, pixels, pixels_low, pixels_high,
    pixels_highest, confidence_max, sources, and optionally fire_evidence as a dict or None)."""
    n = len(rows)
    evidence = [r.get("fire_evidence") for r in rows]
    return PatchBatch(
        ids=np.fromiter((r["id"] for r in rows), dtype=np.int64, count=n),
        geoms=shapely.from_wkb([bytes(r["wkb"]) for r in rows]),
        first=np.array([r["first_date"] for r in rows], dtype="datetime64[D]"),
        last=np.array([r["last_date"] for r in rows], dtype="datetime64[D]"),
        pixels=np.array([[r[k] for k in _COUNTS] for r in rows], dtype=np.int64).reshape(n, 4),
        confidence_max=np.fromiter((r["confidence_max"] for r in rows), dtype=np.int16, count=n),
        sources=[sorted(r["sources"]) for r in rows],
        fire_evidence=[None if e is None else json.dumps(e) for e in evidence]
        if any(e is not None for e in evidence)
        else None,
    )


def multi_ewkb(geoms: np.ndarray) -> pa.Array:
    """``ST_Multi(geom)`` with SRID 4326 as the EWKB a binary COPY sends, for every geometry at once: a polygon is
    its little-endian WKB behind a one-part multipolygon header, a multipolygon its WKB with the SRID, anything
    else its polygons. (Hand-written header: Shapely would build a multipolygon object per polygon to say it.)"""
    geoms = np.asarray(geoms, dtype=object)
    kind = shapely.get_type_id(geoms)
    geoms = geoms.copy()
    for k in np.flatnonzero((kind != 3) & (kind != 6)).tolist():  # rare (the ingest's are polygons): the polygons
        parts = shapely.get_parts(geoms[k])
        geoms[k] = shapely.multipolygons(parts[shapely.get_type_id(parts) == 3])
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    poly = (kind == 3).tolist()
    one = (1).to_bytes(4, "little")
    head = [_EWKB_MULTI + one if p else _EWKB_MULTI for p in poly]
    body = [w if p else w[5:] for w, p in zip(wkb.tolist(), poly, strict=True)]
    lengths = np.fromiter((len(h) + len(b) for h, b in zip(head, body, strict=True)), np.int64, len(body))
    offsets = np.zeros(len(body) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(itertools.chain.from_iterable(zip(head, body, strict=True)))
    return pa.BinaryArray.from_buffers(pa.binary(), len(body), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


_EWKB_MULTI = b"\x01" + (0x20000006).to_bytes(4, "little") + (4326).to_bytes(4, "little")  # MultiPolygon, SRID 4326


class UnknownIngest(LookupError):
    """A patch write named an ingest that is not in ``forest_alert_ingests`` (a programming error: the ingest row
    is written first, in the same transaction)."""


def hold_ingest(session: Session, ingest_id: int) -> None:
    """Check once that ``ingest_id`` exists and hold it until the transaction ends (``FOR KEY SHARE``: what a
    foreign-key check does per row), before patch rows referencing it are written. Patches keep their ingest
    references this way instead of by a foreign key (migration 0034; ingests are never deleted)."""
    found = session.execute(
        text("SELECT id FROM forest_alert_ingests WHERE id = :id FOR KEY SHARE"), {"id": ingest_id}
    ).scalar_one_or_none()
    if found is None:
        raise UnknownIngest(f"no forest-loss ingest {ingest_id}")


def _batch_columns(session: Session, batch: PatchBatch, ingest_id: int) -> dict[str, pa.Array]:
    """The Arrow columns of a patch batch as a binary COPY sends them, built from its arrays (no loop over
    patches but the sources' lists when they differ); the ingest they reference is checked and held first
    (:func:`hold_ingest`)."""
    hold_ingest(session, ingest_id)
    n = len(batch)
    ingest = pa.array(np.full(n, ingest_id, dtype=np.int32))
    if isinstance(batch.sources, str):  # one source for all: the list array built from its offsets
        sources = pa.ListArray.from_arrays(
            pa.array(np.arange(n + 1, dtype=np.int32)), pa.array([batch.sources] * n, pa.string())
        )
    else:
        sources = pa.array(batch.sources, pa.list_(pa.string()))
    evidence = batch.fire_evidence
    pixels = np.asarray(batch.pixels, dtype=np.int32).reshape(n, 4)
    return {
        "id": pa.array(np.asarray(batch.ids, dtype=np.int64)),
        "sources": sources,
        "first_date": pa.array(np.asarray(batch.first, dtype="datetime64[D]"), pa.date32()),
        "last_date": pa.array(np.asarray(batch.last, dtype="datetime64[D]"), pa.date32()),
        **{k: pa.array(pixels[:, i]) for i, k in enumerate(_COUNTS)},
        "confidence_max": pa.array(np.asarray(batch.confidence_max, dtype=np.int16)),
        "first_ingest_id": ingest,
        "last_ingest_id": ingest,
        "geom": multi_ewkb(batch.geoms),
        # "cleared by fire", written with the row (forest_loss/fire.py): the evidence, None when not burned
        "cleared_by_fire": pa.array(np.zeros(n, dtype=bool))
        if evidence is None
        else pa.array([e is not None for e in evidence], pa.bool_()),
        "fire_evidence": pa.nulls(n, pa.string()) if evidence is None else pa.array(evidence, pa.string()),
    }


def insert_patches(session: Session, rows: Sequence[dict], ingest_id: int, *, measured: bool = True) -> None:
    """Insert new patches given as row dicts (ids from :func:`new_patch_ids`; geometry as WKB in EPSG:4326; the
    fields of :func:`batch_of_rows`): :func:`insert_patch_batch`."""
    if rows:
        insert_patch_batch(session, batch_of_rows(rows), ingest_id, measured=measured)


def insert_patch_batch(session: Session, batch: PatchBatch, ingest_id: int, *, measured: bool = True) -> None:
    """Insert new patches, measured and attributed: area, ``in_aoi``, zone shares and codes computed in memory
    (``forest_loss.measure``) and written with the rows, by two binary COPYs (the patches, their zone rows); no
    second version of any row.

    ``measured=False``: the same COPY of the rows without their figures (area 0, no attribution, no zone rows): the
    benchmark's baseline (what the figures add to the insert) and the rows the SQL reference measures
    (tests/attribution_oracle.py)."""
    n = len(batch)
    if not n:
        return
    columns = _batch_columns(session, batch, ingest_id)
    conn = driver_connection(session)
    if not measured:
        _copy(conn, "clearing_patches", [pa.RecordBatch.from_pydict({**columns, "area_m2": pa.array(np.zeros(n))})])
        return
    zones, ranks = _zone_set(session)
    days = np.asarray(batch.first, dtype="datetime64[D]")
    pid = np.asarray(batch.ids, dtype=np.int64)
    zone_rows: list[pa.RecordBatch] = []

    def measured_rows():
        # chunk by chunk: the server stores a chunk's rows while the next chunk is measured
        for lo in range(0, n, INSERT_CHUNK):
            k = slice(lo, min(n, lo + INSERT_CHUNK))
            m = measure.measure(batch.geoms[k], days[k], zones)
            a = measure.attribute(m, zones, ranks)
            zone_rows.append(_zone_batch(pid[k], m, zones))
            chunk = {c: col.slice(lo, k.stop - lo) for c, col in columns.items()}
            yield pa.RecordBatch.from_pydict({**chunk, **_patch_columns(m, a)})

    with no_cyclic_gc():
        _copy(conn, "clearing_patches", measured_rows())
        _copy(conn, "clearing_patch_zones", zone_rows)


def update_patches(session: Session, rows: Sequence[dict], ingest_id: int) -> None:
    """Replace extended patches' figures and geometry given as row dicts: :func:`update_patch_batch`."""
    if rows:
        update_patch_batch(session, batch_of_rows(rows), ingest_id)


def update_patch_batch(session: Session, batch: PatchBatch, ingest_id: int) -> None:
    """Replace extended patches' figures and geometry (they keep their id), set-based: measured and attributed in
    memory as :func:`insert_patch_batch` does, the rows COPYed into a temporary table and applied by one UPDATE
    (one new version of each row), their zone rows replaced."""
    if not len(batch):
        return
    pid = np.asarray(batch.ids, dtype=np.int64)
    columns = _batch_columns(session, batch, ingest_id)
    zones, ranks = _zone_set(session)
    m = measure.measure(batch.geoms, np.asarray(batch.first, dtype="datetime64[D]"), zones)
    a = measure.attribute(m, zones, ranks)
    conn = driver_connection(session)
    session.execute(
        text("""
        DROP TABLE IF EXISTS clearing_patch_updates;
        CREATE TEMPORARY TABLE clearing_patch_updates (LIKE clearing_patches INCLUDING DEFAULTS) ON COMMIT DROP""")
    )
    _copy(conn, "clearing_patch_updates", [pa.RecordBatch.from_pydict({**columns, **_patch_columns(m, a)})])
    session.execute(
        text("""
        UPDATE clearing_patches p SET sources = u.sources, first_date = u.first_date, last_date = u.last_date,
               pixels = u.pixels, confidence_max = u.confidence_max, pixels_low = u.pixels_low,
               pixels_high = u.pixels_high, pixels_highest = u.pixels_highest, last_ingest_id = u.last_ingest_id,
               updated_at = now(), geom = u.geom, area_m2 = u.area_m2, in_aoi = u.in_aoi,
               province_code = u.province_code, district_code = u.district_code,
               subdistrict_code = u.subdistrict_code, reserve_code = u.reserve_code,
               protected_area_codes = u.protected_area_codes, cleared_by_fire = u.cleared_by_fire,
               fire_evidence = u.fire_evidence
        FROM clearing_patch_updates u WHERE p.id = u.id""")
    )
    session.execute(
        text("DELETE FROM clearing_patch_zones WHERE patch_id = ANY(CAST(:ids AS bigint[]))"), {"ids": pid.tolist()}
    )
    _copy(conn, "clearing_patch_zones", [_zone_batch(pid, m, zones)])


def mark_merged(session: Session, absorbed: Sequence[int], survivors: Sequence[int], ingest_id: int) -> None:
    """Record patches absorbed by an older one (``merged_into``); they keep their row, out of the live set."""
    if not absorbed:
        return
    hold_ingest(session, ingest_id)
    session.execute(
        text("""
        UPDATE clearing_patches p SET merged_into = u.survivor, last_ingest_id = :ingest, updated_at = now()
        FROM unnest(CAST(:a AS bigint[]), CAST(:s AS bigint[])) AS u(id, survivor)
        WHERE p.id = u.id"""),
        {"a": list(absorbed), "s": list(survivors), "ingest": ingest_id},
    )
    # what pointed at an absorbed patch now points at its survivor (chains stay one step long)
    session.execute(
        text("""
        UPDATE clearing_patches p SET merged_into = u.survivor
        FROM unnest(CAST(:a AS bigint[]), CAST(:s AS bigint[])) AS u(id, survivor)
        WHERE p.merged_into = u.id"""),
        {"a": list(absorbed), "s": list(survivors)},
    )


_COUNTS = ("pixels", "pixels_low", "pixels_high", "pixels_highest")


_JSONB_COLUMNS = frozenset({"fire_evidence"})  # text columns COPYed as jsonb


def _copy(conn, table: str, batches: Iterable[pa.RecordBatch]) -> None:
    """COPY Arrow batches (one schema, its columns named as ``table``'s) into ``table`` in PostgreSQL's binary
    format, encoded by pgpq (the hotspots ingest's encoder): the server parses no text.

    Batches may be produced while the COPY runs: psycopg's queued writer sends them from a thread of its own, so
    the server stores one batch while the next is computed. (They must not use the connection meanwhile.)"""
    it = iter(batches)
    first = next(it, None)
    if first is None:
        return
    schema = first.schema
    enc = ArrowToPostgresBinaryEncoder.new_with_encoders(
        schema,
        {
            f.name: StringEncoderBuilder.new_with_output(f, Jsonb())
            if f.name in _JSONB_COLUMNS
            else ArrowToPostgresBinaryEncoder.infer_encoder(f)
            for f in schema
        },
    )
    sql = f"COPY {table} ({', '.join(first.schema.names)}) FROM STDIN (FORMAT binary)"
    with conn.cursor() as cur, cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(bytes(enc.write_header()))
        for batch in itertools.chain([first], it):
            copy.write(bytes(enc.write_batch(batch)))
        copy.write(bytes(enc.finish()))


def _zone_set(
    session: Session, in_transaction: bool = False, kinds: frozenset[str] | None = None
) -> tuple[measure.Zones, dict[str, int]]:
    """The Gazetteer's zones (the layers as this session sees them: with ``in_transaction``, boundaries this
    transaction loaded and has not committed, never put in the process-wide cache; ``kinds``: those kinds only) and
    each code's place in the database's order of text (its collation), which breaks ties of share as the SQL
    reference breaks them."""
    gaz = gazetteer_in_transaction(session) if in_transaction else gazetteer(session)
    zones = measure.zones_of(gaz) if kinds is None else measure.zones_of_kinds(gaz, kinds)
    ordered = session.execute(
        text("SELECT c FROM unnest(CAST(:c AS text[])) AS u(c) ORDER BY c"), {"c": sorted(set(zones.code.tolist()))}
    ).scalars()
    return zones, {c: i for i, c in enumerate(ordered)}


def _patch_columns(m: measure.Measured, a: measure.Attributed) -> dict[str, pa.Array]:
    offsets = np.r_[0, np.cumsum(a.protected_counts)].astype(np.int32)
    none = np.r_[a.protected_counts == 0, False]  # a patch in no protected area: NULL, as array_agg gives
    return {
        "area_m2": pa.array(m.area),
        "in_aoi": pa.array(m.in_aoi),
        "province_code": pa.array(a.province, pa.string()),
        "district_code": pa.array(a.district, pa.string()),
        "subdistrict_code": pa.array(a.subdistrict, pa.string()),
        "reserve_code": pa.array(a.reserve, pa.string()),
        "protected_area_codes": pa.ListArray.from_arrays(
            pa.array(offsets, mask=none), pa.array(a.protected_codes, pa.string())
        ),
    }


def _zone_batch(pid: np.ndarray, m: measure.Measured, zones: measure.Zones) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "patch_id": pa.array(pid[m.row_patch]),
            "zone_type": pa.array(zones.kind[m.row_zone], pa.string()),
            "zone_code": pa.array(zones.code[m.row_zone], pa.string()),
            "area_m2": pa.array(m.row_area),
            "share": pa.array(m.row_share),
        }
    )


def _stored(conn, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Stored patches by id (binary protocol): ids, geometries (EPSG:4326), first alert days and areas (m2), or
    None when none is stored."""
    with conn.cursor(binary=True) as cur:
        cur.execute(
            "SELECT id, first_date, area_m2, ST_AsBinary(geom) FROM clearing_patches WHERE id = ANY(%s) ORDER BY id",
            (list(ids),),
        )
        rows = cur.fetchall()
    if not rows:
        return None
    n = len(rows)
    return (
        np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        shapely.from_wkb([r[3] for r in rows]),
        np.array([r[1] for r in rows], dtype="datetime64[D]"),
        np.fromiter((r[2] for r in rows), dtype=np.float64, count=n),
    )


# The patch columns each kind of zone decides (``reattribute``); ``aoi``: the stored area of interest.
COLUMNS_OF_ZONE = {
    "province": ("province_code",),
    "district": ("district_code",),
    "subdistrict": ("subdistrict_code",),
    "protected_area": ("reserve_code", "protected_area_codes"),
    "aoi": ("in_aoi",),
}
ZONE_KINDS = frozenset(COLUMNS_OF_ZONE)


def reattribute(
    session: Session, ids: Sequence[int], kinds: Iterable[str] = ZONE_KINDS, *, in_transaction: bool = True
) -> int:
    """Attribute stored patches again against the zones of ``kinds`` (a subset of :data:`ZONE_KINDS`) as this
    transaction sees them (``in_transaction``: a layer load not committed yet), keeping their stored ``area_m2``
    (boundaries do not change a patch's area; its shares are taken against the stored area, so they are those of
    a fresh measure). Only what changed is written: the zone rows of these kinds that differ are
    deleted and inserted, the patch columns these kinds decide (:data:`COLUMNS_OF_ZONE`) updated where they differ;
    other kinds' rows and columns, and unchanged patches, keep their row version. Returns the patches updated."""
    kinds = frozenset(kinds) & ZONE_KINDS
    if not ids or not kinds:
        return 0
    conn = driver_connection(session)
    stored = _stored(conn, ids)
    if stored is None:
        return 0
    pid, geoms, days, area = stored
    zones, ranks = _zone_set(session, in_transaction, kinds)
    m = measure.measure(
        geoms,
        days,
        zones,
        area=area,
    )
    a = measure.attribute(m, zones, ranks)
    types = sorted(kinds - {"aoi"})
    if types:
        session.execute(
            text("""
            DROP TABLE IF EXISTS clearing_patch_zones_new;
            CREATE TEMPORARY TABLE clearing_patch_zones_new (LIKE clearing_patch_zones) ON COMMIT DROP""")
        )
        _copy(conn, "clearing_patch_zones_new", [_zone_batch(pid, m, zones)])
        # a temporary table has no statistics until analysed: without them the anti-joins below were planned as
        # nested loops (168 s instead of seconds for 100,000 patches in bench/forest_loss_ingest.py)
        session.execute(text("ANALYZE clearing_patch_zones_new"))
        same = """n.patch_id = z.patch_id AND n.zone_type = z.zone_type AND n.zone_code = z.zone_code
                  AND n.area_m2 = z.area_m2 AND n.share = z.share"""
        params = {"ids": pid.tolist(), "types": types}
        session.execute(
            text(f"""
            DELETE FROM clearing_patch_zones z
            WHERE z.patch_id = ANY(CAST(:ids AS bigint[])) AND z.zone_type = ANY(CAST(:types AS text[]))
              AND NOT EXISTS (SELECT 1 FROM clearing_patch_zones_new n WHERE {same})"""),
            params,
        )
        session.execute(
            text(f"""
            INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share)
            SELECT n.patch_id, n.zone_type, n.zone_code, n.area_m2, n.share FROM clearing_patch_zones_new n
            WHERE NOT EXISTS (SELECT 1 FROM clearing_patch_zones z WHERE {same})""")
        )
    columns = [c for k in sorted(kinds) for c in COLUMNS_OF_ZONE[k]]
    values = {c: v for c, v in _patch_columns(m, a).items() if c in columns}
    session.execute(
        text("""
        DROP TABLE IF EXISTS clearing_patch_attributions;
        CREATE TEMPORARY TABLE clearing_patch_attributions (id bigint, in_aoi boolean, province_code text,
          district_code text, subdistrict_code text, reserve_code text, protected_area_codes text[]) ON COMMIT DROP""")
    )
    _copy(conn, "clearing_patch_attributions", [pa.RecordBatch.from_pydict({"id": pa.array(pid), **values})])
    session.execute(text("ANALYZE clearing_patch_attributions"))
    # the column names come from COLUMNS_OF_ZONE (constants), never from input
    listed = ", ".join(columns)
    result = session.execute(
        text(f"""
        UPDATE clearing_patches p SET ({listed}) = ROW({", ".join(f"m.{c}" for c in columns)})
        FROM clearing_patch_attributions m
        WHERE p.id = m.id AND ({", ".join(f"p.{c}" for c in columns)}) IS DISTINCT FROM
                              ({", ".join(f"m.{c}" for c in columns)})""")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def live_patch_ids(session: Session) -> list[int]:
    """Ids of the patches not absorbed by another, in id order."""
    return list(
        session.execute(text("SELECT id FROM clearing_patches WHERE merged_into IS NULL ORDER BY id")).scalars()
    )


def mark_in_area_of_interest(session: Session) -> int:
    """Re-mark ``in_aoi`` of every stored patch against the stored area of interest (after its configuration
    changed), with the SQL definition the detections use; returns the number of patches whose flag changed."""
    result = session.execute(
        text(
            "UPDATE clearing_patches SET in_aoi = in_area_of_interest(geom) WHERE in_aoi IS DISTINCT FROM in_area_of_interest(geom)"
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def patch_fire_inputs(session: Session, ids: Sequence[int]) -> list[tuple[int, bytes, date, date, bool, Any]]:
    """(id, EWKB geometry, first date, last date, cleared_by_fire, fire_evidence) of these patches: the first four
    are what the hotspots domain is asked about, the last two the mark as stored (written again only if it
    changes)."""
    rows = session.execute(
        text("""SELECT id, ST_AsEWKB(geom), first_date, last_date, cleared_by_fire, fire_evidence
                FROM clearing_patches WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"""),
        {"ids": list(ids)},
    ).all()
    return [(int(r[0]), bytes(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def patches_for_fire(
    session: Session, boxes: np.ndarray, last_from: Sequence[date], first_to: Sequence[date]
) -> list[int]:
    """Live patches whose box meets one of ``boxes`` ((n, 4) x0, y0, x1, y1 in EPSG:4326), last alerting on or
    after that box's ``last_from`` and first on or before its ``first_to``: those whose "cleared by fire" window
    can meet fires there (forest_loss/fire.py). One indexed probe per box, ids ascending."""
    if not len(boxes):
        return []
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return [
        int(i)
        for i in session.execute(
            text("""
            SELECT DISTINCT p.id
            FROM unnest(CAST(:x0 AS float8[]), CAST(:y0 AS float8[]), CAST(:x1 AS float8[]), CAST(:y1 AS float8[]),
                        CAST(:lf AS date[]), CAST(:ft AS date[])) AS c(x0, y0, x1, y1, last_from, first_to)
            JOIN clearing_patches p ON p.geom && ST_MakeEnvelope(c.x0, c.y0, c.x1, c.y1, 4326)
             AND p.last_date >= c.last_from AND p.first_date <= c.first_to
            WHERE p.merged_into IS NULL
            ORDER BY p.id"""),
            {
                "x0": b[:, 0].tolist(),
                "y0": b[:, 1].tolist(),
                "x1": b[:, 2].tolist(),
                "y1": b[:, 3].tolist(),
                "lf": list(last_from),
                "ft": list(first_to),
            },
        ).scalars()
    ]


def set_fire(session: Session, ids: Sequence[int], evidence: dict[int, dict]) -> None:
    """Mark these patches cleared by fire (those with evidence) or not (the others), in one UPDATE that writes
    only the rows whose mark or evidence changes, and moves their ``updated_at`` (the tiles' ETag, the open-data
    aggregate's and the brief's data versions follow it: a hotspot ingest re-marks patches long after theirs)."""
    if not ids:
        return
    ids = list(ids)
    session.execute(
        text("""
        UPDATE clearing_patches p SET cleared_by_fire = u.ev IS NOT NULL, fire_evidence = CAST(u.ev AS jsonb),
          updated_at = now()
        FROM unnest(CAST(:ids AS bigint[]), CAST(:ev AS text[])) AS u(id, ev)
        WHERE p.id = u.id
          AND (p.cleared_by_fire IS DISTINCT FROM (u.ev IS NOT NULL)
               OR p.fire_evidence IS DISTINCT FROM CAST(u.ev AS jsonb))"""),
        {"ids": ids, "ev": [json.dumps(evidence[i], default=str) if i in evidence else None for i in ids]},
    )


def patches_of(session: Session, ids: Sequence[int]) -> list[RowMapping]:
    """Stored figures of these patches (tests, reports): dates, pixels, areas, attribution, fire, merged_into."""
    return list(
        session.execute(
            text("""
            SELECT id, sources, first_date, last_date, pixels, area_m2, confidence_max, pixels_low, pixels_high,
                   pixels_highest, province_code, district_code, subdistrict_code, reserve_code,
                   protected_area_codes, in_aoi, cleared_by_fire, fire_evidence, merged_into, first_ingest_id,
                   last_ingest_id
            FROM clearing_patches WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"""),
            {"ids": list(ids)},
        ).mappings()
    )


def patch_zones(session: Session, ids: Sequence[int]) -> list[RowMapping]:
    """The zone shares of these patches."""
    return list(
        session.execute(
            text("""SELECT patch_id, zone_type, zone_code, area_m2, share FROM clearing_patch_zones
                    WHERE patch_id = ANY(CAST(:ids AS bigint[])) ORDER BY patch_id, zone_type, zone_code"""),
            {"ids": list(ids)},
        ).mappings()
    )


def ingest_patch_ids(session: Session, ingest_id: int) -> list[int]:
    """Live patches an ingest created or last extended."""
    return list(
        session.execute(
            text("""SELECT id FROM clearing_patches WHERE last_ingest_id = :i AND merged_into IS NULL ORDER BY id"""),
            {"i": ingest_id},
        ).scalars()
    )
