"""Hand-built clearing patches (with their zones) written straight into the tables, for the tests of where forest-loss
alerts show (routes, exports, OGC API, brief). The ingest builds such rows from alert rasters; here every figure is
chosen so that the expected answers can be checked by hand (1 ha = 10,000 m2, 1 rai = 1,600 m2):

| id  | where (district, reserve)                    | first alert | FY (BE) | area m2 | sources             | conf | fire | note |
|-----|----------------------------------------------|-------------|---------|---------|---------------------|------|------|------|
| 101 | 5402 Rong Kwang, NRF-PR-001 (all of it)       | 2024-02-10  | 2567    | 20,000  | gfw_integrated      | 3    | yes  | |
| 102 | 5402 Rong Kwang, 40 % in NRF-PR-001            | 2024-02-20  | 2567    | 28,000  | glad_s2, radd       | 4    | no   | crosses the reserve boundary |
| 103 | 5401 Mueang Phrae, FP-PHAEMUEANGPHI           | 2024-03-05  | 2567    | 8,000   | gfw_integrated      | 2    | no   | another month |
| 104 | 5406 Song, NP-MAEYOM                          | 2024-10-15  | 2568    | 16,000  | gfw_integrated      | 3    | yes  | the next fiscal year |
| 105 | 5402 Rong Kwang, NRF-PR-001                   | 2024-02-12  | 2567    | 5,000   | gfw_integrated      | 3    | no   | absorbed by 101: never counted |
| 106 | 5501 (synthetic Nan, province 55)             | 2024-02-15  | 2567    | 40,000  | gfw_integrated      | 4    | yes  | neighbouring province, outside the area of interest |

No patch has a first alert in fiscal year 2566 (Oct 2022 - Sep 2023) nor in October-December 2023: empty periods.

The writers below serve the other modules' hand-built patches too (``insert_ingest``, ``insert_patch``, ``insert_zoned_patches``).
"""

from __future__ import annotations

import json

from sqlalchemy import text

from geo_service.db.engine import transaction

INGEST = {
    "source": "gfw_integrated",
    "encoding": "gfw_integrated",
    "file_name": "20N_100E.tif",
    "file_sha256": "0" * 64,
    "params_key": "1" * 64,
    "crs": "EPSG:4326",
}

# id: (lon, lat, first, last, area_m2, sources, confidence_max, fire, province, district, reserve, in_aoi, merged_into,
#      zones as (type, code, area_m2))
PATCHES = {
    101: (
        100.3023,
        18.4237,
        "2024-02-10",
        "2024-02-25",
        20_000.0,
        ["gfw_integrated"],
        3,
        True,
        "54",
        "5402",
        "NRF-PR-001",
        True,
        None,
        [("province", "54", 20_000.0), ("district", "5402", 20_000.0), ("protected_area", "NRF-PR-001", 20_000.0)],
    ),
    102: (
        100.3100,
        18.4300,
        "2024-02-20",
        "2024-03-02",
        28_000.0,
        ["glad_s2", "radd"],
        4,
        False,
        "54",
        "5402",
        "NRF-PR-001",
        True,
        None,
        [("province", "54", 28_000.0), ("district", "5402", 28_000.0), ("protected_area", "NRF-PR-001", 11_200.0)],
    ),
    103: (
        100.2449,
        18.1797,
        "2024-03-05",
        "2024-03-05",
        8_000.0,
        ["gfw_integrated"],
        2,
        False,
        "54",
        "5401",
        "FP-PHAEMUEANGPHI",
        True,
        None,
        [("province", "54", 8_000.0), ("district", "5401", 8_000.0), ("protected_area", "FP-PHAEMUEANGPHI", 8_000.0)],
    ),
    104: (
        100.3356,
        18.5078,
        "2024-10-15",
        "2024-10-20",
        16_000.0,
        ["gfw_integrated"],
        3,
        True,
        "54",
        "5406",
        "NP-MAEYOM",
        True,
        None,
        [("province", "54", 16_000.0), ("district", "5406", 16_000.0), ("protected_area", "NP-MAEYOM", 16_000.0)],
    ),
    105: (
        100.3030,
        18.4240,
        "2024-02-12",
        "2024-02-14",
        5_000.0,
        ["gfw_integrated"],
        3,
        False,
        "54",
        "5402",
        "NRF-PR-001",
        True,
        101,
        [("province", "54", 5_000.0), ("district", "5402", 5_000.0), ("protected_area", "NRF-PR-001", 5_000.0)],
    ),
    106: (
        100.7500,
        18.6000,
        "2024-02-15",
        "2024-02-28",
        40_000.0,
        ["gfw_integrated"],
        4,
        True,
        "55",
        "5501",
        None,
        False,
        None,
        [("province", "55", 40_000.0), ("district", "5501", 40_000.0)],
    ),
}
HALF = 0.0007  # half the side of each patch's square, degrees (about 150 m by 155 m)


def insert_ingest(
    session,
    *,
    params_key: str,
    source: str = "gfw_integrated",
    encoding: str = "gfw_integrated",
    file_name: str = "x.tif",
    file_sha256: str = "0" * 64,
    crs: str = "EPSG:4326",
) -> int:
    """One row of ``forest_alert_ingests`` (the ingest the hand-built patches name as theirs); its id."""
    return session.execute(
        text(
            "INSERT INTO forest_alert_ingests (source, encoding, file_name, file_sha256, params_key, crs) "
            "VALUES (:source, :encoding, :file_name, :file_sha256, :params_key, :crs) RETURNING id"
        ),
        {
            "source": source,
            "encoding": encoding,
            "file_name": file_name,
            "file_sha256": file_sha256,
            "params_key": params_key,
            "crs": crs,
        },
    ).scalar_one()


