"""A case's linked red flags, contracts and parcels in ``evidence.geojson`` (cases.evidence_geojson, readers in
redflags.store): the Phrae investigator of a case that also links synthetic Nan's records (linked by the national
administrator) gets Phrae's as features with what a GIS user reads, Nan's not (counted as hidden); the text fields
loaded from files come back exactly as loaded, hostile or not; a flag without a shape is a feature with a null
geometry.

| record    | Phrae (54): 0.004 x 0.004 deg square at 100.30 E 18.20 N     | Nan (55): the same at 100.75 E 18.60 N |
|-----------|---------------------------------------------------------------|----------------------------------------|
| contract  | EV-RF-PR, hostile project / agency / contractor, 2567 BE     | EV-RF-NAN                              |
| parcel    | น.ส. 3 ก., hostile number and office, issued 01/06/2562 (BE) | chanote NAN-DOC-55                      |
| red flag  | outside_named_area of the contract (it names district 9999)  | the same of EV-RF-NAN                  |
| red flag  | a recurrence flag of Phrae with no shape (written directly)  |                                        |
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import Polygon, shape
from sqlalchemy import text

from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan, sign_in

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HOSTILE = {
    "project_name": '<script>alert("x")</script> แนวกันไฟ {{7*7}}',
    "agency": "'; DROP TABLE redflag_contracts; -- กรมป่าไม้",
    "contractor": 'Evil "Co." <img src=x onerror=alert(1)> \u202eLtd',  # loaded text is stripped of surrounding space
}
HOSTILE_DOC = "<b>42</b>\"'&amp;\\u0000"
HOSTILE_OFFICE = "สำนักงานที่ดิน </script><script>alert(2)</script>"
D = 0.002  # half the squares' side, degrees


def _ring(point: dict) -> list[list[float]]:
    lon, lat = point["lon"], point["lat"]
    return [[lon - D, lat - D], [lon + D, lat - D], [lon + D, lat + D], [lon - D, lat + D], [lon - D, lat - D]]


def _upload(client, what: str, features: list[dict]) -> None:
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    r = client.post(
        f"/api/v1/admin/redflags/{what}",
        headers=ADMIN,
        files={"file": (f"{what}.geojson", body, "application/geo+json")},
    )
    assert r.status_code == 201, r.text


def _feature(point: dict, props: dict) -> dict:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring(point)]}, "properties": props}


@pytest.fixture(scope="module")
def world(pg_cluster, template_db, tmp_path_factory):
    """The case (links of both provinces), the people, and the ids of the records."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template_db)
    url = pg_cluster.url(name)
    engine = make_engine(url, pool_size=2)
    factory = make_sessionmaker(engine)
    load_nan(factory)
    from geo_service.main import create_app

    settings = make_settings(url, tmp_path_factory.mktemp("evrf"), aoi_provinces=["54", "55"])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        phrae = sign_in(client, "evrf_phrae_inv", "investigator", ["54"])
        base = {"work_type": "firebreak", "fiscal_year_be": 2567, "named_district_code": "9999",
                "budget_thb": 1234567.5, "paid_thb": 1000000, "start_date": "2024-01-15", "end_date": "2024-05-31"}  # fmt: skip
        _upload(
            client,
            "contracts",
            [
                _feature(PHRAE_POINT, {**base, **HOSTILE, "contract_number": "EV-RF-PR"}),
                _feature(NAN_POINT, {**base, "contract_number": "EV-RF-NAN", "project_name": "Nan firebreak",
                                     "agency": "RFD Nan", "contractor": "Nan Co."}),
            ],
        )  # fmt: skip
        _upload(
            client,
            "parcels",
            [
                _feature(PHRAE_POINT, {"doc_type": "น.ส. 3 ก.", "doc_number": HOSTILE_DOC, "issue_date": "01/06/2562",
                                       "issuing_office": HOSTILE_OFFICE}),
                _feature(NAN_POINT, {"doc_type": "chanote", "doc_number": "NAN-DOC-55", "issue_date": "2020-01-01"}),
            ],
        )  # fmt: skip
        contracts = {
            c["contract_number"]: c["id"]
            for c in client.get("/api/v1/redflags/contracts", headers=ADMIN, params={"limit": 500}).json()["items"]
        }
        parcels = {
            p["doc_number"]: p["id"]
            for p in client.get("/api/v1/redflags/parcels", headers=ADMIN, params={"limit": 500}).json()["items"]
        }
        flags = client.get(
            "/api/v1/redflags/flags", headers=ADMIN, params={"rule": "outside_named_area", "limit": 500}
        ).json()["items"]
        flag_of = {f["contract_ids"][0]: f["id"] for f in flags if len(f["contract_ids"]) == 1}
        with transaction(factory) as s:
            shapeless = s.execute(
                text("""
                INSERT INTO red_flags (flag_key, rule, severity, subject_type, subject_id, reason_th, reason_en,
                                       province_code, geom)
                VALUES ('recurrence:test-no-shape', 'recurrence', 'low', 'reserve_cell', 'cell-x',
                        'ไม่มีรูปร่าง', 'no shape', '54', NULL)
                RETURNING id""")
            ).scalar_one()
        ids = {
            "54": {
                "contract": str(contracts["EV-RF-PR"]),
                "parcel": str(parcels[HOSTILE_DOC]),
                "red_flag": str(flag_of[contracts["EV-RF-PR"]]),
            },
            "55": {
                "contract": str(contracts["EV-RF-NAN"]),
                "parcel": str(parcels["NAN-DOC-55"]),
                "red_flag": str(flag_of[contracts["EV-RF-NAN"]]),
            },
            "shapeless": str(shapeless),
        }
        r = client.post(
            "/api/v1/cases",
            headers=phrae,
            json={"title": "Money and land", "category": "procurement", "received_on": "2024-06-10"},
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        mine = [{"target_type": k, "target_id": v, "reason": f"PR {k}"} for k, v in ids["54"].items()]
        mine.append({"target_type": "red_flag", "target_id": ids["shapeless"], "reason": "PR no shape"})
        r = client.post(f"/api/v1/cases/{cid}/links/batch", headers=phrae, json=mine)
        assert r.status_code == 201, r.text
        theirs = [{"target_type": k, "target_id": v, "reason": f"NAN {k}"} for k, v in ids["55"].items()]
        r = client.post(f"/api/v1/cases/{cid}/links/batch", headers=ADMIN, json=theirs)
        assert r.status_code == 201, r.text
        yield client, phrae, cid, ids
    engine.dispose()
    pg_cluster.drop_database(name)


def _collection(client, cid: int, headers: dict) -> tuple[dict, dict[tuple[str, str], dict]]:
    r = client.get(f"/api/v1/cases/{cid}/evidence.geojson", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    return fc, {(f["properties"]["target_type"], f["properties"]["target_id"]): f for f in fc["features"]}


def _square_m2(point: dict) -> float:
    """The square's geodesic area (WGS 84 ellipsoid), as PostGIS's geography measures it."""
    lons, lats = zip(*_ring(point), strict=True)
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)[0])


