"""Forest-clearing patches where people work (issue 14): case suggestions ranked with reasons, the evidence pack
and evidence.geojson, the overview and case maps (hostile strings escaped), and the field verification loop
(tasks near and far, outcomes, per-source shares, roles and provinces). Patches are hand-built
(tests/forest_patch_fixtures.py): squares of a known size at a known distance from an incident."""

from __future__ import annotations

import html
import math
import re
from datetime import date
from types import SimpleNamespace

import folium
import geopandas as gpd
import pytest
from sqlalchemy import text

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from geo_service.maps import forest_layers as F
from geo_service.maps.period import Period
from tests.conftest import PASSWORD
from tests.forest_patch_fixtures import HOSTILE_RESERVE, HOSTILE_SOURCE, insert_patches
from tests.provinces import NAN_POINT, load_nan

DEN_CHAI = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index("amp_code")
ANCHOR = DEN_CHAI.geometry["5405"].representative_point()  # inside Den Chai, 2.2 km from the nearest reserve
LON, LAT = round(ANCHOR.x, 5), round(ANCHOR.y, 5)


@pytest.fixture
def world(client, db_url, sessionmaker_for, admin_headers):
    """Nan loaded, the patches inserted, and users of both provinces: (ids, headers by name)."""
    factory = sessionmaker_for(db_url)
    load_nan(factory)
    with factory() as s, s.begin():
        ids = insert_patches(s, LON, LAT, NAN_POINT)

    def user(name, role, provinces):
        body = {"username": name, "password": PASSWORD, "roles": [role], "provinces": provinces}
        assert client.post("/api/v1/admin/users", headers=admin_headers, json=body).status_code == 201
        token = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    people = {
        "admin": admin_headers,
        "lead": user("lead", "investigator", ["54"]),
        "officer": user("officer", "field_officer", ["54"]),
        "committee": user("committee", "committee_member", ["54"]),
        "nan_lead": user("nan_lead", "investigator", ["55"]),
        "nan_officer": user("nan_officer", "field_officer", ["55"]),
    }
    return ids, people, factory


def _case_with_incident(client, people):
    inc = client.post(
        "/api/v1/incidents",
        headers=people["officer"],
        json={
            "kind": "land_clearing",
            "location": {"lat": LAT, "lon": LON},
            "observed_at": "2024-03-14T10:00:00+07:00",
        },
    )
    assert inc.status_code == 201, inc.text
    case = client.post(
        "/api/v1/cases",
        headers=people["lead"],
        json={
            "title": "Reserve cleared for maize",
            "category": "encroachment_permitted",
            "received_on": "2024-04-01",
            "period_from": "2024-01-01",
            "period_to": "2024-03-31",
        },
    )
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    for target_type, target_id in (("incident", str(inc.json()["id"])), ("protected_area", "NRF-PR-004")):
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=people["lead"],
            json={"target_type": target_type, "target_id": target_id, "reason": "evidence"},
        )
        assert r.status_code == 201, r.text
    return inc.json(), cid