def insert_patch(
    session,
    ingest_id: int,
    pid: int,
    envelope: tuple[float, float, float, float],
    *,
    first: str,
    last: str,
    m2: float,
    sources: list[str],
    conf: int,
    pixels_by_class: tuple[int, int, int],
    prov: str | None,
    dist: str | None,
    zones,
    res: str | None = None,
    in_aoi: bool = True,
    fire: bool = False,
    evidence: str | None = None,
    merged: int | None = None,
) -> None:
    """One clearing patch ``pid`` of ingest ``ingest_id``: the box ``envelope`` (west, south, east, north, degrees)
    of ``m2`` square metres in 10 m pixels, ``pixels_by_class`` as (low, high, highest); its province, district and
    reserve of the largest share; ``zones`` as (type, code, area m2), written with their shares (its protected-area
    codes are those of its protected_area zones); ``evidence`` the fire evidence as JSON text."""
    x0, y0, x1, y1 = envelope
    low, high, highest = pixels_by_class
    session.execute(
        text(
            """INSERT INTO clearing_patches (id, sources, first_date, last_date, pixels, area_m2, confidence_max,
                   pixels_low, pixels_high, pixels_highest, province_code, district_code, reserve_code,
                   protected_area_codes, in_aoi, cleared_by_fire, fire_evidence, merged_into,
                   first_ingest_id, last_ingest_id, geom)
               VALUES (:id, :sources, :first, :last, :pixels, :m2, :conf, :low, :high, :highest, :prov, :dist,
                   :res, :pas, :in_aoi, :fire, CAST(:evidence AS jsonb), :merged, :ingest, :ingest,
                   ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)))"""
        ),
        {
            "id": pid,
            "sources": sources,
            "first": first,
            "last": last,
            "pixels": int(m2 // 100),
            "m2": m2,
            "conf": conf,
            "low": low,
            "high": high,
            "highest": highest,
            "prov": prov,
            "dist": dist,
            "res": res,
            "pas": [code for zone_type, code, _ in zones if zone_type == "protected_area"],
            "in_aoi": in_aoi,
            "fire": fire,
            "evidence": evidence,
            "merged": merged,
            "ingest": ingest_id,
            "x0": x0,
            "y0": y0,
            "x1": x1,
            "y1": y1,
        },
    )
    for zone_type, code, zone_m2 in zones:
        session.execute(
            text(
                "INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share) "
                "VALUES (:p, :t, :c, :a, :s)"
            ),
            {"p": pid, "t": zone_type, "c": code, "a": zone_m2, "s": zone_m2 / m2},
        )


def insert_zoned_patches(factory, patches: dict[int, tuple], params_key: str) -> None:
    """Write an ingest (``params_key``), ``patches`` and their zones in one transaction: for the figures by share.

    ``patches``: id -> (envelope (west, south, east, north) in degrees, first alert, last alert, area m2, sources,
    confidence class, province and district of the largest share, zones as (type, code, area m2)). Every pixel
    (100 m2) is of the patch's class; in the area of interest, not cleared by fire (the zones, written by hand as
    the ingest's attribution would, are what the figures count)."""
    with transaction(factory) as session:
        ingest_id = insert_ingest(session, params_key=params_key)
        for pid, (envelope, first, last, m2, sources, conf, prov, dist, zones) in patches.items():
            pixels = int(m2 // 100)
            insert_patch(
                session,
                ingest_id,
                pid,
                envelope,
                first=first,
                last=last,
                m2=m2,
                sources=sources,
                conf=conf,
                pixels_by_class=tuple(pixels if conf == k else 0 for k in (2, 3, 4)),
                prov=prov,
                dist=dist,
                zones=zones,
            )


def insert_patches(factory) -> dict[int, dict]:
    """Write the ingest, the patches and their zones (one transaction); the patches by id as written."""
    with transaction(factory) as session:
        ingest_id = insert_ingest(session, **INGEST)
        for pid, (
            lon,
            lat,
            first,
            last,
            m2,
            sources,
            conf,
            fire,
            prov,
            dist,
            res,
            in_aoi,
            merged,
            zones,
        ) in PATCHES.items():
            pixels = int(m2 // 100)  # 10 m pixels
            low, high, highest = (pixels, 0, 0) if conf == 2 else (pixels // 2, pixels - pixels // 2, 0)
            if conf == 4:
                low, high, highest = 0, pixels // 4, pixels - pixels // 4
            insert_patch(
                session,
                ingest_id,
                pid,
                (lon - HALF, lat - HALF, lon + HALF, lat + HALF),
                first=first,
                last=last,
                m2=m2,
                sources=sources,
                conf=conf,
                pixels_by_class=(low, high, highest),
                prov=prov,
                dist=dist,
                zones=zones,
                res=res,
                in_aoi=in_aoi,
                fire=fire,
                evidence=json.dumps({"hotspots": 3, "nearest_m": 120.0}) if fire else None,
                merged=merged,
            )
    return {pid: {"first_date": row[2], "area_m2": row[4]} for pid, row in PATCHES.items()}
