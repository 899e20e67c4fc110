"""Forest-loss alert kernels (issue 18 item 3, the base of issue 14): the GFW integrated alert decoder, the patch
rule, windowed labelling merged exactly across window (and tile) edges, areas in ha/rai, zone sums, Dask runs."""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterio.transform import from_origin
from scipy import ndimage

from geo_service.batch.cluster import dask_client
from geo_service.forest_loss.decode import (
    HIGH,
    HIGHEST,
    LOW,
    AlertEncodingError,
    day_to_date,
    days_to_datetime64,
    decode_gfw_integrated,
    encode_gfw_integrated,
)
from geo_service.forest_loss.simulate import SimulatedGfwSource
from geo_service.forest_loss.windows import (
    ArraySource,
    GeoTiffSource,
    TileRejected,
    plan,
    run,
)
from geo_service.settings import BatchSettings

UTM = "EPSG:32647"
UTM_T = from_origin(600_000, 2_000_000, 10, 10)  # 10 m pixels in UTM 47N (Phrae)


# ----------------------------------------------------------------------------------------------- decoding


def test_decode_the_published_example_and_the_edges_of_the_encoding():
    values = np.array([[30055, 0, 20001], [40365, 23650, 0]], dtype=np.int32)
    a = decode_gfw_integrated(values)
    assert a.confidence.tolist() == [[HIGH, 0, LOW], [HIGHEST, LOW, 0]]
    assert a.days.tolist() == [[55, 0, 1], [365, 3650, 0]]
    assert day_to_date(55) == date(2015, 2, 24)  # 30055 = high confidence, 2015-02-24
    assert day_to_date(1) == date(2015, 1, 1)
    assert day_to_date(365) == date(2015, 12, 31)
    assert a.mask.tolist() == [[True, False, True], [True, True, False]]
    assert str(days_to_datetime64(a.days)[0, 0]) == "2015-02-24"
    assert np.isnat(days_to_datetime64(a.days)[0, 1])
    assert np.array_equal(encode_gfw_integrated(a.days, a.confidence), values)
    # every unsigned/signed integer type a GeoTIFF may carry
    for dtype in (np.uint16, np.int32, np.uint32, np.int64):
        assert decode_gfw_integrated(values.astype(dtype)).days.tolist() == a.days.tolist()


def test_decode_refuses_values_outside_the_encoding_or_masks_them_when_asked():
    values = np.array([30055, 10055, 50001, 30000, 123456, 7, 0], dtype=np.int32)
    with pytest.raises(AlertEncodingError) as err:
        decode_gfw_integrated(values)
    assert err.value.details[0]["count"] == 5  # leading 1, leading 5, day 0, six digits, a stray 7
    assert err.value.details[0]["first"] == [1]
    assert "5 pixel(s)" in err.value.message and "2014-12-31" in err.value.message
    again = pickle.loads(pickle.dumps(err.value))  # as it comes back from a Dask worker
    assert again.message == err.value.message and again.details == err.value.details
    masked = decode_gfw_integrated(values, on_invalid="mask")
    assert masked.invalid == 5
    assert masked.confidence.tolist() == [HIGH, 0, 0, 0, 0, 0, 0]
    assert masked.days.tolist() == [55, 0, 0, 0, 0, 0, 0]
    # negative values are not the encoding either
    with pytest.raises(AlertEncodingError):
        decode_gfw_integrated(np.array([-30055], dtype=np.int32))


def test_decode_treats_nodata_as_no_alert_and_refuses_floats():
    values = np.array([65535, 30055, 0], dtype=np.uint16)
    with pytest.raises(AlertEncodingError):
        decode_gfw_integrated(values)
    a = decode_gfw_integrated(values, nodata=65535)
    assert a.confidence.tolist() == [0, HIGH, 0] and a.invalid == 0
    with pytest.raises(AlertEncodingError) as err:
        decode_gfw_integrated(np.array([30055.0]))
    assert err.value.details[0]["problem"] == "not_integer"


# ----------------------------------------------------------------------------------------------- the patch rule


