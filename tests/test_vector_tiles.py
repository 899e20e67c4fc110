"""Vector tiles (OGC API - Tiles, TileJSON): tiles decoded by a real decoder (mapbox-vector-tile) and by GDAL's
MVT driver against a real uvicorn; positions, properties, role rules, empty and bad tiles, caching."""

from __future__ import annotations

import subprocess

import mapbox_vector_tile
import pytest

from geo_service.exports import tiles as T
from geo_service.exports.collections import COLLECTIONS
from tests.samples import post_viirs

BASE = "/ogc/collections/{name}/tiles/WebMercatorQuad"
# Two VIIRS detections in Phrae (Mueang Phrae and Song), on two days; the positions are what the tests check.
FIRE = (100.14170, 18.14500)
OTHER = (100.18, 18.40)
ROWS = [
    f"{FIRE[1]:.5f},{FIRE[0]:.5f},330.5,0.39,0.36,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.1,12.5,D\n",
    f"{OTHER[1]:.5f},{OTHER[0]:.5f},320.1,0.40,0.37,2024-03-20,1840,N,VIIRS,n,2.0NRT,285.0,3.2,N\n",
]


def tile_url(name: str, z: int, row: int, col: int) -> str:
    return f"{BASE.format(name=name)}/{z}/{row}/{col}"


def decode(data: bytes) -> dict:
    """A tile decoded with y pointing down (tile coordinates as a map client draws them)."""
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


@pytest.fixture
def fires(client, admin_headers):
    post_viirs(client, admin_headers, ROWS)
    return client


def test_a_detection_lands_in_its_tile_at_its_pixel(fires):
    client = fires
    z = 12
    row, col, px, py = T.lonlat_to_tile(*FIRE, z)
    r = client.get(tile_url("hotspots", z, row, col))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = decode(r.content)["hotspots"]
    assert layer["extent"] == 4096
    (feature,) = layer["features"]
    x, y = feature["geometry"]["coordinates"]
    assert feature["geometry"]["type"] == "Point"
    assert abs(x - px) <= 1 and abs(y - py) <= 1  # the same pixel of the 4096 grid
    props = feature["properties"]
    assert props["confidence"] == 3 and props["satellite"] and props["daynight"] == "D"
    assert props["acq_date_local"] == "2024-03-14" and props["acq_local"].startswith("2024-03-14T13:30:00+07:00")
    assert props["district_code"] == "5401" and props["district_th"] == "เมืองแพร่" and props["in_aoi"] is True
    assert set(props) <= set(COLLECTIONS["hotspots"].tile_properties)
    assert feature["id"] == props["hotspot_id"]
    assert r.headers["cache-control"].startswith("public, max-age=") and r.headers["etag"].startswith('W/"')
    assert r.headers["x-tile-features"] == "1"
    # the same tile again with its ETag: 304, no body
    again = client.get(tile_url("hotspots", z, row, col), headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == r.headers["etag"]


def test_datetime_filter_and_zoomed_out_tile(fires, admin_headers):
    client = fires
    row, col, _, _ = T.lonlat_to_tile(*FIRE, 6)
    assert T.lonlat_to_tile(*OTHER, 6)[:2] == (row, col)  # both in one z6 tile
    both = decode(client.get(tile_url("hotspots", 6, row, col)).content)["hotspots"]["features"]
    assert sorted(f["properties"]["acq_date_local"] for f in both) == [
        "2024-03-14",
        "2024-03-21",
    ]  # 18:40 UTC is 01:40 next day in Bangkok
    url = tile_url("hotspots", 6, row, col)
    first = client.get(url, params={"datetime": "2024-03-10/2024-03-15"})
    (only,) = decode(first.content)["hotspots"]["features"]
    assert only["properties"]["acq_date_local"] == "2024-03-14"
    # a datetime changes the ETag (a cache must not answer one with the other)
    assert first.headers["etag"] != client.get(url).headers["etag"]
    none = client.get(url, params={"datetime": "2023-01-01/2023-12-31"})
    assert none.status_code == 204 and none.content == b""
    bad = client.get(url, params={"datetime": "last week"})
    assert bad.status_code == 400 and "datetime" in bad.json()["error"]["message"]
    # a new ingest changes the data version, so the ETag
    before = client.get(url).headers["etag"]
    assert client.get(url).headers["etag"] == before
    post_viirs(client, admin_headers, [ROWS[0].replace("0630", "0631")])
    assert client.get(url).headers["etag"] != before


def test_empty_tile_is_204(ref_client):
    """A tile with no feature (the sea south of Thailand at z10) is 204 No Content, with its cache headers."""
    row, col, _, _ = T.lonlat_to_tile(101.0, 7.0, 10)
    r = ref_client.get(tile_url("districts", 10, row, col))
    assert r.status_code == 204 and r.content == b""
    assert r.headers["etag"] and "max-age" in r.headers["cache-control"]


def test_boundary_tiles_carry_names_and_codes(ref_client):
    row, col, _, _ = T.lonlat_to_tile(100.15, 18.15, 8)
    for name, codes in (("provinces", {"54"}), ("districts", {"5401"}), ("subdistricts", None)):
        r = ref_client.get(tile_url(name, 8, row, col))
        assert r.status_code == 200, (name, r.text)
        feats = decode(r.content)[name]["features"]
        assert feats and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in feats)
        got = {f["properties"]["code"] for f in feats}
        if codes:
            assert codes <= {c.removeprefix("TH") for c in got}, got
        assert all(f["properties"]["name_th"] and f["properties"]["name_en"] for f in feats)
        assert set(feats[0]["properties"]) <= set(COLLECTIONS[name].tile_properties)
    protected = ref_client.get(tile_url("protected_areas", 8, row, col))
    assert protected.status_code == 200
    props = decode(protected.content)["protected_areas"]["features"][0]["properties"]
    assert {"code", "name_th", "kind", "illustrative"} <= set(props)


