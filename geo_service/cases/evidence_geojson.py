"""A case's linked evidence as one RFC 7946 FeatureCollection (for the investigators assigned and admins).

Each feature is the linked object's geometry with the link (type, id, why, who, when) and the object's
main attributes; PostGIS writes the geometry (exterior rings counter-clockwise, 7 decimals).
"""

from __future__ import annotations

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.cases import access, service

# One SELECT per kind of evidence: geometry, and the attributes partners of the case need to read it.
_PARTS = {
    "incident": """SELECT l.id AS link_id, l.target_type::text AS target_type, l.target_id, l.reason, l.created_by,
          l.created_at, ST_AsGeoJSON(i.geom, 7) AS geometry,
          json_build_object('kind', i.kind, 'observed_at', i.observed_at, 'district_code', i.district_code,
                            'reserve_code', i.reserve_code, 'status', i.status) AS attributes
        FROM case_links l JOIN incidents i ON i.id::text = l.target_id
        WHERE l.case_id = :c AND l.target_type = 'incident'""",
    "hotspot": """SELECT l.id, l.target_type::text, l.target_id, l.reason, l.created_by, l.created_at,
          ST_AsGeoJSON(h.geom, 7), json_build_object('acq_utc', h.acq_utc, 'satellite', h.satellite,
          'confidence', h.confidence, 'frp', h.frp, 'district_code', h.district_code, 'reserve_code', h.reserve_code)
        FROM case_links l JOIN hotspots h ON h.id::text = l.target_id
        WHERE l.case_id = :c AND l.target_type = 'hotspot'""",
    "fire_event": """SELECT l.id, l.target_type::text, l.target_id, l.reason, l.created_by, l.created_at,
          ST_AsGeoJSON(ST_ForcePolygonCCW(e.footprint), 7), json_build_object('first_seen', e.first_seen,
          'last_seen', e.last_seen, 'detections', e.detections, 'max_frp', e.max_frp, 'reserve_code', e.reserve_code)
        FROM case_links l JOIN fire_events e ON e.id::text = l.target_id
        WHERE l.case_id = :c AND l.target_type = 'fire_event'""",
    "protected_area": """SELECT DISTINCT ON (l.id) l.id, l.target_type::text, l.target_id, l.reason, l.created_by,
          l.created_at, ST_AsGeoJSON(ST_ForcePolygonCCW(p.geom), 7), json_build_object('name_th', p.name_th,
          'name_en', p.name_en, 'kind', p.kind, 'version', p.version, 'illustrative', p.illustrative)
        FROM case_links l JOIN protected_areas p ON p.code = l.target_id
        WHERE l.case_id = :c AND l.target_type = 'protected_area'
        ORDER BY l.id, p.valid_from DESC NULLS LAST""",
    "district": """SELECT l.id, l.target_type::text, l.target_id, l.reason, l.created_by, l.created_at,
          ST_AsGeoJSON(ST_ForcePolygonCCW(a.geom), 7), json_build_object('name_th', a.name_th, 'name_en', a.name_en)
        FROM case_links l JOIN admin_areas a ON a.code = l.target_id AND a.level = 'district' AND a.is_current
        WHERE l.case_id = :c AND l.target_type = 'district'""",
    # zonal statistics of a raster: the area they were computed over, i.e. the part of their zone (district,
    # protected area in force on the raster's date, or their intersection) that the raster covers
    "raster_stat": """SELECT l.id, l.target_type::text, l.target_id, l.reason, l.created_by, l.created_at,
          ST_AsGeoJSON(ST_ForcePolygonCCW(CASE WHEN ST_Intersects(zone.geom, r.footprint)
            THEN ST_Multi(ST_CollectionExtract(ST_Intersection(zone.geom, r.footprint), 3)) ELSE r.footprint END), 7),
          json_build_object('raster_id', r.id, 'raster_name', r.name, 'raster_version', r.version,
                            'superseded_by', r.superseded_by, 'product', r.product, 'acq_date', r.acq_date,
                            'zone_type', z.zone_type, 'zone_code', z.zone_code, 'pixels', z.pixels,
                            'flagged_pixels', z.flagged_pixels, 'burned_m2', z.burned_m2, 'mean', z.mean, 'max', z.max)
        FROM case_links l JOIN raster_zone_stats z ON z.id::text = l.target_id
        JOIN hotspot_rasters r ON r.id = z.raster_id
        LEFT JOIN LATERAL (
          SELECT a.geom FROM admin_areas a WHERE z.zone_type = 'district' AND a.level = 'district'
            AND a.is_current AND a.code = z.zone_code
          UNION ALL
          SELECT p.geom FROM protected_areas p WHERE z.zone_type = 'protected_area' AND p.code = z.zone_code
            AND (p.valid_from IS NULL OR p.valid_from <= r.acq_date) AND (p.valid_to IS NULL OR p.valid_to > r.acq_date)
          UNION ALL
          SELECT ST_Multi(ST_CollectionExtract(ST_Intersection(a.geom, p.geom), 3))
          FROM admin_areas a JOIN protected_areas p ON p.code = split_part(z.zone_code, '|', 2)
          WHERE z.zone_type = 'district_protected_area' AND a.level = 'district' AND a.is_current
            AND a.code = split_part(z.zone_code, '|', 1)
            AND (p.valid_from IS NULL OR p.valid_from <= r.acq_date) AND (p.valid_to IS NULL OR p.valid_to > r.acq_date)
          LIMIT 1) zone ON true
        WHERE l.case_id = :c AND l.target_type = 'raster_stat'""",
}


def evidence_features(session: Session, case_id: int) -> list[dict]:
    """Every linked object with a geometry, as GeoJSON Features (the caller has checked access)."""
    features = []
    for sql in _PARTS.values():
        for r in session.execute(text(sql), {"c": case_id}).all():
            _link_id, target_type, target_id, reason, by, at, geometry, attributes = r
            if geometry is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "id": f"{target_type}:{target_id}",
                    "geometry": orjson.loads(geometry),
                    "properties": {
                        "target_type": target_type,
                        "target_id": target_id,
                        "reason": reason,
                        "linked_by": by,
                        "linked_at": at.isoformat(),
                        **(attributes or {}),
                    },
                }
            )
    return features


def features_bbox(features: list[dict]) -> list[float] | None:
    """[west, south, east, north] of the features, or None when there are none."""
    if not features:
        return None
    import shapely

    bounds = shapely.bounds(shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in features]))
    return [round(float(v), 7) for v in bounds]


def evidence_collection(session: Session, case_id: int, principal: Principal) -> bytes:
    access.require_insider(session, principal, case_id)
    case = service.get_case(session, case_id, principal)
    features = evidence_features(session, case_id)
    collection = {"type": "FeatureCollection", "case": case["reference"], "numberReturned": len(features)}
    if features:
        collection["bbox"] = features_bbox(features)
    return orjson.dumps({**collection, "features": features})
