"""OGC API - Features: the documents, paging and filters, HTML, and GDAL's OAPIF driver as a real client."""

from __future__ import annotations

import json
import subprocess

import pytest


def test_landing_conformance_collections(ref_client):
    landing = ref_client.get("/ogc").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conf = ref_client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    cols = ref_client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in cols] == ["districts", "subdistricts", "protected_areas", "hotspots",
                                       "fire_events"]  # public ones only
    assert cols[0]["extent"]["spatial"]["bbox"][0][0] == pytest.approx(99.3676, abs=1e-3)
    api = ref_client.get("/ogc/api")
    assert api.json()["openapi"].startswith("3.0") and "/collections/districts/items" in api.json()["paths"]
    assert ref_client.get("/ogc/collections/incidents").status_code == 401


def test_items_paging_filters_and_single_items(ref_client):
    page = ref_client.get("/ogc/collections/subdistricts/items", params={"limit": 30})
    assert page.headers["content-type"] == "application/geo+json"
    body = page.json()
    assert body["numberMatched"] == 78 and body["numberReturned"] == 30
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    second = ref_client.get(nxt.replace("http://testserver", "")).json()
    assert second["numberReturned"] == 30 and {f["id"] for f in second["features"]}.isdisjoint(
        {f["id"] for f in body["features"]})
    filtered = ref_client.get("/ogc/collections/subdistricts/items",
                              params={"filter": "parent_code = '5405' AND area_km2 > 50", "limit": 100}).json()
    assert 0 < filtered["numberReturned"] < 5
    cql_json = json.dumps({"op": "=", "args": [{"property": "parent_code"}, "5408"]})
    assert ref_client.get("/ogc/collections/subdistricts/items",
                          params={"filter": cql_json, "filter-lang": "cql2-json", "limit": 100}).json()["numberReturned"] == 6
    bbox = ref_client.get("/ogc/collections/districts/items", params={"bbox": "100.04,17.97,100.06,17.99"}).json()
    assert [f["id"] for f in bbox["features"]] == ["5405"]
    dated = ref_client.get("/ogc/collections/protected_areas/items",
                           params={"datetime": "2010-01-01/..", "limit": 50}).json()
    assert {f["properties"]["code"] for f in dated["features"]} == {"NRF-PR-003", "ALRO-PR-003R", "NP-DOIPHAKLONG",
                                                                    "CF-NMK-01"}
    one = ref_client.get("/ogc/collections/districts/items/5405").json()
    assert one["properties"]["name_en"] == "Den Chai" and one["links"][0]["rel"] == "self"
    assert ref_client.get("/ogc/collections/districts/items/0000").status_code == 404
    for bad in ({"filter": "name_th LIKE"}, {"filter": "secret = 1"}, {"datetime": "yesterday"}, {"limit": 0},
                {"bbox": "1,2"}, {"filter-lang": "sql", "filter": "1=1"}):
        r = ref_client.get("/ogc/collections/districts/items", params=bad)
        assert 400 <= r.status_code < 500, (bad, r.text)


def test_html_pages_escape_data(ref_client):
    html = ref_client.get("/ogc/collections/districts/items", params={"f": "html", "limit": 8})
    assert html.headers["content-type"].startswith("text/html") and "เมืองแพร่" in html.text
    evil = ref_client.get("/ogc/collections/districts/items", params={"f": "html", "filter": "code = '<script>x'"})
    assert "<script>x" not in evil.text


def _ogr(*args, key=None):
    cmd = ["ogrinfo", "-ro", *args]
    if key:
        cmd[1:1] = ["--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_gdal_reads_the_service(live_server, db_url, client, admin_headers, login, tmp_path):
    officer = login("officer", "field_officer")
    client.post("/api/v1/incidents", headers=officer, json={"kind": "wildfire", "location": {"lat": 18.2, "lon": 100.3},
                                                           "description": "secret words"})
    key = client.post("/api/v1/admin/api-keys", headers=admin_headers,
                      json={"name": "GISTDA", "scopes": ["incidents", "districts"]}).json()["key"]
    base = live_server(db_url)
    listing = _ogr("-so", f"OAPIF:{base}/ogc")
    assert "districts" in listing and "protected_areas" in listing and "incidents" not in listing
    districts = _ogr("-al", "-so", f"OAPIF:{base}/ogc", "districts")
    assert "Feature Count: 8" in districts
    den_chai = _ogr(f"OAPIF:{base}/ogc", "districts", "-where", "code = '5405'")
    assert "Den Chai" in den_chai and "Mueang Phrae" not in den_chai
    with_key = _ogr("-so", f"OAPIF:{base}/ogc", key=key)
    assert "incidents" in with_key and "protected_areas" in with_key
    incidents = _ogr(f"OAPIF:{base}/ogc", "incidents", key=key)
    assert "wildfire" in incidents and "secret words" not in incidents
    out = tmp_path / "copy.gpkg"
    proc = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}/ogc", "subdistricts"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Feature Count: 78" in _ogr("-so", str(out), "subdistricts")