def test_the_readers_red_flags_contracts_and_parcels_are_features_anothers_are_hidden(world):
    client, phrae, cid, ids = world
    fc, by_key = _collection(client, cid, phrae)
    mine = {k: v for k, v in by_key.items() if k[0] in ("red_flag", "contract", "parcel")}
    expected = {(k, v) for k, v in ids["54"].items()} | {("red_flag", ids["shapeless"])}
    assert set(mine) == expected
    assert fc["evidenceHidden"] == 3  # Nan's flag, contract and parcel
    assert fc["notice"]["en"] == "3 items of evidence outside your province are not shown"
    assert "EV-RF-NAN" not in json.dumps(fc) and "NAN-DOC-55" not in json.dumps(fc)
    # the administrator: both provinces'
    fc, everything = _collection(client, cid, ADMIN)
    assert {(k, v) for p in ("54", "55") for k, v in ids[p].items()} | {("red_flag", ids["shapeless"])} == set(
        everything
    )
    assert fc["evidenceHidden"] == 0 and fc["numberReturned"] == 7


def test_a_contract_feature_is_its_area_with_its_figures_and_text_as_loaded(world):
    client, phrae, cid, ids = world
    _, by_key = _collection(client, cid, phrae)
    f = by_key[("contract", ids["54"]["contract"])]
    p = f["properties"]
    assert f["id"] == f"contract:{ids['54']['contract']}" and p["reason"] == "PR contract"
    for key, value in HOSTILE.items():  # exactly as loaded: JSON carries them as strings, nothing interpreted
        assert p[key] == value, key
    assert (p["contract_number"], p["work_type"], p["work_type_th"], p["work_type_en"]) == (
        "EV-RF-PR", "firebreak", "แนวกันไฟ", "firebreak"
    )  # fmt: skip
    assert (p["budget_thb"], p["paid_thb"], p["fiscal_year_be"]) == (1234567.5, 1000000, 2567)
    assert (p["start_date"], p["end_date"], p["delivery_date"]) == ("2024-01-15", "2024-05-31", None)
    assert (p["named_district_code"], p["province_code"]) == ("9999", "54")
    # by hand: 0.004 deg is 111,320 m x cos(18.2 deg) x 0.004 = 423.0 m east-west and about 442.7 m north-south,
    # so about 187,260 m2 (117.0 rai, 18.73 ha); the ellipsoid's exact figure is the geodesic one
    m2 = _square_m2(PHRAE_POINT)
    assert 187_000 < m2 < 187_600 and p["area_m2"] == pytest.approx(m2, abs=1)
    assert p["area_rai"] == pytest.approx(m2 / 1600, abs=0.01) and p["area_ha"] == pytest.approx(m2 / 10_000, abs=0.01)
    geometry = shape(f["geometry"])
    assert geometry.geom_type in ("Polygon", "MultiPolygon")
    assert geometry.symmetric_difference(Polygon(_ring(PHRAE_POINT))).area < 1e-12  # the square as loaded
    outer = (
        f["geometry"]["coordinates"][0][0]
        if f["geometry"]["type"] == "MultiPolygon"
        else f["geometry"]["coordinates"][0]
    )
    assert Polygon(outer).exterior.is_ccw  # RFC 7946: exterior rings counter-clockwise
    # nothing the other kinds' readers leave out either: no load history, editors or versions
    assert not {"source_layer", "updated_by", "created_by", "version", "quantities"} & set(p)


