"""Many provinces in one deployment (issue 18, part 1): users scoped to their provinces, cases and incidents
carrying their province, national viewers seeing counts only, briefs per province and national.

The bundled Phrae (54) plus a small synthetic Nan (55, tests/provinces.py). A Phrae investigator must not see,
list, change, link, export or get suggestions for Nan's case or incident: each answer is the one an absent
record gets (404), so existence does not leak.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan
from tests.samples import post_viirs

DAY = "2024-03-14T10:00:00+07:00"  # fiscal year 2567 BE
PARTY = "Somchai Confidential-Party"


@pytest.fixture
def two(db_url, sessionmaker_for, client_factory, admin_headers):
    """A client on a database with Phrae and synthetic Nan, and signed-in people of each province."""
    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url)

    def login(username: str, role: str, provinces: list[str] | None) -> dict:
        body = {"username": username, "password": PASSWORD, "roles": [role]}
        if provinces is not None:
            body["provinces"] = provinces
        r = client.post("/api/v1/admin/users", headers=admin_headers, json=body)
        assert r.status_code == 201, r.text
        r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    people = {
        "phrae_inv": login("phrae_inv", "investigator", ["54"]),
        "nan_inv": login("nan_inv", "investigator", ["55"]),
        "phrae_officer": login("phrae_officer", "field_officer", ["54"]),
        "nan_officer": login("nan_officer", "field_officer", ["55"]),
        "phrae_committee": login("phrae_committee", "committee_member", ["54"]),
        "national": login("national", "national_viewer", None),
        "admin": admin_headers,
    }
    return client, people


def _incident(client, headers, point) -> dict:
    r = client.post(
        "/api/v1/incidents",
        headers=headers,
        json={"kind": "encroachment", "observed_at": DAY, "description": "cleared plot", "location": point},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _case(client, headers, **extra) -> dict:
    body = {"title": "Permits inside the reserve", "category": "other", "received_on": "2024-03-01", **extra}
    r = client.post("/api/v1/cases", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_accounts_need_a_loaded_province_and_a_scope_change_ends_the_sign_in(two, db_url, sessionmaker_for):
    client, people = two
    admin = people["admin"]
    add = "/api/v1/admin/users"
    base = {"username": "newbie", "password": PASSWORD, "roles": ["investigator"]}
    # two provinces are loaded: a provincial account must say which (an empty list never means "everything")
    r = client.post(add, headers=admin, json=base)
    assert r.status_code == 400 and r.json()["error"]["code"] == "province_required"
    r = client.post(add, headers=admin, json={**base, "provinces": []})
    assert r.status_code == 400 and r.json()["error"]["code"] == "province_required"
    r = client.post(add, headers=admin, json={**base, "provinces": ["99"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_province"
    assert "99" in r.json()["error"]["message"] and "55" in r.json()["error"]["message"]
    r = client.post(add, headers=admin, json={**base, "roles": ["national_viewer"], "provinces": ["54"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_provinces"
    r = client.post(add, headers=admin, json={**base, "provinces": ["TH54"]})  # the P-code is read as 54
    assert r.status_code == 201 and r.json()["provinces"] == ["54"]

    me = client.get("/api/v1/auth/me", headers=people["phrae_inv"]).json()
    assert me["provinces"] == ["54"]
    assert client.get("/api/v1/auth/me", headers=people["national"]).json()["provinces"] is None
    # a change of provinces is a change of what the account may see: its sign-ins end, and it is audited
    r = client.patch("/api/v1/admin/users/phrae_inv", headers=admin, json={"provinces": ["55"]})
    assert r.status_code == 200 and r.json()["provinces"] == ["55"]
    r = client.get("/api/v1/auth/me", headers=people["phrae_inv"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"
    r = client.patch("/api/v1/admin/users/phrae_inv", headers=admin, json={"provinces": ["nowhere"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_province"
    with sessionmaker_for(db_url)() as s:
        before, after = s.execute(
            text(
                "SELECT before, after FROM audit_log WHERE entity_type = 'user' AND entity_id = 'phrae_inv' "
                "AND action = 'update' ORDER BY id DESC LIMIT 1"
            )
        ).one()
    assert before["provinces"] == ["54"] and after["provinces"] == ["55"]
    listed = {u["username"]: u["provinces"] for u in client.get(add, headers=admin).json()}
    assert listed["phrae_inv"] == ["55"] and listed["national"] == [] and listed["nan_officer"] == ["55"]


@pytest.mark.slow
def test_a_phrae_investigator_cannot_reach_nans_case_or_incident(two):
    client, people = two
    phrae, nan = people["phrae_inv"], people["nan_inv"]
    nan_incident = _incident(client, people["nan_officer"], NAN_POINT)
    assert nan_incident["place"]["province_code"] == "55"
    phrae_incident = _incident(client, people["phrae_officer"], PHRAE_POINT)
    # a Phrae officer cannot log a point in Nan (Nan's office logs it)
    r = client.post(
        "/api/v1/incidents", headers=people["phrae_officer"], json={"kind": "wildfire", "location": NAN_POINT}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "outside_your_provinces"

    nan_case = _case(client, nan)  # the creator's only province
    assert nan_case["province_code"] == "55"
    r = client.post(
        f"/api/v1/cases/{nan_case['id']}/links",
        headers=nan,
        json={"target_type": "incident", "target_id": str(nan_incident["id"]), "reason": "the cleared plot"},
    )
    assert r.status_code == 201, r.text
    phrae_case = _case(client, phrae, province_code="54")
    assert phrae_case["province_code"] == "54"

    nid, cid = nan_incident["id"], nan_case["id"]
    absent = client.get("/api/v1/cases/99999", headers=phrae)
    for method, url, kw in (
        ("GET", f"/api/v1/cases/{cid}", {}),
        ("PATCH", f"/api/v1/cases/{cid}", {"json": {"title": "Renamed case"}, "headers": {"If-Match": 'W/"1"'}}),
        ("GET", f"/api/v1/cases/{cid}/suggestions", {}),
        ("GET", f"/api/v1/cases/{cid}/evidence.geojson", {}),
        ("GET", f"/api/v1/cases/{cid}/audit", {}),
        ("POST", f"/api/v1/cases/{cid}/notes", {"json": {"body": "a note"}}),
        ("GET", f"/maps/cases/{cid}", {}),
        ("GET", f"/api/v1/incidents/{nid}", {}),
        ("PATCH", f"/api/v1/incidents/{nid}", {"json": {"severity": "high"}, "headers": {"If-Match": 'W/"2"'}}),
        (
            "POST",
            f"/api/v1/cases/{phrae_case['id']}/links",
            {"json": {"target_type": "incident", "target_id": str(nid), "reason": "cross-border"}},
        ),
    ):
        headers = {**phrae, **kw.pop("headers", {})}
        r = client.request(method, url, headers=headers, **kw)
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert r.json()["error"]["code"] == absent.json()["error"]["code"]
    # lists, exports and the OGC API leave Nan's records out
    assert cid not in [c["id"] for c in client.get("/api/v1/cases", headers=phrae).json()["items"]]
    listed = [i["id"] for i in client.get("/api/v1/incidents", headers=phrae).json()["items"]]
    assert listed == [phrae_incident["id"]]
    geo = client.get("/api/v1/incidents.geojson", headers=phrae).json()
    assert [f["properties"]["id"] for f in geo["features"]] == [phrae_incident["id"]]
    exported = client.get("/api/v1/exports/incidents", headers=phrae).json()
    assert [f["properties"]["incident_id"] for f in exported["features"]] == [phrae_incident["id"]]
    items = client.get("/ogc/collections/incidents/items", headers=phrae).json()
    assert [f["properties"]["incident_id"] for f in items["features"]] == [phrae_incident["id"]]
    assert client.get(f"/ogc/collections/incidents/items/{nid}", headers=phrae).status_code == 404
    csv = client.get("/api/v1/exports/incidents", headers=phrae, params={"f": "csv"}).text
    assert f"INC-{nid:06d}" not in csv
    # the Nan investigator, and administrators (national), see Nan's
    assert client.get(f"/api/v1/cases/{cid}", headers=nan).status_code == 200
    assert client.get(f"/api/v1/incidents/{nid}", headers=people["admin"]).status_code == 200
    assert {
        f["properties"]["incident_id"]
        for f in client.get("/api/v1/exports/incidents", headers=people["admin"]).json()["features"]
    } == {nid, phrae_incident["id"]}
    # a Nan investigator cannot be assigned to a Phrae case
    r = client.post(f"/api/v1/cases/{phrae_case['id']}/assignments", headers=phrae, json={"username": "nan_inv"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_assignee"


def test_a_case_gets_a_loaded_province_within_the_creators_scope(two):
    client, people = two
    body = {"title": "Permits inside the reserve", "category": "other"}
    r = client.post("/api/v1/cases", headers=people["phrae_inv"], json={**body, "province_code": "55"})
    assert r.status_code == 403
    r = client.post("/api/v1/cases", headers=people["phrae_inv"], json={**body, "province_code": "99"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_province"
    r = client.post("/api/v1/cases", headers=people["admin"], json=body)  # national: must say which
    assert r.status_code == 400 and r.json()["error"]["code"] == "province_required"
    assert "province_code" in r.json()["error"]["message"]
    r = client.post("/api/v1/cases", headers=people["admin"], json={**body, "province_code": "TH55"})
    assert r.status_code == 201 and r.json()["province_code"] == "55"
    assert client.get("/api/v1/cases", headers=people["national"]).status_code == 403  # counts only, in briefs


@pytest.mark.slow
def test_briefs_per_province_and_national_show_counts_and_no_names(two):
    client, people = two
    admin = people["admin"]
    row = "{lat},{lon},330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n"
    nan_too = {"lat": NAN_POINT["lat"] + 0.01, "lon": NAN_POINT["lon"]}
    post_viirs(client, admin, [row.format(**PHRAE_POINT), row.format(**NAN_POINT), row.format(**nan_too)])
    _incident(client, people["phrae_officer"], PHRAE_POINT)
    _incident(client, people["nan_officer"], NAN_POINT)
    _incident(client, people["nan_officer"], NAN_POINT)
    for who, headers in (("phrae_inv", people["phrae_inv"]), ("nan_inv", people["nan_inv"])):
        case = _case(client, headers, title=f"Case of {who}")
        r = client.post(
            f"/api/v1/cases/{case['id']}/parties",
            headers=headers,
            json={"name": PARTY, "party_role": "official_concerned"},
        )
        assert r.status_code == 201, r.text
    # summaries: a provincial user's own province by default, national users every province by province
    s = client.get("/api/v1/hotspots/summary", headers=people["phrae_committee"], params={"period": "all"}).json()
    assert s["filters"]["province"] == "54" and sum(r["detections"] for r in s["rows"]) == 1
    s = client.get("/api/v1/hotspots/summary", headers=people["national"], params={"period": "all"}).json()
    assert {r["province"]: r["detections"] for r in s["rows"]} == {"54": 1, "55": 2}
    s = client.get("/api/v1/hotspots/summary", params={"period": "all"}).json()  # anonymous: as before
    assert s["filters"]["province"] is None and sum(r["detections"] for r in s["rows"]) == 3
    # the national viewer: every province's counts, no case title or party anywhere
    r = client.post("/api/v1/briefs", headers=people["national"], json={"fiscal_year_be": 2567})
    assert r.status_code == 201, r.text
    national = r.json()
    f = national["figures"]
    assert national["province_code"] is None and f["scope"]["province"] is None
    rows = {p["code"]: p for p in f["by_province"]}
    assert (rows["54"]["hotspots"], rows["54"]["incidents"], rows["54"]["cases_active"]) == (1, 1, 1)
    assert (rows["55"]["hotspots"], rows["55"]["incidents"], rows["55"]["cases_active"]) == (2, 2, 1)
    page = client.get(f"/api/v1/briefs/{national['id']}", headers=people["national"]).text
    assert 'id="by-province"' in page and "Nan" in page and "Phrae" in page
    assert PARTY not in page and "Case of" not in page and PARTY not in r.text and "Case of" not in r.text
    # a Phrae committee member: Phrae's brief by default, never Nan's
    r = client.post("/api/v1/briefs", headers=people["phrae_committee"], json={"fiscal_year_be": 2567})
    assert r.status_code == 201, r.text
    phrae = r.json()
    f = phrae["figures"]
    assert phrae["province_code"] == "54" and f["by_province"] is None
    assert f["hotspots"]["total"] == 1 and f["hotspots"]["outside_aoi"] == 2
    assert sum(i["count"] for i in f["incidents"]) == 1 and sum(f["cases_by_stage"].values()) == 1
    assert (
        set(f["districts"]) <= {f"54{n:02d}" for n in range(1, 9)} and f["area"]["label_en"] == "Province: Phrae (54)"
    )
    r = client.post(
        "/api/v1/briefs", headers=people["phrae_committee"], json={"fiscal_year_be": 2567, "province": "55"}
    )
    assert r.status_code == 403
    r = client.post("/api/v1/briefs", headers=admin, json={"fiscal_year_be": 2567, "province": "55"})
    assert r.status_code == 201 and r.json()["figures"]["hotspots"]["total"] == 2
    nan_brief = r.json()["id"]
    assert set(r.json()["figures"]["districts"]) == {"5501", "5502"}
    r = client.post("/api/v1/briefs", headers=admin, json={"fiscal_year_be": 2567, "province": "77"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_province"
    # the list and the pages follow the same scope: Phrae's and the national briefs, not Nan's
    listed = {b["id"] for b in client.get("/api/v1/briefs", headers=people["phrae_committee"]).json()}
    assert listed == {national["id"], phrae["id"]}
    assert client.get(f"/api/v1/briefs/{nan_brief}", headers=people["phrae_committee"]).status_code == 404
    assert client.get(f"/api/v1/briefs/{nan_brief}", headers=people["national"]).status_code == 200
    # awkward rows: a detection in a province that is not loaded (Kamphaeng Phet) and one of Phrae's in the next
    # fiscal year (2568). FY 2567's national table and Phrae's total stay as they were; the unloaded province's
    # detection is outside Phrae's area (its own line), the next year's is in no FY 2567 figure
    elsewhere = "16.50000,99.50000,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n"
    post_viirs(client, admin, [elsewhere, row.format(**PHRAE_POINT).replace("2024-03-14", "2024-10-02")])
    again = client.post("/api/v1/briefs", headers=people["national"], json={"fiscal_year_be": 2567}).json()
    again_rows = {p["code"]: p["hotspots"] for p in again["figures"]["by_province"]}
    assert (again_rows["54"], again_rows["55"]) == (1, 2) and sum(again_rows.values()) == 4
    f = client.post("/api/v1/briefs", headers=people["phrae_committee"], json={"fiscal_year_be": 2567}).json()
    assert f["figures"]["hotspots"]["total"] == 1 and f["figures"]["hotspots"]["outside_aoi"] == 3
    nxt = client.post("/api/v1/briefs", headers=people["phrae_committee"], json={"fiscal_year_be": 2568}).json()
    assert nxt["figures"]["hotspots"]["total"] == 1


def test_incident_tiles_follow_the_province_scope(two):
    """A tile covering Phrae and synthetic Nan: a Phrae investigator's tile holds Phrae's incident only, an
    administrator's both, and their ETags differ (a cached national tile is never revalidated for a Phrae user)."""
    import mapbox_vector_tile

    from geo_service.exports import tiles as T

    client, people = two
    mine = _incident(client, people["phrae_officer"], PHRAE_POINT)
    theirs = _incident(client, people["nan_officer"], NAN_POINT)
    z = 7  # one z7 tile holds both points (100.3E and 100.75E, 18.2N and 18.6N)
    row, col, _, _ = T.lonlat_to_tile(PHRAE_POINT["lon"], PHRAE_POINT["lat"], z)
    assert T.lonlat_to_tile(NAN_POINT["lon"], NAN_POINT["lat"], z)[:2] == (row, col)
    url = f"/ogc/collections/incidents/tiles/WebMercatorQuad/{z}/{row}/{col}"

    def refs(headers) -> tuple[set[str], str]:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        feats = mapbox_vector_tile.decode(r.content)["incidents"]["features"]
        return {f["properties"]["reference"] for f in feats}, r.headers["etag"]

    phrae, phrae_tag = refs(people["phrae_inv"])
    everyone, admin_tag = refs(people["admin"])
    assert phrae == {mine["reference"]}
    assert everyone == {mine["reference"], theirs["reference"]}
    assert phrae_tag != admin_tag
    revalidated = client.get(url, headers={**people["phrae_inv"], "If-None-Match": admin_tag})
    assert revalidated.status_code == 200 and revalidated.headers["etag"] == phrae_tag
