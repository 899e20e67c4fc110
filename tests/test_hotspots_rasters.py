"""Hotspot rasters in three CRSs with known answers, COG storage, refusals with nothing stored, fire features."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import rasterio
from pyproj import Geod, Transformer
from rasterio.transform import from_origin
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.hotspots.rasters import RasterRejected, fire_features, register_raster

SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
# An interior point of district 5406 (Song), far from its edges and from every protected area edge.
LON, LAT = 100.2157, 18.4695


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


@pytest.fixture(scope="module")
def song_point(ref_url):
    """A point deep inside Song (5406) with 3 km to any district or protected-area edge."""
    from sqlalchemy import create_engine

    engine = create_engine(ref_url)
    with engine.connect() as c:
        lon, lat = c.execute(
            text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Buffer(geom::geography, -3000)::geometry) p
            FROM admin_areas WHERE level = 'district' AND code = '5406' AND is_current) s""")
        ).one()
    engine.dispose()
    return lon, lat


def _write(path, array, crs, transform, nodata):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(array, 1)
    return path


def _grid_around(crs, lon, lat, res, n):
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    return from_origin(x - res * n / 2, y + res * n / 2, res, res)


def _district_stat(report, code="5406"):
    return next(s for s in report.stats if s["zone_type"] == "district" and s["zone_code"] == code)


@pytest.mark.slow
def test_fire_mask_in_utm_47n(sm, tmp_path, song_point):
    n = 40
    a = np.full((n, n), 5, dtype=np.uint8)  # 5 = land, no fire
    a[10:13, 10:13] = 9  # 9 high-confidence fire pixels
    a[20, 20] = a[20, 22] = 7  # 2 low
    a[30, 5] = 8  # 1 nominal
    a[0, :] = 255  # a nodata row
    f = _write(tmp_path / "mod14_utm.tif", a, "EPSG:32647", _grid_around("EPSG:32647", *song_point, 100, n), 255)
    with transaction(sm) as s:
        r = register_raster(s, f, "fire_mask", date(2024, 3, 14), store_dir=tmp_path / "store")
    st = _district_stat(r)
    assert st["flagged_by_class"] == {"high": 9.0, "low": 2.0, "nominal": 1.0}
    assert st["pixels"] == pytest.approx(n * (n - 1))  # nodata row not counted
    assert st["burned_ha"] == pytest.approx(12.0)  # 12 pixels of 1 ha
    assert st["burned_rai"] == pytest.approx(75.0)
    assert st["max"] == 9
    assert r.flagged_pixels == pytest.approx(12.0) and r.burned_ha == pytest.approx(12.0)
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _ = cog_validate(r.file_path)
    assert valid, errors
    with sm() as s:
        assert s.execute(text("SELECT crs, width, height, nodata, product FROM hotspot_rasters")).one() == (
            "EPSG:32647",
            n,
            n,
            255.0,
            "fire_mask",
        )
        features = fire_features(s, r.raster_id)
    # the 3x3 block is one polygon; the two low pixels are not adjacent; one nominal
    assert sorted(f["properties"]["class"] for f in features["features"]) == ["high", "low", "low", "nominal"]


def test_fire_mask_in_geographic_coordinates(sm, tmp_path, song_point):
    n, res = 30, 0.001
    a = np.zeros((n, n), dtype=np.uint8)
    a[5:9, 5:9] = 8  # 16 nominal pixels
    f = _write(tmp_path / "viirs_4326.tif", a, "EPSG:4326", _grid_around("EPSG:4326", *song_point, res, n), None)
    with transaction(sm) as s:
        r = register_raster(s, f, "fire_mask", date(2024, 3, 14), store_dir=tmp_path / "store")
    st = _district_stat(r)
    assert st["flagged_by_class"] == {"nominal": 16.0}
    lon, lat = song_point
    lons = [lon, lon + res, lon + res, lon]
    lats = [lat, lat, lat + res, lat + res]
    pixel_m2 = abs(Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)[0])
    assert st["burned_m2"] == pytest.approx(16 * pixel_m2, rel=0.005)


