"""Hotspots and fire events out of PostGIS as GeoJSON (built by PostGIS, ``hotspots.store``), with bound filters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from geo_service.hotspots import store
from geo_service.hotspots.summaries import date_range, detection_filters
from geo_service.layers import aoi

ATTRIBUTION = "NASA FIRMS (MODIS C6.1 / VIIRS 375 m active fire products), LANCE/FIRMS, NASA"


@dataclass
class HotspotFilter:
    """Which detections or events to list: box, local dates, sensors, confidence, places, area, page."""

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
    utc = "h.acq_utc" if date_col == "h.acq_date_local" else None  # detections: prune partitions too
    return where + date_range(date_col, f.date_from, f.date_to, params, utc_column=utc)


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
    return store.detections_feature_collection(
        session,
        where,
        params,
        limit=f.limit,
        offset=f.offset,
        links=lambda matched: page_links(f, matched, page_url),
        attribution=ATTRIBUTION,
        area=aoi.describe(session, f.area),
    )


def events_geojson(session: Session, f: HotspotFilter, page_url: PageUrl | None = None) -> bytes:
    """Fire events (footprints) as GeoJSON, newest first (at most ``limit`` from ``offset``)."""
    params: dict = {}
    f.province = aoi.province_code(session, f.province)
    where = _where(f, params, date_col="(e.last_seen AT TIME ZONE 'Asia/Bangkok')::date", geom="e.footprint")
    scope = aoi.scope_sql(f.area, "in_area_of_interest(e.footprint)")  # a fire crossing the line is inside
    if scope:
        where.append(scope)
    if f.district:
        params["district"] = f.district
        where.append("e.district_code = :district")
    if f.protected_area:
        params["pa"] = f.protected_area
        where.append("e.reserve_code = :pa")
    return store.events_feature_collection(
        session,
        where,
        params,
        province=f.province,
        limit=f.limit,
        offset=f.offset,
        links=lambda matched: page_links(f, matched, page_url),
        attribution=ATTRIBUTION,
        area=aoi.describe(session, f.area),
    )
