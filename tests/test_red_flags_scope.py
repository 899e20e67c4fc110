"""Red flags in province scope: contracts, parcels and flags carry the province their shape lies in (through the
districts), and a provincial investigator sees, lists, exports and acts on its own provinces' only; another
province's contract, parcel or flag answers 404 as an absent one does. The committee brief counts its province's.

The bundled Phrae (54) plus the synthetic Nan (55, tests/provinces.py); a contract in each province whose documents
name a district that does not exist, so that the rule ``outside_named_area`` flags both at once (their flags'
``district_code`` is the named "9999", which lies in no province: the province comes from the contract's area)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan, load_red_flag_records, post_border_contracts, sign_in

ELSEWHERE = {"lat": 16.5, "lon": 99.5}  # Kamphaeng Phet: in Thailand, in no loaded province


@pytest.fixture
def two(db_url, sessionmaker_for, client_factory, admin_headers):
    """Phrae and Nan loaded, a contract, a parcel and a flag in each (and one outside both), and their people."""
    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url)

    def login(username: str, provinces: list[str]) -> dict:
        return sign_in(client, username, "investigator", provinces)

    ids = {
        "54": load_red_flag_records(client, admin_headers, PHRAE_POINT, "phrae"),
        "55": load_red_flag_records(client, admin_headers, NAN_POINT, "nan"),
        None: load_red_flag_records(client, admin_headers, ELSEWHERE, "elsewhere"),
    }
    people = {"54": login("phrae_inv", ["54"]), "55": login("nan_inv", ["55"]), "both": login("both", ["54", "55"])}
    return client, people, ids


def test_records_carry_the_province_of_their_shape(two, admin_headers):
    client, _people, ids = two
    for province, rec in ids.items():
        c = client.get(f"/api/v1/redflags/contracts/{rec['contract_id']}", headers=admin_headers).json()
        p = client.get(f"/api/v1/redflags/parcels/{rec['parcel_id']}", headers=admin_headers).json()
        f = client.get(f"/api/v1/redflags/flags/{rec['flag_id']}", headers=admin_headers).json()
        assert (c["province_code"], p["province_code"], f["province_code"]) == (province, province, province)
        assert f["district_code"] == "9999"  # the named district: the old district-prefix count missed these


def test_a_provincial_investigator_sees_its_provinces_red_flags_only(two, admin_headers):
    client, people, ids = two
    mine, theirs = ids["54"], ids["55"]
    phrae = people["54"]
    # lists, the map layer and the contractor view hold Phrae's records only
    contracts = client.get("/api/v1/redflags/contracts", headers=phrae).json()
    assert [c["id"] for c in contracts["items"]] == [mine["contract_id"]] and contracts["total"] == 1
    parcels = client.get("/api/v1/redflags/parcels", headers=phrae).json()
    assert [p["id"] for p in parcels["items"]] == [mine["parcel_id"]] and parcels["total"] == 1
    flags = client.get("/api/v1/redflags/flags", headers=phrae, params={"include_gone": True}).json()
    assert [f["id"] for f in flags["items"]] == [mine["flag_id"]] and flags["total"] == 1
    layer = client.get("/api/v1/redflags/flags.geojson", headers=phrae).json()
    assert [f["id"] for f in layer["features"]] == [mine["flag_id"]]
    view = client.get("/api/v1/redflags/contractors/Contractor Ltd", headers=phrae).json()
    assert (view["contracts"], view["contract_ids"]) == (1, [mine["contract_id"]])
    assert [f["id"] for f in view["flags"]] == [mine["flag_id"]]
    # Nan's records answer as absent ones: reading, sheets, dismissing, opening or linking a case
    absent = [
        ("GET", f"/api/v1/redflags/contracts/{theirs['contract_id']}", None),
        ("GET", f"/api/v1/redflags/contracts/{theirs['contract_id']}/sheet", None),
        ("GET", f"/api/v1/redflags/parcels/{theirs['parcel_id']}", None),
        ("GET", f"/api/v1/redflags/parcels/{theirs['parcel_id']}/sheet", None),
        ("GET", f"/api/v1/redflags/flags/{theirs['flag_id']}", None),
        ("POST", f"/api/v1/redflags/flags/{theirs['flag_id']}/dismiss", {"reason": "not ours"}),
        ("POST", f"/api/v1/redflags/flags/{theirs['flag_id']}/case", {}),
        ("POST", f"/api/v1/redflags/flags/{theirs['flag_id']}/link", {"case_id": 1}),
        ("GET", f"/api/v1/redflags/contracts/{ids[None]['contract_id']}", None),  # outside every province
        ("GET", f"/api/v1/redflags/flags/{ids[None]['flag_id']}", None),
    ]
    for method, url, body in absent:
        r = client.request(method, url, headers=phrae, json=body)
        assert r.status_code == 404, (url, r.status_code, r.text)
        assert "Nan" not in r.text and "FB-nan" not in r.text
    # the same routes serve Phrae's own records, and Nan's to Nan's investigator
    assert client.get(f"/api/v1/redflags/contracts/{mine['contract_id']}/sheet", headers=phrae).status_code == 200
    assert client.get(f"/api/v1/redflags/flags/{theirs['flag_id']}", headers=people["55"]).status_code == 200
    r = client.post(
        f"/api/v1/redflags/flags/{theirs['flag_id']}/dismiss",
        headers=people["55"],
        json={"reason": "checked: a survey error"},
    )
    assert r.status_code == 200, r.text
    # someone of both provinces sees both; an administrator (national) sees all three
    both = client.get("/api/v1/redflags/contracts", headers=people["both"]).json()
    assert {c["id"] for c in both["items"]} == {mine["contract_id"], theirs["contract_id"]}
    everything = client.get("/api/v1/redflags/contracts", headers=admin_headers).json()
    assert everything["total"] == 3


def test_the_brief_counts_its_provinces_flags_only(two, admin_headers):
    client, _people, _ids = two
    totals = {}
    for province in ("54", "55", None):
        body = {"fiscal_year_be": 2567, **({"province": province} if province else {})}
        r = client.post("/api/v1/briefs", headers=admin_headers, json=body)
        assert r.status_code == 201, r.text
        flags = r.json()["figures"]["red_flags"]
        totals[province] = flags["total"]
        if province:
            assert [(row["rule"], row["high"] + row["medium"] + row["low"]) for row in flags["by_rule"]] == [
                ("outside_named_area", 1)
            ]
    assert totals == {"54": 1, "55": 1, None: 3}


def test_a_case_links_only_its_provinces_red_flag_records(two):
    client, people, ids = two
    phrae = people["54"]
    r = client.post("/api/v1/cases", headers=phrae, json={"title": "Firebreak payments", "category": "procurement"})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    for target, key in (("contract", "contract_id"), ("parcel", "parcel_id"), ("red_flag", "flag_id")):
        theirs = {"target_type": target, "target_id": str(ids["55"][key]), "reason": "check"}
        r = client.post(f"/api/v1/cases/{case_id}/links", headers=phrae, json=theirs)
        assert r.status_code == 404, (target, r.text)
        mine = {"target_type": target, "target_id": str(ids["54"][key]), "reason": "check"}
        r = client.post(f"/api/v1/cases/{case_id}/links", headers=phrae, json=mine)
        assert r.status_code in (200, 201), (target, r.text)
    # the suggestions offer Phrae's flag (its contract is linked) and never Nan's
    sug = client.get(f"/api/v1/cases/{case_id}/suggestions", headers=phrae).json()["suggestions"]
    flagged = {s["target_id"] for s in sug if s["target_type"] == "red_flag"}
    assert str(ids["55"]["flag_id"]) not in flagged


def test_a_double_payment_across_the_border_is_seen_by_both_provinces(two, admin_headers):
    """Two paid firebreak contracts of the same year overlapping across the Phrae / Nan line: A lies in Phrae (its
    point on surface), B in Nan. The flag's province is its first contract's (Phrae), and
    both provinces' investigators see it, on its contracts' sheets and their maps, and both provinces' briefs count
    it; a case each opens from it links only its own province's contract."""
    client, people, _ids = two

    post_border_contracts(client, admin_headers)
    contracts = client.get("/api/v1/redflags/contracts", headers=admin_headers, params={"contractor": "Border Co."})
    by_number = {c["contract_number"]: c for c in contracts.json()["items"]}
    assert (by_number["X-A"]["province_code"], by_number["X-B"]["province_code"]) == ("54", "55")
    flags = client.get("/api/v1/redflags/flags", headers=admin_headers, params={"rule": "double_payment"}).json()
    (flag,) = flags["items"]
    assert flag["province_code"] == "54" and flag["figures"]["overlap_share"] == pytest.approx(1 / 3, rel=0.02)
    for province, mine in (("54", "X-A"), ("55", "X-B")):
        h = people[province]
        listed = client.get("/api/v1/redflags/flags", headers=h, params={"rule": "double_payment"}).json()
        assert [f["id"] for f in listed["items"]] == [flag["id"]], province
        assert client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=h).status_code == 200
        assert [f["id"] for f in client.get("/api/v1/redflags/flags.geojson", headers=h).json()["features"]
                if f["properties"]["rule"] == "double_payment"] == [flag["id"]]  # fmt: skip
        sheet = client.get(f"/api/v1/redflags/contracts/{by_number[mine]['id']}/sheet", headers=h)
        assert sheet.status_code == 200 and f"#{flag['id']}" in sheet.text
        page = client.get("/maps/overview", headers=h, params={"fiscal_year_be": 2567, "flags_rule": "double_payment"})
        assert page.status_code == 200 and f"red flag #{flag['id']}:" in page.text
        case = client.post(f"/api/v1/redflags/flags/{flag['id']}/case", headers=h, json={"province_code": province})
        assert case.status_code == 201, (province, case.text)
        linked = {(x["target_type"], x["target_id"]) for x in case.json()["links"]}
        assert ("contract", str(by_number[mine]["id"])) in linked
        other = "X-B" if mine == "X-A" else "X-A"
        assert ("contract", str(by_number[other]["id"])) not in linked
    # each province's brief counts it (it concerns a contract of each); the national brief once
    totals = {}
    for province in ("54", "55", None):
        body = {"fiscal_year_be": 2567, **({"province": province} if province else {})}
        made = client.post("/api/v1/briefs", headers=admin_headers, json=body)
        assert made.status_code == 201, made.text
        rows = {r["rule"]: r for r in made.json()["figures"]["red_flags"]["by_rule"]}
        totals[province] = sum(rows["double_payment"][k] for k in ("high", "medium", "low"))
    assert totals == {"54": 1, "55": 1, None: 1}
    # the other province's contract itself stays out of reach
    assert client.get(f"/api/v1/redflags/contracts/{by_number['X-B']['id']}", headers=people["54"]).status_code == 404


