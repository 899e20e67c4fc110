"""Hand-built forest-clearing patches, inserted with SQL (the ingest is another module's business): squares of a
known size at a known distance and bearing from an anchor point, with known dates, sources and fire evidence.

Awkward cases on purpose: a patch merged into another (never shown or suggested), a patch in the neighbouring
province Nan (55, tests/provinces.py) that Phrae's people must not see, and a patch whose source and reserve code
are hostile strings (they must reach every page escaped).

Attribution (province, district, subdistrict, reserve) and the protected-area shares are computed here in SQL
from the loaded boundaries, the way the ingest defines them (largest share; protected areas in force on the
first alert date), so the rows look like the ingest's.
"""

from __future__ import annotations

from sqlalchemy import text

HOSTILE_SOURCE = "<img src=x onerror=alert(1)>"
HOSTILE_RESERVE = "</script>`${7*7}`{{7*7}}"

# name: (bearing in degrees, distance in metres from the anchor, half side in metres, first, last, sources,
#        confidence, cleared by fire)
AROUND_ANCHOR = {
    # 100 m x 100 m (1 ha, 6.25 rai) whose western edge is 250 m east of the anchor
    "near": (90, 300, 50, "2024-03-01", "2024-03-10", ["gfw_integrated", "glad_s2"], 4, True),
    # 100 m x 100 m whose eastern edge is 750 m west of the anchor, 38 days before a 2024-03-14 incident
    "far": (270, 800, 50, "2024-02-01", "2024-02-05", ["radd"], 3, False),
    # absorbed by "near" when later alerts joined them: never on a map, never suggested
    "merged": (0, 200, 30, "2024-03-02", "2024-03-04", ["glad_s2"], 3, False),
    # 5 km south, with hostile strings in its source and reserve code
    "hostile": (180, 5000, 40, "2024-03-05", "2024-03-06", ["gfw_integrated", HOSTILE_SOURCE], 2, False),
}
FIRE_EVIDENCE = '{"hotspots": 3, "events": [], "nearest_m": 120.0, "days": [-5, 2]}'


def _square(lon: str, lat: str, bearing: str, dist: str, half: str) -> str:
    """SQL for a square of side 2*half (in the UTM zone of its centre) at a bearing and distance from a point."""
    centre = (
        f"ST_Project(ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)::geography, {dist}, radians({bearing}))::geometry"
    )
    return f"ST_Multi(ST_Transform(ST_Expand(ST_Transform({centre}, utm_srid({centre})), {half}), 4326))"


def _insert(session, ingest_id: int, geom_sql: str, params: dict) -> int:
    return session.execute(
        text(f"""
        INSERT INTO clearing_patches (sources, first_date, last_date, pixels, area_m2, confidence_max,
               pixels_high, cleared_by_fire, fire_evidence, first_ingest_id, last_ingest_id, geom)
        SELECT CAST(:sources AS text[]), CAST(:first AS date), CAST(:last AS date), 100, 0, :conf, 100, :fire,
               CAST(:fire_evidence AS jsonb), :ing, :ing, g
        FROM (SELECT {geom_sql} AS g) q
        RETURNING id"""),
        {**params, "ing": ingest_id},
    ).scalar_one()


