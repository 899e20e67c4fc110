"""Exports: RFC 7946 GeoJSON of every collection, file formats round-tripped, redaction per role, filters,
audit, and a large streamed export with its memory measured."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import text

from geo_service.exports import files
from geo_service.exports.collections import COLLECTIONS
from geo_service.thai import be_dmy
from tests.forest_patches import insert_patches
from tests.samples import insert_synthetic_incidents, post_red_flag_contracts


def check_rfc7946(fc: dict) -> None:
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    assert isinstance(fc["features"], list)
    if fc["features"]:
        minx, miny, maxx, maxy = fc["bbox"]
        assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    for f in fc["features"]:
        assert f["type"] == "Feature" and "crs" not in f and (f.get("id") or f["properties"]["id"])
        g = f["geometry"]
        coords = json.dumps(g["coordinates"])
        for number in coords.replace("[", " ").replace("]", " ").replace(",", " ").split():
            assert len(number.split(".")[1]) <= 7 if "." in number else True
        geom = shape(g)
        assert geom.is_valid
        if g["type"] in ("Polygon", "MultiPolygon"):
            for poly in getattr(geom, "geoms", [geom]):
                assert poly.exterior.is_ccw and all(not r.is_ccw for r in poly.interiors)


@pytest.fixture
def people(login, client, admin_headers):
    officer = login("officer", "field_officer")
    for i, (lat, lon, kind, desc) in enumerate(
        [
            (18.2, 100.3, "wildfire", '=HYPERLINK("http://evil")'),
            (18.25, 100.35, "encroachment", "ป่าถูกบุกรุก"),
            (17.95, 100.05, "wildfire", "+cmd"),
            (18.4, 100.4, "illegal_logging", "@SUM(A1)"),
        ]
    ):
        area = {
            "type": "Polygon",
            "coordinates": [
                [
                    [lon - 0.002, lat - 0.002],
                    [lon + 0.002, lat - 0.002],
                    [lon + 0.002, lat + 0.002],
                    [lon - 0.002, lat - 0.002],
                ]
            ],
        }
        r = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={
                "kind": kind,
                "description": desc,
                "tags": ["t"],
                "location": {"lat": lat, "lon": lon},
                "observed_at": f"2024-0{i + 1}-10T10:00:00",
                **({"area": area} if i == 0 else {}),
            },
        )
        assert r.status_code == 201
    key = client.post(
        "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "RFD", "scopes": ["incidents", "districts"]}
    ).json()["key"]
    narrow = client.post(
        "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "DDPM", "scopes": ["districts"]}
    ).json()["key"]
    insert_patches(client.app.state.sessionmaker)  # clearing patches (and their aggregates per district)
    post_red_flag_contracts(client, admin_headers)  # rows in the administrators' red_flags, redflag_contracts
    return {
        "officer": officer,
        "admin": admin_headers,
        "committee": login("committee", "committee_member"),
        "partner_key": {"X-API-Key": key},
        "narrow_key": {"X-API-Key": narrow},
        "anonymous": {},
    }


@pytest.mark.parametrize("name", list(COLLECTIONS))
@pytest.mark.slow
def test_every_collection_is_rfc7946(client, people, name):
    headers = people["admin"] if not COLLECTIONS[name].public else {}
    r = client.get(f"/api/v1/exports/{name}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    check_rfc7946(fc)
    assert fc["numberMatched"] == len(fc["features"])
    if name not in ("hotspots", "fire_events"):  # those two are filled in their own test below
        assert fc["numberMatched"] > 0
    assert fc["metadata"]["licence"] and fc["metadata"]["generated_at"]


@pytest.mark.slow
def test_downloads_are_what_the_route_declares(client, people):
    """/openapi.json names every media type a download is sent as, and a streamed GeoJSON download is exactly
    its declared model (every member it has is a declared field)."""
    from geo_service.api.exports import ExportFeatureCollection

    content = client.app.openapi()["paths"]["/api/v1/exports/{name}"]["get"]["responses"]["200"]["content"]
    assert set(content) == {
        "application/geo+json",
        "application/geo+json-seq",
        "application/geopackage+sqlite3",
        "application/zip",  # f=csv and f=shp
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.google-earth.kml+xml",
    }
    fc = client.get("/api/v1/exports/districts", params={"district": "5405"}).json()
    model = ExportFeatureCollection.model_validate(fc)
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == fc


@pytest.mark.slow
def test_geojson_lines(client, people):
    r = client.get("/api/v1/exports/subdistricts", params={"f": "ndjson", "district": "5401"})
    *lines, summary = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 20 and all(f["type"] == "Feature" for f in lines)
    assert summary["type"] == "ExportSummary" and summary["numberReturned"] == 20  # the last line: count, SHA-256


def test_redaction_by_role(client, people):
    def props(headers, **params):
        r = client.get("/api/v1/exports/incidents", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return r.json()["features"][0]["properties"]

    assert {"description", "reporter", "created_by", "tags"} <= set(props(people["admin"]))
    committee = props(people["committee"])
    assert "description" in committee and "reporter" not in committee and "created_by" not in committee
    partner = props(people["partner_key"])
    assert not {"description", "reporter", "created_by", "tags"} & set(partner)
    assert "=HYPERLINK" not in client.get("/api/v1/exports/incidents", headers=people["partner_key"]).text
    assert client.get("/api/v1/exports/incidents").status_code == 401
    assert client.get("/api/v1/exports/incidents", headers=people["narrow_key"]).status_code == 403
    r = client.get("/api/v1/exports/incidents", headers=people["partner_key"], params={"properties": "kind,reporter"})
    assert r.status_code == 400 and "reporter" in r.json()["error"]["message"]
    r = client.get(
        "/api/v1/exports/incidents", headers=people["partner_key"], params={"filter": "reporter = 'Officer'"}
    )
    assert r.status_code == 400  # a hidden property cannot be used to probe values either


@pytest.mark.slow
def test_filters(client, people):
    def ids(**params):
        r = client.get("/api/v1/exports/incidents", headers=people["admin"], params=params)
        assert r.status_code == 200, r.text
        return [f["properties"]["kind"] for f in r.json()["features"]]

    assert ids(kind="wildfire") == ["wildfire", "wildfire"]
    assert len(ids(**{"from": "2024-02-01", "to": "2024-03-31"})) == 2
    assert len(ids(bbox="100.25,18.15,100.38,18.3")) == 2
    assert len(ids(district="5405")) == 1
    assert ids(filter="kind = 'illegal_logging' AND in_reserve = false") == ["illegal_logging"]
    assert (
        len(ids(filter="S_INTERSECTS(geometry, POLYGON((100.2 18.1, 100.5 18.1, 100.5 18.5, 100.2 18.5, 100.2 18.1)))"))
        == 3
    )
    r = client.get("/api/v1/exports/incidents", headers=people["admin"], params={"filter": "kind = 'x' OR pg_sleep(1)"})
    assert r.status_code == 400
    r = client.get("/api/v1/exports/districts", params={"properties": "code,name_th", "reserve": "x"})
    assert r.status_code == 200  # districts have a 'code' property: reserve maps to nothing -> empty
    r = client.get("/api/v1/exports/districts", params={"kind": "x"})
    assert r.status_code == 400


@pytest.mark.slow
def test_file_formats_round_trip(client, people, tmp_path):
    def get(name, f, headers=None, **params):
        r = client.get(f"/api/v1/exports/{name}", params={"f": f, **params}, headers=headers or {})
        assert r.status_code == 200, r.text
        suffix = {"shp": ".zip", "csv": ".zip"}.get(f, "." + f)
        path = tmp_path / f"{name}_{params.get('crs', 4326)}{suffix}"
        path.write_bytes(r.content)
        return path

    gpkg = gpd.read_file(get("districts", "gpkg"))
    assert len(gpkg) == 8 and gpkg.crs.to_epsg() == 4326 and "เมืองแพร่" in set(gpkg.name_th)
    utm = gpd.read_file(get("districts", "gpkg", crs=32647))
    assert utm.crs.to_epsg() == 32647 and utm.area.sum() / 1e6 == pytest.approx(6485, rel=0.005)
    meta = pyogrio.read_info(get("districts", "gpkg"))["layer_metadata"]
    assert "CC BY-IGO" in meta["DESCRIPTION"]
    kml = gpd.read_file(get("protected_areas", "kml"))
    assert len(kml) == 12
    shp_zip = get("subdistricts", "shp", crs=32647)
    with zipfile.ZipFile(shp_zip) as zf:
        names = set(zf.namelist())
        assert {"subdistricts.shp", "subdistricts.prj", "subdistricts.cpg", "metadata.json"} <= names
    shp = gpd.read_file(f"/vsizip/{shp_zip}/subdistricts.shp")
    assert len(shp) == 78 and shp.crs.to_epsg() == 32647 and "ในเวียง" in set(shp.name_th)
    csv_zip = get("incidents", "csv", headers=people["admin"])
    with zipfile.ZipFile(csv_zip) as zf:
        meta = json.loads(zf.read("metadata.json"))
        df = pd.read_csv(io.BytesIO(zf.read("incidents.csv")), encoding="utf-8-sig")
    assert meta["count"] == 4 and set(df.columns) >= {"lon", "lat", "wkt", "kind"}
    assert df.loc[df.kind == "illegal_logging", "lon"].iloc[0] == 100.4
    dangerous = df.description.dropna()
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in dangerous)
    assert '\'=HYPERLINK("http://evil")' in set(dangerous)
    assert client.get("/api/v1/exports/districts", params={"f": "geojson", "crs": 32647}).status_code == 400


def test_exports_are_audited(client, people, db_url, sessionmaker_for):
    client.get("/api/v1/exports/incidents", headers=people["partner_key"], params={"kind": "wildfire"})
    with sessionmaker_for(db_url)() as s:
        row = s.execute(
            text("SELECT actor, after FROM audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1")
        ).one()
    assert row.actor == "apikey:RFD" and row.after["filters"]["kind"] == "wildfire" and row.after["count"] == 2


@pytest.mark.slow
def test_large_export_streams_in_constant_memory(client, db_url, sessionmaker_for, admin_headers):
    """200,000 synthetic incidents stream out with a small, bounded Python memory peak."""
    n = 200_000
    with sessionmaker_for(db_url)() as s, s.begin():
        insert_synthetic_incidents(s, n)
    tracemalloc.start()
    features = size = 0
    with client.stream("GET", "/api/v1/exports/incidents", headers=admin_headers, params={"f": "ndjson"}) as r:
        assert r.status_code == 200
        tail = b""
        for chunk in r.iter_bytes():
            size += len(chunk)
            data = tail + chunk
            features += data.count(b"\n")
            tail = data[data.rfind(b"\n") + 1 :]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert features == n + 1  # and the ExportSummary line
    assert size > 40e6  # about 250 bytes per feature
    assert peak < 60e6, f"peak Python memory {peak / 1e6:.0f} MB while streaming {size / 1e6:.0f} MB"


@pytest.mark.slow
def test_hotspots_and_fire_events_export_and_ogc(client, admin_headers):
    csv = (
        "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
        "bright_ti5,frp,daynight\n"
        "18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,12.5,D\n"
        "18.2010,100.3020,331.0,0.4,0.4,2024-03-14,0631,N,VIIRS,l,2.0NRT,290.0,3.0,D\n"
        "17.9500,100.0500,331.0,0.4,0.4,2024-03-20,1830,N,VIIRS,n,2.0NRT,290.0,8.0,N\n"
    )
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("v.csv", csv.encode())})
    assert r.status_code == 201, r.text
    fc = client.get("/api/v1/exports/hotspots").json()  # public satellite data
    check_rfc7946(fc)
    assert fc["numberMatched"] == 3 and "FIRMS" in fc["metadata"]["source"]
    event_of = {f["properties"]["frp"]: f["properties"]["event_id"] for f in fc["features"]}
    assert event_of[12.5] == event_of[3.0] != event_of[8.0] and None not in event_of.values()  # 2 fires
    high = client.get("/api/v1/exports/hotspots", params={"min_confidence": 3}).json()
    assert [f["properties"]["confidence_raw"] for f in high["features"]] == ["h"]
    assert client.get("/api/v1/exports/hotspots", params={"district": "5405"}).json()["numberMatched"] == 1
    assert client.get("/api/v1/exports/hotspots", params={"from": "2024-03-15"}).json()["numberMatched"] == 1
    events = client.get("/api/v1/exports/fire_events").json()
    check_rfc7946(events)
    assert events["numberMatched"] == 2
    ogc = client.get("/ogc/collections/hotspots/items", params={"filter": "confidence >= 2"}).json()
    assert ogc["numberMatched"] == 2
    assert client.get("/api/v1/exports/districts", params={"min_confidence": 2}).status_code == 400


def test_api_key_scoped_to_fields(client, people, admin_headers):
    key = client.post(
        "/api/v1/admin/api-keys",
        headers=admin_headers,
        json={"name": "DDPM", "scopes": ["incidents:kind,observed_at,district_code", "districts"]},
    )
    assert key.status_code == 201, key.text
    headers = {"X-API-Key": key.json()["key"]}
    props = client.get("/api/v1/exports/incidents", headers=headers).json()["features"][0]["properties"]
    assert set(props) == {"id", "kind", "observed_at", "district_code"}
    used = {k["name"]: k["last_used_at"] for k in client.get("/api/v1/admin/api-keys", headers=admin_headers).json()}
    assert used["DDPM"] is not None
    client.get("/api/v1/exports/districts", headers=headers)  # a minute has not passed: no write
    again = {k["name"]: k["last_used_at"] for k in client.get("/api/v1/admin/api-keys", headers=admin_headers).json()}
    assert again["DDPM"] == used["DDPM"]
    # Fields a key names can still not reach beyond what the partner role may see.
    sneaky = client.post(
        "/api/v1/admin/api-keys",
        headers=admin_headers,
        json={"name": "Other agency", "scopes": ["incidents:kind,reporter"]},
    ).json()["key"]
    assert set(
        client.get("/api/v1/exports/incidents", headers={"X-API-Key": sneaky}).json()["features"][0]["properties"]
    ) == {"id", "kind"}
    assert (
        client.get("/api/v1/exports/incidents", headers=headers, params={"properties": "reserve_code"}).status_code
        == 400
    )
    assert len(client.get("/api/v1/exports/districts", headers=headers).json()["features"][0]["properties"]) > 3
    bad = client.post(
        "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "Third agency", "scopes": ["incidents:colour"]}
    )
    assert bad.status_code == 400 and "colour" in bad.json()["error"]["message"]


# --- every collection x every format, and what Thai offices need in them --------------------------------
ALL_FORMATS = ["geojson", "ndjson", *files.FORMATS]
FIRMS = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
    "18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,12.5,D\n"
    "18.2010,100.3020,331.0,0.4,0.4,2024-03-14,1830,N,VIIRS,l,2.0NRT,290.0,3.0,N\n"
    "17.9500,100.0500,331.0,0.4,0.4,2024-03-20,1830,N,VIIRS,n,2.0NRT,290.0,8.0,N\n"
)


@pytest.fixture(scope="module")
def filled(pg_cluster, template_db, tmp_path_factory):
    """One database with rows in every collection: the bundled layers, 4 incidents (one with an affected
    area) and 3 FIRMS detections (2 fire events)."""
    from tests.conftest import ADMIN_TOKEN, _clone, app_client

    name = _clone(pg_cluster, template_db)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with app_client(pg_cluster.url(name), tmp_path_factory.mktemp("app")) as client:
        r = client.post("/api/v1/admin/hotspots/firms", headers=admin, files={"file": ("v.csv", FIRMS.encode())})
        assert r.status_code == 201, r.text
        for i, (lat, lon, kind) in enumerate(
            [(18.2, 100.3, "wildfire"), (17.95, 100.05, "wildfire"), (18.4, 100.4, "illegal_logging")]
        ):
            area = {
                "type": "Polygon",
                "coordinates": [
                    [
                        [lon - 0.002, lat - 0.002],
                        [lon + 0.002, lat - 0.002],
                        [lon + 0.002, lat + 0.002],
                        [lon - 0.002, lat - 0.002],
                    ]
                ],
            }
            r = client.post(
                "/api/v1/incidents",
                headers=admin,
                json={
                    "kind": kind,
                    "description": "=1+1" if i == 0 else "ไฟป่า",
                    "location": {"lat": lat, "lon": lon},
                    "observed_at": f"2024-0{i + 1}-10T10:00:00",
                    **({"area": area} if i == 0 else {}),
                },
            )
            assert r.status_code == 201, r.text
        insert_patches(client.app.state.sessionmaker)
        post_red_flag_contracts(client, admin)
        yield client, admin
    pg_cluster.drop_database(name)


def _features(client, admin, name) -> list[dict]:
    r = client.get(f"/api/v1/exports/{name}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["features"]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("name", list(COLLECTIONS))
@pytest.mark.slow
def test_every_collection_in_every_format(filled, name, fmt, tmp_path):
    """Each collection downloads in each format and opens with the count the GeoJSON reports (the Shapefile
    of hotspots was a 500: cut field names collided)."""
    client, admin = filled
    expected = len(_features(client, admin, name))
    assert expected > 0
    r = client.get(f"/api/v1/exports/{name}", headers=admin, params={"f": fmt})
    assert r.status_code == 200, r.text
    path = tmp_path / f"{name}.{fmt}{'.zip' if fmt in ('shp', 'csv') else ''}"
    path.write_bytes(r.content)
    shown = list(COLLECTIONS[name].properties)
    if fmt == "geojson":
        check_rfc7946(r.json())
    elif fmt == "ndjson":  # the features, then one ExportSummary line (count and checksum)
        lines = r.text.splitlines()
        assert len(lines) == expected + 1 and json.loads(lines[-1])["numberReturned"] == expected
    elif fmt in ("gpkg", "kml"):
        assert len(gpd.read_file(path)) == expected
    elif fmt == "shp":
        with zipfile.ZipFile(path) as zf:
            renamed = json.loads(zf.read("metadata.json"))["dbf_fields"]
        shp = gpd.read_file(f"/vsizip/{path}/{name}.shp")
        assert len(shp) == expected
        assert list(shp.columns[:-1]) == [renamed[c] for c in ["id", *shown]]
        assert all(len(c) <= 10 for c in shp.columns) and len(set(shp.columns)) == len(shp.columns)
    elif fmt == "csv":
        with zipfile.ZipFile(path) as zf:
            df = pd.read_csv(io.BytesIO(zf.read(f"{name}.csv")), encoding="utf-8-sig", keep_default_na=False)
        assert len(df) == expected and list(df.columns) == ["id", "lon", "lat", *shown, "wkt", "wkt_note"]
        assert df.wkt.str.len().max() <= files.CELL_MAX
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        rows = list(wb[name].iter_rows(values_only=True))
        assert list(rows[0]) == ["id", "lon", "lat", *shown, "wkt", "wkt_note"] and len(rows) == expected + 1
        assert all(len(str(v)) <= files.CELL_MAX for row in rows for v in row if v is not None)
        assert all(not (isinstance(v, str) and v.startswith("=")) for row in rows for v in row)
        meta = dict(wb["metadata"].iter_rows(values_only=True))
        assert meta["collection"] == name and meta["licence"]


def test_dbf_field_names_are_explicit_unique_and_documented():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for c in COLLECTIONS.values():
        names = files.dbf_names(["id", *c.properties])
        assert all(p in files.DBF_FIELDS or len(p) <= 10 for p in c.properties), c.name  # no silent cut
        assert len({n.lower() for n in names.values()}) == len(names) and all(len(n) <= 10 for n in names.values())
    for long, short in files.DBF_FIELDS.items():
        assert f"`{long}` → `{short}`" in readme


def test_thai_office_columns(filled):
    client, admin = filled
    incidents = {f["properties"]["reference"]: f["properties"] for f in _features(client, admin, "incidents")}
    first = incidents["INC-000001"]
    assert (
        first["observed_at"].startswith("2024-01-10T03:00:00")
        and first["observed_local"] == "2024-01-10T10:00:00+07:00"
    )
    assert first["observed_date_be"] == be_dmy("2024-01-10") == "10/1/2567"
    assert (first["district_code"], first["district_th"], first["district_en"]) == ("5402", "ร้องกวาง", "Rong Kwang")
    assert first["subdistrict_code"].startswith("5402") and first["subdistrict_th"] and first["subdistrict_en"]
    assert first["area_rai"] > 0 and first["area_ha"] == pytest.approx(first["area_rai"] * 0.16, rel=0.01)
    [area] = _features(client, admin, "incident_areas")
    assert area["properties"]["reference"] == "INC-000001" and area["geometry"]["type"] == "MultiPolygon"
    assert shape(area["geometry"]).area == pytest.approx(0.004 * 0.004 / 2, rel=1e-3)
    hotspots = _features(client, admin, "hotspots")
    for h in (f["properties"] for f in hotspots):
        assert h["acq_date_be"] == be_dmy(h["acq_date_local"])
        assert h["acq_local"][:10] == h["acq_date_local"] and h["acq_local"].endswith("+07:00")
        assert h["district_th"] and h["district_en"] and h["district_code"]
        assert (h["reserve_th"] is None) == (h["reserve_code"] is None)
    night = next(h["properties"] for h in hotspots if h["properties"]["acq_utc"].startswith("2024-03-14T18:30"))
    assert night["acq_local"] == "2024-03-15T01:30:00+07:00" and night["acq_date_be"] == "15/3/2567"
    events = [f["properties"] for f in _features(client, admin, "fire_events")]
    assert all(e["first_date_be"] and e["last_seen_local"].endswith("+07:00") and e["district_th"] for e in events)
    reserves = [f["properties"] for f in _features(client, admin, "protected_areas")]
    assert all(p["valid_from_be"] == (be_dmy(p["valid_from"]) or None) for p in reserves)


def test_csv_geometry_fits_a_spreadsheet_cell(filled, tmp_path):
    """District outlines are longer than a cell as WKT: simplified until they fit, and the note says so."""
    client, admin = filled
    full = max(len(shape(f["geometry"]).wkt) for f in _features(client, admin, "districts"))
    r = client.get("/api/v1/exports/districts", params={"f": "csv"})
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        df = pd.read_csv(io.BytesIO(zf.read("districts.csv")), encoding="utf-8-sig", keep_default_na=False)
    print(f"longest district WKT {full} characters; in the CSV {df.wkt.str.len().max()}")
    assert full > files.CELL_MAX and df.wkt.str.len().max() <= files.CELL_MAX
    simplified = df[df.wkt_note.str.startswith("simplified")]
    assert len(simplified) >= 1
    for wkt in simplified.wkt:
        assert shapely.from_wkt(wkt).is_valid
    wkt, notes = files.cell_wkt(
        np.array([shapely.MultiPoint(np.random.default_rng(1).random((5000, 2)))]), geographic=True
    )
    assert wkt == [""] and notes[0].startswith("omitted")  # too large even simplified: left out, with a note
