"""The hotspots store: reads and writes of detections, ingest batches and fire events.

With ``hotspots.ingest`` (the COPY fast path) and ``hotspots.events`` (event clustering in SQL) it is the only
code that names these tables in SQL; other domains call its functions. They run in the caller's transaction and
never commit (README, Layout).
"""

# --- for cases.service, cases.suggestions, cases.evidence_geojson ---
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session


def existing_hotspot_ids(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of these ids (as text) are detections."""
    if not ids:
        return set()
    return set(
        session.execute(text("SELECT id::text FROM hotspots WHERE id::text = ANY(:i)"), {"i": list(ids)}).scalars()
    )


def existing_fire_event_ids(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of these ids (as text) are fire events."""
    if not ids:
        return set()
    return set(
        session.execute(text("SELECT id::text FROM fire_events WHERE id::text = ANY(:i)"), {"i": list(ids)}).scalars()
    )


# Within `distance_m` and `days` of any of the given incidents (id, EWKB point, observed_at), except the
# detections and events listed: the nearest incident of each, with the distance (m) and the time gap (days).
_NEAR = """
WITH inc AS (
  SELECT i.id, ST_GeomFromEWKB(i.g) AS geom, i.observed_at
  FROM unnest(CAST(:inc_ids AS int[]), CAST(:inc_geoms AS bytea[]), CAST(:inc_times AS timestamptz[]))
       AS i(id, g, observed_at)
)
SELECT 'hotspot' AS target_type, h.id::text AS target_id, min(d.m) AS distance_m,
       min(abs(extract(epoch FROM h.acq_utc - inc.observed_at)) / 86400) AS days_apart,
       (array_agg(inc.id ORDER BY d.m))[1] AS incident_id, h.acq_utc AS seen, h.satellite, h.confidence, h.frp,
       h.reserve_code, h.district_code
FROM inc
JOIN hotspots h ON h.acq_utc BETWEEN inc.observed_at - make_interval(days => :days)
                                  AND inc.observed_at + make_interval(days => :days)
CROSS JOIN LATERAL (SELECT ST_Distance(h.geom::geography, inc.geom::geography) AS m) d
WHERE d.m <= :distance_m AND NOT (h.id::text = ANY(CAST(:skip_hotspots AS text[])))
GROUP BY h.id
UNION ALL
SELECT 'fire_event', e.id::text, min(d.m), min(CASE WHEN inc.observed_at BETWEEN e.first_seen AND e.last_seen THEN 0
       ELSE least(abs(extract(epoch FROM e.first_seen - inc.observed_at)),
                  abs(extract(epoch FROM e.last_seen - inc.observed_at))) / 86400 END),
       (array_agg(inc.id ORDER BY d.m))[1], e.first_seen, array_to_string(e.sensors, ','), NULL, e.max_frp,
       e.reserve_code, e.district_code
FROM inc
JOIN fire_events e ON e.first_seen <= inc.observed_at + make_interval(days => :days)
                  AND e.last_seen >= inc.observed_at - make_interval(days => :days)
CROSS JOIN LATERAL (SELECT ST_Distance(e.footprint::geography, inc.geom::geography) AS m) d
WHERE d.m <= :distance_m AND NOT (e.id::text = ANY(CAST(:skip_events AS text[])))
GROUP BY e.id
"""


def near_incidents(
    session: Session,
    incidents: Sequence[tuple[int, bytes, datetime]],
    *,
    distance_m: float,
    days: int,
    skip_hotspots: Sequence[str] = (),
    skip_events: Sequence[str] = (),
) -> list[RowMapping]:
    """Detections and fire events near the incidents (id, EWKB point, observed_at) in space and time: per
    object its distance to the nearest incident (m), the time gap (days) and that incident's id."""
    if not incidents:
        return []
    ids, geoms, times = (list(col) for col in zip(*incidents, strict=True))
    params = {
        "inc_ids": ids,
        "inc_geoms": geoms,
        "inc_times": times,
        "distance_m": distance_m,
        "days": days,
        "skip_hotspots": list(skip_hotspots),
        "skip_events": list(skip_events),
    }
    return list(session.execute(text(_NEAR), params).mappings())


def in_protected_areas(
    session: Session, codes: Sequence[str], start: date, end: date, *, skip: Sequence[str] = (), limit: int = 50
) -> list[RowMapping]:
    """Detections inside these protected areas between two local days, most confident and strongest first."""
    return list(
        session.execute(
            text("""
            SELECT 'hotspot' AS target_type, h.id::text AS target_id, h.acq_utc AS seen, h.satellite, h.confidence,
                   h.frp, h.reserve_code, h.district_code, h.protected_area_codes
            FROM hotspots h
            WHERE h.acq_date_local BETWEEN :start AND :end AND h.protected_area_codes && CAST(:codes AS text[])
              AND NOT (h.id::text = ANY(CAST(:skip AS text[])))
            ORDER BY h.confidence DESC, h.frp DESC NULLS LAST, h.acq_utc
            LIMIT :limit"""),
            {"start": start, "end": end, "codes": list(codes), "skip": list(skip), "limit": limit},
        ).mappings()
    )


def hotspot_features(session: Session, ids: Sequence[str]) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON geometry (text, 7 decimals) and main attributes of these detections, by id (as text)."""
    if not ids:
        return {}
    rows = session.execute(
        text(
            "SELECT h.id::text, ST_AsGeoJSON(h.geom, 7), json_build_object('acq_utc', h.acq_utc, "
            "'satellite', h.satellite, 'confidence', h.confidence, 'frp', h.frp, 'district_code', h.district_code, "
            "'reserve_code', h.reserve_code) FROM hotspots h WHERE h.id::text = ANY(:i)"
        ),
        {"i": list(ids)},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def fire_event_features(session: Session, ids: Sequence[str]) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON footprint (text, 7 decimals, exterior rings counter-clockwise) and main attributes of these fire
    events, by id (as text)."""
    if not ids:
        return {}
    rows = session.execute(
        text(
            "SELECT e.id::text, ST_AsGeoJSON(ST_ForcePolygonCCW(e.footprint), 7), json_build_object("
            "'first_seen', e.first_seen, 'last_seen', e.last_seen, 'detections', e.detections, "
            "'max_frp', e.max_frp, 'reserve_code', e.reserve_code) FROM fire_events e WHERE e.id::text = ANY(:i)"
        ),
        {"i": list(ids)},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}
