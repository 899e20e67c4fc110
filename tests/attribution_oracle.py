"""The forest-loss store's attribution rules written once more in plain PostGIS: the SQL reference that
tests/test_forest_loss_measure.py and bench/forest_loss_ingest.py compare the in-memory measure
(``forest_loss.measure`` through ``store.insert_patches`` and friends) with, column by column.

This was the store's own code before the figures moved into memory; it lives with the tests so that the service
keeps one path. Patches are inserted bare (``store.insert_patches(measured=False)``: area 0, no attribution), then
:func:`measure_and_attribute_sql` measures them: the area in UTM zone by zone (:func:`utm_area_sql`), the share in
every province, district and subdistrict as they are now and every protected area in force on the first alert date,
the largest-share codes, and ``in_aoi`` (the stored area of interest)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.forest_loss import store
from geo_service.layers import aoi


def utm_area_sql(g: str) -> str:
    """SQL for the area (m2) of geometry expression ``g`` (EPSG:4326) measured in UTM, zone by zone: the part in
    each 6-degree zone in that zone's projection (north or south by the part's own latitude)."""
    zone = "LEAST(60, GREATEST(1, floor((ST_X{0}({1}) + 180) / 6)::int + 1))"
    lo, hi = zone.format("Min", g), zone.format("Max", g)
    hemisphere = f"CASE WHEN ST_Y(ST_PointOnSurface({g})) >= 0 THEN 32600 ELSE 32700 END"
    # most patches lie in one zone: measured whole in it; the others part by part
    return f"""(CASE WHEN {lo} = {hi} THEN ST_Area(ST_Transform({g}, {hemisphere} + {lo}))
             ELSE (SELECT coalesce(sum(ST_Area(ST_Transform(uz_part.part,
                   CASE WHEN ST_Y(ST_PointOnSurface(uz_part.part)) >= 0 THEN 32600 ELSE 32700 END + uz.zn))), 0)
             FROM generate_series({lo}, {hi}) AS uz(zn)
             CROSS JOIN LATERAL (SELECT ST_CollectionExtract(ST_Intersection({g},
                   ST_MakeEnvelope(-180 + 6 * (uz.zn - 1), -90, -180 + 6 * uz.zn, 90, 4326)), 3) AS part) uz_part
             WHERE NOT ST_IsEmpty(uz_part.part)) END)"""


# Zones outermost (for each zone its patches, through the patches' GiST index), so PostGIS prepares each zone's
# geometry once and tests every patch against the prepared one (a patch-by-patch loop re-prepared the district
# polygons for every patch: 53 patches/s instead of thousands). The area inside a zone is the patch's own area when
# the zone covers it, else the UTM area of the intersection, computed once per pair.
ZONES_SQL = f"""
WITH pairs AS MATERIALIZED (
  SELECT p.id, p.area_m2, a.level::text AS zone_type, a.code::text AS code, ST_Covers(a.geom, p.geom) AS inside,
         a.geom AS zgeom, p.geom AS pgeom
  FROM current_admin_areas a
  JOIN clearing_patches p ON p.geom && a.geom AND ST_Intersects(a.geom, p.geom)
  WHERE p.id = ANY(CAST(:ids AS bigint[]))
  UNION ALL
  SELECT p.id, p.area_m2, 'protected_area', pa.code::text, ST_Covers(pa.geom, p.geom), pa.geom, p.geom
  FROM (SELECT DISTINCT first_date FROM clearing_patches WHERE id = ANY(CAST(:ids AS bigint[]))) d
  CROSS JOIN LATERAL protected_areas_on(d.first_date) pa
  JOIN clearing_patches p ON p.first_date = d.first_date AND p.geom && pa.geom AND ST_Intersects(pa.geom, p.geom)
  WHERE p.id = ANY(CAST(:ids AS bigint[]))
), measured AS MATERIALIZED (
  SELECT id, area_m2, zone_type, code, CASE WHEN inside THEN area_m2 ELSE {utm_area_sql("i.ig")} END AS a
  FROM pairs
  -- the intersection computed once per pair (OFFSET 0 keeps the planner from pasting it into every use)
  CROSS JOIN LATERAL (SELECT CASE WHEN NOT inside THEN ST_Intersection(pgeom, zgeom) END AS ig OFFSET 0) i
)
INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share)
SELECT id, zone_type, code, a, LEAST(1.0, a / NULLIF(area_m2, 0)) FROM measured WHERE a > 0
ON CONFLICT (patch_id, zone_type, zone_code) DO UPDATE SET area_m2 = EXCLUDED.area_m2, share = EXCLUDED.share
"""

# The largest-share zone of each type from the zone rows, in one pass over them (per-patch subqueries cost 4 ms a
# patch); the reserve is the largest-share protected area that is a National Reserved Forest on the first date.
ATTRIBUTE_SQL = """
WITH z AS (
  SELECT patch_id,
    (array_agg(zone_code ORDER BY share DESC, zone_code) FILTER (WHERE zone_type = 'province'))[1] AS province,
    (array_agg(zone_code ORDER BY share DESC, zone_code) FILTER (WHERE zone_type = 'district'))[1] AS district,
    (array_agg(zone_code ORDER BY share DESC, zone_code) FILTER (WHERE zone_type = 'subdistrict'))[1] AS subdistrict,
    array_agg(zone_code ORDER BY zone_code) FILTER (WHERE zone_type = 'protected_area') AS protected
  FROM clearing_patch_zones WHERE patch_id = ANY(CAST(:ids AS bigint[])) GROUP BY patch_id
), reserves AS (
  SELECT d.first_date, pa.code::text AS code
  FROM (SELECT DISTINCT first_date FROM clearing_patches WHERE id = ANY(CAST(:ids AS bigint[]))) d
  CROSS JOIN LATERAL protected_areas_on(d.first_date) pa
  WHERE pa.kind::text = 'national_reserved_forest'
), r AS (
  SELECT DISTINCT ON (cz.patch_id) cz.patch_id, cz.zone_code
  FROM clearing_patch_zones cz
  JOIN clearing_patches p ON p.id = cz.patch_id
  JOIN reserves rv ON rv.first_date = p.first_date AND rv.code = cz.zone_code
  WHERE cz.patch_id = ANY(CAST(:ids AS bigint[])) AND cz.zone_type = 'protected_area'
  ORDER BY cz.patch_id, cz.share DESC, cz.zone_code
)
UPDATE clearing_patches p SET province_code = z.province, district_code = z.district,
       subdistrict_code = z.subdistrict, protected_area_codes = z.protected, reserve_code = r.zone_code
