"""Read endpoints: health, districts, subdistricts, protected areas (GeoJSON), filters and refusals."""

from __future__ import annotations

import pytest
from shapely.geometry import shape


def fc(client, url, **params):
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and "crs" not in body
    return body


def test_health_reports_database_and_postgis(ref_client):
    r = ref_client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["postgresql"].startswith("15") or int(body["database"]["postgresql"].split(".")[0]) >= 13
    assert body["database"]["postgis"].startswith("3.")
    from tests.test_migrations import _head

    assert body["database"]["schema_revision"] == _head()
    assert body["data"]["admin_areas"] == 87
    assert r.headers["x-request-id"]


def test_districts_are_rfc7946_features(ref_client):
    body = fc(ref_client, "/api/v1/districts")
    assert body["numberReturned"] == 8 == len(body["features"])
    assert "CC BY-IGO" in body["attribution"]
    for f in body["features"]:
        assert f["type"] == "Feature" and f["id"] == f["properties"]["code"]
        p = f["properties"]
        assert p["level"] == "district" and p["level_th"] == "อำเภอ" and p["parent_code"] == "54"
        assert p["area_rai"] == pytest.approx(p["area_km2"] * 625, rel=1e-3)
        assert p["area_ha"] == pytest.approx(p["area_km2"] * 100, rel=1e-3)
        geom = shape(f["geometry"])
        assert geom.is_valid and f["geometry"]["type"] == "MultiPolygon"
        # RFC 7946: exterior rings counter-clockwise, holes clockwise; at most 7 decimals.
        for poly in geom.geoms:
            assert poly.exterior.is_ccw
            assert all(not ring.is_ccw for ring in poly.interiors)
        x, y = f["geometry"]["coordinates"][0][0][0]
        assert len(repr(x).split(".")[1]) <= 7 and 99 < x < 101 and 17 < y < 19


def test_bbox_filter_returns_only_intersecting_districts(ref_client):
    # A small box around Den Chai town.
    body = fc(ref_client, "/api/v1/districts", bbox="100.04,17.97,100.06,17.99")
    assert [f["id"] for f in body["features"]] == ["5405"]
    body = fc(ref_client, "/api/v1/districts", bbox="98.0,10.0,98.5,10.5")  # far south
    assert body["features"] == [] and body["numberReturned"] == 0


def test_simplification_shrinks_and_keeps_valid(ref_client):
    full = ref_client.get("/api/v1/districts").content
    simple = ref_client.get("/api/v1/districts", params={"simplify": 100}).content
    assert len(simple) < len(full) / 5
    body = fc(ref_client, "/api/v1/districts", simplify=100)
    exact = {f["id"]: shape(f["geometry"]) for f in fc(ref_client, "/api/v1/districts")["features"]}
    for f in body["features"]:
        assert shape(f["geometry"]).is_valid
        # Simplified by 100 m, a district keeps its area within 1 % and stays where it was.
        assert shape(f["geometry"]).area == pytest.approx(exact[f["id"]].area, rel=0.01)
        assert shape(f["geometry"]).representative_point().within(exact[f["id"]].buffer(0.002))


@pytest.mark.slow
def test_subdistricts_by_district_and_single_features(ref_client):
    body = fc(ref_client, "/api/v1/subdistricts", district="5401")
    assert body["numberReturned"] == 20
    assert {f["properties"]["parent_code"] for f in body["features"]} == {"5401"}
    assert fc(ref_client, "/api/v1/subdistricts")["numberReturned"] == 78
    one = ref_client.get("/api/v1/subdistricts/540101").json()
    assert one["type"] == "Feature" and one["properties"]["name_th"] == "ในเวียง"
    assert ref_client.get("/api/v1/districts/5405").json()["properties"]["name_en"] == "Den Chai"
    assert fc(ref_client, "/api/v1/provinces")["features"][0]["properties"]["name_th"] == "แพร่"


