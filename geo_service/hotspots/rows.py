"""Hotspot rows as Arrow record batches, written to PostgreSQL in its binary COPY format.

The binary format (encoded from Arrow by ``pgpq``) spares the server the text parsing of every number,
time and point that a CSV COPY costs (measured in ``bench/firms_ingest.py``: about a quarter of the
server's time on 1M rows), and spares Python the formatting of the CSV text. Every column is built
from numpy arrays, never row by row.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder

from geo_service.places import Attribution

_TEXT = pa.string()
# The columns an ingest writes, in COPY order; the types are the binary types of the table's columns.
HOTSPOT_SCHEMA = pa.schema(
    [
        ("satellite", _TEXT),
        ("instrument", _TEXT),
        ("processing", _TEXT),
        ("version", _TEXT),
        ("acq_utc", pa.timestamp("us", tz="UTC")),
        ("acq_date_local", pa.date32()),
        ("lat_e4", pa.int32()),
        ("lon_e4", pa.int32()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("brightness", pa.float64()),
        ("bright_2", pa.float64()),
        ("scan", pa.float64()),
        ("track", pa.float64()),
        ("frp", pa.float64()),
        ("daynight", _TEXT),
        ("confidence", pa.int16()),
        ("confidence_raw", _TEXT),
        ("fire_type", pa.int16()),
        ("province_code", _TEXT),
        ("district_code", _TEXT),
        ("subdistrict_code", _TEXT),
        ("reserve_code", _TEXT),
        ("protected_area_codes", pa.list_(_TEXT)),
        ("in_aoi", pa.bool_()),
        ("batch_id", pa.int32()),
        ("geom", pa.binary()),
    ]
)
ATTRIBUTION_FIELDS = [
    "province_code",
    "district_code",
    "subdistrict_code",
    "reserve_code",
    "protected_area_codes",
    "in_aoi",
]
ATTRIBUTION_SCHEMA = pa.schema([("id", pa.int64()), *(HOTSPOT_SCHEMA.field(n) for n in ATTRIBUTION_FIELDS)])
_TEXT_COLUMNS = ["satellite", "instrument", "processing", "version", "daynight", "confidence_raw"]
_FLOAT_COLUMNS = ["latitude", "longitude", "brightness", "bright_2", "scan", "track", "frp"]
_EWKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])


def copy_sql(table: str, schema: pa.Schema) -> str:
    """``COPY table (columns) FROM STDIN (FORMAT binary)`` for the schema's columns."""
    return f"COPY {table} ({', '.join(schema.names)}) FROM STDIN (FORMAT binary)"


class BinaryCopy:
    """One COPY stream in PostgreSQL's binary format: ``header()``, then ``rows(batch)`` per batch, ``finish()``."""

    def __init__(self, schema: pa.Schema):
        self._encoder = ArrowToPostgresBinaryEncoder(schema)

    def header(self) -> bytes:
        """The stream's header (first)."""
        return bytes(self._encoder.write_header())

    def rows(self, batch: pa.RecordBatch) -> bytes:
        """The rows of one batch."""
        return bytes(self._encoder.write_batch(batch))

    def finish(self) -> bytes:
        """The stream's trailer (last)."""
        return bytes(self._encoder.finish())


def copy_batch(conn, table: str, batch: pa.RecordBatch) -> None:
    """COPY one Arrow batch into ``table`` (its columns named as the batch's) in the binary format."""
    encoder = BinaryCopy(batch.schema)
    with conn.cursor() as cur, cur.copy(copy_sql(table, batch.schema)) as copy:
        copy.write(encoder.header() + encoder.rows(batch) + encoder.finish())


