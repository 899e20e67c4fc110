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
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables" in conf
    cols = ref_client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in cols] == [
        "provinces",
        "districts",
        "subdistricts",
        "protected_areas",
        "hotspots",
        "fire_events",
    ]  # public ones only
    assert cols[1]["extent"]["spatial"]["bbox"][0][0] == pytest.approx(99.3676, abs=1e-3)
    api = ref_client.get("/ogc/api")
    assert api.json()["openapi"].startswith("3.0") and "/collections/districts/items" in api.json()["paths"]
    assert ref_client.get("/ogc/collections/incidents").status_code == 401


@pytest.mark.slow
def test_documents_are_what_their_routes_declare(ref_client):
    """Each JSON document is exactly its route's response model in /openapi.json: it validates, and every key it
    has is a declared field (a dump of the model gives the document back), so the OpenAPI description is true."""
    from geo_service.api import ogc

    def same(model, path, **params):
        r = ref_client.get(path, params=params)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert model.model_validate(doc).model_dump(mode="json", by_alias=True, exclude_unset=True) == doc, path

    same(ogc.LandingPage, "/ogc")
    same(ogc.Conformance, "/ogc/conformance")
    same(ogc.Collections, "/ogc/collections")
    same(ogc.CollectionDocument, "/ogc/collections/districts")
    for kind in ("queryables", "sortables", "schema"):
        same(ogc.JSONSchemaDocument, f"/ogc/collections/hotspots/{kind}")
    same(ogc.ItemsPage, "/ogc/collections/subdistricts/items", limit=3)
    same(ogc.FeatureDocument, "/ogc/collections/districts/items/5405")
    same(ogc.OpenAPIDocument, "/ogc/api")
    declared = ref_client.app.openapi()["paths"]["/ogc/collections/{name}/items"]["get"]["responses"]["200"]
    assert {"application/geo+json", "text/html"} <= set(declared["content"])


@pytest.mark.slow
def test_items_paging_filters_and_single_items(ref_client):
    page = ref_client.get("/ogc/collections/subdistricts/items", params={"limit": 30})
    assert page.headers["content-type"] == "application/geo+json"
    body = page.json()
    assert body["numberMatched"] == 78 and body["numberReturned"] == 30
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    second = ref_client.get(nxt.replace("http://testserver", "")).json()
    assert second["numberReturned"] == 30 and {f["id"] for f in second["features"]}.isdisjoint(
        {f["id"] for f in body["features"]}
    )
    filtered = ref_client.get(
        "/ogc/collections/subdistricts/items", params={"filter": "parent_code = '5405' AND area_km2 > 50", "limit": 100}
    ).json()
    assert 0 < filtered["numberReturned"] < 5
    cql_json = json.dumps({"op": "=", "args": [{"property": "parent_code"}, "5408"]})
    assert (
        ref_client.get(
            "/ogc/collections/subdistricts/items", params={"filter": cql_json, "filter-lang": "cql2-json", "limit": 100}
        ).json()["numberReturned"]
        == 6
    )
    bbox = ref_client.get("/ogc/collections/districts/items", params={"bbox": "100.04,17.97,100.06,17.99"}).json()
    assert [f["id"] for f in bbox["features"]] == ["5405"]
    dated = ref_client.get(
        "/ogc/collections/protected_areas/items", params={"datetime": "2010-01-01/..", "limit": 50}
    ).json()
    assert {f["properties"]["code"] for f in dated["features"]} == {
        "NRF-PR-003",
        "ALRO-PR-003R",
        "NP-DOIPHAKLONG",
        "CF-NMK-01",
    }
    one = ref_client.get("/ogc/collections/districts/items/5405").json()
    assert one["properties"]["name_en"] == "Den Chai" and one["links"][0]["rel"] == "self"
    assert ref_client.get("/ogc/collections/districts/items/0000").status_code == 404
    for bad in (
        {"filter": "name_th LIKE"},
        {"filter": "secret = 1"},
        {"datetime": "yesterday"},
        {"limit": 0},
        {"bbox": "1,2"},
        {"filter-lang": "sql", "filter": "1=1"},
    ):
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


