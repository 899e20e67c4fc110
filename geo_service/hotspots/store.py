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

import numpy as np
import pandas as pd
from sqlalchemy import CursorResult, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.db.engine import driver_connection
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
        params = {**params, "scope_provinces": [province]}
        where.append(_EVENT_IN_PROVINCES)
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
# Province scope (a case's evidence, cases.evidence_scope).
# A detection lies in the province it is attributed to (``province_code``, stored at ingest and re-attribution); a
# fire event in the province of its district (``district_code``, the current district's ``parent_code``: the one
# spelling, also the province filter of ``events_feature_collection``). Either outside every loaded province lies in
# no provincial scope (national roles only). The caller's provinces are the bound ``:scope_provinces``.
_HOTSPOT_IN_PROVINCES = "h.province_code = ANY(CAST(:scope_provinces AS text[]))"
_EVENT_IN_PROVINCES = (
    "e.district_code IN (SELECT code FROM current_admin_areas WHERE level = 'district' "
    "AND parent_code = ANY(CAST(:scope_provinces AS text[])))"
)


def _numeric(ids: Sequence[str]) -> list[str]:
    """The ids (text, as case links hold them) that can be ids of these tables: compared as bigint, the primary
    key's index serves the lookup (``id::text = ANY`` reads the whole table)."""
    return [i for i in ids if i.isascii() and i.isdigit() and len(i) < 19]


def _scope(condition: str, viewer: Principal | None) -> tuple[str, dict[str, Any]]:
    if viewer is None or viewer.provinces is None:
        return "TRUE", {}
    return condition, {"scope_provinces": sorted(viewer.provinces)}


def existing_hotspot_ids(session: Session, ids: Sequence[str], viewer: Principal | None = None) -> set[str]:
    """Which of these ids (as text) are detections within ``viewer``'s provinces (None, national: every one)."""
    if not ids:
        return set()
    scope, params = _scope(_HOTSPOT_IN_PROVINCES, viewer)
    return set(
        session.execute(
            text(f"SELECT h.id::text FROM hotspots h WHERE h.id = ANY(CAST(:i AS bigint[])) AND {scope}"),
            {"i": _numeric(ids), **params},
        ).scalars()
    )


def existing_fire_event_ids(session: Session, ids: Sequence[str], viewer: Principal | None = None) -> set[str]:
    """Which of these ids (as text) are fire events within ``viewer``'s provinces (None, national: every one)."""
    if not ids:
        return set()
    scope, params = _scope(_EVENT_IN_PROVINCES, viewer)
    return set(
        session.execute(
            text(f"SELECT e.id::text FROM fire_events e WHERE e.id = ANY(CAST(:i AS bigint[])) AND {scope}"),
            {"i": _numeric(ids), **params},
        ).scalars()
    )


# Within `distance_m` and `days` of any of the given incidents (id, EWKB point, observed_at), except the
# detections and events listed: the nearest incident of each, with the distance (m) and the time gap (days).
# ``{hotspot_scope}``/``{event_scope}``: the province rule above (``_scope``), or TRUE for a national viewer.
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
WHERE d.m <= :distance_m AND NOT (h.id::text = ANY(CAST(:skip_hotspots AS text[]))) AND {hotspot_scope}
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
WHERE d.m <= :distance_m AND NOT (e.id::text = ANY(CAST(:skip_events AS text[]))) AND {event_scope}
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
    viewer: Principal | None = None,
) -> list[RowMapping]:
    """Detections and fire events near the incidents (id, EWKB point, observed_at) in space and time: per
    object its distance to the nearest incident (m), the time gap (days) and that incident's id. Only those
    within ``viewer``'s provinces (the province rule of case evidence; None, national: every one)."""
    if not incidents:
        return []
    hotspot_scope, scope_params = _scope(_HOTSPOT_IN_PROVINCES, viewer)
    event_scope, _ = _scope(_EVENT_IN_PROVINCES, viewer)
    ids, geoms, times = (list(col) for col in zip(*incidents, strict=True))
    params = {
        "inc_ids": ids,
        "inc_geoms": geoms,
        "inc_times": times,
        "distance_m": distance_m,
        "days": days,
        "skip_hotspots": list(skip_hotspots),
        "skip_events": list(skip_events),
        **scope_params,
    }
    sql = _NEAR.format(hotspot_scope=hotspot_scope, event_scope=event_scope)
    return list(session.execute(text(sql), params).mappings())