def test_a_parcel_feature_says_its_document_in_thai_and_english(world):
    client, phrae, cid, ids = world
    _, by_key = _collection(client, cid, phrae)
    f = by_key[("parcel", ids["54"]["parcel"])]
    p = f["properties"]
    assert (p["doc_type"], p["doc_type_th"], p["doc_type_en"]) == ("nor_sor_3_gor", "น.ส. 3 ก.", "Nor Sor 3 Gor")
    assert p["doc_number"] == HOSTILE_DOC and p["issuing_office"] == HOSTILE_OFFICE
    assert p["issue_date"] == "2019-06-01"  # 01/06/2562 BE
    assert p["confidential"] is True and p["province_code"] == "54"
    assert p["area_m2"] == pytest.approx(_square_m2(PHRAE_POINT), abs=1)
    assert shape(f["geometry"]).geom_type == "MultiPolygon"


def test_a_flag_feature_has_its_rule_dates_and_only_the_readers_contracts(world):
    client, phrae, cid, ids = world
    _, by_key = _collection(client, cid, phrae)
    p = by_key[("red_flag", ids["54"]["red_flag"])]["properties"]
    assert (p["rule"], p["rule_th"], p["rule_en"]) == (
        "outside_named_area",
        "พื้นที่สัญญาอยู่นอกพื้นที่ที่ระบุในเอกสาร",
        "Contract area outside the area it names",
    )
    assert (p["status"], p["status_th"], p["status_en"], p["current"]) == ("open", "เปิด", "open", True)
    assert p["severity"] in ("low", "medium", "high") and p["severity_th"] in ("ต่ำ", "ปานกลาง", "สูง")
    assert p["contract_ids"] == [int(ids["54"]["contract"])] and p["parcel_ids"] == []
    assert (p["subject_type"], p["province_code"], p["fiscal_year_be"]) == ("contract", "54", 2567)
    found = [datetime.fromisoformat(p[k]) for k in ("first_found_at", "last_found_at")]
    assert found[0] <= found[1] and found[0].utcoffset() is not None  # ISO 8601 with its offset
    assert "EV-RF-PR" in p["reason_en"] and p["reason_th"]
    # never who dismissed it and why, nor the case it opened or is linked to (another case may be confidential)
    assert not {"dismissed_reason", "dismissed_by", "case_id", "figures", "evidence"} & set(p)
    assert by_key[("red_flag", ids["54"]["red_flag"])]["geometry"] is not None