@pytest.mark.slow
def test_gdal_reads_the_service(live_server, db_url, client, admin_headers, login, tmp_path):
    officer = login("officer", "field_officer")
    client.post(
        "/api/v1/incidents",
        headers=officer,
        json={"kind": "wildfire", "location": {"lat": 18.2, "lon": 100.3}, "description": "secret words"},
    )
    key = client.post(
        "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "GISTDA", "scopes": ["incidents", "districts"]}
    ).json()["key"]
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
    proc = subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}/ogc", "subdistricts"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Feature Count: 78" in _ogr("-so", str(out), "subdistricts")


# --- Queryables (Part 3), sortby, property filters, strict parameters, limit cap (issue 11 section 5) ---------
def test_queryables_are_a_json_schema(ref_client):
    r = ref_client.get("/ogc/collections/hotspots/queryables")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    assert doc["type"] == "object" and doc["$id"].endswith("/ogc/collections/hotspots/queryables")
    props = doc["properties"]
    assert props["acq_utc"] == {"title": "acq_utc", "type": "string", "format": "date-time"}
    assert props["acq_date_local"]["format"] == "date" and props["frp"]["type"] == "number"
    assert props["confidence"]["type"] == "integer" and props["protected_area_codes"]["type"] == "array"
    assert props["geometry"]["format"] == "geometry-point"
    links = ref_client.get("/ogc/collections/hotspots").json()["links"]
    assert any(link["rel"].endswith("queryables") and link["type"] == "application/schema+json" for link in links)
    assert ref_client.get("/ogc/collections/incidents/queryables").status_code == 401
    sortables = ref_client.get("/ogc/collections/hotspots/sortables").json()["properties"]
    assert "frp" in sortables and "protected_area_codes" not in sortables and "geometry" not in sortables
    schema = ref_client.get("/ogc/collections/hotspots/schema")  # rel describedby: GDAL types its fields from it
    assert schema.headers["content-type"] == "application/schema+json"
    fields = schema.json()["properties"]["properties"]["properties"]
    assert fields["acq_utc"]["format"] == "date-time" and fields["id"]["type"] == "string"
    assert any(link["rel"].lower() == "describedby" for link in links)  # compared case-insensitively (RFC 8288)
    # the items' OpenAPI lists each queryable as a property filter (GDAL and QGIS read them there)
    params = ref_client.get("/ogc/api").json()["paths"]["/collections/hotspots/items"]["get"]["parameters"]
    assert {"district_code", "confidence", "acq_utc"} <= {p.get("name") for p in params}


def test_queryable_types_match_the_database(ref_url, engine_for):
    """The declared type of every property is the type PostgreSQL returns for it (a property added to a
    collection without a type, or with a wrong one, fails here)."""
    from sqlalchemy import text

    from geo_service.exports.collections import COLLECTIONS
    from geo_service.exports.queryables import PROPERTY_TYPES

    pg = {
        "text": "string",
        "character varying": "string",
        "character": "string",
        "bigint": "integer",
        "integer": "integer",
        "smallint": "integer",
        "double precision": "number",
        "real": "number",
        "numeric": "number",
        "boolean": "boolean",
        "date": "date",
        "timestamp with time zone": "date-time",
        "text[]": "string-list",
        "character varying[]": "string-list",
    }
    engine = engine_for(ref_url)
    with engine.connect() as conn:
        for c in COLLECTIONS.values():
            cols = ", ".join(f"format_type(pg_typeof({p}), NULL) AS {p}" for p in c.properties)
            # one row, typed like the query's columns even when the collection is empty (NULLs keep their type)
            row = (
                conn.execute(
                    text(f"SELECT {cols} FROM (SELECT * FROM ({c.sql}) q LIMIT 1) t RIGHT JOIN (SELECT 1) one ON true")
                )
                .mappings()
                .one()
            )
            for p in c.properties:
                assert pg.get(row[p]) == PROPERTY_TYPES[p], (c.name, p, row[p])
            assert set(c.properties) <= set(PROPERTY_TYPES), c.name


