"""Re-attribute stored hotspots when boundary layers change (listed in ``layers.store.LAYER_CHANGE_HOOKS``).

The same Gazetteer that attributes new detections is used (one mechanism): the hotspots' coordinates and
local dates are read with COPY, attributed in memory, written back with a binary COPY (the ingest's Arrow
columns, ``rows.attribution_arrays``) into a temporary table, and applied with one set-based UPDATE of the
rows whose attribution changed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.hotspots.rows import ATTRIBUTION_SCHEMA, attribution_arrays, copy_batch, query_frame
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
    if not session.execute(text("SELECT to_regclass('hotspots') IS NOT NULL")).scalar():
        return 0
    gaz = gazetteer_in_transaction(session)  # the boundaries of this (uncommitted) transaction, loaded once
    conn = driver_connection(session)
    session.execute(text("DROP TABLE IF EXISTS hotspot_reattr"))
    session.execute(
        text(
            "CREATE TEMP TABLE hotspot_reattr (id bigint, province_code text, district_code text, "
            "subdistrict_code text, reserve_code text, protected_area_codes text[], in_aoi boolean) ON COMMIT DROP"
        )
    )
    last_id = 0
    while True:
        frame = query_frame(
            conn,
            "SELECT id, longitude, latitude, acq_date_local FROM hotspots WHERE id > %s ORDER BY id LIMIT %s",
            (last_id, chunk_rows),
            ["id", "lon", "lat", "day"],
        )
        if frame.empty:
            break
        attr = gaz.attribute(
            frame["lon"].to_numpy(), frame["lat"].to_numpy(), frame["day"].to_numpy(dtype="datetime64[D]")
        )
        arrays = {"id": pa.array(frame["id"].to_numpy(np.int64)), **attribution_arrays(attr)}
        copy_batch(
            conn,
            "hotspot_reattr",
            pa.RecordBatch.from_arrays([arrays[n] for n in ATTRIBUTION_SCHEMA.names], schema=ATTRIBUTION_SCHEMA),
        )
        last_id = int(frame["id"].iloc[-1])
    changed = session.execute(
        text("""
        UPDATE hotspots h SET province_code = r.province_code, district_code = r.district_code,
          subdistrict_code = r.subdistrict_code, reserve_code = r.reserve_code,
          protected_area_codes = r.protected_area_codes, in_aoi = r.in_aoi, updated_at = now()
        FROM hotspot_reattr r
        WHERE h.id = r.id AND (h.province_code, h.district_code, h.subdistrict_code, h.reserve_code,
                               h.protected_area_codes, h.in_aoi)
          IS DISTINCT FROM (r.province_code, r.district_code, r.subdistrict_code, r.reserve_code,
                            r.protected_area_codes, r.in_aoi)
    """)
    ).rowcount
    session.execute(text("DROP TABLE hotspot_reattr"))
    if changed:  # events carry the district and reserve most of their detections are in
        session.execute(
            text("""
            UPDATE fire_events e SET district_code = s.district_code, reserve_code = s.reserve_code,
              updated_at = now()
            FROM (SELECT he.event_id, mode() WITHIN GROUP (ORDER BY h.district_code) AS district_code,
                         mode() WITHIN GROUP (ORDER BY h.reserve_code) AS reserve_code
                  FROM hotspots h JOIN hotspot_events he ON he.hotspot_id = h.id GROUP BY he.event_id) s
            WHERE e.id = s.event_id
              AND (e.district_code, e.reserve_code) IS DISTINCT FROM (s.district_code, s.reserve_code)""")
        )
    return changed