def in_protected_areas(
    session: Session,
    codes: Sequence[str],
    start: date,
    end: date,
    *,
    skip: Sequence[str] = (),
    limit: int = 50,
    viewer: Principal | None = None,
) -> list[RowMapping]:
    """Detections inside these protected areas between two local days, most confident and strongest first: the
    first ``limit`` of those within ``viewer``'s provinces (the province rule of case evidence, applied before the
    limit; None, national: every one)."""
    scope, scope_params = _scope(_HOTSPOT_IN_PROVINCES, viewer)
    return list(
        session.execute(
            text(f"""
            SELECT 'hotspot' AS target_type, h.id::text AS target_id, h.acq_utc AS seen, h.satellite, h.confidence,
                   h.frp, h.reserve_code, h.district_code, h.protected_area_codes
            FROM hotspots h
            WHERE h.acq_date_local BETWEEN :start AND :end AND h.acq_utc >= :us AND h.acq_utc < :ue
              AND h.protected_area_codes && CAST(:codes AS text[])
              AND NOT (h.id::text = ANY(CAST(:skip AS text[]))) AND {scope}
            ORDER BY h.confidence DESC, h.frp DESC NULLS LAST, h.acq_utc
            LIMIT :limit"""),
            {
                "start": start,
                "end": end,
                **_utc_days(start, end),
                "codes": list(codes),
                "skip": list(skip),
                "limit": limit,
                **scope_params,
            },
        ).mappings()
    )