def query_frame(conn, query: str, params: tuple, names: list[str], text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rows of ``query`` (COPYed out as CSV, read by pyarrow) as a DataFrame; empty with no rows."""
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
        for block in copy:
            buf.write(block)
    if not buf.tell():
        return pd.DataFrame(columns=names)
    buf.seek(0)
    return pd.read_csv(buf, header=None, names=names, dtype={c: str for c in text_columns}, engine="pyarrow")


def ewkb_points(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """EWKB of 2D points in EPSG:4326 (what PostGIS receives in a binary COPY), built in numpy."""
    rec = np.empty(len(lon), dtype=_EWKB_POINT)
    rec["order"], rec["type"], rec["srid"] = 1, 0x20000001, 4326
    rec["x"], rec["y"] = lon, lat
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(_EWKB_POINT.itemsize), len(lon), [None, pa.py_buffer(rec.tobytes())]
    )
    return fixed.cast(pa.binary())


def protected_area_lists(attr: Attribution) -> pa.ListArray:
    """Per point, the sorted distinct codes of the protected areas it is in (null for none), vectorised."""
    n = len(attr.district)
    counts = np.zeros(n, dtype=np.int64)
    values = np.empty(0, dtype=object)
    if len(attr.pa_points):
        code_id, uniques = pd.factorize(np.asarray(attr.pa_codes, dtype=object), sort=True)
        points = np.asarray(attr.pa_points, dtype=np.int64)
        order = np.lexsort((code_id, points))
        points, code_id = points[order], code_id[order]
        first = np.ones(len(points), dtype=bool)
        first[1:] = (points[1:] != points[:-1]) | (code_id[1:] != code_id[:-1])
        points, code_id = points[first], code_id[first]
        counts = np.bincount(points, minlength=n)
        values = np.asarray(uniques, dtype=object)[code_id]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, _TEXT), mask=pa.array(counts == 0))


def text_array(values) -> pa.Array:
    """Strings (a pandas column or a numpy object array; None/NA for null) as an Arrow ``string`` array.

    pandas keeps its string columns in Arrow already: they pass through without a copy per value.
    """
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == _TEXT else arr.cast(_TEXT)


def attribution_arrays(attr: Attribution) -> dict[str, pa.Array]:
    """Gazetteer result -> the hotspot attribution columns as Arrow arrays."""
    return {
        "province_code": text_array(attr.province),
        "district_code": text_array(attr.district),
        "subdistrict_code": text_array(attr.subdistrict),
        "reserve_code": text_array(attr.reserve),
        "protected_area_codes": protected_area_lists(attr),
        "in_aoi": pa.array(attr.in_aoi, pa.bool_()),
    }


def hotspot_batch(frame: pd.DataFrame, attr: Attribution, batch_id: int) -> pa.RecordBatch:
    """Normalised FIRMS rows (``firms.normalise``) and their attribution -> a batch of ``HOTSPOT_SCHEMA``."""
    n = len(frame)
    cols: dict[str, pa.Array] = {c: text_array(frame[c]) for c in _TEXT_COLUMNS}
    cols.update(
        {c: pa.array(frame[c].to_numpy(dtype="float64"), pa.float64(), from_pandas=True) for c in _FLOAT_COLUMNS}
    )
    lon, lat = frame["longitude"].to_numpy(dtype="float64"), frame["latitude"].to_numpy(dtype="float64")
    cols.update(
        {
            "acq_utc": pa.array(frame["acq_epoch"].to_numpy(np.int64) * 1_000_000).cast(
                HOTSPOT_SCHEMA.field("acq_utc").type
            ),
            "acq_date_local": pa.array(frame["acq_date_local"].to_numpy().astype("datetime64[D]"), pa.date32()),
            "lat_e4": pa.array(frame["lat_e4"].to_numpy(np.int32)),
            "lon_e4": pa.array(frame["lon_e4"].to_numpy(np.int32)),
            "confidence": pa.array(frame["confidence"].to_numpy(np.int16)),
            "fire_type": pa.array(frame["fire_type"], pa.int16()),
            "batch_id": pa.array(np.full(n, batch_id, dtype=np.int32)),
            "geom": ewkb_points(lon, lat),
            **attribution_arrays(attr),
        }
    )
    return pa.RecordBatch.from_arrays([cols[name] for name in HOTSPOT_SCHEMA.names], schema=HOTSPOT_SCHEMA)
