"""The "cleared by fire" rule written once more in plain PostGIS, one lateral subquery per area: the reference that
tests/test_forest_loss_fire.py and bench/forest_loss_ingest.py compare ``hotspots.near.fire_near_areas`` with.

Same rule (hotspots/near.py): in the UTM zone of the area's box centre, a detection counts when its position lies
within the distance plus half its instrument's pixel (MODIS 500 m, any other 187.5 m) and its local day is in the
window; an event when its footprint lies within the distance and its span meets the window. PostGIS does each step
its own way (ST_Transform, ST_DWithin, SQL dates), so the two agree only if both follow the rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

FIRE_NEAR_AREAS_SQL = """
WITH a AS (
  SELECT a.id, ST_GeomFromEWKB(a.g) AS geom, a.zone, a.d0 - CAST(:before AS int) AS lo, a.d1 + CAST(:after AS int) AS hi
  FROM unnest(CAST(:ids AS bigint[]), CAST(:geoms AS bytea[]), CAST(:zones AS int[]), CAST(:d0 AS date[]),
              CAST(:d1 AS date[])) AS a(id, g, zone, d0, d1)
)
SELECT a.id AS area_id, hs.n AS hotspots, hs.nearest_m AS hotspot_nearest_m, hs.first_day AS hotspot_first_day,
       hs.last_day AS hotspot_last_day, ev.ids AS events, ev.nearest_m AS event_nearest_m
FROM a
CROSS JOIN LATERAL (
  SELECT count(*) AS n, min(ST_Distance(ST_Transform(h.geom, a.zone), ST_Transform(a.geom, a.zone))) AS nearest_m,
         min(h.acq_date_local) AS first_day, max(h.acq_date_local) AS last_day
  FROM hotspots h
  WHERE h.acq_date_local BETWEEN a.lo AND a.hi
    AND h.geom && ST_Expand(a.geom, :deg)
    AND ST_DWithin(ST_Transform(h.geom, a.zone), ST_Transform(a.geom, a.zone),
                   :distance_m + CASE WHEN h.instrument = 'MODIS' THEN 500.0 ELSE 187.5 END)
) hs
CROSS JOIN LATERAL (
  SELECT array_agg(e.id ORDER BY e.id) AS ids,
         min(ST_Distance(ST_Transform(e.footprint, a.zone), ST_Transform(a.geom, a.zone))) AS nearest_m
  FROM fire_events e
  WHERE e.first_seen < ((a.hi + 1)::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND e.last_seen >= (a.lo::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND e.footprint && ST_Expand(a.geom, :deg)
    AND ST_DWithin(ST_Transform(e.footprint, a.zone), ST_Transform(a.geom, a.zone), :distance_m)
) ev
WHERE hs.n > 0 OR ev.ids IS NOT NULL
ORDER BY a.id
"""


def fire_near_areas_sql(
    session: Session,
    areas: Sequence[tuple[int, bytes, date, date]],
    *,
    distance_m: float,
    days_before: int,
    days_after: int,
) -> list[dict]:
    """``hotspots.near.fire_near_areas`` by the SQL above: same arguments, same rows."""
    if not areas:
        return []
    geoms = shapely.from_wkb([a[1] for a in areas])
    b = shapely.bounds(geoms)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    zones = np.where(cy >= 0, 32600, 32700) + np.clip(np.floor((cx + 180) / 6).astype(int) + 1, 1, 60)
    params = {
        "ids": [a[0] for a in areas],
        "geoms": [shapely.to_wkb(shapely.set_srid(g, 4326), include_srid=True) for g in geoms],
        "zones": [int(z) for z in zones],
        "d0": [a[2] for a in areas],
        "d1": [a[3] for a in areas],
        "before": int(days_before),
        "after": int(days_after),
        "distance_m": float(distance_m),
        # the box prefilter in degrees: the farthest reach (MODIS) at cos(latitude) >= 0.9, generously
        "deg": (float(distance_m) + 500.0) / 90_000.0 + 1e-6,
    }
    return [dict(r) for r in session.execute(text(FIRE_NEAR_AREAS_SQL), params).mappings()]