def test_suggestions_rank_patches_near_incidents_and_in_reserves_with_reasons(client, world):
    ids, people, _ = world
    inc, cid = _case_with_incident(client, people)
    r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=people["lead"])
    assert r.status_code == 200, r.text
    assert r.json()["patch_days"] == 60
    sugg = [s for s in r.json()["suggestions"] if s["target_type"] == "clearing_patch"]
    # near, far, inside the reserve; never the merged one (200 m away), the 5 km one or Nan's
    assert [s["target_id"] for s in sugg] == [str(ids["near"]), str(ids["far"]), str(ids["reserve"])]
    near, far, reserve = sugg
    # near: 250 m, 4 days from 1-10 Mar, cleared by fire: 1/(1+250/1000)/(1+4/60)*1.25 = 0.9375
    assert math.isclose(near["distance_m"], 250, abs_tol=1.5) and near["days_apart"] == 4
    assert math.isclose(near["score"], 0.9375, abs_tol=0.001)
    assert near["incident_id"] == inc["id"] and near["cleared_by_fire"] is True
    assert math.isclose(near["area_ha"], 1.0, abs_tol=0.01) and math.isclose(near["area_rai"], 6.25, abs_tol=0.05)
    assert near["sources"] == ["gfw_integrated", "glad_s2"] and near["confidence"] == 4
    assert f"250 m from {inc['reference']}" in near["reason"] and "4 days" in near["reason"]
    assert "cleared by fire" in near["reason"] and "GFW integrated + GLAD-S2" in near["reason"]
    assert "ไร่" in near["reason_th"] and "ถูกเผา" in near["reason_th"] and "1/3/2567–10/3/2567" in near["reason_th"]
    # far: 750 m, 38 days after 5 Feb: 1/(1+0.75)/(1+38/60) = 0.3499
    assert math.isclose(far["distance_m"], 750, abs_tol=2) and far["days_apart"] == 38
    assert math.isclose(far["score"], 0.3499, abs_tol=0.001) and "cleared by fire" not in far["reason"]
    # inside NRF-PR-004 (the whole patch), low confidence: 0.25 * 1.0 * 2/4 = 0.125
    assert reserve["incident_id"] is None and math.isclose(reserve["score"], 0.125, abs_tol=0.001)
    assert "100% inside NRF-PR-004" in reserve["reason"] and "อยู่ใน NRF-PR-004 100%" in reserve["reason_th"]
    # a narrower window leaves the far patch out (38 days > 30)
    narrow = client.get(f"/api/v1/cases/{cid}/suggestions", headers=people["lead"], params={"patch_days": 30}).json()
    assert str(ids["far"]) not in {
        s["target_id"] for s in narrow["suggestions"] if s["target_type"] == "clearing_patch"
    }

    # linked as evidence: it leaves the suggestions and enters evidence.geojson, the pack and the case map
    link = client.post(
        f"/api/v1/cases/{cid}/links",
        headers=people["lead"],
        json={"target_type": "clearing_patch", "target_id": str(ids["near"]), "reason": near["reason"]},
    )
    assert link.status_code == 201, link.text
    again = client.get(f"/api/v1/cases/{cid}/suggestions", headers=people["lead"]).json()["suggestions"]
    assert str(ids["near"]) not in {s["target_id"] for s in again if s["target_type"] == "clearing_patch"}

    fc = client.get(f"/api/v1/cases/{cid}/evidence.geojson", headers=people["lead"]).json()
    patch = next(f for f in fc["features"] if f["properties"]["target_type"] == "clearing_patch")
    p = patch["properties"]
    assert patch["id"] == f"clearing_patch:{ids['near']}" and patch["geometry"]["type"] == "MultiPolygon"
    assert math.isclose(p["area_ha"], 1.0, abs_tol=0.01) and math.isclose(p["area_rai"], 6.25, abs_tol=0.05)
    assert (p["first_date"], p["last_date"]) == ("2024-03-01", "2024-03-10")
    assert p["sources"] == ["gfw_integrated", "glad_s2"] and p["cleared_by_fire"] is True
    assert p["fire_evidence"]["hotspots"] == 3 and p["district_code"] == "5405"

    pack = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=people["lead"])
    assert pack.status_code == 200, pack.text
    assert f"#{ids['near']}" in pack.text and "6.25 rai (1.00 ha)" in pack.text
    assert "1/3/2567 – 10/3/2567" in pack.text and "cleared by fire" in pack.text
    assert "Forest-loss alerts: gfw_integrated, glad_s2" in pack.text

    page = client.get(f"/maps/cases/{cid}", headers=people["lead"])
    assert page.status_code == 200
    assert f"clearing patch #{ids['near']}" in page.text and "Linked clearing patches" in page.text

    # the hostile patch linked too: its strings reach the pack and the case map escaped, never evaluated
    hostile = {"target_type": "clearing_patch", "target_id": str(ids["hostile"]), "reason": "<i>why</i>"}
    assert client.post(f"/api/v1/cases/{cid}/links", headers=people["lead"], json=hostile).status_code == 201
    pack = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=people["lead"]).text
    assert HOSTILE_SOURCE not in pack and html.escape(HOSTILE_SOURCE) in pack
    assert html.escape(HOSTILE_RESERVE) in pack  # braces shown as typed: the template does not run them
    page = client.get(f"/maps/cases/{cid}", headers=people["lead"])
    assert page.status_code == 200
    body = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page.text)
    assert HOSTILE_SOURCE not in body and HOSTILE_RESERVE not in body and "{{7*7}}" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_maps_show_patches_escaped_scoped_and_never_merged(client, world):
    ids, people, _ = world
    period = {"from": "2024-01-01", "to": "2024-03-31"}
    page = client.get("/maps/overview", headers=people["admin"], params=period)
    assert page.status_code == 200, page.text
    # folium writes the layer's data as JSON with \u escapes: read it as the browser's JavaScript will
    body = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page.text)
    for name in ("near", "far", "reserve", "hostile", "nan"):
        assert f"clearing patch #{ids[name]}" in body, name
    assert f"clearing patch #{ids['merged']}" not in body
    # hostile strings: only escaped, never raw (no tag, no template literal, no server-side template)
    assert HOSTILE_SOURCE not in body and "<img src=x" not in body
    assert html.escape(HOSTILE_SOURCE) in body
    assert HOSTILE_RESERVE not in body and "{{7*7}}" not in body
    assert "&lt;&#47;script&gt;&#96;&#36;&#123;7*7&#125;&#96;&#123;&#123;7*7&#125;&#125;" in body
    # legend: Thai and English, units, BE dates in the labels
    assert "แปลงแผ้วถางป่า" in body and "forest-clearing patches" in body and "1 มี.ค. 2567" in body
    # Phrae's committee member: Phrae's patches, not Nan's
    phrae = client.get("/maps/overview", headers=people["committee"], params=period).text
    assert f"clearing patch #{ids['near']}" in phrae and f"clearing patch #{ids['nan']}" not in phrae
    # a period without patches: no layer, no legend lines
    empty = client.get("/maps/overview", headers=people["admin"], params={"from": "2023-01-01", "to": "2023-01-31"})
    assert empty.status_code == 200 and "clearing patch #" not in empty.text


