"""The notebooks run against the service's database (executed with nbclient, as an analyst would), through
the same runner as `./dev notebook` / `geo-service notebooks run`; and that command works for a newcomer on
the embedded database, with no database URL or password typed anywhere."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from pyproj import Geod

from geo_service import notebook_runner
from geo_service.errors import InvalidInput, NotFound
from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from tests.test_cli import project_env, run  # noqa: F401 - the CLI's first-run fixture

HEADER = "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_ti5,frp,daynight"


def season_csv() -> str:
    """Five detections near Song in the 2024 season, three in 2023, one off-season, one in Den Chai."""
    song = (
        gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson")
        .set_index("amp_code")
        .geometry["5406"]
        .representative_point()
    )
    geod = Geod(ellps="WGS84")

    def near(i):
        lon, lat, _ = geod.fwd(song.x, song.y, 37 * i, 150 * (i + 1))
        return round(lat, 5), round(lon, 5)

    rows = [HEADER]
    for i, day in enumerate(["2024-02-03", "2024-03-10", "2024-03-11", "2024-04-01", "2024-05-20"]):  # season 2024
        rows.append(f"{near(i)[0]},{near(i)[1]},330,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290,{10 + i},D")
    for i, day in enumerate(["2023-03-01", "2023-04-15", "2023-04-16"]):  # season 2023
        rows.append(f"{near(i + 5)[0]},{near(i + 5)[1]},330,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290,5,D")
    rows.append(f"{near(9)[0]},{near(9)[1]},330,0.4,0.4,2024-08-01,0630,N,VIIRS,n,2.0NRT,290,5,D")  # not in season
    rows.append("17.95,100.05,330,0.4,0.4,2024-03-10,0630,N,VIIRS,n,2.0NRT,290,5,D")  # Den Chai
    return "\n".join(rows) + "\n"


def summary_of(lines: list[str]) -> dict:
    return json.loads(next(line for line in lines if line.startswith("SUMMARY "))[len("SUMMARY ") :])


@pytest.mark.slow
def test_fire_season_review(client, admin_headers, db_url, monkeypatch, tmp_path):
    r = client.post(
        "/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("season.csv", season_csv().encode())}
    )
    assert r.status_code == 201, r.text

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", db_url.render_as_string(hide_password=False))  # an external PostGIS
    out = notebook_runner.run_notebook(
        "fire_season_review", tmp_path / "review.ipynb", {"REVIEW_DISTRICT": "5406", "REVIEW_SEASON": "2024"}
    )
    summary = summary_of(notebook_runner.printed_lines(out))
    assert summary["detections"] == 5 and summary["previous"] == 3 and summary["season_be"] == 2567
    assert summary["change_percent"] == 66.7 and summary["max_frp_mw"] == 14.0
    assert sum(summary["by_protected_area"].values()) <= 5 * 3
    nb = json.loads(out.read_text())
    outputs = [o for cell in nb["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the weekly chart was drawn"
    assert not any(o.get("output_type") == "error" for o in outputs)
    with pytest.raises(NotFound):
        notebook_runner.run_notebook("nope", tmp_path / "x.ipynb")
    with pytest.raises(InvalidInput, match="stopped at an error"):  # a district that does not exist
        notebook_runner.run_notebook("fire_season_review", tmp_path / "bad.ipynb", {"REVIEW_DISTRICT": "9999"})


@pytest.mark.slow
def test_notebook_command_on_the_embedded_database(project_env, tmp_path):  # noqa: F811 - fixture
    """A newcomer's path: load hotspots, then one command; the database is started by the command itself."""
    csv = tmp_path / "season.csv"
    csv.write_text(season_csv())
    run(project_env, "demo")
    run(project_env, "hotspots", "ingest", str(csv))
    done = run(project_env, "notebooks", "run", "fire_season_review", "-p", "REVIEW_SEASON=2024")
    summary = summary_of(done.stdout.splitlines())
    assert summary["district"] == "5406" and summary["detections"] == 5 and summary["previous"] == 3
    assert "Executed notebook" in done.stderr
    refused = run(project_env, "notebooks", "run", "fire_season_review", "-p", "REVIEW_SEASON", check=False)
    assert refused.returncode == 1 and "NAME=VALUE" in refused.stderr and "Traceback" not in refused.stderr
