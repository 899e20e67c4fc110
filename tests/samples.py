"""Small inputs several test modules send through the API or load: a FIRMS VIIRS file, a fire-mask GeoTIFF, a
protected-area layer file, red-flag contracts."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.layers.load import load_file
from geo_service.layers.store import LayerMeta

VIIRS_HEADER = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
)
MODIS_HEADER = (
    "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_t31,frp,daynight\n"
)


def post_viirs(client, headers, rows: list[str]) -> None:
    """Ingest VIIRS rows (CSV lines without the header) through the admin route."""
    r = client.post(
        "/api/v1/admin/hotspots/firms",
        headers=headers,
        files={"file": ("v.csv", (VIIRS_HEADER + "".join(rows)).encode())},
    )
    assert r.status_code == 201, r.text


def fire_mask_tif(path: Path, lon: float, lat: float, background: int = 5, fire=np.s_[8:11, 8:11]) -> Path:
    """A 20 x 20 MODIS-style fire mask (100 m pixels, UTM 47N) centred on lon/lat: class ``background`` (5: land)
    with the block ``fire`` (rows, cols) of class 9 (high-confidence fire; by default 3 x 3, 9 ha, in the middle)."""
    x, y = Transformer.from_crs(4326, 32647, always_xy=True).transform(lon, lat)
    a = np.full((20, 20), background, dtype=np.uint8)
    a[fire] = 9
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="uint8",
        crs="EPSG:32647",
        transform=from_origin(x - 1000, y + 1000, 100, 100),
        nodata=255,
    ) as dst:
        dst.write(a, 1)
    return path


def post_fire_mask(client, headers, path: Path, lon: float, lat: float, acq_date: str = "2024-03-14") -> dict:
    """Register fire_mask_tif(path, lon, lat) through the admin route; the API's answer."""
    fire_mask_tif(path, lon, lat)
    r = client.post(
        "/api/v1/admin/rasters",
        headers=headers,
        files={"file": ("mask.tif", path.read_bytes())},
        data={"product": "fire_mask", "acq_date": acq_date},
    )
    assert r.status_code == 201, r.text
    return r.json()


SYNTHETIC_INCIDENTS = text("""
    INSERT INTO incidents (kind, observed_at, geom, location_text, location_format, location_datum,
                           description, district_code)
    SELECT 'wildfire', now() - (g || ' minutes')::interval,
           ST_SetSRID(ST_MakePoint(99.4 + random(), 17.7 + random()), 4326), 'synthetic', 'decimal', 'WGS84',
           'synthetic row ' || g, '5401'
    FROM generate_series(1, :n) g""")


def insert_synthetic_incidents(conn, n: int) -> None:
    """``n`` wildfire incidents written straight into the table (for export volume tests, not attribution)."""
    conn.execute(SYNTHETIC_INCIDENTS, {"n": n})


def post_red_flag_contracts(client, headers, lon: float = 100.3, lat: float = 18.2) -> None:
    """Two paid firebreak contracts of FY 2567 over the same land (a double-payment red flag), through the admin
    route: enough for the contracts and red-flag collections to hold rows."""
    import json

    def square(x, y, d=0.005):
        return {
            "type": "Polygon",
            "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]],
        }

    features = [
        {
            "type": "Feature",
            "geometry": square(lon + dx, lat),
            "properties": {
                "contract_number": f"EGP-67-{n}",
                "project_name": f"แนวกันไฟ {n}",
                "agency": "กรมป่าไม้",
                "contractor": "หจก. ตัวอย่าง",
                "work_type": "firebreak",
                "paid_thb": 100000,
                "fiscal_year_be": 2567,
                "start_date": "2023-10-01",
                "end_date": "2024-05-31",
            },
        }
        for n, dx in ((1, 0.0), (2, 0.002))
    ]
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    r = client.post("/api/v1/admin/redflags/contracts", headers=headers, files={"file": ("c.geojson", body)})
    assert r.status_code == 201, r.text


def protected_area_file(path: Path, code: str, version: str, valid_from: str, geom) -> Path:
    """A GeoJSON layer file (EPSG:4326) of one national reserved forest ``code``, named in Thai and English as a
    test reserve: its revision ``version`` in force from ``valid_from`` (as typed in the file), outline ``geom``."""
    gdf = gpd.GeoDataFrame(
        {
            "code": [code],
            "name_th": ["ป่าทดสอบ"],
            "name_en": ["Test reserve"],
            "kind": ["ป่าสงวนแห่งชาติ"],
            "version": [version],
            "valid_from": [valid_from],
        },
        geometry=[geom],
        crs="EPSG:4326",
    )
    gdf.to_file(path)
    return path


def load_protected_areas(factory, path: Path, name: str, version: str) -> None:
    """Load ``path`` as revision ``version`` of the protected-area layer ``name`` (one transaction, committed)."""
    meta = LayerMeta(name=name, version=version, source="test", licence="test", attribution="Test")
    with transaction(factory) as s:
        load_file(s, path, "protected_area", meta)