def _run_array(values, window, window_days=30, transform=UTM_T, crs=UTM, **kw):
    return run([ArraySource(values, transform, crs)], window=window, window_days=window_days, keep_labels=True, **kw)


def test_the_patch_rule_links_neighbours_within_the_date_window_and_chains_them():
    days = np.array([[1, 25, 50, 0, 1, 40]], dtype=np.int32)
    values = encode_gfw_integrated(days, np.where(days > 0, HIGH, 0))
    r = _run_array(values, window=100)
    # 1-25-50 is one patch (each link <= 30 days, though 1..50 is not); 1 and 40 are two
    assert r.labels.tolist() == [[1, 1, 1, 0, 2, 3]]
    p = r.patches
    assert p.pixels.tolist() == [3, 1, 1]
    assert p.first_day.tolist() == [1, 1, 40] and p.last_day.tolist() == [50, 1, 40]
    # the diagonal is a link (8-connectivity); without the date rule everything touching is one patch
    diag = encode_gfw_integrated(np.array([[5, 0], [0, 9]]), np.array([[LOW, 0], [0, HIGHEST]]))
    assert _run_array(diag, window=10).patches.n == 1
    assert _run_array(values, window=100, window_days=None).patches.n == 2


def _reference_labels(days: np.ndarray, window_days: int | None) -> np.ndarray:
    """An independent, plain-Python labelling (flood fill) numbered by first pixel in raster order."""
    h, w = days.shape
    out = np.zeros((h, w), dtype=np.int64)
    k = 0
    for r0 in range(h):
        for c0 in range(w):
            if days[r0, c0] == 0 or out[r0, c0]:
                continue
            k += 1
            out[r0, c0] = k
            stack = [(r0, c0)]
            while stack:
                r, c = stack.pop()
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if (
                            0 <= rr < h
                            and 0 <= cc < w
                            and days[rr, cc]
                            and not out[rr, cc]
                            and (window_days is None or abs(int(days[rr, cc]) - int(days[r, c])) <= window_days)
                        ):
                            out[rr, cc] = k
                            stack.append((rr, cc))
    return out


def _random_alerts(seed: int, h: int, w: int, density: float, spread: int):
    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < density
    days = np.where(mask, rng.integers(1, 1 + spread, (h, w)), 0)
    conf = np.where(mask, rng.integers(LOW, HIGHEST + 1, (h, w)), 0)
    return days, encode_gfw_integrated(days, conf)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    h=st.integers(1, 28),
    w=st.integers(1, 28),
    density=st.sampled_from([0.05, 0.3, 0.6, 0.95]),
    window=st.integers(1, 12),
    window_days=st.sampled_from([None, 0, 5, 30]),
)
def test_windowed_labelling_equals_whole_raster_labelling(seed, h, w, density, window, window_days):
    days, values = _random_alerts(seed, h, w, density, spread=60)
    whole = _run_array(values, window=max(h, w), window_days=window_days)
    cut = _run_array(values, window=window, window_days=window_days)
    assert np.array_equal(whole.labels, _reference_labels(days, window_days))
    assert np.array_equal(cut.labels, whole.labels)
    for name in ("pixels", "area_m2", "first_day", "last_day", "by_confidence", "anchor"):
        assert np.array_equal(getattr(cut.patches, name), getattr(whole.patches, name)), name
    if window_days is None:  # and the same as scipy's own 8-connected labelling
        lab, k = ndimage.label(days > 0, structure=np.ones((3, 3)))
        assert k == whole.patches.n and np.array_equal(lab, whole.labels)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windowed_equals_whole_on_larger_rasters_for_several_seeds(seed):
    days, values = _random_alerts(seed, 157, 211, density=0.35, spread=90)
    whole = _run_array(values, window=1000)
    assert np.array_equal(whole.labels, _reference_labels(days, 30))
    for window in (16, 23, 50):
        cut = _run_array(values, window=window)
        assert cut.patches.cross_window_links > 0
        assert np.array_equal(cut.labels, whole.labels)
        assert np.array_equal(cut.patches.area_m2, whole.patches.area_m2)