def test_burned_area_doy_in_modis_sinusoidal(sm, tmp_path, song_point):
    n, res = 20, 463.312716528
    a = np.zeros((n, n), dtype=np.int16)
    a[3:6, 3:7] = 75  # 12 pixels burned on day 75
    a[10, 10] = 80  # 1 more
    a[15:18, 15:18] = -2  # water: not burned
    f = _write(tmp_path / "mcd64_sinu.tif", a, SINUSOIDAL, _grid_around(SINUSOIDAL, *song_point, res, n), -28672)
    with transaction(sm) as s:
        r = register_raster(s, f, "burned_doy", date(2024, 3, 1), store_dir=tmp_path / "store")
    st = _district_stat(r)
    assert st["flagged_pixels"] == pytest.approx(13.0)
    assert st["burned_ha"] == pytest.approx(13 * res * res / 1e4, rel=1e-6)  # sinusoidal is equal-area
    assert st["flagged_by_class"] == {"burned": 13.0}


@pytest.mark.slow
def test_frp_and_dnbr_products(sm, tmp_path, song_point):
    n = 20
    frp = np.zeros((n, n), dtype=np.float32)
    frp[2, 2], frp[2, 3], frp[5, 5] = 12.5, 40.0, 3.25
    f = _write(tmp_path / "frp.tif", frp, "EPSG:32647", _grid_around("EPSG:32647", *song_point, 375, n), -1)
    dnbr = np.full((n, n), 0.02, dtype=np.float32)
    dnbr[4:8, 4:8] = 0.35
    g = _write(tmp_path / "dnbr.tif", dnbr, "EPSG:32647", _grid_around("EPSG:32647", *song_point, 10, n), -9999)
    with transaction(sm) as s:
        rf = register_raster(s, f, "frp", date(2024, 3, 14), store_dir=tmp_path / "store")
        rd = register_raster(s, g, "dnbr", date(2024, 4, 1), store_dir=tmp_path / "store")
    assert _district_stat(rf)["flagged_pixels"] == pytest.approx(3.0)
    assert _district_stat(rf)["max"] == pytest.approx(40.0)
    assert _district_stat(rd)["burned_m2"] == pytest.approx(16 * 100.0)


def test_refusals_store_nothing(sm, tmp_path, song_point):
    a = np.zeros((50, 50), dtype=np.uint8)
    store = tmp_path / "store"
    no_crs = tmp_path / "no_crs.tif"
    with rasterio.open(
        no_crs,
        "w",
        driver="GTiff",
        width=50,
        height=50,
        count=1,
        dtype="uint8",
        transform=from_origin(600000, 2000000, 100, 100),
    ) as dst:
        dst.write(a, 1)
    good = _write(tmp_path / "good.tif", a, "EPSG:32647", _grid_around("EPSG:32647", *song_point, 100, 50), 255)
    truncated = tmp_path / "truncated.tif"
    big = np.random.default_rng(1).integers(0, 10, (512, 512), dtype=np.uint8)
    _write(truncated, big, "EPSG:32647", _grid_around("EPSG:32647", *song_point, 100, 512), 255)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    vrt = tmp_path / "sneaky.tif"
    vrt.write_text(
        f'<VRTDataset rasterXSize="50" rasterYSize="50"><VRTRasterBand dataType="Byte" band="1">'
        f"<SimpleSource><SourceFilename>{good}</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>"
    )
    cases = [
        (no_crs, {}, "no_crs"),
        (good, {"max_pixels": 2000}, "too_large"),
        (truncated, {}, "truncated"),
        (vrt, {}, "not_geotiff"),
    ]
    for path, kw, problem in cases:
        with pytest.raises(RasterRejected) as err, transaction(sm) as s:
            register_raster(s, path, "fire_mask", date(2024, 3, 14), store_dir=store, **kw)
        assert err.value.details[0]["problem"] == problem, path
    with sm() as s:
        assert s.execute(
            text("SELECT (SELECT count(*) FROM hotspot_rasters), (SELECT count(*) FROM raster_zone_stats)")
        ).one() == (0, 0)
    assert not store.exists() or not any(store.iterdir())
