"""Hotspot routes: admin uploads (auth, refusals as 4xx with line/column), GeoJSON, summaries, rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import shape

from tests.samples import VIIRS_HEADER, fire_mask_tif

DATA = Path(__file__).parent / "data" / "firms"


def upload(client, path, headers=None, **form):
    with open(path, "rb") as f:
        return client.post(
            "/api/v1/admin/hotspots/firms", data=form, headers=headers or {}, files={"file": (path.name, f, "text/csv")}
        )


def test_upload_needs_an_administrator(client):
    assert upload(client, DATA / "viirs_snpp_nrt.csv").status_code == 401
    assert client.get("/api/v1/admin/hotspots/batches").status_code == 401


def test_upload_list_and_events(client, admin_headers):
    r = upload(client, DATA / "viirs_snpp_nrt.csv", admin_headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["rows_new"], body["rows_total"]) == (5, 5) and len(body["event_ids"]) >= 1
    r = upload(client, DATA / "viirs_snpp_sp.csv", admin_headers)
    assert (r.json()["rows_updated"], r.json()["rows_new"]) == (3, 0)
    fc = client.get("/api/v1/hotspots", params={"sensor": "VIIRS", "min_confidence": "nominal"})
    assert fc.status_code == 200 and fc.headers["content-type"].startswith("application/geo+json")
    feats = fc.json()["features"]
    assert len(feats) == 4  # the low-confidence night detection is filtered out
    props = feats[0]["properties"]
    assert props["acq_local"].endswith("+07:00") and props["district"].startswith("54")
    assert client.get("/api/v1/hotspots", params={"sensor": "S-NPP"}).json()["numberReturned"] == 3
    events = client.get("/api/v1/hotspots/events").json()
    assert events["numberReturned"] == 1  # all within about 500 m and a day: one fire
    assert events["features"][0]["properties"]["detections"] == 5
    batches = client.get("/api/v1/admin/hotspots/batches", headers=admin_headers).json()
    assert [b["rows_updated"] for b in batches] == [3, 0]


def test_refused_upload_is_422_with_line_and_column(client, admin_headers, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(VIIRS_HEADER + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,x,2.0NRT,290,2.0,D\n")
    r = upload(client, bad, admin_headers)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "file_rejected"
    assert err["details"][0]["line"] == 2 and err["details"][0]["column"] == "confidence"
    assert client.get("/api/v1/hotspots").json()["numberReturned"] == 0
    r = upload(client, DATA / "viirs_snpp_nrt.csv", admin_headers, processing="LATER")
    assert r.status_code == 400


def test_bad_query_values_are_400(client):
    assert client.get("/api/v1/hotspots/summary", params={"period": "week"}).status_code == 400
    assert client.get("/api/v1/hotspots/summary", params={"group_by": "village"}).status_code == 400
    assert client.get("/api/v1/hotspots/summary", params={"compare": "last_decade"}).status_code == 400
    whole = client.get("/api/v1/hotspots/summary", params={"compare": "previous_year", "period": "all"})
    assert whole.status_code == 400 and "from and to" in whole.json()["error"]["message"]
    assert client.get("/api/v1/hotspots", params={"sensor": "GOES"}).status_code == 400
    assert client.get("/api/v1/hotspots", params={"bbox": "1,2,3"}).status_code == 400
    assert client.get("/api/v1/hotspots/summary", params={"from": "2024-13-01"}).status_code == 422
    assert client.get("/api/v1/rasters/999").status_code == 404
    assert client.get("/api/v1/hotspots/recurrence/NOPE/grid").status_code == 404


def _song_raster(path, tmp_path):
    return fire_mask_tif(path, 100.2157, 18.4695, background=0, fire=np.s_[5:7, 5:7])


@pytest.mark.slow
def test_raster_upload_and_summary_with_burned_area(client, admin_headers, tmp_path):
    tif = _song_raster(tmp_path / "mask.tif", tmp_path)
    with open(tif, "rb") as f:
        r = client.post(
            "/api/v1/admin/rasters",
            headers=admin_headers,
            data={"product": "fire_mask", "acq_date": "2024-03-14"},
            files={"file": ("mask.tif", f, "image/tiff")},
        )
    assert r.status_code == 201, r.text
    rid = r.json()["raster_id"]
    listing = client.get("/api/v1/rasters").json()
    assert [x["id"] for x in listing] == [rid]
    detail = client.get(f"/api/v1/rasters/{rid}").json()
    song = next(s for s in detail["stats"] if s["zone_type"] == "district")
    assert song["zone_code"] == "5406" and song["burned_ha"] == 4.0 and song["burned_rai"] == 25.0
    features = client.get(f"/api/v1/rasters/{rid}/fire-features").json()
    assert features["numberReturned"] == 1 and features["features"][0]["properties"]["class"] == "high"
    # summary by district and fiscal year: burned area from the raster, even with no detection
    s = client.get("/api/v1/hotspots/summary", params={"group_by": "district", "period": "fiscal_year"}).json()
    row = next(x for x in s["rows"] if x["district"] == "5406")
    assert (row["period"], row["burned_area_ha"], row["detections"]) == ("2567", 4.0, 0)
    with open(tmp_path / "mask.tif", "rb") as f:
        r = client.post(
            "/api/v1/admin/rasters",
            headers=admin_headers,
            data={"product": "smoke", "acq_date": "2024-03-14"},
            files={"file": ("mask.tif", f, "image/tiff")},
        )
    assert r.status_code == 400
    not_tif = tmp_path / "x.tif"
    not_tif.write_text("hello")
    with open(not_tif, "rb") as f:
        r = client.post(
            "/api/v1/admin/rasters",
            headers=admin_headers,
            data={"product": "fire_mask", "acq_date": "2024-03-14"},
            files={"file": ("x.tif", f, "image/tiff")},
        )
    assert r.status_code == 422 and r.json()["error"]["code"] == "raster_rejected"


def test_hotspot_list_says_when_it_is_cut(client, admin_headers):
    """numberMatched counts every match; a next link leads through the rest, page by page, without repeats."""
    assert upload(client, DATA / "viirs_snpp_nrt.csv", admin_headers).status_code == 201
    page = client.get("/api/v1/hotspots", params={"limit": 2, "sensor": "VIIRS"}).json()
    assert (page["numberMatched"], page["numberReturned"]) == (5, 2)
    seen = [f["id"] for f in page["features"]]
    while nxt := next((link["href"] for link in page["links"] if link["rel"] == "next"), None):
        assert "sensor=VIIRS" in nxt and "limit=2" in nxt
        page = client.get(nxt).json()
        assert page["numberMatched"] == 5
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == 5 and [link["rel"] for link in page["links"]] == ["prev"]
    whole = client.get("/api/v1/hotspots").json()
    assert whole["numberMatched"] == whole["numberReturned"] == 5 and whole["links"] == []
    events = client.get("/api/v1/hotspots/events", params={"limit": 1}).json()
    assert events["numberMatched"] == events["numberReturned"] == 1 and events["links"] == []


def _geojson_routes(client, admin_headers, tmp_path):
    """Every hotspot route that answers GeoJSON, on data that gives each of them polygons."""
    pa = client.get("/api/v1/protected-areas").json()["features"]
    code = next(f["properties"]["code"] for f in pa if f["properties"]["code"] == "NRF-PR-001")
    lon, lat = (
        shape(next(f for f in pa if f["properties"]["code"] == code)["geometry"]).representative_point().coords[0]
    )
    rows = "".join(
        f"{lat + d:.4f},{lon + d:.4f},330,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290,5.0,D\n"
        for d, day in ((0, "2023-03-01"), (0.001, "2024-03-01"), (0.002, "2024-03-02"))
    )
    r = client.post(
        "/api/v1/admin/hotspots/firms",
        headers=admin_headers,
        files={"file": ("grid.csv", (VIIRS_HEADER + rows).encode())},
    )
    assert r.status_code == 201, r.text
    tif = _song_raster(tmp_path / "mask.tif", tmp_path)
    with open(tif, "rb") as f:
        rid = client.post(
            "/api/v1/admin/rasters",
            headers=admin_headers,
            data={"product": "fire_mask", "acq_date": "2024-03-14"},
            files={"file": ("mask.tif", f, "image/tiff")},
        ).json()["raster_id"]
    return [
        "/api/v1/hotspots",
        "/api/v1/hotspots/events",
        f"/api/v1/hotspots/recurrence/{code}/grid",
        f"/api/v1/rasters/{rid}/fire-features",
    ]


@pytest.mark.slow
def test_every_hotspot_geojson_route_is_rfc7946(client, admin_headers, tmp_path):
    """RFC 7946 on every GeoJSON route: exterior rings counter-clockwise, holes clockwise (the recurrence
    grid drew its cells clockwise)."""
    polygons = 0
    for route in _geojson_routes(client, admin_headers, tmp_path):
        fc = client.get(route).json()
        assert fc["type"] == "FeatureCollection" and fc["features"], route
        for feature in fc["features"]:
            geom = shape(feature["geometry"])
            assert geom.is_valid, route
            for poly in getattr(geom, "geoms", [geom]) if geom.geom_type != "Point" else []:
                polygons += 1
                assert poly.exterior.is_ccw and all(not r.is_ccw for r in poly.interiors), route
    assert polygons >= 3