def test_patches_merge_across_window_corners_including_the_diagonal_only_case():
    days = np.zeros((8, 8), dtype=np.int32)
    days[3, 3], days[4, 4] = 10, 20  # touch only at the corner where four 4x4 windows meet (diagonal)
    days[0, 7], days[1, 6] = 100, 100  # anti-diagonal inside one window (control)
    days[6, 3], days[7, 4] = 200, 260  # diagonal across a vertical edge, 60 days apart: two patches
    values = encode_gfw_integrated(days, np.where(days > 0, HIGH, 0))
    whole = _run_array(values, window=8)
    cut = _run_array(values, window=4)
    assert whole.patches.n == 4 and cut.patches.n == 4
    assert cut.labels[3, 3] == cut.labels[4, 4] != 0
    assert cut.labels[6, 3] != cut.labels[7, 4]
    assert np.array_equal(cut.labels, whole.labels)
    # the anti-diagonal at a corner: (3,4) top-right window, (4,3) bottom-left window
    anti = np.zeros((8, 8), dtype=np.int32)
    anti[3, 4], anti[4, 3] = 5, 6
    cut = _run_array(encode_gfw_integrated(anti, np.where(anti > 0, LOW, 0)), window=4)
    assert cut.patches.n == 1 and cut.patches.cross_window_links == 1


def test_a_snake_across_many_windows_and_corners_is_one_patch():
    h = w = 30
    days = np.zeros((h, w), dtype=np.int32)
    # a diagonal staircase through the whole grid plus a horizontal return: 1-pixel wide, dates rising by 3 days
    r = np.arange(h)
    days[r, r] = 1 + 3 * r
    days[h - 1, :] = np.where(days[h - 1, :] == 0, 1 + 3 * (h - 1) + np.arange(w)[::-1] % 3, days[h - 1, :])
    values = encode_gfw_integrated(days, np.where(days > 0, HIGHEST, 0))
    whole = _run_array(values, window=30)
    assert whole.patches.n == 1
    for window in (1, 2, 3, 7):
        cut = _run_array(values, window=window)
        assert cut.patches.n == 1 and np.array_equal(cut.labels, whole.labels)
        assert cut.patches.pixels[0] == np.count_nonzero(days)
        assert cut.patches.first_day[0] == 1 and cut.patches.last_day[0] == days.max()


# ----------------------------------------------------------------------------------------------- areas, polygons


def test_areas_in_ha_and_rai_equal_the_polygons_measured_in_utm():
    days = np.zeros((12, 12), dtype=np.int32)
    days[0:4, 0:4] = 30  # 16 pixels of 100 m2 = 1,600 m2 = 1 rai = 0.16 ha
    days[5:8, 5:12] = 40  # 21 pixels across window edges
    days[8, 4] = 41  # diagonal to (7, 5)
    values = encode_gfw_integrated(days, np.where(days > 0, HIGH, 0))
    r = _run_array(values, window=5, vectorise=True)
    p = r.patches
    assert p.pixels.tolist() == [16, 22]
    assert p.area_m2.tolist() == [1_600.0, 2_200.0]
    assert p.area_rai.tolist() == [1.0, 2_200 / 1_600] and p.area_ha.tolist() == [0.16, 0.22]
    polys = r.polygons
    assert polys.crs.to_epsg() == 32647
    assert polys.geometry.area.tolist() == p.area_m2.tolist()  # the UTM polygons, measured independently
    assert polys.geometry.iloc[1].geom_type == "MultiPolygon"  # the diagonal pixel touches at a corner
    assert polys.geometry.iloc[0].equals(shapely.box(600_000, 1_999_960, 600_040, 2_000_000))
    frame = p.to_frame()
    assert frame["first_date"].tolist() == [date(2015, 1, 30), date(2015, 2, 9)]
    assert frame["share_high"].tolist() == [1.0, 1.0]