def test_a_flag_without_a_shape_is_a_feature_with_a_null_geometry(world):
    client, phrae, cid, ids = world
    fc, by_key = _collection(client, cid, phrae)
    f = by_key[("red_flag", ids["shapeless"])]
    assert f["geometry"] is None and f["type"] == "Feature"
    assert (f["properties"]["rule"], f["properties"]["reason_en"]) == ("recurrence", "no shape")
    # the collection's bbox is that of the features with a shape: Phrae's squares (and its other evidence: none)
    west, south, east, north = fc["bbox"]
    assert (west, south, east, north) == pytest.approx(
        (PHRAE_POINT["lon"] - D, PHRAE_POINT["lat"] - D, PHRAE_POINT["lon"] + D, PHRAE_POINT["lat"] + D), abs=1e-7
    )
    # the case map still draws (its flag layer draws the flags with a shape) and escapes what files brought
    page = client.get(f"/maps/cases/{cid}", headers=phrae)
    assert page.status_code == 200, page.text
    assert "<script>alert(" not in page.text and "<img src=x" not in page.text
    assert "onerror=alert(1)" in page.text  # the contractor is on the page, as text


def test_a_flag_across_the_border_lists_only_the_readers_contracts(world):
    """A double payment across the border: a Nan flag (its first contract's province) over a Nan and a Phrae
    contract. Phrae's reader sees the flag (one of its contracts lies in Phrae) but only Phrae's contract id in
    ``contract_ids``; the national reader sees both (the filter, not the fixture, decides)."""
    from geo_service.auth import Principal, Role
    from geo_service.cases.evidence_geojson import FEATURES

    client, _, _, ids = world
    sm = client.app.state.sessionmaker
    nan, phrae = int(ids["55"]["contract"]), int(ids["54"]["contract"])
    with transaction(sm) as s:
        fid = s.execute(
            text("""
            INSERT INTO red_flags (flag_key, rule, severity, subject_type, subject_id, reason_th, reason_en,
                                   province_code, contract_ids)
            VALUES ('double_payment:across', 'double_payment', 'high', 'contract', :nan, 'จ่ายซ้ำ', 'paid twice',
                    '55', CAST(:c AS bigint[])) RETURNING id"""),
            {"nan": str(nan), "c": [nan, phrae]},
        ).scalar_one()
    try:
        reader = Principal("p", frozenset({Role.investigator}), provinces=frozenset({"54"}))
        with sm() as s:
            mine = FEATURES["red_flag"](s, [str(fid)], reader)
            everyone = FEATURES["red_flag"](s, [str(fid)], None)
        assert mine[str(fid)][1]["contract_ids"] == [phrae]
        assert everyone[str(fid)][1]["contract_ids"] == [nan, phrae]
    finally:
        with transaction(sm) as s:
            s.execute(text("DELETE FROM red_flags WHERE id = :id"), {"id": fid})


def test_the_case_map_zooms_only_to_what_it_draws(world):
    """Contracts and parcels are evidence.geojson features but not layers of the case map (they show through
    their flags): a case linking only a contract gets the map's default view, not a frame around nothing."""
    client, phrae, _, ids = world
    r = client.post(
        "/api/v1/cases",
        headers=phrae,
        json={"title": "only a contract", "category": "procurement", "received_on": "2024-06-10"},
    )
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    r = client.post(
        f"/api/v1/cases/{case}/links",
        headers=phrae,
        json={"target_type": "contract", "target_id": ids["54"]["contract"], "reason": "the contract"},
    )
    assert r.status_code == 201, r.text
    page = client.get(f"/maps/cases/{case}", headers=phrae)
    assert page.status_code == 200, page.text
    # the map's frames: the province's default view only, never the contract's square (0.024 deg with its pad)
    assert _frames(page.text) and all(north - south > 0.5 for south, _, north, _ in _frames(page.text))
    # the case with flags still frames them (the flags' squares, padded)
    framed = _frames(client.get(f"/maps/cases/{world[2]}", headers=phrae).text)
    assert any(north - south < 0.1 for south, _, north, _ in framed)


def _frames(page: str) -> list[tuple[float, ...]]:
    """(south, west, north, east) of every ``fitBounds`` call of a Folium page."""
    number = r"\s*(-?[0-9.]+)\s*"
    pattern = rf"fitBounds\(\s*\[\[{number},{number}\],\s*\[{number},{number}\]\]"
    return [tuple(map(float, m)) for m in re.findall(pattern, page)]
