"""The hotspots store: reads and writes of detections, ingest batches and fire events.

With ``hotspots.ingest`` (the COPY fast path) and ``hotspots.events`` (event clustering in SQL) it is the only
code that names these tables in SQL; other domains call its functions. They run in the caller's transaction and
never commit (README, Layout). Places are read through the shared views and functions (``current_admin_areas``,
``latest_protected_areas``), never the layer tables.

Some queries are built from parts the caller validated and owns (filter conditions with bound values, period
expressions on ``h.acq_date_local``): the caller passes SQL fragments on the alias ``h`` (detections) or ``e``
(fire events) and their parameters; the tables themselves are named here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, cast

import pandas as pd
from sqlalchemy import CursorResult, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from geo_service.hotspots.partitions import local_day_end, local_day_start
from geo_service.hotspots.rows import query_frame

# --- ingest batches ---


def latest_batches(session: Session, limit: int = 100) -> list[dict]:
    """The latest ingest batches, newest first."""
    rows = (
        session.execute(
            text("""
        SELECT id, source, file_name, file_sha256, rows_total, rows_new, rows_updated, rows_unchanged,
               rows_refused, rows_outside, first_acq, last_acq, duration_s, loaded_by, loaded_at
        FROM hotspot_batches ORDER BY id DESC LIMIT :limit"""),
            {"limit": limit},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


# --- the area of interest and the attribution of stored detections ---


def mark_in_area_of_interest(session: Session) -> int:
    """Recompute ``in_aoi`` of every stored detection in PostGIS; returns the number of rows that changed."""
    return cast(
        CursorResult[Any],
        session.execute(
            text(
                "UPDATE hotspots SET in_aoi = in_area_of_interest(geom), updated_at = now() "
                "WHERE in_aoi IS DISTINCT FROM in_area_of_interest(geom)"
            )
        ),
    ).rowcount


def detections_table_exists(session: Session) -> bool:
    """Whether the detections table exists yet (a boundary layer may be loaded before the hotspots migration)."""
    return bool(session.execute(text("SELECT to_regclass('hotspots') IS NOT NULL")).scalar())


REATTRIBUTION_TABLE = "hotspot_reattr"


def start_reattribution(session: Session) -> None:
    """Create the temporary table (dropped at commit) that receives the recomputed attribution, by COPY."""
    session.execute(text(f"DROP TABLE IF EXISTS {REATTRIBUTION_TABLE}"))
    session.execute(
        text(
            f"CREATE TEMP TABLE {REATTRIBUTION_TABLE} (id bigint, province_code text, district_code text, "
            "subdistrict_code text, reserve_code text, protected_area_codes text[], in_aoi boolean) ON COMMIT DROP"
        )
    )


def detection_positions(conn, after_id: int, limit: int) -> pd.DataFrame:
    """Up to ``limit`` detections after ``after_id`` (by id): ``id``, ``lon``, ``lat``, ``day`` (local date).

    ``conn`` is the psycopg connection of the session's transaction (``db.engine.driver_connection``): the
    rows are COPYed out.
    """
    return query_frame(
        conn,
        "SELECT id, longitude, latitude, acq_date_local FROM hotspots WHERE id > %s ORDER BY id LIMIT %s",
        (after_id, limit),
        ["id", "lon", "lat", "day"],
    )


def finish_reattribution(session: Session) -> int:
    """Apply the recomputed attribution to the detections whose attribution changed (one UPDATE), drop the
    temporary table and, when anything changed, the events' district and reserve. Returns the detections
    changed."""
    changed = cast(
        CursorResult[Any],
        session.execute(
            text(f"""
        UPDATE hotspots h SET province_code = r.province_code, district_code = r.district_code,
          subdistrict_code = r.subdistrict_code, reserve_code = r.reserve_code,
          protected_area_codes = r.protected_area_codes, in_aoi = r.in_aoi, updated_at = now()
        FROM {REATTRIBUTION_TABLE} r
        WHERE h.id = r.id AND (h.province_code, h.district_code, h.subdistrict_code, h.reserve_code,
                               h.protected_area_codes, h.in_aoi)
          IS DISTINCT FROM (r.province_code, r.district_code, r.subdistrict_code, r.reserve_code,
                            r.protected_area_codes, r.in_aoi)
    """)
        ),
    ).rowcount
    session.execute(text(f"DROP TABLE {REATTRIBUTION_TABLE}"))
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


# --- summaries ---

# GISTDA reports by land class; from the protected-area kinds loaded we can tell these (agricultural land,
# community land and the highway buffer need land-use and road layers that are not loaded). The protected-area
# layers cover the area of interest's provinces: beyond them (neighbouring provinces, the buffer) or with no
# protected-area layer loaded at all, the class is unknown, not "outside protected land".
LAND_CLASS_SQL = """CASE
  WHEN NOT h.in_aoi OR h.province_code IS NULL OR NOT (h.province_code = ANY(aoi_provinces()))
       OR NOT EXISTS (SELECT 1 FROM latest_protected_areas) THEN 'unknown'
  WHEN EXISTS (SELECT 1 FROM latest_protected_areas p WHERE p.code = ANY(h.protected_area_codes)
               AND p.kind IN ('national_park', 'wildlife_sanctuary', 'forest_park')) THEN 'conservation_forest'
  WHEN h.reserve_code IS NOT NULL THEN 'national_reserved_forest'
  WHEN EXISTS (SELECT 1 FROM latest_protected_areas p WHERE p.code = ANY(h.protected_area_codes)
               AND p.kind = 'community_forest') THEN 'community_forest'
  WHEN h.protected_area_codes IS NOT NULL THEN 'other_state_land'
  ELSE 'outside_protected_land' END"""

# What each grouping of the summaries reads from a detection (alias h; pa: one of its protected areas).
GROUP_COLUMNS = {
    "province": "coalesce(h.province_code, '')",
    "district": "coalesce(h.district_code, '')",
    "protected_area": "coalesce(pa.code, '')",
    "land_class": LAND_CLASS_SQL,
}


def grouped_detections(
    session: Session,
    group_by: list[str],
    period_key: str,
    period_label: str,
    where: list[str],
    params: dict,
    *,
    per_protected_area: bool = False,
) -> list[dict]:
    """Detections, FRP, dates and satellites per group (``GROUP_COLUMNS``) and period.

    Parameters
    ----------
    group_by : list of str
        Keys of ``GROUP_COLUMNS``.
    period_key, period_label : str
        SQL expressions on the detection (alias ``h``) naming its period and the period's label.
    where, params : list of str, dict
        Conditions on ``h`` (and ``pa.code``) with their bound values.
    per_protected_area : bool
        One row per protected area of a detection (``pa.code``; a detection in two areas counts in both).
    """
    join = "LEFT JOIN LATERAL unnest(h.protected_area_codes) AS pa(code) ON true" if per_protected_area else ""
    group_sql = [f"{GROUP_COLUMNS[g]} AS {g}" for g in group_by]
    sql = f"""
      SELECT {", ".join(group_sql + [f"{period_key} AS period", f"min({period_label}) AS period_label"])},
             count(*) AS detections, round(sum(h.frp)::numeric, 2)::float8 AS frp_sum_mw,
             max(h.frp) AS frp_max_mw, min(h.acq_date_local) AS first_date, max(h.acq_date_local) AS last_date,
             array_agg(DISTINCT h.satellite ORDER BY h.satellite) AS satellites
      FROM hotspots h {join}
      {"WHERE " + " AND ".join(where) if where else ""}
      GROUP BY {", ".join([*group_by, "period"])}
      ORDER BY period, {", ".join(group_by) if group_by else "1"}
    """
    return [dict(r) for r in session.execute(text(sql), params).mappings().all()]


# --- GeoJSON of detections and events ---

DETECTION_FEATURE = """json_build_object('type', 'Feature', 'id', id, 'geometry', ST_AsGeoJSON(geom, 6)::json,
  'properties', json_build_object(
    'satellite', satellite, 'instrument', instrument, 'processing', processing, 'version', version,
    'acq_utc', to_char(acq_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'),
    'acq_local', to_char(acq_utc AT TIME ZONE 'Asia/Bangkok', 'YYYY-MM-DD"T"HH24:MI"+07:00"'),
    'confidence', CASE confidence WHEN 1 THEN 'low' WHEN 2 THEN 'nominal' ELSE 'high' END,
    'confidence_raw', confidence_raw, 'frp_mw', frp, 'daynight', daynight,
    'province', province_code, 'in_aoi', in_aoi, 'district', district_code, 'subdistrict', subdistrict_code,
    'reserve', reserve_code, 'protected_areas', protected_area_codes, 'event_id', event_id))"""

EVENT_FEATURE = """json_build_object('type', 'Feature', 'id', id,
  'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(footprint), 6)::json,
  'properties', json_build_object(
    'first_seen', first_seen, 'last_seen', last_seen, 'detections', detections, 'max_frp_mw', max_frp,
    'sensors', sensors, 'district', district_code, 'reserve', reserve_code,
    'area_ha', round((area_m2 / 1e4)::numeric, 2), 'area_rai', round((area_m2 / 1600)::numeric, 1)))"""

Links = Callable[[int], list[dict]]  # paging links for a number of matched rows


def _collection(
    session: Session,
    feature_sql: str,
    order: str,
    columns: str,
    source: str,
    params: dict,
    *,
    limit: int,
    offset: int,
    links: Links,
    attribution: str,
    area: dict,
) -> bytes:
    """One FeatureCollection built by PostGIS from a page of ``SELECT columns FROM source ORDER BY order``.

    ``numberMatched`` counts every row the filters match; ``numberReturned`` those on this page (at most
    ``limit``, from ``offset``); ``links`` gets the matched count.
    """
    matched = session.execute(text(f"SELECT count(*) FROM {source}"), params).scalar_one()
    sql = f"""
      SELECT json_build_object('type', 'FeatureCollection', 'numberMatched', CAST(:matched AS bigint),
        'numberReturned', count(*), 'links', CAST(:links AS json), 'attribution', CAST(:attribution AS text),
        'area', CAST(:area AS json), 'features', coalesce(json_agg({feature_sql} ORDER BY {order}), '[]'::json))::text
      FROM (SELECT {columns} FROM {source} ORDER BY {order} LIMIT :limit OFFSET :offset) f
    """
    return (
        session.execute(
            text(sql),
            {
                **params,
                "attribution": attribution,
                "area": json.dumps(area, ensure_ascii=False),
                "matched": matched,
                "links": json.dumps(links(matched)),
                "limit": limit,
                "offset": offset,
            },
        )
        .scalar_one()
        .encode()
    )


def detections_feature_collection(
    session: Session,
    where: list[str],
    params: dict,
    *,
    limit: int,
    offset: int,
    links: Links,
    attribution: str,
    area: dict,
) -> bytes:
    """Detections matching ``where`` (conditions on alias ``h``) as GeoJSON text, newest first, with their event.

    The collection carries ``numberMatched``, ``numberReturned``, ``links`` (from ``links(matched)``),
    ``attribution`` and ``area``.
    """
    source = (
        f"hotspots h LEFT JOIN hotspot_events he ON he.hotspot_id = h.id "
        f"{'WHERE ' + ' AND '.join(where) if where else ''}"
    )
    return _collection(
        session,
        DETECTION_FEATURE,
        "acq_utc DESC, id DESC",
        "h.*, he.event_id",
        source,
        params,
        limit=limit,
        offset=offset,
        links=links,
        attribution=attribution,
        area=area,
    )


def events_feature_collection(
    session: Session,
    where: list[str],
    params: dict,
    *,
    province: str | None,
    limit: int,
    offset: int,
    links: Links,
    attribution: str,
    area: dict,
) -> bytes:
    """Fire events (footprints) matching ``where`` (conditions on alias ``e``) as GeoJSON text, newest first;
    ``province`` keeps the events whose district is one of the province's current districts."""
    where = list(where)
    if province:
        params = {**params, "province": province}
        where.append(
            "e.district_code IN (SELECT code FROM current_admin_areas WHERE level = 'district' "
            "AND parent_code = :province)"
        )
    source = f"fire_events e {'WHERE ' + ' AND '.join(where) if where else ''}"
    return _collection(
        session,
        EVENT_FEATURE,
        "last_seen DESC, id DESC",
        "e.*",
        source,
        params,
        limit=limit,
        offset=offset,
        links=links,
        attribution=attribution,
        area=area,
    )


def _utc_days(start: date, end: date) -> dict:
    """``us``/``ue``: the instants local day ``start`` begins and local day ``end`` ends, so a condition on the
    local date also prunes the partitions of ``hotspots`` (migration 0021)."""
    return {"us": local_day_start(start), "ue": local_day_end(end)}


# --- for cases.service, cases.suggestions, cases.evidence_geojson ---


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
GROUP BY h.id, h.acq_utc  -- the primary key (migration 0021): the other columns depend on it
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
            WHERE h.acq_date_local BETWEEN :start AND :end AND h.acq_utc >= :us AND h.acq_utc < :ue
              AND h.protected_area_codes && CAST(:codes AS text[])
              AND NOT (h.id::text = ANY(CAST(:skip AS text[])))
            ORDER BY h.confidence DESC, h.frp DESC NULLS LAST, h.acq_utc
            LIMIT :limit"""),
            {
                "start": start,
                "end": end,
                **_utc_days(start, end),
                "codes": list(codes),
                "skip": list(skip),
                "limit": limit,
            },
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


# --- for exports.collections ---
# Every detection as the exports and the OGC API read it, with the fire event it belongs to (if any). The
# collection adds the presentation (local time, Buddhist Era date, names).
EXPORT_HOTSPOTS_SQL = """SELECT h.id, h.geom, h.acq_utc, h.acq_date_local, h.satellite, h.instrument, h.processing,
       h.version, h.confidence, h.confidence_raw, h.frp, h.daynight, h.brightness, h.province_code, h.district_code,
       h.subdistrict_code, h.reserve_code, h.protected_area_codes, he.event_id, h.in_aoi
FROM hotspots h LEFT JOIN hotspot_events he ON he.hotspot_id = h.id"""

# Every fire event, its footprint as ``geom``.
EXPORT_FIRE_EVENTS_SQL = """SELECT e.id, e.footprint AS geom, e.first_seen, e.last_seen, e.detections, e.max_frp,
       e.sensors, e.district_code, e.reserve_code, e.area_m2
FROM fire_events e"""

# --- for maps.layers, maps.hotspot_layers and reports.brief ---


def district_counts(session: Session, lo: datetime, hi: datetime) -> dict[str, int]:
    """Detections of the area of interest acquired in [lo, hi) per district code."""
    rows = session.execute(
        text(
            "SELECT district_code, count(*) FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi "
            "AND in_aoi AND district_code IS NOT NULL GROUP BY 1"
        ),
        {"lo": lo, "hi": hi},
    )
    return {code: n for code, n in rows}


def heat_points(session: Session, lo: datetime, hi: datetime, limit: int) -> list[tuple[float, float, float]]:
    """(lat, lon, weight 0.2-1 from FRP) of the ``limit`` strongest detections of the area of interest acquired
    in [lo, hi)."""
    rows = session.execute(
        text("""
        SELECT round(latitude::numeric, 4)::float, round(longitude::numeric, 4)::float,
               least(1.0, greatest(0.2, coalesce(frp, 5) / 50.0))
        FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi AND in_aoi
        ORDER BY frp DESC NULLS LAST LIMIT :n"""),
        {"lo": lo, "hi": hi, "n": limit},
    ).all()
    return [(lat, lon, w) for lat, lon, w in rows]


def strongest_detections(
    session: Session, lo: datetime, hi: datetime, *, inside: bool, limit: int
) -> list[tuple[float, float, str, str, int, float]]:
    """(lat, lon, local time, satellite, confidence, FRP) of the ``limit`` strongest detections acquired in
    [lo, hi), inside the area of interest or outside it."""
    rows = session.execute(
        text("""
        SELECT round(latitude::numeric, 4)::float, round(longitude::numeric, 4)::float,
               to_char(acq_utc AT TIME ZONE 'Asia/Bangkok', 'YYYY-MM-DD HH24:MI'), satellite, confidence,
               round(coalesce(frp, 0)::numeric, 1)::float
        FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi AND in_aoi = :inside
        ORDER BY frp DESC NULLS LAST LIMIT :n"""),
        {"lo": lo, "hi": hi, "n": limit, "inside": inside},
    ).all()
    return [(lat, lon, when, sat, conf, frp) for lat, lon, when, sat, conf, frp in rows]


def events_between(session: Session, lo: datetime, hi: datetime, limit: int = 5000) -> list[dict]:
    """Fire events seen in [lo, hi) whose footprint touches the area of interest, strongest first: id, footprint
    (GeoJSON text, counter-clockwise), first and last seen, detections, peak FRP, sensors, district, reserve, rai."""
    rows = (
        session.execute(
            text("""
        SELECT e.id, ST_AsGeoJSON(ST_ForcePolygonCCW(e.footprint), 6) AS geom, e.first_seen, e.last_seen,
               e.detections, e.max_frp, array_to_string(e.sensors, ', ') AS sensors, e.district_code, e.reserve_code,
               round((e.area_m2 / 1600)::numeric)::int AS rai
        FROM fire_events e WHERE e.last_seen >= :lo AND e.first_seen < :hi AND in_area_of_interest(e.footprint)
        ORDER BY e.max_frp DESC NULLS LAST LIMIT :n"""),
            {"lo": lo, "hi": hi, "n": limit},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def months_detected(session: Session) -> list[date]:
    """The first day of every month (Asia/Bangkok) with a detection of the area of interest, oldest first.

    Walked month by month on the index of the acquisition time (one index probe per month with data, however
    many detections there are)."""
    return list(
        session.execute(
            text("""
        WITH RECURSIVE m AS (
          SELECT date_trunc('month', min(acq_utc) AT TIME ZONE 'Asia/Bangkok') AS month FROM hotspots WHERE in_aoi
          UNION ALL
          SELECT (SELECT date_trunc('month', min(h.acq_utc) AT TIME ZONE 'Asia/Bangkok') FROM hotspots h
                  WHERE h.in_aoi AND h.acq_utc >= (m.month + interval '1 month') AT TIME ZONE 'Asia/Bangkok')
          FROM m WHERE m.month IS NOT NULL)
        SELECT month::date FROM m WHERE month IS NOT NULL""")
        ).scalars()
    )


def _grid_sql(unit: str) -> str:
    if unit not in ("day", "week"):  # interpolated into the SQL: only these two words
        raise ValueError("unit is 'day' or 'week'")
    return f"""
        SELECT date_trunc('{unit}', acq_utc AT TIME ZONE 'Asia/Bangkok')::date AS bucket,
               (round(ST_Y(geom) / :cell) * :cell)::float AS lat, (round(ST_X(geom) / :cell) * :cell)::float AS lon,
               count(*) AS n
        FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi AND in_aoi
        GROUP BY 1, 2, 3"""


def time_grid_size(session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float) -> int:
    """How many (day or week, grid cell) groups the detections of the area of interest in [lo, hi) make."""
    return session.execute(
        text(f"SELECT count(*) FROM ({_grid_sql(unit)}) g"), {"lo": lo, "hi": hi, "cell": cell}
    ).scalar_one()


def time_grid(session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float) -> list[dict]:
    """Detections of the area of interest in [lo, hi) counted per day or week (Asia/Bangkok) and grid cell of
    ``cell`` degrees."""
    rows = session.execute(text(_grid_sql(unit) + " ORDER BY 1"), {"lo": lo, "hi": hi, "cell": cell}).mappings()
    return [dict(r) for r in rows]


def period_counts(session: Session, start: date, end: date, province: str | None = None) -> dict:
    """Detections of the area of interest with a local date from ``start`` to ``end`` (both included): by district
    (code '' for the area's buffer, last), by protected area, and by week from ``start`` ({week: n}); and how many
    lay outside the area (``outside_aoi``). With ``province``: the detections attributed to that province
    instead (``province_code``), and ``outside_aoi`` counts those attributed elsewhere or nowhere."""
    p: dict = {"s": start, "e": end, "p": province, **_utc_days(start, end)}
    inside, outside_cond = (
        ("h.province_code = :p", "h.province_code IS DISTINCT FROM :p") if province else ("h.in_aoi", "NOT h.in_aoi")
    )
    days = "h.acq_date_local BETWEEN :s AND :e AND h.acq_utc >= :us AND h.acq_utc < :ue"
    by_district = (
        session.execute(
            text(f"""
        SELECT coalesce(h.district_code, '') AS code, count(*) AS n, round(coalesce(sum(h.frp), 0)::numeric, 1)::float AS frp
        FROM hotspots h WHERE {inside} AND {days}
        GROUP BY 1 ORDER BY coalesce(h.district_code, '') = '', 1"""),
            p,
        )
        .mappings()
        .all()
    )
    by_area = (
        session.execute(
            text(f"""
        SELECT pa.code, count(*) AS n FROM hotspots h, unnest(h.protected_area_codes) AS pa(code)
        WHERE {inside} AND {days} GROUP BY 1 ORDER BY 1"""),
            p,
        )
        .mappings()
        .all()
    )
    weekly = session.execute(
        text(f"""
        SELECT ((h.acq_date_local - CAST(:s AS date)) / 7) AS week, count(*) AS n
        FROM hotspots h WHERE {inside} AND {days} GROUP BY 1 ORDER BY 1"""),
        p,
    ).all()
    outside = session.execute(text(f"SELECT count(*) FROM hotspots h WHERE {outside_cond} AND {days}"), p).scalar()
    return {
        "by_district": [dict(r) for r in by_district],
        "by_protected_area": [dict(r) for r in by_area],
        "weekly": {int(week): n for week, n in weekly},
        "outside_aoi": outside,
    }


def province_counts(session: Session, start: date, end: date) -> dict[str | None, dict]:
    """Detections with a local date from ``start`` to ``end`` by province code (None: outside every loaded
    province): count and total FRP (MW)."""
    rows = session.execute(
        text("""
        SELECT h.province_code AS code, count(*) AS n, round(coalesce(sum(h.frp), 0)::numeric, 1)::float AS frp
        FROM hotspots h WHERE h.acq_date_local BETWEEN :s AND :e AND h.acq_utc >= :us AND h.acq_utc < :ue
        GROUP BY 1"""),
        {"s": start, "e": end, **_utc_days(start, end)},
    ).mappings()
    return {r["code"]: {"n": r["n"], "frp": r["frp"]} for r in rows}


def freshness(session: Session) -> dict:
    """The latest acquisition time, the latest load time and the highest batch id (None when there are none)."""
    return dict(
        session.execute(
            text("""
        SELECT (SELECT max(acq_utc) FROM hotspots) AS hotspot_latest,
               (SELECT max(loaded_at) FROM hotspot_batches) AS hotspot_loaded,
               (SELECT max(id) FROM hotspot_batches) AS hotspot_batch""")
        )
        .mappings()
        .one()
    )


# --- for exports.tiles (the data version behind a vector tile's ETag) ---
# A new or re-ingested batch changes the detections; a recomputed clustering changes the events.
HOTSPOTS_VERSION_SQL = (
    "SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(max(loaded_at)::text, '') FROM hotspot_batches"
)
FIRE_EVENTS_VERSION_SQL = "SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM fire_events"


# --- fire near areas (forest-loss patches ask: "did it burn?") ---

# "Cleared by fire" for many areas at once (100k forest-loss patches): the old query (the reference below) ran one
# lateral subquery per area, each a 17-partition append with a GiST x date-index bitmap AND (~80k date rows) and a
# geography test of every fire event whose box met the area's: ~0.3 ms an area. A join in SQL (the areas in an
# indexed temporary table) was no better: 300k GiST probes, or 3-12M box pairs, cost as much on 2 cores. So the
# candidates are found in memory: the detections and events of the whole period (a constant range on the partition
# key, so other years are pruned), bulk-queried against the areas' boxes in a Shapely STRtree, with the same time
# conditions in NumPy; PostGIS then decides every candidate pair with the very same geography ST_DWithin and
# ST_Distance (the same EWKB coordinates), and aggregates. Hand-written candidate search: no library joins points
# and boxes in space and time at once; the STRtree is Shapely's.
# one row a candidate pair, both geometries as EWKB (no join: one pass, whatever the planner's estimates)
_FIRE_PAIRS_HOTSPOTS = """
SELECT p.k, count(*) AS n, min(ST_Distance(p.h, p.a)) AS nearest_m, min(p.day) AS first_day, max(p.day) AS last_day
FROM (SELECT u.k, u.day, ST_GeomFromEWKB(u.hg)::geography AS h, ST_GeomFromEWKB(u.ag)::geography AS a
      FROM unnest(CAST(:k AS int[]), CAST(:g AS bytea[]), CAST(:ag AS bytea[]), CAST(:day AS date[]))
           AS u(k, hg, ag, day)) p
WHERE ST_DWithin(p.h, p.a, :distance_m)
GROUP BY p.k
"""

_FIRE_PAIRS_EVENTS = """
SELECT p.k, array_agg(p.id ORDER BY p.id) AS ids, min(ST_Distance(p.e, p.a)) AS nearest_m
FROM (SELECT u.k, u.id, ST_GeomFromEWKB(u.eg)::geography AS e, ST_GeomFromEWKB(u.ag)::geography AS a
      FROM unnest(CAST(:k AS int[]), CAST(:id AS bigint[]), CAST(:eg AS bytea[]), CAST(:ag AS bytea[]))
           AS u(k, id, eg, ag)) p
WHERE ST_DWithin(p.e, p.a, :distance_m)
GROUP BY p.k
"""


def _fire_params(
    areas: Sequence[tuple[int, bytes, date, date]], distance_m: float, days_before: int, days_after: int
) -> dict[str, Any]:
    ids, geoms, d0, d1 = (list(col) for col in zip(*areas, strict=True))
    return {
        "ids": ids,
        "geoms": geoms,
        "d0": d0,
        "d1": d1,
        "before": int(days_before),
        "after": int(days_after),
        "distance_m": float(distance_m),
        # the bounding-box prefilter in degrees: the distance at the equator plus a margin (cos(lat) >= 0.9 here)
        "deg": float(distance_m) / 100_000.0 + 1e-6,
    }


_DAY_US = 86_400_000_000
_BANGKOK_US = 7 * 3_600_000_000  # Asia/Bangkok has been UTC+7 without daylight saving since 1920


def fire_near_areas(
    session: Session,
    areas: Sequence[tuple[int, bytes, date, date]],
    *,
    distance_m: float,
    days_before: int,
    days_after: int,
) -> list[dict[str, Any]]:
    """Detections and fire events near areas in space and time (forest-loss patches ask whether they burned).

    ``areas``: (id, EWKB geometry in EPSG:4326, first day, last day). A detection counts when it lies within
    ``distance_m`` of the area and its local day is between first day - ``days_before`` and last day +
    ``days_after``; a fire event when its footprint is that near and its time span meets that period. One row per
    area with any, by id: area_id, hotspots (count), hotspot_nearest_m, hotspot_first_day, hotspot_last_day,
    events (ids), event_nearest_m. The answers of ``fire_near_areas_reference`` (tests/test_forest_loss_fire.py),
    found by candidate pairs (above)."""
    import numpy as np  # loaded by the one function using them
    import shapely

    if not areas:
        return []
    params = _fire_params(areas, distance_m, days_before, days_after)
    geoms = shapely.from_wkb(params["geoms"])
    # a box a little larger than PostGIS's ``&& ST_Expand(geom, deg)`` (float4 boxes rounded outward): candidates
    # only, ST_DWithin decides, and the box is wider than the distance anyway
    pad = params["deg"] * 1.001 + 1e-6
    bounds = shapely.bounds(geoms)
    tree = shapely.STRtree(shapely.box(bounds[:, 0] - pad, bounds[:, 1] - pad, bounds[:, 2] + pad, bounds[:, 3] + pad))
    epoch = np.datetime64("1970-01-01", "D")
    lo = (np.array(params["d0"], dtype="datetime64[D]") - epoch).astype(np.int64) - params["before"]
    hi = (np.array(params["d1"], dtype="datetime64[D]") - epoch).astype(np.int64) + params["after"]
    utc_lo, utc_hi = lo * _DAY_US - _BANGKOK_US, (hi + 1) * _DAY_US - _BANGKOK_US  # microseconds since 1970, UTC
    window = {
        "t0": int(utc_lo.min()),
        "t1": int(utc_hi.max()),
        "x0": float(bounds[:, 0].min() - pad),
        "y0": float(bounds[:, 1].min() - pad),
        "x1": float(bounds[:, 2].max() + pad),
        "y1": float(bounds[:, 3].max() + pad),
    }
    span = """to_timestamp(0) + CAST(:t0 AS bigint) * interval '1 microsecond'"""
    span1 = """to_timestamp(0) + CAST(:t1 AS bigint) * interval '1 microsecond'"""
    env = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
    hot = session.execute(
        text(f"""
        SELECT ST_AsEWKB(geom), CAST(extract(epoch FROM acq_utc) * 1000000 AS bigint), acq_date_local - DATE '1970-01-01'
        FROM hotspots WHERE acq_utc >= {span} AND acq_utc < {span1} AND geom && {env}"""),
        window,
    ).all()
    out: dict[int, dict[str, Any]] = {}
    area_ids = params["ids"]

    def row(k: int) -> dict[str, Any]:
        return out.setdefault(
            k,
            {
                "area_id": area_ids[k],
                "hotspots": 0,
                "hotspot_nearest_m": None,
                "hotspot_first_day": None,
                "hotspot_last_day": None,
                "events": None,
                "event_nearest_m": None,
            },
        )

    if hot:
        hg = [bytes(r[0]) for r in hot]
        t = np.fromiter((r[1] for r in hot), np.int64, len(hot))
        day = np.fromiter((r[2] for r in hot), np.int64, len(hot))
        hi_, ak = tree.query(shapely.from_wkb(hg))
        keep = (t[hi_] >= utc_lo[ak]) & (t[hi_] < utc_hi[ak]) & (day[hi_] >= lo[ak]) & (day[hi_] <= hi[ak])
        hi_, ak = hi_[keep], ak[keep]
        if len(ak):
            pairs = {
                "k": ak.tolist(),
                "g": [hg[i] for i in hi_],
                "day": (epoch + day[hi_]).tolist(),
                "ag": [params["geoms"][i] for i in ak],
                "distance_m": params["distance_m"],
            }
            for k, n, nearest, first, last in session.execute(text(_FIRE_PAIRS_HOTSPOTS), pairs):
                r = row(int(k))
                r.update(hotspots=n, hotspot_nearest_m=nearest, hotspot_first_day=first, hotspot_last_day=last)
    events = session.execute(
        text(f"""
        SELECT id, ST_AsEWKB(footprint), CAST(extract(epoch FROM first_seen) * 1000000 AS bigint),
               CAST(extract(epoch FROM last_seen) * 1000000 AS bigint)
        FROM fire_events WHERE first_seen < {span1} AND last_seen >= {span} AND footprint && {env}"""),
        window,
    ).all()
    if events:
        eg = [bytes(r[1]) for r in events]
        first_us = np.fromiter((r[2] for r in events), np.int64, len(events))
        last_us = np.fromiter((r[3] for r in events), np.int64, len(events))
        ei, ak = tree.query(shapely.from_wkb(eg))
        keep = (first_us[ei] < utc_hi[ak]) & (last_us[ei] >= utc_lo[ak])
        ei, ak = ei[keep], ak[keep]
        if len(ak):
            pairs = {
                "k": ak.tolist(),
                "id": [int(events[i][0]) for i in ei],
                "eg": [eg[i] for i in ei],
                "ag": [params["geoms"][i] for i in ak],
                "distance_m": params["distance_m"],
            }
            for k, ids, nearest in session.execute(text(_FIRE_PAIRS_EVENTS), pairs):
                row(int(k)).update(events=list(ids), event_nearest_m=nearest)
    return [out[k] for k in sorted(out, key=lambda k: area_ids[k])]


# The first query (one lateral subquery per area over the unnested areas): the reference the tests compare
# ``fire_near_areas`` with, and the baseline of bench/forest_loss_ingest.py.
_FIRE_NEAR_AREAS_REFERENCE = """
WITH a AS (
  SELECT a.id, ST_GeomFromEWKB(a.g) AS geom, a.d0 - CAST(:before AS int) AS lo, a.d1 + CAST(:after AS int) AS hi
  FROM unnest(CAST(:ids AS bigint[]), CAST(:geoms AS bytea[]), CAST(:d0 AS date[]), CAST(:d1 AS date[]))
       AS a(id, g, d0, d1)
)
SELECT a.id AS area_id, hs.n AS hotspots, hs.nearest_m AS hotspot_nearest_m, hs.first_day AS hotspot_first_day,
       hs.last_day AS hotspot_last_day, ev.ids AS events, ev.nearest_m AS event_nearest_m
FROM a
CROSS JOIN LATERAL (
  SELECT count(*) AS n, min(ST_Distance(h.geom::geography, a.geom::geography)) AS nearest_m,
         min(h.acq_date_local) AS first_day, max(h.acq_date_local) AS last_day
  FROM hotspots h
  WHERE h.acq_utc >= (a.lo::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND h.acq_utc < ((a.hi + 1)::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND h.acq_date_local BETWEEN a.lo AND a.hi
    AND h.geom && ST_Expand(a.geom, :deg)
    AND ST_DWithin(h.geom::geography, a.geom::geography, :distance_m)
) hs
CROSS JOIN LATERAL (
  SELECT array_agg(e.id ORDER BY e.id) AS ids, min(ST_Distance(e.footprint::geography, a.geom::geography)) AS nearest_m
  FROM fire_events e
  WHERE e.first_seen < ((a.hi + 1)::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND e.last_seen >= (a.lo::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND e.footprint && ST_Expand(a.geom, :deg)
    AND ST_DWithin(e.footprint::geography, a.geom::geography, :distance_m)
) ev
WHERE hs.n > 0 OR ev.ids IS NOT NULL
ORDER BY a.id
"""


def fire_near_areas_reference(
    session: Session,
    areas: Sequence[tuple[int, bytes, date, date]],
    *,
    distance_m: float,
    days_before: int,
    days_after: int,
) -> list[RowMapping]:
    """``fire_near_areas`` as it was first written (one lateral subquery per area): the reference of the tests and
    the baseline of the bench; same arguments and answers."""
    if not areas:
        return []
    params = _fire_params(areas, distance_m, days_before, days_after)
    return list(session.execute(text(_FIRE_NEAR_AREAS_REFERENCE), params).mappings())