def hotspot_features(
    session: Session, ids: Sequence[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON geometry (text, 7 decimals) and main attributes of these detections within ``viewer``'s provinces,
    by id (as text)."""
    if not ids:
        return {}
    scope, params = _scope(_HOTSPOT_IN_PROVINCES, viewer)
    rows = session.execute(
        text(
            "SELECT h.id::text, ST_AsGeoJSON(h.geom, 7), json_build_object('acq_utc', h.acq_utc, "
            "'satellite', h.satellite, 'confidence', h.confidence, 'frp', h.frp, 'district_code', h.district_code, "
            "'reserve_code', h.reserve_code) FROM hotspots h "
            f"WHERE h.id = ANY(CAST(:i AS bigint[])) AND {scope}"
        ),
        {"i": _numeric(ids), **params},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def fire_event_features(
    session: Session, ids: Sequence[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON footprint (text, 7 decimals, exterior rings counter-clockwise) and main attributes of these fire
    events within ``viewer``'s provinces, by id (as text)."""
    if not ids:
        return {}
    scope, params = _scope(_EVENT_IN_PROVINCES, viewer)
    rows = session.execute(
        text(
            "SELECT e.id::text, ST_AsGeoJSON(ST_ForcePolygonCCW(e.footprint), 7), json_build_object("
            "'first_seen', e.first_seen, 'last_seen', e.last_seen, 'detections', e.detections, "
            "'max_frp', e.max_frp, 'reserve_code', e.reserve_code) FROM fire_events e "
            f"WHERE e.id = ANY(CAST(:i AS bigint[])) AND {scope}"
        ),
        {"i": _numeric(ids), **params},
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
    lay outside the area (``outside_aoi``); by instrument (``by_sensor``: MODIS, VIIRS). With ``province``: the detections attributed to that province
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
    # one fire seen by MODIS (1 km) and VIIRS (375 m) is a detection of each: the brief says how many of each
    by_sensor = session.execute(
        text(f"""
        SELECT coalesce(nullif(h.instrument, ''), '?') AS instrument, count(*) AS n
        FROM hotspots h WHERE {inside} AND {days} GROUP BY 1 ORDER BY 1"""),
        p,
    ).all()
    return {
        "by_district": [dict(r) for r in by_district],
        "by_protected_area": [dict(r) for r in by_area],
        "weekly": {int(week): n for week, n in weekly},
        "outside_aoi": outside,
        "by_sensor": {instrument: n for instrument, n in by_sensor},
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


def detection_days(session: Session) -> tuple[date | None, date | None]:
    """The local (Asia/Bangkok) days of the first and the latest stored detection, anywhere (None, None: none):
    the days the loaded FIRMS data span, so that a count of 0 outside them reads "no data", not "no fire"."""
    row = session.execute(
        text(  # on the index of the acquisition time (one probe per partition), not a scan
            "SELECT (min(acq_utc) AT TIME ZONE 'Asia/Bangkok')::date, (max(acq_utc) AT TIME ZONE 'Asia/Bangkok')::date "
            "FROM hotspots"
        )
    ).one()
    return row[0], row[1]


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


# --- fire near areas (hotspots.near: forest-loss patches ask "did it burn?") ---


def detections_in(session: Session, box: tuple[float, float, float, float], day_lo: int, day_hi: int) -> pd.DataFrame:
    """Detections whose position lies in ``box`` (x0, y0, x1, y1 in EPSG:4326) and whose local day is between
    ``day_lo`` and ``day_hi`` (days since 1970-01-01, both included): ``lon``, ``lat``, ``day`` (days since 1970),
    ``instrument``. The time range on ``acq_utc`` prunes the other years' partitions."""
    return _packed_detections(
        session,
        """acq_utc >= (DATE '1970-01-01' + %s::int)::timestamp AT TIME ZONE 'Asia/Bangkok'
           AND acq_utc < (DATE '1970-01-01' + %s::int + 1)::timestamp AT TIME ZONE 'Asia/Bangkok'
           AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)""",
        (day_lo, day_hi, *box),
    )


def batch_detections(session: Session, batch_id: int, first_acq: datetime, last_acq: datetime) -> pd.DataFrame:
    """The detections an ingest batch wrote (new or replacing), between its first and last acquisition (which
    prunes the partitions): the columns of :func:`detections_in`."""
    return _packed_detections(
        session,
        "batch_id = %s::int AND acq_utc BETWEEN %s::timestamptz AND %s::timestamptz",
        (batch_id, first_acq, last_acq),
    )


def _packed_detections(session: Session, where: str, params: tuple) -> pd.DataFrame:
    """Detections matching ``where`` (a fixed condition of this module, its values bound as ``params``) as columns.

    The rows come back as one row of packed columns (float8send / int4send aggregated into one bytea each, read by
    NumPy), not one message per detection: a season's cell holds 10^5 of them. The aggregates of one query see the
    rows in the same order, so the columns line up."""
    with driver_connection(session).cursor(binary=True) as cur:
        cur.execute(
            f"""SELECT count(*), string_agg(float8send(longitude::float8), ''::bytea),
                       string_agg(float8send(latitude::float8), ''::bytea),
                       string_agg(int4send(acq_date_local - DATE '1970-01-01'), ''::bytea),
                       string_agg(coalesce(instrument, ''), ',')
                FROM hotspots WHERE {where}""",
            params,
        )
        row = cur.fetchone()
    if row is None or not row[0]:
        return pd.DataFrame(
            {"lon": np.empty(0), "lat": np.empty(0), "day": np.empty(0, np.int64), "instrument": np.empty(0, object)}
        )
    return pd.DataFrame(
        {
            "lon": np.frombuffer(row[1], dtype=">f8").astype(np.float64),
            "lat": np.frombuffer(row[2], dtype=">f8").astype(np.float64),
            "day": np.frombuffer(row[3], dtype=">i4").astype(np.int64),
            "instrument": np.array(row[4].split(","), dtype=object),
        }
    )


def batch_reach(
    session: Session,
    batch_id: int | None,
    first_acq: datetime | None,
    last_acq: datetime | None,
    event_ids: Sequence[int],
    cell_deg: float,
) -> list[tuple[float, float, float, float, datetime, datetime]]:
    """Where and when an ingest batch can change what lies near fires: its detections (those it wrote, between
    ``first_acq`` and ``last_acq``; none for ``batch_id`` None) and the fire events it re-clustered, grouped by the
    ``cell_deg`` cell of their box's south-west corner: per cell, the box (EPSG:4326) and the time span of its
    members (x0, y0, x1, y1, first, last); none when there are none."""
    rows = session.execute(
        text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1
        FROM (SELECT ST_Extent(g) AS e, min(t0) AS t0, max(t1) AS t1
              FROM (SELECT geom AS g, acq_utc AS t0, acq_utc AS t1 FROM hotspots
                    WHERE batch_id = CAST(:b AS int) AND acq_utc BETWEEN CAST(:first AS timestamptz)
                          AND CAST(:last AS timestamptz)
                    UNION ALL
                    SELECT footprint, first_seen, last_seen FROM fire_events WHERE id = ANY(CAST(:ev AS bigint[]))) q
              GROUP BY floor(ST_XMin(g) / :c), floor(ST_YMin(g) / :c)) x"""),
        {"b": batch_id, "first": first_acq, "last": last_acq, "ev": list(event_ids), "c": float(cell_deg)},
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def events_reach(
    session: Session, event_ids: Sequence[int], cell_deg: float
) -> list[tuple[float, float, float, float, datetime, datetime]]:
    """:func:`batch_reach` of fire events alone (a re-clustering outside an ingest)."""
    return batch_reach(session, None, None, None, event_ids, cell_deg)


def events_in(
    session: Session, box: tuple[float, float, float, float], utc_lo: int, utc_hi: int
) -> tuple[np.ndarray, list[bytes], np.ndarray, np.ndarray]:
    """Fire events whose footprint's box meets ``box`` (EPSG:4326) and whose time span meets [``utc_lo``,
    ``utc_hi``) (microseconds since 1970, UTC): ids, footprints (EWKB), first and last seen (microseconds)."""
    rows = session.execute(
        text("""
        SELECT id, ST_AsEWKB(footprint), CAST(extract(epoch FROM first_seen) * 1000000 AS bigint),
               CAST(extract(epoch FROM last_seen) * 1000000 AS bigint)
        FROM fire_events
        WHERE first_seen < to_timestamp(0) + CAST(:t1 AS bigint) * interval '1 microsecond'
          AND last_seen >= to_timestamp(0) + CAST(:t0 AS bigint) * interval '1 microsecond'
          AND footprint && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"""),
        {"t0": utc_lo, "t1": utc_hi, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]},
    ).all()
    return _event_columns(rows)


def _event_columns(rows: Sequence) -> tuple[np.ndarray, list[bytes], np.ndarray, np.ndarray]:
    """Rows of (id, EWKB, first, last in microseconds) as the columns :func:`events_in` answers."""
    return (
        np.fromiter((r[0] for r in rows), np.int64, len(rows)),
        [bytes(r[1]) for r in rows],
        np.fromiter((r[2] for r in rows), np.int64, len(rows)),
        np.fromiter((r[3] for r in rows), np.int64, len(rows)),
    )


def events_by_id(session: Session, event_ids: Sequence[int]) -> tuple[np.ndarray, list[bytes], np.ndarray, np.ndarray]:
    """These fire events (those that exist): ids, footprints (EWKB), first and last seen (microseconds since 1970,
    UTC), as :func:`events_in` gives them."""
    if not event_ids:
        return np.empty(0, np.int64), [], np.empty(0, np.int64), np.empty(0, np.int64)
    rows = session.execute(
        text("""
        SELECT id, ST_AsEWKB(footprint), CAST(extract(epoch FROM first_seen) * 1000000 AS bigint),
               CAST(extract(epoch FROM last_seen) * 1000000 AS bigint)
        FROM fire_events WHERE id = ANY(CAST(:ids AS bigint[]))"""),
        {"ids": [int(i) for i in event_ids]},
    ).all()
    return _event_columns(rows)
