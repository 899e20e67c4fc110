"""Evidence suggestions for a case: synthetic FIRMS hotspots placed around real Phrae places."""

from __future__ import annotations

import math
import re

import geopandas as gpd
from pyproj import Geod

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

GEOD = Geod(ellps="WGS84")
HEADER = "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_ti5,frp,daynight"


def offset(lat, lon, metres, bearing=45):
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, metres)
    return round(lat2, 5), round(lon2, 5)


def row(lat, lon, day, hhmm, conf="n", frp=5.0):
    return f"{lat},{lon},330.0,0.4,0.4,{day},{hhmm},N,VIIRS,{conf},2.0NRT,290.0,{frp},D"


def test_suggestions_rank_hotspots_and_events_near_incidents_and_in_reserves(
    client, login, admin_headers, sessionmaker_for, db_url
):
    from sqlalchemy import text

    officer = login("officer", "field_officer")
    lead = login("lead", "investigator")
    den_chai = (
        gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson")
        .set_index("amp_code")
        .geometry["5405"]
        .representative_point()
    )
    lat, lon = round(den_chai.y, 5), round(den_chai.x, 5)
    inc = client.post(
        "/api/v1/incidents",
        headers=officer,
        json={"kind": "burning", "location": {"lat": lat, "lon": lon}, "observed_at": "2024-03-14T10:00:00+07:00"},
    ).json()
    with sessionmaker_for(db_url)() as s:
        r_lat, r_lon = s.execute(
            text(
                "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(geom) p "
                "FROM protected_areas WHERE code = 'NRF-PR-004') q"
            )
        ).one()
    near = offset(lat, lon, 300)
    nearish = offset(lat, lon, 800, bearing=200)
    too_far = offset(lat, lon, 3000)
    too_late = offset(lat, lon, 200, bearing=90)
    in_reserve = (round(r_lat, 5), round(r_lon, 5))
    csv = (
        "\n".join(
            [
                HEADER,
                row(*near, "2024-03-14", "0630", conf="h", frp=20),  # 13:30 local, 300 m
                row(*nearish, "2024-03-13", "0615"),  # a day earlier, 800 m
                row(*too_far, "2024-03-14", "0630"),  # 3 km: not suggested
                row(*too_late, "2024-03-25", "0630"),  # 11 days later: not suggested
                row(*in_reserve, "2024-02-20", "0700", conf="h", frp=40),  # inside the linked reserve
            ]
        )
        + "\n"
    )
    up = client.post(
        "/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("viirs.csv", csv.encode(), "text/csv")}
    )
    assert up.status_code == 201, up.text
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={
            "title": "Burning paid as firebreak work",
            "category": "budget_misuse",
            "received_on": "2024-04-01",
            "period_from": "2024-01-01",
            "period_to": "2024-03-31",
        },
    ).json()
    cid = case["id"]
    for target_type, target_id in (("incident", str(inc["id"])), ("protected_area", "NRF-PR-004")):
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=lead,
            json={"target_type": target_type, "target_id": target_id, "reason": "evidence"},
        )
        assert r.status_code == 201, r.text

    r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=lead)
    assert r.status_code == 200, r.text
    sugg = r.json()["suggestions"]
    hotspots = [s for s in sugg if s["target_type"] == "hotspot"]
    near_ones = [s for s in hotspots if s["incident_id"] == inc["id"]]
    assert [round(s["distance_m"], -2) for s in near_ones] == [300, 800]  # ranked: nearest first
    assert near_ones[0]["score"] > near_ones[1]["score"]
    assert all(s["distance_m"] <= 1000 and s["days_apart"] <= 3 for s in near_ones)
    assert "m from INC-" in near_ones[0]["reason"]
    reserve = [s for s in hotspots if s["incident_id"] is None]
    assert len(reserve) == 1 and "NRF-PR-004" in reserve[0]["reason"]
    # Thai reasons too: the same distance, the day in Buddhist Era (Asia/Bangkok)
    d = round(near_ones[0]["distance_m"])
    assert near_ones[0]["reason_th"].startswith("จุดความร้อน ห่าง INC-") and f"{d} ม." in near_ones[0]["reason_th"]
    assert "วัน" in near_ones[0]["reason_th"]
    assert reserve[0]["reason_th"].startswith("จุดความร้อนอยู่ใน NRF-PR-004 วันที่ ")
    assert re.search(r"\d{1,2}/\d{1,2}/25\d\d$", reserve[0]["reason_th"])
    assert len(hotspots) == 3  # the 3 km and the 11-days-later detections are not suggested
    events = [s for s in sugg if s["target_type"] == "fire_event"]
    assert events and events[0]["distance_m"] < 1000
    assert events[0]["reason_th"].startswith("เหตุไฟ ห่าง INC-")
    assert sugg[0]["target_type"] in ("hotspot", "fire_event") and sugg[0]["score"] >= sugg[-1]["score"]

    # One step: attach the two nearest, and they leave the suggestions.
    batch = [{"target_type": s["target_type"], "target_id": s["target_id"], "reason": s["reason"]} for s in near_ones]
    linked = client.post(f"/api/v1/cases/{cid}/links/batch", headers=lead, json=batch)
    assert linked.status_code == 201 and linked.json()["evidence_counts"]["hotspot"] == 2
    again = client.get(f"/api/v1/cases/{cid}/suggestions", headers=lead).json()["suggestions"]
    assert {(s["target_type"], s["target_id"]) for s in again}.isdisjoint(
        {(s["target_type"], s["target_id"]) for s in near_ones}
    )
    # A wider search finds the 3 km detection; only insiders may ask.
    wide = client.get(f"/api/v1/cases/{cid}/suggestions", headers=lead, params={"distance_m": 5000}).json()
    assert any(math.isclose(s["distance_m"], 3000, rel_tol=0.02) for s in wide["suggestions"])
    other = login("other", "investigator")
    assert client.get(f"/api/v1/cases/{cid}/suggestions", headers=other).status_code == 403

    # The linked evidence as GeoJSON: the incident, the reserve and the two hotspots, each with its link.
    from tests.test_exports import check_rfc7946

    geo = client.get(f"/api/v1/cases/{cid}/evidence.geojson", headers=lead)
    assert geo.status_code == 200 and geo.headers["content-type"] == "application/geo+json"
    fc = geo.json()
    check_rfc7946(fc)
    kinds = sorted(f["properties"]["target_type"] for f in fc["features"])
    assert kinds == ["hotspot", "hotspot", "incident", "protected_area"]
    reserve = next(f for f in fc["features"] if f["properties"]["target_type"] == "protected_area")
    assert reserve["properties"]["illustrative"] is True and reserve["geometry"]["type"] == "MultiPolygon"
    assert client.get(f"/api/v1/cases/{cid}/evidence.geojson", headers=other).status_code == 403