def test_protected_areas_in_force_on_a_date(ref_client):
    today = {f["id"] for f in fc(ref_client, "/api/v1/protected-areas")["features"]}
    assert "NRF-PR-003@2" in today and "NRF-PR-003@1" not in today and "ALRO-PR-003R@1" in today
    in_2010 = {f["id"] for f in fc(ref_client, "/api/v1/protected-areas", at="2010-06-01")["features"]}
    assert "NRF-PR-003@1" in in_2010 and "NRF-PR-003@2" not in in_2010 and "ALRO-PR-003R@1" not in in_2010
    assert "NP-DOIPHAKLONG@1" not in in_2010  # declared 2014
    every = fc(ref_client, "/api/v1/protected-areas", all_versions="true")
    assert every["numberReturned"] == 12
    parks = fc(ref_client, "/api/v1/protected-areas", kind=["national_park", "wildlife_sanctuary"])
    assert {f["properties"]["kind"] for f in parks["features"]} == {"national_park", "wildlife_sanctuary"}
    f = ref_client.get("/api/v1/protected-areas/NRF-PR-001").json()
    p = f["properties"]
    assert p["illustrative"] is True and p["kind_th"] == "ป่าสงวนแห่งชาติ" and p["kind_en"] == "National Reserved Forest"
    assert "ILLUSTRATIVE" in f["attribution"]
    assert len(f["geometry"]["coordinates"][0]) == 2  # exterior and the village enclave (hole)


def test_layer_sources_list(ref_client):
    rows = ref_client.get("/api/v1/layers").json()
    assert {r["name"] for r in rows} >= {"phrae-districts", "phrae-subdistricts", "phrae-protected-areas-illustrative"}


@pytest.mark.parametrize(
    "url, status, code",
    [
        ("/api/v1/districts?bbox=1,2,3", 400, "invalid_bbox"),
        ("/api/v1/districts?bbox=a,b,c,d", 400, "invalid_bbox"),
        ("/api/v1/districts?bbox=nan,1,2,3", 400, "invalid_bbox"),
        ("/api/v1/districts?bbox=18,99,19,100", 400, "invalid_bbox"),  # lat/lon swapped: lat 99 impossible
        ("/api/v1/districts?bbox=101,18,100,19", 400, "invalid_bbox"),  # min > max
        ("/api/v1/districts?simplify=-1", 422, "validation_error"),
        ("/api/v1/districts?simplify=NaN", 422, "validation_error"),
        ("/api/v1/protected-areas?kind=volcano", 422, "validation_error"),
        ("/api/v1/protected-areas?at=31/02/2020", 422, "validation_error"),
        ("/api/v1/districts/9999", 404, "not_found"),
        ("/api/v1/protected-areas/NOPE", 404, "not_found"),
        ("/api/v1/nothing-here", 404, "not_found"),
    ],
)
def test_malformed_requests_get_a_clear_4xx(ref_client, url, status, code):
    r = ref_client.get(url)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["request_id"]
    assert "Traceback" not in r.text
    # The submitted value is never echoed back.
    assert "volcano" not in r.text and "31/02/2020" not in r.text


def test_wrong_method_is_405_in_the_error_model(ref_client):
    r = ref_client.delete("/api/v1/districts")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_openapi_documents_the_routes(ref_client):
    spec = ref_client.get("/openapi.json").json()
    assert {
        "/health",
        "/api/v1/districts",
        "/api/v1/subdistricts",
        "/api/v1/protected-areas",
        "/api/v1/admin/layers",
    } <= set(spec["paths"])
    assert ref_client.get("/docs").status_code == 200


def test_layer_sources_name_their_loader_to_staff_only(client, admin_headers, login):
    """Issue 17: the public list names no member of staff and no file; signed-in staff still see who loaded each
    version from which file."""
    public = client.get("/api/v1/layers").json()
    assert public and all("loaded_by" not in r and "file_name" not in r for r in public)
    assert all(len(r["file_sha256"]) == 64 for r in public)  # the file stays verifiable by its hash
    assert all(r["licence"] and r["attribution"] for r in public)  # the credits stay public
    staff = client.get("/api/v1/layers", headers=admin_headers).json()
    assert {r["loaded_by"] for r in staff} == {"bundled"}
    assert all(r["file_name"] for r in staff)
    assert [{k: v for k, v in r.items() if k not in ("loaded_by", "file_name")} for r in staff] == public
    member = login("volunteer1", "network_member")
    assert all(
        "loaded_by" not in r and "file_name" not in r for r in client.get("/api/v1/layers", headers=member).json()
    )
    officer = login("officer1", "field_officer")
    assert all("loaded_by" in r and "file_name" in r for r in client.get("/api/v1/layers", headers=officer).json())