def test_field_loop_tasks_near_and_far_outcomes_and_shares(client, world):
    ids, people, factory = world
    lead, officer = people["lead"], people["officer"]
    url = "/api/v1/forest-loss/patches/{}/tasks"
    r = client.post(url.format(ids["near"]), headers=lead, json={"note": "check the maize field"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["status"] == "open" and task["patch_id"] == ids["near"]
    assert task["title_th"].startswith("ตรวจสอบการแผ้วถางป่าที่") and "อ.เด่นชัย" in task["title_th"]
    assert task["title_en"].startswith("Verify clearing at") and "Den Chai" in task["title_en"]
    # one open task per patch; a merged patch is refused with the patch to send instead; roles; provinces
    again = client.post(url.format(ids["near"]), headers=lead, json={})
    assert again.status_code == 409 and f"task {task['id']}" in again.json()["error"]["message"]
    merged = client.post(url.format(ids["merged"]), headers=lead, json={})
    assert merged.status_code in (400, 422) and f"patch {ids['near']}" in merged.json()["error"]["message"]
    assert client.post(url.format(ids["far"]), headers=officer, json={}).status_code == 403
    assert client.post(url.format(ids["nan"]), headers=lead, json={}).status_code == 404
    assert client.post(url.format(999999), headers=lead, json={}).status_code == 404
    for name in ("far", "reserve"):
        assert client.post(url.format(ids[name]), headers=lead, json={}).status_code == 201
    nan_task = client.post(url.format(ids["nan"]), headers=people["nan_lead"], json={})
    assert nan_task.status_code == 201, nan_task.text

    def near(headers, lon, lat, radius):
        r = client.get(
            "/api/v1/forest-loss/tasks", headers=headers, params={"near": f"{lon},{lat}", "radius_m": radius}
        )
        assert r.status_code == 200, r.text
        return r.json()["tasks"]

    found = near(officer, LON, LAT, 1000)  # near at 250 m and far at 750 m, nearest first
    assert [t["patch_id"] for t in found] == [ids["near"], ids["far"]]
    assert math.isclose(found[0]["distance_m"], 250, abs_tol=1.5)
    assert found[0]["outline"]["type"] == "MultiPolygon" and found[0]["patch"]["cleared_by_fire"] is True
    assert [t["patch_id"] for t in near(officer, LON, LAT, 500)] == [ids["near"]]
    assert near(officer, LON, LAT, 100) == []  # nothing within 100 m
    assert near(officer, NAN_POINT["lon"], NAN_POINT["lat"], 5000) == []  # Nan's task is not Phrae's
    assert [t["patch_id"] for t in near(people["nan_officer"], NAN_POINT["lon"], NAN_POINT["lat"], 5000)] == [
        ids["nan"]
    ]
    bad = client.get("/api/v1/forest-loss/tasks", headers=officer, params={"near": "abc", "radius_m": 10})
    assert bad.status_code == 400 and "longitude,latitude" in bad.json()["error"]["message"]
    assert (
        client.get("/api/v1/forest-loss/tasks", headers=people["committee"], params={"near": "100,18"}).status_code
        == 403
    )

    # the officer logs the incident there, then the outcome with its number: the incident links back
    inc = client.post(
        "/api/v1/incidents",
        headers=officer,
        json={"kind": "land_clearing", "location": {"lat": found[0]["lat"], "lon": found[0]["lon"]}},
    ).json()
    out_url = f"/api/v1/forest-loss/tasks/{task['id']}/outcome"
    missing = client.post(out_url, headers=officer, json={"outcome": "verified", "incident_id": 999999})
    assert missing.status_code == 400 and "log the incident first" in missing.json()["error"]["message"]
    assert client.post(out_url, headers=officer, json={"outcome": "maybe"}).status_code == 422
    done = client.post(
        out_url, headers=officer, json={"outcome": "verified", "note": "maize", "incident_id": inc["id"]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done" and done.json()["incident_id"] == inc["id"]
    assert done.json()["patch"]["verification"] == "verified" and done.json()["done_by"] == "officer"
    assert client.post(out_url, headers=officer, json={"outcome": "false_alarm"}).status_code == 409
    assert [t["patch_id"] for t in near(officer, LON, LAT, 1000)] == [ids["far"]]  # done tasks leave the list
    with factory() as s:
        audit = s.execute(
            text(
                "SELECT actor, before, after FROM audit_log WHERE action = 'verify' AND entity_type = 'clearing_patch'"
            )
        ).all()
    assert len(audit) == 1 and audit[0].actor == "officer"
    assert audit[0].before == {"verification": "unverified"} and audit[0].after["incident_id"] == inc["id"]

    far_task, reserve_task = found[1]["id"], None
    for t in near(officer, LON, LAT, 1000):
        assert t["id"] == far_task
    assert (
        client.post(
            f"/api/v1/forest-loss/tasks/{far_task}/outcome", headers=officer, json={"outcome": "false_alarm"}
        ).status_code
        == 200
    )
    with factory() as s:
        reserve_task = s.execute(text("SELECT id FROM field_tasks WHERE patch_id = :p"), {"p": ids["reserve"]}).scalar()
    r = client.post(
        f"/api/v1/forest-loss/tasks/{reserve_task}/outcome", headers=lead, json={"outcome": "already_known"}
    )
    assert r.status_code == 200, r.text

    shares = client.get("/api/v1/forest-loss/verification", headers=people["admin"]).json()["sources"]
    by = {s["source"]: s for s in shares}
    # gfw_integrated: near (verified) + hostile (unchecked); the merged patch counts nowhere
    assert (by["gfw_integrated"]["patches"], by["gfw_integrated"]["checked"]) == (2, 1)
    assert by["gfw_integrated"]["verified_share"] == 1.0
    assert (by["glad_s2"]["patches"], by["glad_s2"]["verified"]) == (1, 1)
    assert (by["radd"]["patches"], by["radd"]["false_alarm"], by["radd"]["false_alarm_share"]) == (2, 1, 1.0)
    assert by["glad_l"]["already_known_share"] == 1.0 and by[HOSTILE_SOURCE]["checked"] == 0
    assert by[HOSTILE_SOURCE]["verified_share"] is None
    phrae = {s["source"]: s for s in client.get("/api/v1/forest-loss/verification", headers=lead).json()["sources"]}
    assert phrae["radd"]["patches"] == 1  # Nan's patch is not Phrae's
    assert client.get("/api/v1/forest-loss/verification", headers=people["committee"]).status_code == 200
    assert client.get("/api/v1/forest-loss/verification", headers=officer).status_code == 403
    assert client.get("/api/v1/forest-loss/verification").status_code == 401

    # the incident the visit produced names its patch in a case's evidence pack
    case = client.post(
        "/api/v1/cases", headers=lead, json={"title": "Maize in the reserve", "category": "other"}
    ).json()
    link = {"target_type": "incident", "target_id": str(inc["id"]), "reason": "field check"}
    assert client.post(f"/api/v1/cases/{case['id']}/links", headers=lead, json=link).status_code == 201
    pack = client.get(f"/api/v1/cases/{case['id']}/evidence-pack", headers=lead)
    assert pack.status_code == 200 and f"field check of patch #{ids['near']}" in pack.text


def test_many_patches_switch_to_vector_tiles_once_the_collection_publishes_them(world, monkeypatch):
    """Above ``tiles_above`` patches the overview draws them from the OGC tiles of ``clearing_patches``, but only
    when that collection exists with tile properties; otherwise it embeds them (the largest first)."""
    _ids, _people, factory = world
    period = Period(date(2024, 1, 1), date(2024, 3, 31))
    with factory() as s:
        with monkeypatch.context() as m:
            m.delitem(F.COLLECTIONS, F.TILE_COLLECTION)
            layer, n, tiled = F.layer_for(s, period, None, tiles_above=2)
            assert isinstance(layer, folium.GeoJson) and (n, tiled) == (5, False)  # no such collection: embedded
            fake = SimpleNamespace(tile_properties=(), datetime="last_date")
            m.setitem(F.COLLECTIONS, F.TILE_COLLECTION, fake)
            layer, n, tiled = F.layer_for(s, period, None, tiles_above=2)
            assert isinstance(layer, folium.GeoJson) and (n, tiled) == (5, False)  # a collection without tiles
        layer, n, tiled = F.layer_for(s, period, None, tiles_above=2)  # the real clearing_patches collection
        assert isinstance(layer, F.PatchTiles) and (n, tiled) == (5, True)  # merged one not counted
        assert layer.url_json.startswith('"\\/ogc\\/collections\\/clearing_patches\\/tiles\\/WebMercatorQuad')
        assert "datetime=2024-01-01T00:00:00+07:00" in layer.url_json
        _small, n, tiled = F.layer_for(s, period, None, tiles_above=10)
        assert (n, tiled) == (5, False)


def test_bad_input_is_a_4xx_and_writes_nothing(client, world):
    ids, people, factory = world
    lead, officer = people["lead"], people["officer"]
    with factory() as s:
        before = s.execute(text("SELECT count(*) FROM field_tasks")).scalar_one()
    big = client.post(f"/api/v1/forest-loss/patches/{2**63}/tasks", headers=lead, json={})
    assert 400 <= big.status_code < 500 and "Traceback" not in big.text
    nul = client.post(f"/api/v1/forest-loss/patches/{ids['near']}/tasks", headers=lead, json={"note": "a\x00b"})
    assert nul.status_code == 400, nul.text
    extra = client.post(f"/api/v1/forest-loss/patches/{ids['near']}/tasks", headers=lead, json={"colour": "red"})
    assert extra.status_code == 422
    for near in ("nan,nan", "1e400,18", "100.1", "18.2,100.1,5", "ร้อย,สิบแปด"):
        r = client.get("/api/v1/forest-loss/tasks", headers=officer, params={"near": near})
        assert r.status_code == 400, (near, r.text)
        assert "longitude,latitude" in r.json()["error"]["message"]
    far = client.get("/api/v1/forest-loss/tasks", headers=officer, params={"near": "100,18", "radius_m": 60_000})
    assert far.status_code == 422
    big_task = client.post(f"/api/v1/forest-loss/tasks/{2**63}/outcome", headers=officer, json={"outcome": "verified"})
    assert 400 <= big_task.status_code < 500
    with factory() as s:
        assert s.execute(text("SELECT count(*) FROM field_tasks")).scalar_one() == before
        assert s.execute(text("SELECT count(*) FROM clearing_patches WHERE verification <> 'unverified'")).scalar() == 0