def test_a_case_opened_from_a_cross_border_flag_links_the_reserve_only_where_it_lies(
    two, admin_headers, db_url, sessionmaker_for
):
    """A double payment seen by both provinces whose reserve lies in Phrae only: Nan's investigator opens a case from
    it (201, its own contract linked, the Phrae reserve left out, as any out-of-province evidence is); Phrae's case
    links the reserve. Before, Nan's open failed with 'No protected area' and nothing was created (review finding)."""
    client, people, _ids = two
    post_border_contracts(client, admin_headers)
    (flag,) = client.get("/api/v1/redflags/flags", headers=admin_headers, params={"rule": "double_payment"}).json()[
        "items"
    ]
    with sessionmaker_for(db_url)() as s, s.begin():
        # a reserve wholly in Phrae (the bundled layer), named as the flag's reserve
        code = s.execute(
            text("""SELECT p.code FROM latest_protected_areas p
                    WHERE NOT EXISTS (SELECT 1 FROM current_admin_areas v WHERE v.level = 'province'
                                      AND v.code = '55' AND ST_Intersects(v.geom, p.geom)) ORDER BY p.code LIMIT 1""")
        ).scalar_one()
        s.execute(text("UPDATE red_flags SET reserve_code = :c WHERE id = :i"), {"c": code, "i": flag["id"]})
    for province, expect_reserve in (("55", False), ("54", True)):
        case = client.post(
            f"/api/v1/redflags/flags/{flag['id']}/case", headers=people[province], json={"province_code": province}
        )
        assert case.status_code == 201, (province, case.text)
        linked = {(x["target_type"], x["target_id"]) for x in case.json()["links"]}
        assert (("protected_area", code) in linked) is expect_reserve, (province, linked)
        assert ("red_flag", str(flag["id"])) in linked


