"""Hotspots and fire events out of PostGIS as GeoJSON (built by PostGIS), with bound filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.hotspots.summaries import CONFIDENCE, SENSORS

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


def _where(f: HotspotFilter, params: dict, date_col: str = "h.acq_date_local", geom: str = "h.geom") -> list[str]:
    where = []
    if f.bbox:
        params.update(dict(zip(("minx", "miny", "maxx", "maxy"), f.bbox)))
        where.append(f"ST_Intersects({geom}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
    if f.date_from:
        params["date_from"] = f.date_from
        where.append(f"{date_col} >= :date_from")
    if f.date_to:
        params["date_to"] = f.date_to
        where.append(f"{date_col} <= :date_to")
    return where


def hotspots_geojson(session: Session, f: HotspotFilter) -> bytes:
    """Detections as a GeoJSON FeatureCollection (newest first, at most ``limit``)."""
    params: dict = {"limit": f.limit}
    where = _where(f, params)
    if f.sensors:
        params["satellites"] = sorted({s for n in f.sensors for s in SENSORS[n]})
        where.append("h.satellite = ANY(:satellites)")
    if f.min_confidence:
        params["min_conf"] = CONFIDENCE[f.min_confidence]
        where.append("h.confidence >= :min_conf")
    if f.district:
        params["district"] = f.district
        where.append("h.district_code = :district")
    if f.protected_area:
        params["pa"] = f.protected_area
        where.append(":pa = ANY(h.protected_area_codes)")
    sql = f"""
      SELECT json_build_object('type', 'FeatureCollection', 'numberReturned', count(*),
        'attribution', CAST(:attribution AS text),
        'features', coalesce(json_agg(json_build_object('type', 'Feature', 'id', id,
          'geometry', ST_AsGeoJSON(geom, 6)::json,
          'properties', json_build_object(
            'satellite', satellite, 'instrument', instrument, 'processing', processing, 'version', version,
            'acq_utc', to_char(acq_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'),
            'acq_local', to_char(acq_utc AT TIME ZONE 'Asia/Bangkok', 'YYYY-MM-DD"T"HH24:MI"+07:00"'),
            'confidence', CASE confidence WHEN 1 THEN 'low' WHEN 2 THEN 'nominal' ELSE 'high' END,
            'confidence_raw', confidence_raw, 'frp_mw', frp, 'daynight', daynight,
            'province', province_code, 'district', district_code, 'subdistrict', subdistrict_code,
            'reserve', reserve_code, 'protected_areas', protected_area_codes, 'event_id', event_id))
          ORDER BY acq_utc DESC), '[]'::json))::text
      FROM (SELECT * FROM hotspots h {'WHERE ' + ' AND '.join(where) if where else ''}
            ORDER BY h.acq_utc DESC LIMIT :limit) h
    """
    params["attribution"] = ATTRIBUTION
    return session.execute(text(sql), params).scalar_one().encode()


def events_geojson(session: Session, f: HotspotFilter) -> bytes:
    """Fire events (footprints) as GeoJSON, newest first."""
    params: dict = {"limit": f.limit}
    where = _where(f, params, date_col="(e.last_seen AT TIME ZONE 'Asia/Bangkok')::date", geom="e.footprint")
    if f.district:
        params["district"] = f.district
        where.append("e.district_code = :district")
    if f.protected_area:
        params["pa"] = f.protected_area
        where.append("e.reserve_code = :pa")
    sql = f"""
      SELECT json_build_object('type', 'FeatureCollection', 'numberReturned', count(*),
        'attribution', CAST(:attribution AS text),
        'features', coalesce(json_agg(json_build_object('type', 'Feature', 'id', id,
          'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(footprint), 6)::json,
          'properties', json_build_object(
            'first_seen', first_seen, 'last_seen', last_seen, 'detections', detections, 'max_frp_mw', max_frp,
            'sensors', sensors, 'district', district_code, 'reserve', reserve_code,
            'area_ha', round((area_m2 / 1e4)::numeric, 2), 'area_rai', round((area_m2 / 1600)::numeric, 1)))
          ORDER BY last_seen DESC), '[]'::json))::text
      FROM (SELECT * FROM fire_events e {'WHERE ' + ' AND '.join(where) if where else ''}
            ORDER BY e.last_seen DESC LIMIT :limit) e
    """
    params["attribution"] = ATTRIBUTION
    return session.execute(text(sql), params).scalar_one().encode()