def test_areas_of_a_geographic_tile_are_geodesic_and_agree_with_utm():
    # a 4326 tile at Phrae with ~11 m pixels: per-row geodesic areas; the UTM 47N polygon area differs by k^2 only
    t = from_origin(100.10, 18.20, 0.0001, 0.0001)
    days = np.zeros((40, 40), dtype=np.int32)
    days[3:30, 5:33] = 100
    days[30:38, 20:22] = 110
    values = encode_gfw_integrated(days, np.where(days > 0, HIGH, 0))
    r = _run_array(values, window=16, transform=t, crs="EPSG:4326", vectorise=True)
    assert r.patches.n == 1
    area = r.patches.area_m2[0]
    poly = r.polygons.geometry.iloc[0]
    geodesic, _ = Geod(ellps="WGS84").geometry_area_perimeter(poly)
    assert abs(abs(geodesic) - area) / area < 1e-6
    utm = r.polygons.to_crs(UTM).geometry.area.iloc[0]
    assert abs(utm - area) / area < 1e-3  # UTM scale factor at 100.1 E (zone 47, CM 99 E)
    assert r.patches.area_rai[0] == pytest.approx(area / 1_600)


# ----------------------------------------------------------------------------------------------- zones


def _zones(transform, crs, h, w):
    import geopandas as gpd

    x0, y0 = transform.c, transform.f
    xm = x0 + transform.a * (w // 2)
    x1, y1 = x0 + transform.a * w, y0 + transform.e * h
    ym = y0 + transform.e * (h // 3)
    return gpd.GeoDataFrame(
        {
            "zone_type": ["district", "district", "subdistrict", "subdistrict"],
            "zone_code": ["west", "east", "north", "south"],
        },
        geometry=[
            shapely.box(x0, y1, xm, y0),
            shapely.box(xm, y1, x1, y0),
            shapely.box(x0, ym, x1, y0),
            shapely.box(x0, y1, x1, ym),
        ],
        crs=crs,
    )


def _exact_zones(transform, crs, h, w):
    """Zones whose boundaries cut pixels and windows: two slanted districts, a zone smaller than a pixel, a
    multipolygon with a hole (each type its own layer)."""
    import geopandas as gpd

    def xy(c, r):
        return transform @ (c, r)

    grid = shapely.Polygon([xy(0, 0), xy(w, 0), xy(w, h), xy(0, h)])
    west = shapely.Polygon([xy(0, 0), xy(w * 0.43, 0), xy(w * 0.61, h * 0.55), xy(w * 0.37, h), xy(0, h)])
    east = grid.difference(west)
    tiny = shapely.Polygon([xy(10.2, 7.1), xy(10.7, 7.3), xy(10.5, 7.8)])  # inside pixel (row 7, col 10)
    ring = shapely.Polygon([xy(3.3, 3.6), xy(w * 0.7, 4.2), xy(w * 0.66, h * 0.7), xy(5.1, h * 0.8)])
    hole = shapely.Polygon([xy(9.4, 9.7), xy(w * 0.5, 10.3), xy(w * 0.4, h * 0.5)])
    far = shapely.Polygon([xy(w * 0.75, h * 0.6), xy(w - 0.5, h * 0.62), xy(w * 0.9, h - 1.3)])
    return gpd.GeoDataFrame(
        {
            "zone_type": ["district", "district", "plot", "forest"],
            "zone_code": ["west", "east", "tiny", "reserve"],
        },
        geometry=[west, east, tiny, shapely.MultiPolygon([ring.difference(hole), far])],
        crs=crs,
    )


def _independent_zone_sums(days, zones, transform, crs):
    """Per zone: alert area = sum over alert pixels of pixel area x (pixel box ∩ zone) / pixel box, by shapely."""
    from geo_service.forest_loss.patches import row_pixel_areas

    rows, cols = np.nonzero(days)
    x0, y0 = transform @ (cols, rows)
    x1, y1 = transform @ (cols + 1, rows + 1)
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
    pixel_area = row_pixel_areas(transform, crs, 0, days.shape[0])[rows]
    out = {}
    for zone_type, code, geom in zip(zones.zone_type, zones.zone_code, zones.geometry, strict=True):
        frac = shapely.area(shapely.intersection(boxes, geom)) / shapely.area(boxes)
        out[(zone_type, code)] = (float(frac.sum()), float((frac * pixel_area).sum()))
    return out


def _assert_same_zone_sums(a, b):
    keys = ["patch_id", "zone_type", "zone_code"]
    assert a.zones[keys].equals(b.zones[keys])
    # 1e-9 relative, and 1e-9 of a pixel absolute: in degrees (x - origin) / 0.0001 rounds a fraction by ~1e-10
    pixel_area = float((b.zones.area_m2 / b.zones.pixels).max())
    assert np.allclose(a.zones.pixels, b.zones.pixels, rtol=1e-9, atol=1e-9)
    assert np.allclose(a.zones.area_m2, b.zones.area_m2, rtol=1e-9, atol=1e-9 * pixel_area)


@pytest.mark.parametrize(
    "transform,crs",
    [(UTM_T, UTM), (from_origin(100.10, 18.20, 0.0001, 0.0001), "EPSG:4326")],
    ids=["utm", "4326"],
)
def test_zone_sums_are_exact_coverage_window_independent_and_add_up(transform, crs):
    days, values = _random_alerts(5, 60, 80, density=0.3, spread=60)
    days[7, 10] = 20  # the pixel holding the sub-pixel zone is an alert
    values[7, 10] = encode_gfw_integrated(np.array([20]), np.array([HIGH]))[0]
    zones = _exact_zones(transform, crs, 60, 80)
    whole = _run_array(values, window=100, zones=zones, transform=transform, crs=crs)
    totals = whole.zone_totals().set_index(["zone_type", "zone_code"])
    expected = _independent_zone_sums(days, zones, transform, crs)
    for key, (pixels, area) in expected.items():
        assert totals.loc[key, "area_m2"] == pytest.approx(area, rel=1e-9, abs=0), key
        assert totals.loc[key, "pixels"] == pytest.approx(pixels, rel=1e-9, abs=0), key
        assert totals.loc[key, "area_rai"] == pytest.approx(area / 1_600, rel=1e-9, abs=0), key
    assert 0 < totals.loc[("plot", "tiny"), "pixels"] < 0.5  # a zone inside one pixel gets its share of it
    assert ("plot", "(outside)") in totals.index and ("forest", "(outside)") in totals.index
    # windows cutting every zone boundary (and a 1-pixel-wide one) give the sums of one window
    for window in (13, 7):
        _assert_same_zone_sums(_run_array(values, window=window, zones=zones, transform=transform, crs=crs), whole)
    # every patch's pixels and area are shared out among the zones of each type and "(outside)"
    for zone_type in ("district", "plot", "forest"):
        per = whole.zones[whole.zones.zone_type == zone_type].groupby("patch_id")[["pixels", "area_m2"]].sum()
        assert np.allclose(per["pixels"].to_numpy(), whole.patches.pixels, rtol=1e-9, atol=0)
        assert np.allclose(per["area_m2"].to_numpy(), whole.patches.area_m2, rtol=1e-9, atol=0)


def test_a_window_inside_one_zone_and_a_window_outside_every_zone():
    days, values = _random_alerts(9, 40, 40, density=0.4, spread=60)
    zones = _zones(UTM_T, UTM, 40, 40)
    # a district far away: every window is outside it; the four zones of _zones hold whole windows of 10
    import geopandas as gpd
    import pandas as pd

    away = gpd.GeoDataFrame({"zone_type": ["away"], "zone_code": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=UTM)
    zones = gpd.GeoDataFrame(pd.concat([zones, away], ignore_index=True), crs=UTM)
    r = _run_array(values, window=10, zones=zones)
    totals = r.zone_totals().set_index(["zone_type", "zone_code"])
    assert totals.loc[("district", "west"), "pixels"] == np.count_nonzero(days[:, :20])
    assert totals.loc[("district", "east"), "area_m2"] == 100.0 * np.count_nonzero(days[:, 20:])
    assert totals.loc[("away", "(outside)"), "pixels"] == np.count_nonzero(days)
    assert ("away", "x") not in totals.index
    _assert_same_zone_sums(r, _run_array(values, window=100, zones=zones))


# ----------------------------------------------------------------------------------------------- tiles, Dask


def _write_tile(path, values, transform, crs=UTM, dtype="int32", **extra):
    import rasterio

    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": dtype,
        "transform": transform,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
        "compress": "deflate",
        **({"crs": crs} if crs else {}),
        **extra,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(dtype), 1)
    return path


def _tiles(tmp_path, values, tile):
    """Cut ``values`` into tile x tile GeoTIFFs on the UTM grid; returns the sources (headers only)."""
    sources = []
    for r in range(0, values.shape[0], tile):
        for c in range(0, values.shape[1], tile):
            t = UTM_T @ UTM_T.translation(c, r)
            p = _write_tile(tmp_path / f"tile_{r}_{c}.tif", values[r : r + tile, c : c + tile], t)
            sources.append(GeoTiffSource.open(p))
    return sources


def test_tiles_read_only_the_area_of_interest_and_equal_the_array(tmp_path):
    _, values = _random_alerts(9, 96, 96, density=0.3, spread=60)
    sources = _tiles(tmp_path, values, 48)
    whole = _run_array(values, window=200)
    tiles = run(sources, window=20, keep_labels=True)
    assert np.array_equal(tiles.labels, whole.labels)
    assert np.array_equal(tiles.patches.area_m2, whole.patches.area_m2)
    # an area of interest inside the four tiles: rows 30..69, cols 10..79 of the mosaic
    bounds = (600_000 + 10 * 10, 2_000_000 - 70 * 10, 600_000 + 80 * 10, 2_000_000 - 30 * 10)
    grid, tasks = plan(sources, bounds=bounds, window=20)
    assert (grid.height, grid.width) == (40, 70)
    assert sum(t.height * t.width for t in tasks) == 40 * 70  # nothing outside the area is read
    aoi = run(sources, bounds=bounds, window=20, keep_labels=True)
    sub = _run_array(values[30:70, 10:80], window=200, transform=UTM_T @ UTM_T.translation(10, 30))
    assert np.array_equal(aoi.labels, sub.labels)


def test_plan_refuses_tiles_before_reading_a_pixel(tmp_path):
    values = np.full((8, 8), 30055, dtype=np.int32)
    good = GeoTiffSource.open(_write_tile(tmp_path / "a.tif", values, UTM_T))
    shifted = GeoTiffSource.open(_write_tile(tmp_path / "b.tif", values, from_origin(600_005, 2_000_000, 10, 10)))
    with pytest.raises(TileRejected) as err:
        plan([good, shifted])
    assert err.value.details[0]["problem"] == "misaligned"
    overlapping = GeoTiffSource.open(_write_tile(tmp_path / "h.tif", values, from_origin(600_040, 2_000_000, 10, 10)))
    with pytest.raises(TileRejected, match="overlap"):
        plan([good, overlapping])
    other_crs = GeoTiffSource.open(_write_tile(tmp_path / "c.tif", values, UTM_T, crs="EPSG:32648"))
    with pytest.raises(TileRejected, match="another CRS"):
        plan([good, other_crs])
    with pytest.raises(TileRejected) as err:
        GeoTiffSource.open(_write_tile(tmp_path / "d.tif", values, UTM_T, crs=None))
    assert err.value.details[0]["problem"] == "no_crs"
    floats = GeoTiffSource.open(_write_tile(tmp_path / "e.tif", values, UTM_T, dtype="float32"))
    with pytest.raises(TileRejected, match="float32"):
        run([floats])
    with pytest.raises(TileRejected, match="Unknown alert encoding"):
        run([good], encoding="radd")
    with pytest.raises(TileRejected) as err:
        run([good], max_pixels=63)
    assert err.value.details[0]["problem"] == "too_large"
    (tmp_path / "f.tif").write_bytes(b"not a tiff")
    with pytest.raises(TileRejected, match="not a readable GeoTIFF"):
        GeoTiffSource.open(tmp_path / "f.tif")
    with pytest.raises(AlertEncodingError):  # values in another encoding: refused, nothing returned
        run([GeoTiffSource.open(_write_tile(tmp_path / "g.tif", values * 0 + 7, UTM_T))])


def test_the_simulated_raster_reads_the_same_whatever_the_window():
    src = SimulatedGfwSource(700, 900, seed=4, block=64)
    whole = src.read(0, 0, 700, 900)
    assert 0.002 < np.count_nonzero(whole) / whole.size < 0.1  # about 2 %, clustered in fronts
    assert np.array_equal(src.read(100, 250, 333, 400), whole[100:433, 250:650])
    assert decode_gfw_integrated(whole).invalid == 0


@pytest.mark.slow
def test_a_multi_tile_run_on_dask_gives_the_patches_of_one_process(tmp_path):
    _, values = _random_alerts(11, 120, 150, density=0.3, spread=60)
    values[50:70, :] = encode_gfw_integrated(np.full((20, 150), 70), np.full((20, 150), HIGH))  # spans all tiles
    sources = _tiles(tmp_path, values, 60)
    zones = _exact_zones(UTM_T, UTM, 120, 150)
    one = _run_array(values, window=1000, zones=zones, vectorise=True)
    with dask_client(BatchSettings(), workers=2, processes=True) as client:
        done = []
        dist = run(
            sources,
            window=25,
            zones=zones,
            vectorise=True,
            keep_labels=True,
            client=client,
            progress=lambda k, n: done.append((k, n)),
        )
        bad = GeoTiffSource.open(_write_tile(tmp_path / "bad.tif", np.full((30, 30), 12345), UTM_T))
        with pytest.raises(AlertEncodingError) as err:  # raised in a worker, reaches the caller whole
            run([bad], window=10, client=client)
        assert err.value.details[0]["count"] == 100
    assert done[-1][0] == done[-1][1] == dist.windows
    assert np.array_equal(dist.labels, one.labels)
    for name in ("pixels", "area_m2", "first_day", "last_day", "by_confidence", "anchor"):
        assert np.array_equal(getattr(dist.patches, name), getattr(one.patches, name)), name
    _assert_same_zone_sums(dist, one)
    assert all(a.equals(b) for a, b in zip(dist.polygons.geometry, one.polygons.geometry, strict=True))
    assert dist.polygons.geometry.area.sum() == one.patches.area_m2.sum()


@pytest.mark.parametrize(
    ("decoder", "kw", "good", "bad", "day"),
    [
        # GLAD-L per year: conf 2/3, alertDate a day of 2024 (a leap year: day 366 exists, 367 does not)
        ("decode_glad_l_umd", {"year": 2024}, (3, 366), (3, 367), (date(2024, 12, 31) - date(2014, 12, 31)).days),
        # RADD: Alert 2/3, Date YYDOY (23365 = 2023-12-31; 23366 does not exist)
        ("decode_radd_wur", {}, (2, 23365), (2, 23366), (date(2023, 12, 31) - date(2014, 12, 31)).days),
        # GLAD-S2 (UMD): alert 1..4, alertDate days since 2018-12-31 (level 5 is not defined)
        ("decode_glad_s2_umd", {}, (4, 1), (5, 1), (date(2019, 1, 1) - date(2014, 12, 31)).days),
    ],
)
def test_two_layer_decoders_refuse_or_mask_undefined_pairs(decoder, kw, good, bad, day):
    """Each two-layer encoding decodes a defined (class, date) pair, refuses a file holding an undefined one with
    the pair quoted, and masks it when asked to; 0 and the class layer's nodata are no alert."""
    from geo_service.forest_loss import decode

    fn = getattr(decode, decoder)
    values = np.zeros((2, 2, 3), dtype=np.int32)
    values[:, 0, 0] = good
    values[:, 1, 2] = bad
    values[:, 0, 1] = (99, 1)  # the class layer's nodata: no alert
    with pytest.raises(decode.AlertEncodingError) as e:
        fn(values, nodata=99, **kw)
    assert str(bad[0]) in str(e.value) and e.value.details[0]["count"] == 1
    assert e.value.details[0]["examples"] == [bad]
    out = fn(values, nodata=99, on_invalid="mask", **kw)
    assert out.invalid == 1 and int(out.mask.sum()) == 1
    assert out.days[0, 0] == day and out.days[1, 2] == 0 and out.days[0, 1] == 0