def test_a_reserve_is_in_the_provinces_of_its_newest_outline_only(two, db_url, sessionmaker_for):
    """A reserve whose older outline lay in Phrae and whose newest lies in Nan is Nan's evidence, not Phrae's: the
    outline drawn is the newest, so the province rule reads that one (review finding: any version counted)."""
    from geo_service.auth import Principal
    from geo_service.layers.queries import existing_protected_area_codes

    with sessionmaker_for(db_url)() as s, s.begin():
        code = s.execute(
            text("""SELECT p.code FROM latest_protected_areas p
                    WHERE NOT EXISTS (SELECT 1 FROM current_admin_areas v WHERE v.level = 'province'
                                      AND v.code = '55' AND ST_Intersects(v.geom, p.geom)) ORDER BY p.code LIMIT 1""")
        ).scalar_one()
        phrae, nan = Principal("p", provinces=frozenset({"54"})), Principal("n", provinces=frozenset({"55"}))
        assert existing_protected_area_codes(s, [code], phrae) == {code}
        assert existing_protected_area_codes(s, [code], nan) == set()
        # a newer version of it, moved wholly into Nan (around NAN_POINT)
        s.execute(
            text("""INSERT INTO protected_areas (code, version, kind, name_th, name_en, valid_from, area_m2, source_id,
                                                 geom)
                    SELECT code, 'moved', kind, name_th, name_en, DATE '2099-01-01', area_m2, source_id,
                           ST_Multi(ST_MakeEnvelope(:x - 0.02, :y - 0.02, :x + 0.02, :y + 0.02, 4326))
                    FROM latest_protected_areas WHERE code = :c"""),
            {"c": code, "x": NAN_POINT["lon"], "y": NAN_POINT["lat"]},
        )
        assert existing_protected_area_codes(s, [code], phrae) == set()
        assert existing_protected_area_codes(s, [code], nan) == {code}
        assert existing_protected_area_codes(s, [code], None) == {code}
        s.rollback()