FROM unnest(CAST(:ids AS bigint[])) AS u(id)
LEFT JOIN z ON z.patch_id = u.id
LEFT JOIN r ON r.patch_id = u.id
WHERE p.id = u.id
"""


def measure_and_attribute_sql(session: Session, ids: Sequence[int]) -> None:
    """Measure and attribute stored patches (inserted bare) in PostGIS: the answers
    ``store.insert_patches``, ``update_patches``, :func:`measure_and_attribute` and ``reattribute`` must give (10x
    slower and more)."""
    if not ids:
        return
    params = {"ids": list(ids)}
    # area and in_aoi in one UPDATE: each UPDATE writes a new version of every row (and its index entries), which
    # cost as much as the geometry work (profiled on 20,000 patches: the in_aoi UPDATE alone took 1.3 of 4.8 s).
    # in_aoi: the stored area of interest (the geometry in_area_of_interest() tests against), bound once as a
    # constant so PostGIS prepares it once; through the function it cost 5 ms a patch (the polygon fetched and
    # unpacked for every row). (One statement for everything was tried: the zones joined to a CTE of the patches
    # lose the patches' GiST index, 12-20x slower.)
    shape = aoi.geometry_wkb(session)
    session.execute(
        text(
            f"""UPDATE clearing_patches p SET area_m2 = {utm_area_sql("p.geom")},
                    in_aoi = CAST(:aoi AS bytea) IS NOT NULL AND ST_Intersects(ST_GeomFromWKB(:aoi, 4326), p.geom)
                WHERE p.id = ANY(CAST(:ids AS bigint[]))"""
        ),
        {**params, "aoi": shape},
    )
    session.execute(text("DELETE FROM clearing_patch_zones WHERE patch_id = ANY(CAST(:ids AS bigint[]))"), params)
    session.execute(text(ZONES_SQL), params)
    session.execute(text(ATTRIBUTE_SQL), params)


def measure_and_attribute(session: Session, ids: Sequence[int]) -> None:
    """Stored patches measured and attributed again in memory and everything rewritten (areas, every zone, every
    patch and zone row): what the service did after a boundary change before ``store.reattribute`` (the baseline
    of bench/forest_loss_ingest.py's re-attribution) and one more copy the tests compare with the SQL. It was
    ``store.measure_and_attribute``; no production code called it, so it lives here, on the store's public
    functions: the rows read back (``patches_of``, ``patch_fire_inputs``) and written by ``store.update_patches``
    (which also writes back their geometry, counts and fire mark, unchanged, and moves ``updated_at``)."""
    if not ids:
        return
    geometry = {r[0]: r for r in store.patch_fire_inputs(session, ids)}
    by_ingest: dict[int, list[dict]] = defaultdict(list)
    for p in store.patches_of(session, ids):
        _, ewkb, first, last, _, evidence = geometry[int(p["id"])]
        by_ingest[int(p["last_ingest_id"])].append(
            {
                "id": int(p["id"]),
                "wkb": ewkb,
                "first_date": first,
                "last_date": last,
                **{k: p[k] for k in ("pixels", "pixels_low", "pixels_high", "pixels_highest", "confidence_max")},
                "sources": p["sources"],
                "fire_evidence": evidence,
            }
        )
    for ingest_id, rows in by_ingest.items():
        store.update_patches(session, rows, ingest_id)
