"""Clearing patches as evidence (issue 14): the reads that maps, case suggestions, the evidence pack and
evidence.geojson ask of the patches, one bounded SQL statement each.

Merged patches (``merged_into`` set: absorbed by an older patch when later alerts joined them) are never
shown, suggested or counted; a case link to one still resolves (its outline is what was linked).
A provincial principal sees the patches with a part in its provinces (``queries.PATCH_SCOPE``: a patch across a
provincial border is seen in both); national principals and the service itself (``viewer=None``) see every patch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.forest_loss import queries
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI

# What every read returns about a patch (alias p): figures with their units, dates, sources, fire evidence and
# the names of the district, subdistrict and reserve holding the largest share (current boundaries), and the share
# of the patch inside that reserve (a label must not say "in the reserve" of a patch 40 % inside it).
_ATTRS = """
  p.id, p.sources, p.first_date, p.last_date, p.area_m2, p.confidence_max, p.pixels, p.pixels_low,
  p.pixels_high, p.pixels_highest, p.province_code, p.district_code, p.subdistrict_code, p.reserve_code,
  p.protected_area_codes, p.cleared_by_fire, p.fire_evidence, p.verification, p.verified_at, p.verified_by,
  p.merged_into,
  (SELECT a.name_th FROM current_admin_areas a WHERE a.level = 'district' AND a.code = p.district_code
   LIMIT 1) AS district_th,
  (SELECT a.name_en FROM current_admin_areas a WHERE a.level = 'district' AND a.code = p.district_code
   LIMIT 1) AS district_en,
  (SELECT a.name_th FROM current_admin_areas a WHERE a.level = 'subdistrict' AND a.code = p.subdistrict_code
   LIMIT 1) AS subdistrict_th,
  (SELECT a.name_en FROM current_admin_areas a WHERE a.level = 'subdistrict' AND a.code = p.subdistrict_code
   LIMIT 1) AS subdistrict_en,
  (SELECT r.name_th FROM latest_protected_areas r WHERE r.code = p.reserve_code) AS reserve_th,
  (SELECT r.name_en FROM latest_protected_areas r WHERE r.code = p.reserve_code) AS reserve_en,
  (SELECT z.share FROM clearing_patch_zones z WHERE z.patch_id = p.id AND z.zone_type = 'protected_area'
   AND z.zone_code = p.reserve_code) AS reserve_share
"""


def degrees_for(metres: float, lat: float) -> float:
    """A distance in degrees that covers ``metres`` in every direction at latitude ``lat`` (with 1 % to spare):
    for a bounding-box test (``&&``) that the geometry index serves before the exact geodesic distance."""
    return metres / (111_000 * max(math.cos(math.radians(min(abs(lat), 89.0))), 0.01)) * 1.01


def scope_sql(viewer: Principal | None) -> tuple[str, dict[str, Any]]:
    """The condition keeping a patch query (alias p) within ``viewer``'s provinces, with its parameters (the one
    rule, ``queries.PATCH_SCOPE``: a patch with a part in one of them)."""
    params: dict[str, Any] = {}
    return queries.scope_sql(viewer, params), params


def map_patches(session: Session, start: date, end: date, *, viewer: Principal | None, limit: int = 5000) -> list[dict]:
    """Patches with an alert between two days (their alert span meets [start, end]), within ``viewer``'s
    provinces, largest first, at most ``limit``: outline (GeoJSON, simplified to about 2 m) and attributes."""
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(f"""
        SELECT {_ATTRS}, ST_AsGeoJSON(ST_SimplifyPreserveTopology(p.geom, 0.00002), 6) AS geometry,
               ST_Y(ST_PointOnSurface(p.geom)) AS lat, ST_X(ST_PointOnSurface(p.geom)) AS lon
        FROM clearing_patches p
        WHERE p.merged_into IS NULL AND p.first_date <= :end AND p.last_date >= :start AND {scope}
        ORDER BY p.area_m2 DESC, p.id
        LIMIT :limit"""),
        {"start": start, "end": end, "limit": limit, **params},
    ).mappings()
    return [dict(r) for r in rows]


def count_patches(session: Session, start: date, end: date, *, viewer: Principal | None) -> int:
    """How many patches (not merged, within ``viewer``'s provinces) have an alert span meeting [start, end]."""
    scope, params = scope_sql(viewer)
    return session.execute(
        text(f"""
        SELECT count(*) FROM clearing_patches p
        WHERE p.merged_into IS NULL AND p.first_date <= :end AND p.last_date >= :start AND {scope}"""),
        {"start": start, "end": end, **params},
    ).scalar_one()


def patch_cards(session: Session, ids: Sequence[str], *, viewer: Principal | None = None) -> list[dict]:
    """The attributes of these patches (ids as text, as case links hold them) within ``viewer``'s provinces
    (None: the service itself, every patch), by id; merged ones included (a link to a patch stays readable after
    it is absorbed)."""
    wanted = [i for i in map(str, ids) if i.isascii() and i.isdigit() and len(i) < 19]
    if not wanted:
        return []
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(f"""
        SELECT {_ATTRS}, ST_Y(ST_PointOnSurface(p.geom)) AS lat, ST_X(ST_PointOnSurface(p.geom)) AS lon
        FROM clearing_patches p WHERE p.id = ANY(CAST(:ids AS bigint[])) AND {scope} ORDER BY p.id"""),
        {"ids": wanted, **params},
    ).mappings()
    return [dict(r) for r in rows]