@pytest.mark.slow
def test_sortby_property_filters_and_strict_parameters(ref_client):
    def get(path="/ogc/collections/subdistricts/items", **params):
        return ref_client.get(path, params=params)

    desc = get(sortby="-area_km2", limit=100).json()["features"]
    areas = [f["properties"]["area_km2"] for f in desc]
    assert len(areas) == 78 and areas == sorted(areas, reverse=True)
    # '+' unencoded in a URL arrives as a space: ascending all the same
    asc = ref_client.get("/ogc/collections/subdistricts/items?sortby=+parent_code,-area_km2&limit=100").json()
    keys = [(f["properties"]["parent_code"], -f["properties"]["area_km2"]) for f in asc["features"]]
    assert keys == sorted(keys)
    encoded = get(sortby="+parent_code,-area_km2", limit=100).json()
    assert [f["id"] for f in encoded["features"]] == [f["id"] for f in asc["features"]]
    assert "sortby=" in next(link["href"] for link in asc["links"] if link["rel"] == "self")
    for bad in ({"sortby": "secret"}, {"sortby": "code,-code"}):
        r = get(**bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_sortby", r.text
    assert get("/ogc/collections/hotspots/items", sortby="protected_area_codes").status_code == 400  # a list
    # Part 1 filters on feature properties
    assert get(parent_code="5408", limit=100).json()["numberReturned"] == 6
    assert get(area_km2="many").status_code == 400
    big = get(area_km2=str(desc[0]["properties"]["area_km2"])).json()  # a number compares as a number
    assert [f["id"] for f in big["features"]] == [desc[0]["id"]]
    in_force = get("/ogc/collections/protected_areas/items", in_force="true", limit=100).json()["features"]
    assert in_force and all(f["properties"]["in_force"] is True for f in in_force)
    since = get("/ogc/collections/protected_areas/items", valid_from="2010-01-01", limit=100)
    assert since.status_code == 200 and all(
        f["properties"]["valid_from"] == "2010-01-01" for f in since.json()["features"]
    )
    # a parameter the API does not define is a 400 that names it, on every resource
    r = get(parnt_code="5408")
    assert (
        r.status_code == 400
        and "parnt_code" in r.json()["error"]["message"]
        and r.json()["error"]["code"] == "unknown_parameter"
    )
    for path in (
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/districts",
        "/ogc/collections/districts/items/5405",
        "/ogc/collections/districts/queryables",
    ):
        assert ref_client.get(path, params={"limit": "5"}).status_code == 400, path
    assert get(limit=5, **{"filter-crs": "EPSG:32647"}).status_code == 400
    # GDAL 3.6 without CQL writes a date as "2010-01-01T" in datetime=: read as that date, not a 400
    gdal_date = get("/ogc/collections/protected_areas/items", datetime="2010-01-01T/..", limit=50)
    assert gdal_date.status_code == 200 and gdal_date.json()["numberReturned"] == 4
    # limit above the maximum is capped, not refused
    capped = get(limit=1_000_000)
    assert capped.status_code == 200 and capped.json()["numberReturned"] == 78
    assert "limit=10000" in next(link["href"] for link in capped.json()["links"] if link["rel"] == "self")


def test_html_pages_draw_a_map_and_link_to_html(ref_client):
    page = ref_client.get("/ogc/collections/subdistricts/items", params={"f": "html", "limit": 10})
    html = page.text
    assert '<div id="map"' in html and 'type="application/json"' in html and "/static/ogc/map.js" in html
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for src in (
        "/maps/vendor/leaflet/dist/leaflet.js",
        "/maps/vendor/leaflet/dist/leaflet.css",
        "/static/ogc/map.js",
        "/static/ogc/ogc.css",
    ):
        assert src in html and ref_client.get(src).status_code == 200, src
    import re

    hrefs = re.findall(r'<a href="([^"]+)"', html)
    nxt = [h for h in hrefs if "offset=10" in h]
    assert nxt and all("f=html" in h for h in nxt)  # the next page stays in HTML
    assert any("f=json" in h for h in hrefs)  # and the page offers its JSON
    internal = [h.replace("&amp;", "&") for h in hrefs if "/ogc/" in h and "/ogc/api" not in h]
    assert all("f=html" in h or "f=json" in h for h in internal), internal
    landing = ref_client.get("/ogc", params={"f": "html"}).text
    assert 'href="http://testserver/ogc/collections?f=html"' in landing
    collection = ref_client.get("/ogc/collections/districts", params={"f": "html"}).text
    assert '<div id="map"' in collection and "queryables?f=html" in collection
    assert ref_client.get("/ogc/collections/districts/queryables", params={"f": "html"}).status_code == 200


def test_html_map_data_cannot_close_its_script(client, admin_headers):
    evil = "</script><script>alert(1)</script>"
    r = client.post(
        "/api/v1/incidents",
        headers=admin_headers,
        json={"kind": "wildfire", "location": {"lat": 18.2, "lon": 100.3}, "description": evil},
    )
    assert r.status_code == 201, r.text
    html = client.get("/ogc/collections/incidents/items", params={"f": "html"}, headers=admin_headers).text
    assert "alert(1)" in html and "</script><script>alert" not in html and "<script>alert" not in html


@pytest.mark.slow
def test_cors_for_the_ogc_api_only(db_url, client_factory):
    partner = {"Origin": "https://gis.partner.example"}
    open_cors = client_factory(db_url)
    r = open_cors.get("/ogc/collections/districts/items", headers=partner)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in open_cors.get("/health", headers=partner).headers
    preflight = open_cors.options(
        "/ogc/collections/incidents/items",
        headers={**partner, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"},
    )
    assert preflight.status_code == 400  # an API key is never sent cross-origin
    only = client_factory(db_url, ogc_cors_origins=["https://gis.partner.example"])
    assert only.get("/ogc", headers=partner).headers["access-control-allow-origin"] == "https://gis.partner.example"
    assert "access-control-allow-origin" not in only.get("/ogc", headers={"Origin": "https://evil.example"}).headers
    closed = client_factory(db_url, ogc_cors_origins=[])
    assert "access-control-allow-origin" not in closed.get("/ogc", headers=partner).headers


@pytest.mark.slow
def test_gdal_filters_on_the_server(live_server, db_url, client, login, admin_headers):
    """GDAL 3.6 (Debian 12) sends ``-where`` to the server as a filter (it asked for everything and filtered
    itself, and a date made the server answer 400)."""
    import os

    officer = login("officer", "field_officer")
    for when, lat in (
        ("2023-12-20T10:00:00+07:00", 18.2),
        ("2024-02-01T10:00:00+07:00", 18.25),
        ("2024-03-01T10:00:00+07:00", 18.1),
    ):
        r = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={"kind": "wildfire", "location": {"lat": lat, "lon": 100.3}, "observed_at": when},
        )
        assert r.status_code == 201, r.text
    key = client.post(
        "/api/v1/admin/api-keys",
        headers=admin_headers,
        json={"name": "GISTDA", "scopes": ["incidents", "subdistricts", "hotspots"]},
    ).json()["key"]
    base = live_server(db_url)

    def ogr(*args):
        proc = subprocess.run(
            ["ogrinfo", "-ro", "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}", f"OAPIF:{base}/ogc", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CPL_DEBUG": "ON"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        fetched = [line for line in proc.stderr.splitlines() if "Fetch(" in line]
        assert "client side" not in proc.stderr and any("filter=" in u for u in fetched), proc.stderr[-2000:]
        return proc.stdout

    dated = ogr("incidents", "-where", "observed_at >= '2024-01-01'")
    assert dated.count("OGRFeature(incidents)") == 2 and "2023/12/20" not in dated
    both = ogr("subdistricts", "-where", "area_km2 > 50 and parent_code = '5405'")
    assert 0 < both.count("OGRFeature(subdistricts)") < 5 and "parent_code (String) = 5401" not in both
    # an empty collection: GDAL knows its fields (and their types) from the feature schema, not from a sample
    empty = ogr("hotspots", "-where", "acq_utc >= '2024-01-01' AND confidence = 3")
    assert "OGRFeature(" not in empty and "acq_utc: DateTime" in empty
