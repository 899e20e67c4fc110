"""Contracts load from every format the issue names through the reference layers' reader (issue 15 item 1): a
GeoPackage in UTM 47N and a zipped Shapefile in cp874 (Thai names in the DBF), besides the CSV with WKT and the
GeoJSON of tests/test_red_flags_api.py; every load, edit and dismissal is in the audit trail."""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pytest
from shapely.geometry import LineString
from sqlalchemy import text

from tests.samples import post_viirs


def frame(crs: str) -> gpd.GeoDataFrame:
    x, y = 620_500.0, 2_009_500.0  # UTM 47N near Phrae town
    g = gpd.GeoDataFrame(
        {
            "EGP_NO": ["GP-1", "GP-2"],
            "NAME": ["แนวกันไฟบ้านนาคูหา", "ลาดตระเวนดอยผาหลัก"],
            "AGENCY": ["กรมป่าไม้", "กรมอุทยานแห่งชาติ"],
            "CONTRACTOR": ["หจก. ป่าไม้แพร่", "บริษัท ลาดตระเวน จำกัด"],
            "WORK": ["แนวกันไฟ", "patrol"],
            "FY": [2567, 2567],
            "WIDTH": [8.0, 10.0],
        },
        geometry=[
            LineString([(x, y), (x + 1000, y)]),
            LineString([(x, y - 1750), (x + 500, y - 1750)]),
        ],  # a Shapefile holds one type
        crs="EPSG:32647",
    )
    return g.to_crs(crs) if crs != "EPSG:32647" else g


FIELDS = (
    '{"contract_number": "EGP_NO", "project_name": "NAME", "agency": "AGENCY", "contractor": "CONTRACTOR", '
    '"work_type": "WORK", "fiscal_year_be": "FY", "width_m": "WIDTH"}'
)


def _load(client, admin_headers, name: str, content: bytes, **data: str) -> dict:
    """Load a contracts file through the admin route with the FIELDS mapping; the route's answer."""
    r = client.post(
        "/api/v1/admin/redflags/contracts",
        headers=admin_headers,
        files={"file": (name, content)},
        data={"fields": FIELDS, **data},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _by_number(client, admin_headers) -> dict[str, dict]:
    """The stored contracts by contract number."""
    items = client.get("/api/v1/redflags/contracts", headers=admin_headers).json()["items"]
    return {c["contract_number"]: c for c in items}


@pytest.mark.slow
def test_geopackage_and_zipped_cp874_shapefile_load_the_same_contracts(client, admin_headers, tmp_path, db_url):
    gpkg = tmp_path / "contracts.gpkg"
    frame("EPSG:32647").to_file(gpkg, layer="contracts", driver="GPKG")
    out = _load(client, admin_headers, "contracts.gpkg", gpkg.read_bytes(), layer="contracts", version="gpkg-1")
    assert (out["inserted"], out["source_crs"]) == (2, "EPSG:32647")
    first = _by_number(client, admin_headers)
    assert first["GP-1"]["work_type"] == "firebreak" and first["GP-1"]["project_name"] == "แนวกันไฟบ้านนาคูหา"
    assert first["GP-1"]["area"]["m2"] == pytest.approx(8_000, rel=0.01)  # 1 km line, 8 m wide
    assert first["GP-2"]["area"]["m2"] == pytest.approx(5_000, rel=0.01)
    # the same contracts as a zipped Shapefile in cp874, in EPSG:4326: an unchanged reload changes nothing
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame("EPSG:4326").to_file(shp_dir / "contracts.shp", encoding="cp874")
    (shp_dir / "contracts.cpg").write_text("874")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)
    out = _load(client, admin_headers, "contracts.zip", buf.getvalue(), encoding="cp874", version="shp-1")
    assert out["inserted"] == 0 and out["updated"] + out["unchanged"] == 2, out
    again = _by_number(client, admin_headers)
    assert again["GP-1"]["contractor"] == "หจก. ป่าไม้แพร่" and again["GP-2"]["agency"] == "กรมอุทยานแห่งชาติ"
    assert again["GP-1"]["area"]["m2"] == pytest.approx(8_000, rel=0.01)
    # loads, an edit and a dismissal are audited
    cid = again["GP-2"]["id"]
    v = client.get(f"/api/v1/redflags/contracts/{cid}", headers=admin_headers).headers["ETag"]
    edit = client.patch(
        f"/api/v1/redflags/contracts/{cid}",
        headers={**admin_headers, "If-Match": v},
        json={"start_date": "2023-10-01", "end_date": "2024-05-31", "paid_thb": 10},
    )
    assert edit.status_code == 200, edit.text
    lon, lat = (
        gpd.GeoSeries([LineString([(620_700, 2_007_751), (620_800, 2_007_751)]).centroid], crs=32647)
        .to_crs(4326)[0]
        .coords[0]
    )
    post_viirs(
        client, admin_headers, [f"{lat:.5f},{lon:.5f},330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n"]
    )
    flags = client.get("/api/v1/redflags/flags", headers=admin_headers, params={"rule": "fire_in_fire_contract"}).json()
    assert [f["contract_ids"] for f in flags["items"]] == [[cid]]
    d = client.post(
        f"/api/v1/redflags/flags/{flags['items'][0]['id']}/dismiss",
        headers=admin_headers,
        json={"reason": "checked on site"},
    )
    assert d.status_code == 200, d.text
    with client.app.state.engine.begin() as c:
        logged = c.execute(
            text("""SELECT action, entity_type FROM audit_log
                    WHERE entity_type IN ('redflag_contracts', 'redflag_contract', 'red_flag') ORDER BY id""")
        ).all()
    assert [tuple(r) for r in logged] == [
        ("load", "redflag_contracts"),
        ("load", "redflag_contracts"),
        ("update", "redflag_contract"),
        ("dismiss", "red_flag"),
    ]
