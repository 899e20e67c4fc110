"""Shared by the benchmarks: the national simulation (``geo_service.simulation``, SIMULATED data) as the
service sees real data -- boundaries loaded as layers or held as a Gazetteer, detections normalised by the
ingest's own ``firms.normalise``, attributed and COPYed in the ingest's binary format.

Benchmarks run as scripts and import this module as ``_simulated`` (as ``_harness``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa

KEY = ["acq_epoch", "lat_e4", "lon_e4", "satellite"]  # the unique key of ``hotspots`` (acq_utc, lat_e4, ...)


def firms_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A simulated chunk with MODIS's and VIIRS's brightness columns in one (``brightness``/``bright_t31``, as a
    mixed-sensor FIRMS extract has them): the ingest maps both spellings to one column."""
    return frame.drop(columns=["bright_ti4", "bright_ti5"]).assign(
        brightness=frame["brightness"].fillna(frame["bright_ti4"]),
        bright_t31=frame["bright_t31"].fillna(frame["bright_ti5"]),
    )


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """A simulated chunk normalised as an ingest normalises a FIRMS file (``firms.normalise``: validity, UTC
    epoch, local date, lat_e4/lon_e4, confidence class), duplicates of the unique key dropped (the simulation
    repeats a few: static sources, fronts within ~10 m; the ingest keeps one)."""
    from geo_service.hotspots.firms import FLOAT_COLUMNS, TEXT_COLUMNS, normalise, normalise_header

    table = pa.Table.from_pandas(firms_frame(frame), preserve_index=False)
    columns = {}
    for name, col in zip(normalise_header(table.column_names), table.columns, strict=True):
        if name in FLOAT_COLUMNS:
            columns[name] = col.cast(pa.float64())
        elif name in TEXT_COLUMNS:
            columns[name] = col.cast(pa.string())
    out = normalise(pa.table(columns), 2).frame
    return out.drop_duplicates(KEY, ignore_index=True)


def load_layers(session, seed: int = 0) -> str:
    """Generate the national boundaries (77 / 928 / 7,400 and protected areas) and load them through the real
    layer loader (``load_bundled``) in the caller's transaction, beside the bundled Phrae layers (the simulated
    ``54...`` units replace Phrae's). Returns the layers' version. About 30 s."""
    from geo_service.layers.manifest import load_bundled
    from geo_service.simulation.boundaries import simulate_boundaries, write_boundaries

    sim = simulate_boundaries(seed)
    with tempfile.TemporaryDirectory(prefix="sim_layers_") as folder:
        write_boundaries(sim, folder)
        load_bundled(session, Path(folder), loaded_by="bench")
    return sim.version


def copy_detections(
    session, table: str, chunks: Iterable[tuple[int, int, pd.DataFrame]], gazetteer, batch_id: int
) -> tuple[int, float]:
    """Normalise, attribute (``gazetteer``) and COPY simulated chunks into ``table`` (columns of ``hotspots``) in
    the ingest's binary format, each chunk one COPY. Returns (rows written, seconds spent in COPY)."""
    from geo_service.db.engine import driver_connection
    from geo_service.hotspots.rows import HOTSPOT_SCHEMA, BinaryCopy, copy_sql, hotspot_batch

    conn = driver_connection(session)
    written, copy_s = 0, 0.0
    for _year, _part, chunk in chunks:
        frame = normalised(chunk)
        attr = gazetteer.attribute(
            frame["longitude"].to_numpy(), frame["latitude"].to_numpy(), frame["acq_date_local"].to_numpy()
        )
        enc = BinaryCopy(HOTSPOT_SCHEMA)
        data = enc.header() + enc.rows(hotspot_batch(frame, attr, batch_id)) + enc.finish()
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy(copy_sql(table, HOTSPOT_SCHEMA)) as copy:
            for i in range(0, len(data), 8 << 20):
                copy.write(data[i : i + (8 << 20)])
        copy_s += time.perf_counter() - t
        written += len(frame)
    return written, copy_s


def columns() -> str:
    """The columns ``copy_detections`` writes, for an ``INSERT ... SELECT`` from a staging table."""
    from geo_service.hotspots.rows import HOTSPOT_SCHEMA

    return ", ".join(HOTSPOT_SCHEMA.names)


def districts_hit(session) -> int:
    """Districts with at least one detection (evidence the attribution ran)."""
    from sqlalchemy import text

    return int(session.execute(text("SELECT count(DISTINCT district_code) FROM hotspots")).scalar() or 0)
