"""The notebooks run against the service's database (executed with nbclient, as an analyst would)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import nbformat
from nbclient import NotebookClient
from pyproj import Geod

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HEADER = "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_ti5,frp,daynight"


def test_fire_season_review(client, admin_headers, db_url, monkeypatch):
    song = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index(
        "amp_code").geometry["5406"].representative_point()
    geod = Geod(ellps="WGS84")

    def near(i):
        lon, lat, _ = geod.fwd(song.x, song.y, 37 * i, 150 * (i + 1))
        return round(lat, 5), round(lon, 5)

    rows = [HEADER]
    for i, day in enumerate(["2024-02-03", "2024-03-10", "2024-03-11", "2024-04-01", "2024-05-20"]):  # season 2024
        rows.append(f"{near(i)[0]},{near(i)[1]},330,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290,{10 + i},D")
    for i, day in enumerate(["2023-03-01", "2023-04-15", "2023-04-16"]):                            # season 2023
        rows.append(f"{near(i + 5)[0]},{near(i + 5)[1]},330,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290,5,D")
    rows.append(f"{near(9)[0]},{near(9)[1]},330,0.4,0.4,2024-08-01,0630,N,VIIRS,n,2.0NRT,290,5,D")  # not in season
    rows.append("17.95,100.05,330,0.4,0.4,2024-03-10,0630,N,VIIRS,n,2.0NRT,290,5,D")                # Den Chai
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers,
                    files={"file": ("season.csv", ("\n".join(rows) + "\n").encode())})
    assert r.status_code == 201, r.text

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", db_url.render_as_string(hide_password=False))
    monkeypatch.setenv("REVIEW_DISTRICT", "5406")
    monkeypatch.setenv("REVIEW_SEASON", "2024")
    nb = nbformat.read(NOTEBOOKS / "fire_season_review.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    summary = json.loads(next(line for text in outputs for line in text.splitlines()
                              if line.startswith("SUMMARY "))[len("SUMMARY "):])
    assert summary["detections"] == 5 and summary["previous"] == 3 and summary["season_be"] == 2567
    assert summary["change_percent"] == 66.7 and summary["max_frp_mw"] == 14.0
    assert sum(summary["by_protected_area"].values()) <= 5 * 3
    images = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the weekly chart was drawn"
    assert not any(o.get("output_type") == "error" for cell in nb.cells for o in cell.get("outputs", []))
