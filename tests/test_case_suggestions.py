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
