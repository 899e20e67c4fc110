"""The admin layer upload: role check, one transaction, refusals with reasons, size cap, dry run."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Polygon

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

TAMBONS = DEFAULT_LAYERS_DIR / "phrae/phrae_tambon_hdx_codab.geojson"
FORM = {
    "layer_type": "subdistrict",
    "name": "tambon-2026",
    "version": "2026-01",
    "source": "test upload",
    "licence": "CC BY-IGO",
    "attribution": "RTSD / OCHA (CC BY-IGO)",
    "fields": json.dumps({"code": "tam_code", "name_th": "ADM3_TH", "name_en": "ADM3_EN", "parent_code": "amp_code"}),
}


@pytest.fixture(scope="module")
def tambon_gpkg(tmp_path_factory):
    path = tmp_path_factory.mktemp("up") / "tambon.gpkg"
    gpd.read_file(TAMBONS).to_crs("EPSG:32647").to_file(path)
    return path


def upload(client, path, headers=None, **form):
    with open(path, "rb") as f:
        return client.post(
            "/api/v1/admin/layers",
            data={**FORM, **form},
            headers=headers or {},
            files={"file": (path.name, f, "application/octet-stream")},
        )


def test_upload_needs_an_administrator(client, tambon_gpkg):
    r = upload(client, tambon_gpkg)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    r = upload(client, tambon_gpkg, headers={"Authorization": "Bearer not-the-token"})
    assert r.status_code == 401
    r = upload(client, tambon_gpkg, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


@pytest.mark.slow
def test_upload_loads_in_one_step_and_shows_in_the_api(client, tambon_gpkg, admin_headers):
    r = upload(client, tambon_gpkg, admin_headers)
    assert r.status_code == 201, r.text
    report = r.json()
    assert (report["features"], report["inserted"], report["updated"]) == (78, 78, 0)
    assert report["source_crs"] == "EPSG:32647"
    layers = {(x["name"], x["version"]): x for x in client.get("/api/v1/layers", headers=admin_headers).json()}
    assert layers[("tambon-2026", "2026-01")]["loaded_by"] == "admin"
    body = client.get("/api/v1/subdistricts", params={"district": "5405"}).json()
    assert {f["properties"]["version"] for f in body["features"]} == {"2026-01"}
    again = upload(client, tambon_gpkg, admin_headers).json()
    assert (again["inserted"], again["unchanged"]) == (0, 78)


def test_dry_run_reports_and_stores_nothing(client, tambon_gpkg, admin_headers):
    r = upload(client, tambon_gpkg, admin_headers, dry_run="true")
    assert r.status_code == 200 and r.json()["dry_run"] is True and r.json()["inserted"] == 78
    assert ("tambon-2026", "2026-01") not in {(x["name"], x["version"]) for x in client.get("/api/v1/layers").json()}


@pytest.mark.slow
def test_refused_file_is_422_with_reasons_and_nothing_stored(client, admin_headers, tmp_path):
    gdf = gpd.read_file(TAMBONS)
    gdf.loc[3, "geometry"] = Polygon([(100.0, 18.0), (100.1, 18.1), (100.1, 18.0), (100.0, 18.1)])
    path = tmp_path / "bad.geojson"
    gdf.to_file(path)
    before = client.get("/api/v1/layers").json()
    r = upload(client, path, admin_headers)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "layer_rejected" and "Nothing was stored" in err["message"]
    assert err["details"][0]["feature"] == 3 and "Self-intersection" in err["details"][0]["reason"]
    assert client.get("/api/v1/layers").json() == before


@pytest.mark.parametrize(
    "form, code",
    [
        ({"fields": "{not json"}, "invalid_fields"),
        ({"fields": '["code"]'}, "invalid_fields"),
        ({"layer_type": "country"}, "invalid_layer_type"),
    ],
)
def test_bad_form_values(client, tambon_gpkg, admin_headers, form, code):
    r = upload(client, tambon_gpkg, admin_headers, **form)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


def test_missing_form_fields_are_422(client, admin_headers, tambon_gpkg):
    with open(tambon_gpkg, "rb") as f:
        r = client.post("/api/v1/admin/layers", headers=admin_headers, files={"file": ("t.gpkg", f)})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} >= {"body.layer_type", "body.name", "body.version"}


def test_file_over_the_size_cap_is_413(db_url, client_factory, admin_headers, tmp_path):
    small = client_factory(db_url, max_upload_mb=1)
    big = tmp_path / "big.geojson"
    big.write_bytes(b" " * (2 << 20))
    r = upload(small, big, admin_headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


# --- uploads are recognised from their bytes; VRT and other indirection refused before GDAL opens them ---
@pytest.fixture
def listener():
    """A local HTTP server that counts the requests it gets (what a VRT would make GDAL fetch)."""
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'{"type":"FeatureCollection","features":[]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def _vrt(url: str, local: str) -> str:
    return (
        f'<OGRVRTDataSource><OGRVRTLayer name="a"><SrcDataSource>/vsicurl/{url}/a.geojson</SrcDataSource>'
        f'</OGRVRTLayer><OGRVRTLayer name="b"><SrcDataSource>{local}</SrcDataSource></OGRVRTLayer>'
        "</OGRVRTDataSource>"
    )


@pytest.mark.slow
def test_vrt_under_any_name_is_refused_before_gdal_opens_it(client, admin_headers, listener, tmp_path):
    import zipfile

    url, hits = listener
    secret = tmp_path / "secret.csv"
    secret.write_text("code,name_th\n1,secret\n")
    vrt = _vrt(url, str(secret))
    files = {}
    for name in ("d.geojson", "d.json", "d.kml", "d.gpkg", "d.shp"):
        files[name] = vrt.encode()
    files["bom.geojson"] = b"\xef\xbb\xbf  \n" + vrt.encode()
    files["kml_with_vrt.kml"] = ('<?xml version="1.0"?><kml><!-- ' + vrt + " --></kml>").encode()
    for member, extra in (("d.shp", None), ("d.shp", ("d.vrt", vrt))):
        path = tmp_path / f"z{len(files)}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(member, vrt if extra is None else b"\x00\x00\x27\x0a" + bytes(96))
            if extra:
                zf.writestr(*extra)
        files[path.name] = path.read_bytes()
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        r = upload(client, path, admin_headers)
        assert r.status_code == 422, (name, r.status_code, r.text)
        assert "Nothing was stored" in r.json()["error"]["message"], r.text
    assert hits == []  # GDAL fetched nothing


def test_sniffing_is_shared_with_rasters(tmp_path):
    from geo_service import uploads
    from geo_service.hotspots.rasters import RasterRejected, open_checked

    fake = tmp_path / "x.tif"
    fake.write_bytes(b"<OGRVRTDataSource></OGRVRTDataSource>")
    with pytest.raises(RasterRejected, match="virtual dataset"):
        open_checked(fake)
    gpkg = tmp_path / "a.tif"
    gpkg.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(RasterRejected, match="GeoPackage"):
        open_checked(gpkg)
    assert uploads.sniff(TAMBONS, ("geojson",), ValueError).gdal_path.startswith("GeoJSON:")