def test_bad_tile_addresses(ref_client):
    cases = {
        tile_url("districts", 23, 0, 0): (404, "tile matrices 0 to 22"),
        tile_url("districts", 8, 256, 10): (404, "from 0 to 255"),
        tile_url("districts", 8, 10, 999): (404, "outside tile matrix 8"),
        BASE.format(name="districts") + "/8/abc/1": (400, "tileRow must be a whole number"),
        BASE.format(name="districts") + "/-1/0/0": (400, "tileMatrix must be a whole number"),
        "/ogc/collections/districts/tiles/WorldCRS84Quad/1/0/0": (404, "WebMercatorQuad only"),
        "/ogc/collections/nowhere/tiles/WebMercatorQuad/1/0/0": (404, "No collection"),
        tile_url("districts", 1, 0, 0) + "?bbox=1,2,3,4": (400, "Unknown query parameter"),
    }
    for url, (status, words) in cases.items():
        r = ref_client.get(url)
        assert r.status_code == status, (url, r.text)
        assert words in r.json()["error"]["message"], (url, r.json())


def test_private_collection_tiles_follow_the_items_rules(client, login, admin_headers):
    """incidents is not public: its tiles answer each caller exactly as its items do, and carry no confidential
    property even for those who may read the collection."""
    r = client.post(
        "/api/v1/incidents",
        headers=admin_headers,
        json={
            "kind": "wildfire",
            "observed_at": "2024-03-14T06:30:00Z",
            "location": {"lat": FIRE[1], "lon": FIRE[0]},
            "description": "informant saw a truck",
        },
    )
    assert r.status_code == 201, r.text
    callers = {
        "anonymous": {},
        "committee_member": login("committee1", "committee_member"),
        "field_officer": login("officer9", "field_officer"),
        "investigator": login("investigator9", "investigator"),
        "partner": login("partner9", "partner"),
    }
    row, col, _, _ = T.lonlat_to_tile(*FIRE, 12)
    for who, headers in callers.items():
        items = client.get("/ogc/collections/incidents/items", headers=headers).status_code
        tiles = client.get(tile_url("incidents", 12, row, col), headers=headers)
        meta = client.get(BASE.format(name="incidents"), headers=headers).status_code
        tilejson = client.get(BASE.format(name="incidents") + "/tilejson.json", headers=headers).status_code
        assert items in (200, 401, 403)
        assert tiles.status_code == items, who
        assert meta == tilejson == items, who
        if items == 200:
            assert tiles.headers["cache-control"].startswith("private") and "Authorization" in tiles.headers["vary"]
            (feat,) = decode(tiles.content)["incidents"]["features"]
            assert feat["properties"]["reference"].startswith("INC-") and "description" not in feat["properties"]
    assert client.get(tile_url("incidents", 12, row, col)).status_code == 401