def _reserve_hotspot(s, lon: float, lat: float, province: str, district: str, conf: int, frp: float, code: str) -> str:
    from sqlalchemy import text

    return str(
        s.execute(
            text("""
            INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
              longitude, confidence, confidence_raw, frp, province_code, district_code, batch_id, in_aoi,
              protected_area_codes, geom)
            VALUES ('N', 'VIIRS', 'NRT', '2024-03-04T06:30:00Z', '2024-03-04', :late4, :lone4, :lat, :lon, :conf, 'n',
              :frp, :prov, :dist, 0, true, ARRAY[CAST(:code AS text)], ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
            RETURNING id"""),
            {"late4": round(lat * 1e4), "lone4": round(lon * 1e4), "lat": lat, "lon": lon, "conf": conf, "frp": frp,
             "prov": province, "dist": district, "code": code},
        ).scalar_one()
    )  # fmt: skip


def test_a_provincial_reader_gets_its_provinces_detections_of_a_reserve_across_the_border(
    db_url, sessionmaker_for, client_factory, tmp_path
):
    """A reserve straddling Phrae and (synthetic) Nan whose strongest detections all lie on the Nan side: the
    limit is applied after the province rule, so the Phrae investigator is offered the Phrae detections, the
    national administrator the strongest overall."""
    from shapely.geometry import box

    from geo_service.db.engine import transaction
    from tests.conftest import ADMIN_TOKEN
    from tests.provinces import load_nan, sign_in
    from tests.samples import load_protected_areas, protected_area_file

    code = "NRF-STRADDLE-TEST"
    factory = sessionmaker_for(db_url)
    load_nan(factory)
    # Phrae reaches 100.55 E here (district 5402); synthetic Nan starts at 100.6 E
    outline = box(100.45, 18.3, 100.8, 18.45)
    load_protected_areas(
        factory, protected_area_file(tmp_path / "straddle.geojson", code, "1", "2000-01-01", outline), "straddle", "1"
    )
    with transaction(factory) as s:
        # the Phrae part of the reserve: a point inside both
        from sqlalchemy import text

        p_lon, p_lat = s.execute(
            text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Intersection(a.geom, r.geom)) p
              FROM current_admin_areas a, protected_areas r WHERE a.level = 'province' AND a.code = '54'
              AND r.code = :code) q"""),
            {"code": code},
        ).one()
        # four strong detections on the Nan side, two weaker ones on the Phrae side
        nan = [
            _reserve_hotspot(s, 100.70 + i * 0.01, 18.35, "55", "5501", 3, frp, code)
            for i, frp in enumerate((90.0, 80.0, 70.0, 60.0))
        ]
        phrae = [
            _reserve_hotspot(s, round(p_lon, 5), round(p_lat + d, 5), "54", "5402", 2, frp, code)
            for d, frp in ((0.0, 4.0), (0.0005, 3.0))
        ]
    client = client_factory(db_url, aoi_provinces=["54", "55"])
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    lead = sign_in(client, "straddle_lead", "investigator", ["54"])
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={"title": "Fires across the border", "category": "other", "received_on": "2024-04-01",
              "period_from": "2024-03-01", "period_to": "2024-03-31"},
    )  # fmt: skip
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    r = client.post(
        f"/api/v1/cases/{cid}/links",
        headers=lead,
        json={"target_type": "protected_area", "target_id": code, "reason": "the reserve"},
    )
    assert r.status_code == 201, r.text

    def hotspots(headers) -> list[str]:
        r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=headers, params={"limit": 3})
        assert r.status_code == 200, r.text
        return [s["target_id"] for s in r.json()["suggestions"] if s["target_type"] == "hotspot"]

    assert sorted(hotspots(lead)) == sorted(phrae)  # before the fix: none (the 3 strongest were all in Nan)
    assert sorted(hotspots(admin)) == sorted(nan[:3])  # national: the strongest overall, as before


def test_flag_and_patch_suggestions_of_a_reserve_across_the_border_keep_the_readers_before_the_limit(
    db_url, sessionmaker_for, client_factory
):
    """Red-flag and clearing-patch suggestions (``redflags.store.suggest_flags``, ``forest_loss.evidence.
    in_protected_areas``) ask the reader's provinces in the same statement as their limit: a reserve whose
    strongest flags (high) and most confident patches (class 4) all lie in Nan still offers the Phrae investigator
    Phrae's low flag and class-2 patches. Were the limit taken first (the defect once found in the hotspots), the
    strongest would all be Nan's and the Phrae reader would get nothing: every assertion below would fail."""
    from datetime import date

    from sqlalchemy import text

    from geo_service.auth import Principal, Role
    from geo_service.db.engine import transaction
    from geo_service.forest_loss import evidence as patches
    from geo_service.redflags import store as redflags_store
    from tests.conftest import ADMIN_TOKEN
    from tests.forest_patches import insert_zoned_patches
    from tests.provinces import load_nan, sign_in

    code = "NRF-STRADDLE-FLAGS"  # only a code on the flags and the patch zones: no outline is needed for these
    factory = sessionmaker_for(db_url)
    load_nan(factory)
    nan_patches = {700 + i: ((100.70 + i * 0.01, 18.35, 100.701 + i * 0.01, 18.351), "2024-03-05", "2024-03-06",
                             2_000.0, ["gfw_integrated"], 4, "55", None,
                             [("province", "55", 2_000.0), ("protected_area", code, 2_000.0)]) for i in range(4)}  # fmt: skip
    phrae_patches = {710 + i: ((100.50, 18.40 + i * 0.01, 100.501, 18.401 + i * 0.01), "2024-03-05", "2024-03-06",
                               2_000.0, ["gfw_integrated"], 2, "54", None,
                               [("province", "54", 2_000.0), ("protected_area", code, 1_000.0 * (i + 1))])
                     for i in range(2)}  # fmt: skip
    insert_zoned_patches(factory, {**nan_patches, **phrae_patches}, params_key="7" * 64)
    with transaction(factory) as s:

        def flag(key: str, severity: str, province: str) -> int:
            return s.execute(
                text("""INSERT INTO red_flags (flag_key, rule, severity, subject_type, subject_id, reason_th,
                          reason_en, province_code, reserve_code)
                        VALUES (:k, 'recurrence', :sev, 'reserve_cell', :k, 'ไฟซ้ำ', 'burns again', :prov, :code)
                        RETURNING id"""),
                {"k": key, "sev": severity, "prov": province, "code": code},
            ).scalar_one()

        nan_flags = [flag(f"recurrence:{code}:nan{i}", "high", "55") for i in range(4)]
        phrae_flag = flag(f"recurrence:{code}:phrae", "low", "54")
    phrae = Principal("lead", frozenset({Role.investigator}), provinces=frozenset({"54"}))
    with factory() as s:

        def flags(provinces, limit):
            return [f["id"] for f in redflags_store.suggest_flags(
                s, reserve_codes=[code], district_codes=[], contract_ids=[], parcel_ids=[], skip=[],
                provinces=provinces, limit=limit)]  # fmt: skip

        def patch_ids(viewer, limit):
            rows = patches.in_protected_areas(
                s, [code], date(2024, 3, 1), date(2024, 3, 31), limit=limit, viewer=viewer
            )
            return [r["id"] for r in rows]

        assert flags(frozenset({"54"}), 2) == [phrae_flag]
        assert flags(None, 2) == nan_flags[:2]  # national: the strongest overall (high first, then by id)
        assert patch_ids(phrae, 1) == [711]  # class 2 both: the larger share inside (100 % against 50 %) first
        assert patch_ids(phrae, 3) == [711, 710]
        assert patch_ids(None, 2) == [700, 701]  # national: class 4 first
    # through the route: the reserve is not linked (no outline), so the case starts from the flags' district
    client = client_factory(db_url, aoi_provinces=["54", "55"])
    lead = sign_in(client, "flag_lead", "investigator", ["54"])
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with transaction(factory) as s:
        s.execute(text("UPDATE red_flags SET district_code = '5402' WHERE reserve_code = :c"), {"c": code})
    case = client.post(
        "/api/v1/cases", headers=lead, json={"title": "Flags", "category": "other", "received_on": "2024-04-01"}
    )
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    r = client.post(
        f"/api/v1/cases/{cid}/links",
        headers=lead,
        json={"target_type": "district", "target_id": "5402", "reason": "the district"},
    )
    assert r.status_code == 201, r.text

    def suggested(headers) -> list[str]:
        r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=headers, params={"limit": 1})
        assert r.status_code == 200, r.text
        return [(s["target_type"], s["target_id"]) for s in r.json()["suggestions"]]

    assert suggested(lead) == [("red_flag", str(phrae_flag))]
    assert suggested(admin) == [("red_flag", str(nan_flags[0]))]
