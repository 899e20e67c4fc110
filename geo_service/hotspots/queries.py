"""Hotspots and fire events out of PostGIS as GeoJSON (built by PostGIS), with bound filters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.hotspots.summaries import date_range, detection_filters
from geo_service.layers import aoi

ATTRIBUTION = "NASA FIRMS (MODIS C6.1 / VIIRS 375 m active fire products), LANCE/FIRMS, NASA"


@dataclass
class HotspotFilter:
    bbox: tuple[float, float, float, float] | None = None
    date_from: date | None = None
    date_to: date | None = None
    sensors: tuple[str, ...] = ()
    min_confidence: str | None = None
    district: str | None = None
    protected_area: str | None = None
    limit: int = 5000
    offset: int = 0
    province: str | None = None
    area: str = "aoi"  # aoi | outside | all (layers.aoi.SCOPES)


def _where(f: HotspotFilter, params: dict, date_col: str = "h.acq_date_local", geom: str = "h.geom") -> list[str]:
    where = []
    if f.bbox:
        params.update(dict(zip(("minx", "miny", "maxx", "maxy"), f.bbox)))
        where.append(f"ST_Intersects({geom}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
    return where + date_range(date_col, f.date_from, f.date_to, params)


PageUrl = Callable[[int], str]  # the URL of the same list at another offset


def page_links(f: HotspotFilter, matched: int, page_url: PageUrl | None) -> list[dict]:
    """OGC-style paging links: ``next`` while rows remain after this page, ``prev`` after the first page."""
    if page_url is None:
        return []
    links = []
    if f.offset + f.limit < matched:
        links.append({"rel": "next", "type": "application/geo+json", "href": page_url(f.offset + f.limit)})
    if f.offset > 0:
        links.append({"rel": "prev", "type": "application/geo+json", "href": page_url(max(f.offset - f.limit, 0))})
    return links


def _collection(
    session: Session,
    feature_sql: str,
    order: str,
    columns: str,
    source: str,
    params: dict,
    f: HotspotFilter,
    page_url: PageUrl | None,
) -> bytes:
    """One FeatureCollection built by PostGIS from a page of ``SELECT columns FROM source ORDER BY order``.

    ``numberMatched`` counts every row the filters match; ``numberReturned`` those on this page (at most
    ``limit``, from ``offset``); a ``next`` link is present whenever the list was cut.
    """
    matched = session.execute(text(f"SELECT count(*) FROM {source}"), params).scalar_one()
    area = json.dumps(aoi.describe(session, f.area), ensure_ascii=False)
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
                "attribution": ATTRIBUTION,
                "area": area,
                "matched": matched,
                "links": json.dumps(page_links(f, matched, page_url)),
                "limit": f.limit,
                "offset": f.offset,
            },
        )
        .scalar_one()
        .encode()
    )


def hotspots_geojson(session: Session, f: HotspotFilter, page_url: PageUrl | None = None) -> bytes:
    """Detections as a GeoJSON FeatureCollection (newest first, at most ``limit`` from ``offset``)."""
    params: dict = {}
    f.province = aoi.province_code(session, f.province)
    where = _where(f, params) + detection_filters(
        params,
        sensors=f.sensors,
        min_confidence=f.min_confidence,
        district=f.district,
        province=f.province,
        area=f.area,
    )
    if f.protected_area:
        params["pa"] = f.protected_area
        where.append(":pa = ANY(h.protected_area_codes)")
    feature = """json_build_object('type', 'Feature', 'id', id, 'geometry', ST_AsGeoJSON(geom, 6)::json,
      'properties', json_build_object(
        'satellite', satellite, 'instrument', instrument, 'processing', processing, 'version', version,
        'acq_utc', to_char(acq_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'),
        'acq_local', to_char(acq_utc AT TIME ZONE 'Asia/Bangkok', 'YYYY-MM-DD"T"HH24:MI"+07:00"'),
        'confidence', CASE confidence WHEN 1 THEN 'low' WHEN 2 THEN 'nominal' ELSE 'high' END,
        'confidence_raw', confidence_raw, 'frp_mw', frp, 'daynight', daynight,
        'province', province_code, 'in_aoi', in_aoi, 'district', district_code, 'subdistrict', subdistrict_code,
        'reserve', reserve_code, 'protected_areas', protected_area_codes, 'event_id', event_id))"""
    source = (
        f"hotspots h LEFT JOIN hotspot_events he ON he.hotspot_id = h.id "
        f"{'WHERE ' + ' AND '.join(where) if where else ''}"
    )
    return _collection(session, feature, "acq_utc DESC, id DESC", "h.*, he.event_id", source, params, f, page_url)


def events_geojson(session: Session, f: HotspotFilter, page_url: PageUrl | None = None) -> bytes:
    """Fire events (footprints) as GeoJSON, newest first (at most ``limit`` from ``offset``)."""
    params: dict = {}
    f.province = aoi.province_code(session, f.province)
    where = _where(f, params, date_col="(e.last_seen AT TIME ZONE 'Asia/Bangkok')::date", geom="e.footprint")
    scope = aoi.scope_sql(f.area, "in_area_of_interest(e.footprint)")  # a fire crossing the line is inside
    if scope:
        where.append(scope)
    if f.province:
        params["province"] = f.province
        where.append(
            "e.district_code IN (SELECT code FROM admin_areas WHERE level = 'district' AND parent_code = :province)"
        )
    if f.district:
        params["district"] = f.district
        where.append("e.district_code = :district")
    if f.protected_area:
        params["pa"] = f.protected_area
        where.append("e.reserve_code = :pa")
    feature = """json_build_object('type', 'Feature', 'id', id,
      'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(footprint), 6)::json,
      'properties', json_build_object(
        'first_seen', first_seen, 'last_seen', last_seen, 'detections', detections, 'max_frp_mw', max_frp,
        'sensors', sensors, 'district', district_code, 'reserve', reserve_code,
        'area_ha', round((area_m2 / 1e4)::numeric, 2), 'area_rai', round((area_m2 / 1600)::numeric, 1)))"""
    source = f"fire_events e {'WHERE ' + ' AND '.join(where) if where else ''}"
    return _collection(session, feature, "last_seen DESC, id DESC", "e.*", source, params, f, page_url)