def outlines_wkb(session: Session, ids: Sequence[str], *, viewer: Principal | None = None) -> list[tuple[str, bytes]]:
    """(id as text, outline as WKB) of these patches within ``viewer``'s provinces: for the static map of the
    evidence pack."""
    wanted = [i for i in map(str, ids) if i.isascii() and i.isdigit() and len(i) < 19]
    if not wanted:
        return []
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(f"""SELECT p.id::text, ST_AsBinary(p.geom) FROM clearing_patches p
                 WHERE p.id = ANY(CAST(:ids AS bigint[])) AND {scope}"""),
        {"ids": wanted, **params},
    ).all()
    return [(r[0], bytes(r[1])) for r in rows]


def patch_features(
    session: Session, ids: Sequence[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON geometry (text, 7 decimals) and the attributes a case's partners need to read a patch, by id
    (as text), for the patches within ``viewer``'s provinces: area in m2, ha and rai, alert dates, sources,
    confidence, fire evidence, verification."""
    wanted = [i for i in map(str, ids) if i.isascii() and i.isdigit() and len(i) < 19]
    if not wanted:
        return {}
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(f"""
        SELECT {_ATTRS}, ST_AsGeoJSON(p.geom, 7) AS geometry
        FROM clearing_patches p WHERE p.id = ANY(CAST(:ids AS bigint[])) AND {scope}"""),
        {"ids": wanted, **params},
    ).mappings()
    out: dict[str, tuple[str | None, dict]] = {}
    for r in rows:
        out[str(r["id"])] = (r["geometry"], feature_properties(r))
    return out


def feature_properties(r: RowMapping | dict) -> dict:
    """A patch's attributes as JSON-ready properties (dates ISO 8601, areas in m2, ha and rai)."""
    return {
        "area_m2": round(float(r["area_m2"]), 1),
        "area_ha": round(float(r["area_m2"]) / M2_PER_HECTARE, 2),
        "area_rai": round(float(r["area_m2"]) / M2_PER_RAI, 2),
        "first_date": r["first_date"].isoformat(),
        "last_date": r["last_date"].isoformat(),
        "sources": list(r["sources"] or []),
        "confidence_max": r["confidence_max"],
        "cleared_by_fire": bool(r["cleared_by_fire"]),
        "fire_evidence": r["fire_evidence"],
        "verification": r["verification"],
        "verified_at": r["verified_at"].isoformat() if isinstance(r["verified_at"], datetime) else None,
        "province_code": r["province_code"],
        "district_code": r["district_code"],
        "subdistrict_code": r["subdistrict_code"],
        "reserve_code": r["reserve_code"],
        "protected_area_codes": list(r["protected_area_codes"] or []),
        "merged_into": r["merged_into"],
    }


_NEAR = f"""
WITH inc AS (
  SELECT i.id, ST_GeomFromEWKB(i.g) AS geom, (i.observed_at AT TIME ZONE 'Asia/Bangkok')::date AS day
  FROM unnest(CAST(:inc_ids AS int[]), CAST(:inc_geoms AS bytea[]), CAST(:inc_times AS timestamptz[]))
       AS i(id, g, observed_at)
), near AS (
  SELECT p.id, d.m, CASE WHEN inc.day BETWEEN p.first_date AND p.last_date THEN 0
                         ELSE least(abs(p.first_date - inc.day), abs(p.last_date - inc.day)) END AS gap,
         inc.id AS incident_id
  FROM inc
  JOIN clearing_patches p ON p.first_date <= inc.day + :days AND p.last_date >= inc.day - :days
                         AND p.geom && ST_Expand(inc.geom, :deg)
                         AND ST_DWithin(p.geom::geography, inc.geom::geography, :distance_m)
  CROSS JOIN LATERAL (SELECT ST_Distance(p.geom::geography, inc.geom::geography) AS m) d
  WHERE p.merged_into IS NULL AND p.verification <> 'false_alarm'  -- a false alarm is no evidence
    AND NOT (p.id::text = ANY(CAST(:skip AS text[]))) AND {{scope}}
), best AS (
  SELECT DISTINCT ON (id) id, m, gap, incident_id FROM near ORDER BY id, m, gap, incident_id
)
SELECT best.m AS distance_m, best.gap AS days_apart, best.incident_id, {_ATTRS}
FROM best JOIN clearing_patches p ON p.id = best.id
"""


def near_incidents(
    session: Session,
    incidents: Sequence[tuple[int, bytes, datetime]],
    *,
    distance_m: float,
    days: int,
    skip: Sequence[str] = (),
    viewer: Principal | None = None,
) -> list[dict]:
    """Patches (not merged, not found false alarms in the field) within ``viewer``'s provinces (``scope_sql``)
    within ``distance_m`` of an incident (id, EWKB point, observed_at) whose alert span
    comes within ``days`` of the incident's local day: per patch, the nearest incident, the distance to the
    patch's outline (m, 0 inside it) and the gap in days (0 when the incident's day lies in the alert span)."""
    if not incidents:
        return []
    ids, geoms, times = (list(col) for col in zip(*incidents, strict=True))
    scope, params = scope_sql(viewer)
    params |= {
        "inc_ids": ids,
        "inc_geoms": geoms,
        "inc_times": times,
        "distance_m": distance_m,
        "days": days,
        "skip": list(skip),
        # the farthest north (or south) incident decides the box: it is widest in degrees there
        "deg": degrees_for(distance_m, max(abs(shapely.get_y(shapely.from_wkb(g))) for g in geoms)),
    }
    return [dict(r) for r in session.execute(text(_NEAR.replace("{scope}", scope)), params).mappings()]


def in_protected_areas(
    session: Session,
    codes: Sequence[str],
    start: date,
    end: date,
    *,
    skip: Sequence[str] = (),
    limit: int = 50,
    viewer: Principal | None = None,
) -> list[dict]:
    """Patches (not merged, not found false alarms, within ``viewer``'s provinces: ``scope_sql``) with part of their area inside these protected areas and an alert span meeting
    [start, end]: ``share_inside`` is the share of the patch inside them (the zones' shares summed, capped at 1:
    where two of them overlap, e.g. a park over a reserve, the sum would count the overlap twice), with the codes; largest share of the most
    confident first."""
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(f"""
        WITH z AS (
          SELECT patch_id, least(1.0, sum(share)) AS share_inside, array_agg(zone_code ORDER BY zone_code) AS inside
          FROM clearing_patch_zones
          WHERE zone_type = 'protected_area' AND zone_code = ANY(CAST(:codes AS text[]))
          GROUP BY patch_id
        )
        SELECT z.share_inside, z.inside, {_ATTRS}
        FROM z JOIN clearing_patches p ON p.id = z.patch_id
        WHERE p.merged_into IS NULL AND p.verification <> 'false_alarm' AND p.first_date <= :end
          AND p.last_date >= :start AND NOT (p.id::text = ANY(CAST(:skip AS text[]))) AND {scope}
        ORDER BY p.confidence_max DESC, z.share_inside DESC, p.area_m2 DESC, p.id
        LIMIT :limit"""),
        {"codes": list(codes), "start": start, "end": end, "skip": list(skip), "limit": limit, **params},
    ).mappings()
    return [dict(r) for r in rows]
