"""GeoPackage exports open without warnings in the GDAL of Debian 12 (3.6: ogrinfo, QGIS 3.22-3.28)."""

from __future__ import annotations

import subprocess

import pytest

from geo_service.exports.collections import COLLECTIONS
from tests.forest_patches import insert_patches


@pytest.mark.parametrize("name", sorted(COLLECTIONS))
@pytest.mark.slow
def test_geopackage_opens_without_warnings(client, admin_headers, tmp_path, name):
    client.post(
        "/api/v1/incidents",
        headers=admin_headers,
        json={"kind": "wildfire", "location": {"lat": 18.2, "lon": 100.3}, "description": "ไฟป่า"},
    )
    insert_patches(client.app.state.sessionmaker)
    r = client.get(f"/api/v1/exports/{name}", params={"f": "gpkg"}, headers=admin_headers)
    assert r.status_code == 200, r.text
    path = tmp_path / f"{name}.gpkg"
    path.write_bytes(r.content)
    proc = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Warning" not in out and "ERROR" not in out, out[-1500:]
    assert "Feature Count:" in out
