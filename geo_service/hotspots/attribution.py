"""Re-attribute stored hotspots when boundary layers change (listed in ``layers.store.LAYER_CHANGE_HOOKS``).

The same Gazetteer that attributes new detections is used (one mechanism): the hotspots' coordinates and
local dates are read with COPY, attributed in memory, written back with a binary COPY (the ingest's Arrow
columns, ``rows.attribution_arrays``) into a temporary table, and applied with one set-based UPDATE of the
rows whose attribution changed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.hotspots import store
from geo_service.hotspots.rows import ATTRIBUTION_SCHEMA, attribution_arrays, copy_batch
from geo_service.places import gazetteer_in_transaction


def reattribute_hotspots(session: Session, layer_type: str | None = None, *, chunk_rows: int = 500_000) -> int:
    """Recompute province/district/subdistrict/protected areas and the area-of-interest flag of every hotspot.

    Parameters
    ----------
    session : Session
        Runs in the caller's transaction (the layer load that changed the boundaries).
    layer_type : str, optional
        The layer that changed (unused: every level is recomputed, which costs about the same).
    chunk_rows : int
        Hotspots attributed per round (bounds memory).

    Returns
    -------
    int
        Number of hotspots whose attribution changed.
    """
    if not store.detections_table_exists(session):
        return 0
    gaz = gazetteer_in_transaction(session)  # the boundaries of this (uncommitted) transaction, loaded once
    conn = driver_connection(session)
    store.start_reattribution(session)
    last_id = 0
    while True:
        frame = store.detection_positions(conn, last_id, chunk_rows)
        if frame.empty:
            break
        attr = gaz.attribute(
            frame["lon"].to_numpy(), frame["lat"].to_numpy(), frame["day"].to_numpy(dtype="datetime64[D]")
        )
        arrays = {"id": pa.array(frame["id"].to_numpy(np.int64)), **attribution_arrays(attr)}
        copy_batch(
            conn,
            store.REATTRIBUTION_TABLE,
            pa.RecordBatch.from_arrays([arrays[n] for n in ATTRIBUTION_SCHEMA.names], schema=ATTRIBUTION_SCHEMA),
        )
        last_id = int(frame["id"].iloc[-1])
    return store.finish_reattribution(session)