def insert_patches(session, anchor_lon: float, anchor_lat: float, nan_point: dict | None = None) -> dict[str, int]:
    """Insert the patches around the anchor, one inside NRF-PR-004 and (with ``nan_point``) one in Nan; returns
    their ids by name. The caller commits."""
    ingest_id = session.execute(
        text("""
        INSERT INTO forest_alert_ingests (source, encoding, file_name, file_sha256, params_key, crs)
        VALUES ('gfw_integrated', 'gfw_integrated', 'hand-built.tif', repeat('0', 64),
                md5(random()::text) || md5(random()::text), 'EPSG:4326')
        RETURNING id""")
    ).scalar_one()
    ids: dict[str, int] = {}
    for name, (bearing, dist, half, first, last, sources, conf, fire) in AROUND_ANCHOR.items():
        ids[name] = _insert(
            session,
            ingest_id,
            _square(":lon", ":lat", ":bearing", ":dist", ":half"),
            {
                "lon": anchor_lon,
                "lat": anchor_lat,
                "bearing": bearing,
                "dist": dist,
                "half": half,
                "sources": sources,
                "first": first,
                "last": last,
                "conf": conf,
                "fire": fire,
                "fire_evidence": FIRE_EVIDENCE if fire else None,
            },
        )
    # 200 m x 200 m (4 ha, 25 rai) around a point inside the reserve NRF-PR-004
    inside = "(SELECT ST_PointOnSurface(geom) FROM latest_protected_areas WHERE code = 'NRF-PR-004')"
    ids["reserve"] = _insert(
        session,
        ingest_id,
        _square(f"ST_X({inside})", f"ST_Y({inside})", "0", "0", "100"),
        {
            "sources": ["glad_l"],
            "first": "2024-01-15",
            "last": "2024-01-20",
            "conf": 2,
            "fire": False,
            "fire_evidence": None,
        },
    )
    if nan_point is not None:
        ids["nan"] = _insert(
            session,
            ingest_id,
            _square(":lon", ":lat", "0", "0", "60"),
            {
                "lon": nan_point["lon"],
                "lat": nan_point["lat"],
                "sources": ["radd"],
                "first": "2024-03-01",
                "last": "2024-03-03",
                "conf": 3,
                "fire": False,
                "fire_evidence": None,
            },
        )
    all_ids = list(ids.values())
    session.execute(
        text("""
        UPDATE clearing_patches p SET
          area_m2 = ST_Area(ST_Transform(p.geom, utm_srid(p.geom))),
          province_code = (SELECT a.code FROM current_admin_areas a WHERE a.level = 'province'
                           AND ST_Intersects(a.geom, ST_PointOnSurface(p.geom)) LIMIT 1),
          district_code = (SELECT a.code FROM current_admin_areas a WHERE a.level = 'district'
                           AND ST_Intersects(a.geom, ST_PointOnSurface(p.geom)) LIMIT 1),
          subdistrict_code = (SELECT a.code FROM current_admin_areas a WHERE a.level = 'subdistrict'
                              AND ST_Intersects(a.geom, ST_PointOnSurface(p.geom)) LIMIT 1)
        WHERE p.id = ANY(:ids)"""),
        {"ids": all_ids},
    )
    session.execute(
        text("""
        INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share)
        SELECT p.id, 'protected_area', a.code,
               ST_Area(ST_Intersection(p.geom, a.geom)::geography),
               least(1.0, ST_Area(ST_Intersection(p.geom, a.geom)::geography) / ST_Area(p.geom::geography))
        FROM clearing_patches p JOIN LATERAL (SELECT DISTINCT ON (code) code, geom FROM protected_areas_on(p.first_date)
                                              ORDER BY code) a ON ST_Intersects(p.geom, a.geom)
        WHERE p.id = ANY(:ids)"""),
        {"ids": all_ids},
    )
    session.execute(
        text("""
        UPDATE clearing_patches p SET reserve_code = z.zone_code, protected_area_codes = z.codes
        FROM (SELECT patch_id, (array_agg(zone_code ORDER BY share DESC))[1] AS zone_code,
                     array_agg(zone_code ORDER BY zone_code) AS codes
              FROM clearing_patch_zones WHERE zone_type = 'protected_area' GROUP BY patch_id) z
        WHERE z.patch_id = p.id AND p.id = ANY(:ids)"""),
        {"ids": all_ids},
    )
    session.execute(
        text("UPDATE clearing_patches SET merged_into = :near WHERE id = :merged"),
        {"near": ids["near"], "merged": ids["merged"]},
    )
    session.execute(
        text("UPDATE clearing_patches SET reserve_code = :r WHERE id = :h"),
        {"r": HOSTILE_RESERVE, "h": ids["hostile"]},
    )
    if "nan" in ids:  # the synthetic Nan has no subdistrict here and may lie outside every loaded layer
        session.execute(
            text("UPDATE clearing_patches SET province_code = coalesce(province_code, '55') WHERE id = :n"),
            {"n": ids["nan"]},
        )
    return ids
