"""Vegetation gain of reforestation plots (rule ``reforestation_loss``: "or with no vegetation gain where an index
raster pair is available"), with generated rasters and hand-checked answers.

Grid: EPSG:32647 (UTM 47N), 10 m pixels, 200 x 200, its corner on whole 10 m near Phrae. Three reforestation plots,
each 100 m x 100 m on pixel edges (the pixel-centre rule takes exactly 10 x 10 pixels):

- plot A (columns 20-29, rows 20-29): before 0.1 in its left five columns and 0.3 in its right five (mean 0.2),
  after 0.7 everywhere: change +0.5, 100 pixels: a gain, no flag;
- plot B (columns 100-109, rows 100-109): before 0.40, after 0.42 with one nodata pixel: change +0.02 over 99
  pixels, below the default minimum gain 0.05: flagged (medium: a gain, only too small);
- plot C, 20 km away: not covered by the pair, not measured.

Then a second pair whose after image is in EPSG:4326 (warped onto the before grid): a constant 0.5, so plot B's
change is +0.1 (no longer flagged: the flag is kept, marked gone) and plot A's +0.3."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from tests.test_red_flags_api import centre  # noqa: F401  (fixture: a point inside the bundled reserve)

TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
TO_LL = Transformer.from_crs(32647, 4326, always_xy=True)
PIXEL = 10.0
SIZE = 200


def _grid(lon, lat):
    x, y = TO_UTM.transform(lon, lat)
    return float(np.floor(x / 100) * 100 - 500), float(np.floor(y / 100) * 100 + 500)  # the raster's top-left corner


def _plot(x0, y0, col, row, size_px=10) -> list[list[float]]:
    xa, xb = x0 + col * PIXEL, x0 + (col + size_px) * PIXEL
    ya, yb = y0 - (row + size_px) * PIXEL, y0 - row * PIXEL
    return [list(TO_LL.transform(x, y)) for x, y in ((xa, ya), (xb, ya), (xb, yb), (xa, yb), (xa, ya))]


def _tif(path, data, transform, crs, nodata=None):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        ds.write(data.astype("float32"), 1)
    return path


def _contracts(x0, y0, lon, lat) -> bytes:
    import json

    far = [[lon + 0.2 + dx, lat + dy] for dx, dy in ((0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001), (0, 0))]
    rings = {"A": _plot(x0, y0, 20, 20), "B": _plot(x0, y0, 100, 100), "C": far}
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "contract_number": f"RF-{name}",
                "project_name": f"ปลูกป่า {name}",
                "agency": "กรมป่าไม้",
                "contractor": "หจก. ปลูกป่า",
                "work_type": "reforestation",
                "fiscal_year_be": 2566,
                "start_date": "2022-10-01",
                "end_date": "2023-09-30",
            },
        }
        for name, ring in rings.items()
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _post(client, headers, before, after, **data):
    with open(before, "rb") as b, open(after, "rb") as a:
        return client.post(
            "/api/v1/admin/redflags/vegetation",
            headers=headers,
            files={"before": (before.name, b.read(), "image/tiff"), "after": (after.name, a.read(), "image/tiff")},
            data=data,
        )


@pytest.fixture
def plots(client, admin_headers, centre, tmp_path):  # noqa: F811
    lon, lat = centre
    x0, y0 = _grid(lon, lat)
    r = client.post(
        "/api/v1/admin/redflags/contracts",
        headers=admin_headers,
        files={"file": ("plots.geojson", _contracts(x0, y0, lon, lat), "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    items = client.get("/api/v1/redflags/contracts", headers=admin_headers, params={"limit": 500}).json()["items"]
    ids = {c["contract_number"][3:]: c["id"] for c in items if c["contract_number"].startswith("RF-")}
    transform = from_origin(x0, y0, PIXEL, PIXEL)
    before = np.full((SIZE, SIZE), 0.2, dtype=np.float32)
    before[20:30, 20:25], before[20:30, 25:30] = 0.1, 0.3
    before[100:110, 100:110] = 0.40
    after = np.full((SIZE, SIZE), 0.2, dtype=np.float32)
    after[20:30, 20:30] = 0.7
    after[100:110, 100:110] = 0.42
    after[105, 105] = -9999
    paths = {
        "before": _tif(tmp_path / "ndvi_2022.tif", before, transform, "EPSG:32647"),
        "after": _tif(tmp_path / "ndvi_2024.tif", after, transform, "EPSG:32647", nodata=-9999),
    }
    # the same place's after image in longitude/latitude: a constant 0.5 over a wider box
    west, north = TO_LL.transform(x0 - 200, y0 + 200)
    east, south = TO_LL.transform(x0 + SIZE * PIXEL + 200, y0 - SIZE * PIXEL - 200)
    step = 0.0001
    ll = np.full((int((north - south) / step) + 1, int((east - west) / step) + 1), 0.5, dtype=np.float32)
    paths["after_ll"] = _tif(tmp_path / "ndvi_2025_ll.tif", ll, from_origin(west, north, step, step), "EPSG:4326")
    return ids, paths


def test_vegetation_gain_flags_the_plot_that_did_not_green(client, admin_headers, login, plots):
    ids, paths = plots
    r = _post(
        client,
        admin_headers,
        paths["before"],
        paths["after"],
        index="ndvi",
        before_date="2022-11-01",
        after_date="2024-11-01",
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["plots"], out["measured"], out["not_covered"], out["no_gain"]) == (3, 2, 1, 1)
    got = {x["contract_id"]: x for x in out["results"]}
    a, b = got[ids["A"]], got[ids["B"]]
    assert (a["pixels"], b["pixels"]) == (100, 99)
    assert a["before_mean"] == pytest.approx(0.2, abs=1e-6) and a["after_mean"] == pytest.approx(0.7, abs=1e-6)
    assert a["change"] == pytest.approx(0.5, abs=1e-6)
    assert b["before_mean"] == pytest.approx(0.40, abs=1e-6) and b["change"] == pytest.approx(0.02, abs=1e-6)
    assert ids["C"] not in got
    inv = login("veg_inv", "investigator")
    flags = client.get("/api/v1/redflags/flags", headers=inv, params={"rule": "reforestation_loss"}).json()
    assert [f["contract_ids"] for f in flags["items"]] == [[ids["B"]]]
    flag = flags["items"][0]
    gain = flag["figures"]["vegetation_gain"]
    assert (gain["index"], gain["pixels"], gain["no_gain"], gain["min_gain"]) == ("ndvi", 99, True, 0.05)
    assert gain["before_mean"] == pytest.approx(0.4, abs=1e-4) and gain["after_mean"] == pytest.approx(0.42, abs=1e-4)
    assert gain["change"] == pytest.approx(0.02, abs=1e-4) and gain["before_date"] == "2022-11-01"
    assert gain["source"]["after"]["file"] == "ndvi_2024.tif" and len(gain["source"]["after"]["sha256"]) == 64
    assert flag["severity"] == "medium" and flag["figures"]["detections"] == 0
    assert "no vegetation gain" in flag["reason_en"] and "พืชพรรณไม่เพิ่มขึ้น" in flag["reason_th"]
    # a later pair, after image in EPSG:4326 (warped onto the before grid): B greened; its flag is kept, gone
    r = _post(client, admin_headers, paths["before"], paths["after_ll"], index="ndvi")
    assert r.status_code == 201, r.text
    got = {x["contract_id"]: x for x in r.json()["results"]}
    assert got[ids["B"]]["change"] == pytest.approx(0.1, abs=1e-6) and got[ids["B"]]["pixels"] == 100
    assert got[ids["A"]]["change"] == pytest.approx(0.3, abs=1e-6) and r.json()["no_gain"] == 0
    again = client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=inv).json()
    assert again["current"] is False and again["id"] == flag["id"]


def test_refused_pairs_store_nothing(client, admin_headers, plots, tmp_path):
    _ids, paths = plots
    r = _post(client, admin_headers, paths["before"], paths["after"], index="evi")
    assert r.status_code == 400 and "ndvi" in r.json()["error"]["message"]
    r = _post(client, admin_headers, paths["before"], paths["after"], after_date="2020-01-01", before_date="2022-01-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_period"
    text_file = tmp_path / "notes.tif"
    text_file.write_text("not a raster")
    r = _post(client, admin_headers, paths["before"], text_file)
    assert 400 <= r.status_code < 500 and "Traceback" not in r.text
    flags = client.get("/api/v1/redflags/flags", headers=admin_headers, params={"rule": "reforestation_loss"}).json()
    assert flags["total"] == 0


def test_command_line_measures_a_pair(db_url, client, admin_headers, plots):
    import os
    import subprocess
    import sys

    _ids, paths = plots
    env = {**os.environ, "GEO_SERVICE_DATABASE_URL": db_url.render_as_string(hide_password=False), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "geo_service.cli", "redflags", "vegetation"]
    run = subprocess.run(
        [*cli, str(paths["before"]), str(paths["after"]), "--index", "ndvi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert (
        "3 reforestation plots: 2 measured (1 not covered), 1 with a mean NDVI change below 0.05"
        in run.stderr + run.stdout
    )
    bad = subprocess.run(
        [*cli, str(paths["before"]), str(paths["after"]), "--index", "evi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "Unknown index" in bad.stderr + bad.stdout