def test_tilejson_and_tileset_metadata(fires):
    client = fires
    tj = client.get(BASE.format(name="hotspots") + "/tilejson.json", params={"datetime": "2024-03-01/2024-03-31"})
    assert tj.status_code == 200
    doc = tj.json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz" and doc["maxzoom"] == 22
    assert doc["vector_layers"][0]["id"] == "hotspots"
    assert doc["vector_layers"][0]["fields"]["confidence"] == "Number"
    assert doc["vector_layers"][0]["fields"]["district_th"] == "String"
    west, south, east, north = doc["bounds"]
    assert west <= FIRE[0] <= east and south <= FIRE[1] <= north
    (template,) = doc["tiles"]
    assert "{z}/{y}/{x}" in template and "datetime=2024-03-01%2F2024-03-31" in template
    row, col, _, _ = T.lonlat_to_tile(*FIRE, 12)
    url = template.replace("http://testserver", "").replace("{z}", "12").replace("{y}", str(row))
    r = client.get(url.replace("{x}", str(col)))
    assert r.status_code == 200 and len(decode(r.content)["hotspots"]["features"]) == 1

    meta = client.get(BASE.format(name="hotspots")).json()
    assert meta["dataType"] == "vector" and meta["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    item = next(link for link in meta["links"] if link["rel"] == "item")
    assert item["templated"] and item["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
    limits = {lim["tileMatrix"]: lim for lim in meta["tileMatrixSetLimits"]}
    assert limits["12"]["minTileRow"] <= row <= limits["12"]["maxTileRow"]
    assert limits["12"]["minTileCol"] <= col <= limits["12"]["maxTileCol"]
    assert meta["layers"][0]["geometryDimension"] == 0

    tilesets = client.get("/ogc/collections/hotspots/tiles").json()["tilesets"]
    assert tilesets[0]["links"][0]["href"].endswith("/collections/hotspots/tiles/WebMercatorQuad")
    tms = client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()
    assert tms["tileMatrices"][12]["matrixWidth"] == 4096
    assert tms["tileMatrices"][0]["scaleDenominator"] == pytest.approx(559082264.0287178)
    assert client.get("/ogc/tileMatrixSets").json()["tileMatrixSets"][0]["id"] == "WebMercatorQuad"
    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance
    links = client.get("/ogc/collections/hotspots").json()["links"]
    assert any(link["rel"].endswith("/tilesets-vector") for link in links)


@pytest.mark.slow
def test_gdal_reads_the_tiles_from_a_real_server(live_server, db_url, fires):
    """GDAL's MVT driver reads a tile over HTTP from uvicorn (tile numbers as open options, since the OGC path is
    row before column) and places the detection where it was, in EPSG:3857."""
    base = live_server(db_url)
    z = 12
    row, col, _, _ = T.lonlat_to_tile(*FIRE, z)
    # ?f=mvt: a path ending in three numbers is taken by GDAL for a z/x/y tileset folder, not one tile
    url = f"MVT:/vsicurl/{base}{tile_url('hotspots', z, row, col)}?f=mvt"
    out = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-oo", f"Z={z}", "-oo", f"X={col}", "-oo", f"Y={row}", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Feature Count: 1" in out.stdout and "confidence (Integer) = 3" in out.stdout
    assert "district_th (String) = เมืองแพร่" in out.stdout
    point = next(line for line in out.stdout.splitlines() if "POINT (" in line)
    x, y = (float(v) for v in point.split("(")[1].rstrip(")").split())
    from pyproj import Transformer

    ex, ey = Transformer.from_crs(4326, 3857, always_xy=True).transform(*FIRE)
    assert abs(x - ex) < 20 and abs(y - ey) < 20  # one 4096th of a z12 tile is about 2.4 m


@pytest.mark.slow
def test_map_above_the_threshold_draws_detections_from_tiles(fires, client_factory, db_url, login):
    """With more detections than map_tiles_above, the overview draws them with Leaflet.VectorGrid from this
    service's tiles (script served locally, nothing from the internet); below it they stay embedded."""
    committee = login("committee2", "committee_member")
    period = {"from": "2024-03-01", "to": "2024-03-31"}
    tiled = client_factory(db_url, map_tiles_above=1)
    page = tiled.get("/maps/overview", params=period, headers=committee)
    assert page.status_code == 200, page.text
    html = page.text.replace("\\/", "/")  # the URL is a JSON string in the page ("\/" for "/")
    assert "L.vectorGrid.protobuf(" in html and "Hotspots, clickable (" not in html
    assert "Hotspots as vector tiles, clickable (2)" in html
    # the period in Asia/Bangkok as UTC instants: 1 March 00:00 +07:00 is 29 February 17:00 UTC
    assert '"/ogc/collections/hotspots/tiles/WebMercatorQuad/{z}/{y}/{x}?datetime=2024-02-29T17:00:00Z/' in html
    script = "/maps/vendor/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js"
    assert f'src="{script}"' in html and "unpkg.com" not in html
    served = tiled.get(script)
    assert served.status_code == 200 and b"vectorGrid" in served.content
    assert "textContent" in html  # the popup is built from the tile's properties as text, never as HTML
    # the template the page uses gives the detections (OGC row/column order filled in by Leaflet: {y} then {x})
    template = html.split('"/ogc/collections/hotspots/tiles/WebMercatorQuad/', 1)[1].split('"', 1)[0]
    row, col, _, _ = T.lonlat_to_tile(*FIRE, 12)
    url = "/ogc/collections/hotspots/tiles/WebMercatorQuad/" + template.replace("{z}", "12")
    r = tiled.get(url.replace("{y}", str(row)).replace("{x}", str(col)))
    assert r.status_code == 200 and len(decode(r.content)["hotspots"]["features"]) == 1
    embedded = client_factory(db_url, map_tiles_above=1000).get("/maps/overview", params=period, headers=committee)
    assert "L.vectorGrid.protobuf(" not in embedded.text and "Hotspots, clickable (2)" in embedded.text
