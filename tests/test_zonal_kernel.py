"""The zonal kernel (``hotspots.zonal``) gives exactextract's answers: checked against exactextract itself and
against pixel-by-pixel Shapely intersections (the exact coverage), on awkward zones and grids.

exactextract keeps coverage fractions as float32, so its figures carry about 1e-7 relative noise; the kernel is
compared with it at 1e-6 and with the Shapely reference (float64) at 1e-9.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from exactextract import exact_extract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from geo_service.hotspots.zonal import UnsupportedGrid, coverage_cells, zonal_stats


def _raster(array: np.ndarray, transform, crs="EPSG:32647", nodata=None, blocks=False) -> MemoryFile:
    mem = MemoryFile()
    profile = dict(
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    )
    if blocks:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    with mem.open(**profile) as dst:
        dst.write(array, 1)
    return mem


def _reference(array, transform, geom, nodata=None, classify=None):
    """count, sum, min, max, classes of one zone from Shapely intersections with every pixel (float64)."""
    h, w = array.shape
    rows, cols = np.mgrid[0:h, 0:w]
    x0, y0 = transform @ (cols.ravel(), rows.ravel())
    x1, y1 = transform @ (cols.ravel() + 1, rows.ravel() + 1)
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
    cov = shapely.area(shapely.intersection(boxes, geom)) / abs(transform.a * transform.e)
    v = array.ravel()
    ok = cov > 1e-12
    if nodata is not None:
        ok &= v != nodata
    if v.dtype.kind == "f":
        ok &= ~np.isnan(v)
    c, vals = cov[ok], v[ok].astype(np.float64)
    classes = {}
    if classify is not None:
        for code in np.unique(classify(v[ok])):
            classes[int(code)] = float(c[classify(v[ok]) == code].sum())
    return (
        float(c.sum()),
        float((c * vals).sum()),
        float(vals.min()) if len(vals) else None,
        float(vals.max()) if len(vals) else None,
        classes,
    )


def _exactextract(src, geoms):
    far = shapely.box(-1e7, -1e7, -1e7 + 1, -1e7 + 1)  # exactextract cannot read an empty polygon
    frame = gpd.GeoDataFrame(geometry=[far if g.is_empty else g for g in geoms], crs=src.crs)
    return exact_extract(src, frame, ["count", "sum", "min", "max", "unique", "frac"], output="pandas")


def _assert_matches_exactextract(src, geoms, classify=None, rel=1e-6, **kw):
    ours = zonal_stats(src, geoms, classify=classify, **kw)
    ref = _exactextract(src, geoms)
    for zone, (s, r) in enumerate(zip(ours, ref.to_dict("records"))):
        assert s.count == pytest.approx(r["count"], rel=rel, abs=1e-6), zone
        if r["count"] > 0:
            assert s.sum == pytest.approx(r["sum"], rel=rel, abs=1e-6), zone
            assert (s.min, s.max) == (pytest.approx(r["min"]), pytest.approx(r["max"])), zone
        else:
            assert s.min is None and s.max is None
        if classify is not None:
            expected: dict[int, float] = {}
            for value, frac in zip(np.asarray(r["unique"]).tolist(), np.asarray(r["frac"]).tolist()):
                code = int(classify(np.asarray([value], dtype=src.dtypes[0]))[0])
                expected[code] = expected.get(code, 0.0) + frac * r["count"]
            assert set(s.classes) == {c for c, w in expected.items() if w > 0}, zone
            for code, weight in expected.items():
                assert s.classes[code] == pytest.approx(weight, rel=rel, abs=1e-6), (zone, code)
    return ours


def _fire(values: np.ndarray) -> np.ndarray:
    return np.where(np.isin(values, [7, 8, 9]), values, 0).astype(np.uint8)


AWKWARD = [
    shapely.Point(1200, 1800).buffer(130),  # a disc
    shapely.Polygon([(1003, 1503), (1597, 1511), (1580, 1995), (1010, 2100)]).difference(
        shapely.Point(1300, 1700).buffer(50)
    ),  # a quadrilateral with a hole, partly outside
    shapely.box(1101.5, 1701.5, 1104, 1703),  # smaller than a pixel
    shapely.box(1118, 1718, 1122, 1722),  # smaller than a pixel, across a pixel corner
    shapely.MultiPolygon([shapely.box(990, 1490, 1100, 1600), shapely.box(1500, 1900, 1700, 2100)]),  # 2 parts
    shapely.box(1100, 1600, 1300, 1800),  # edges on pixel edges
    shapely.box(1300, 1600, 1450, 1800),  # shares an edge with the previous one
    shapely.box(3000, 3000, 3100, 3100),  # wholly outside
    shapely.Polygon(),  # empty
    shapely.Polygon([(1005, 1505), (1595, 1995), (1005, 1995)]),  # a diagonal edge through pixel corners
    shapely.box(1100, 2000, 1200, 2200),  # wholly above, touching the raster's top edge
]


def test_awkward_zones_match_exactextract_and_the_exact_reference():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 10, (50, 60)).astype(np.uint8)
    a[0, :] = 255  # a nodata row
    a[20:23, 30:40] = 255
    transform = from_origin(1000, 2000, 10, 10)
    with _raster(a, transform, nodata=255) as mem, mem.open() as src:
        ours = _assert_matches_exactextract(src, AWKWARD, classify=_fire)
    for zone, geom in enumerate(AWKWARD):
        count, total, vmin, vmax, classes = _reference(a, transform, geom, nodata=255, classify=_fire)
        s = ours[zone]
        assert s.count == pytest.approx(count, rel=1e-9, abs=1e-9)
        assert s.sum == pytest.approx(total, rel=1e-9, abs=1e-9)
        assert (s.min, s.max) == (vmin, vmax)
        assert s.classes == pytest.approx(classes, rel=1e-9, abs=1e-9)
    assert ours[2].count == pytest.approx(2.5 * 1.5 / 100)  # a sliver of one pixel
    assert ours[7].count == 0 and ours[8].count == 0 and ours[10].count == 0  # outside, empty, touching


def test_float_raster_with_nan_and_nodata_in_small_windows():
    rng = np.random.default_rng(5)
    a = rng.normal(0.2, 0.3, (64, 48)).astype(np.float32)
    a[5:9, :] = np.nan
    a[:, 7] = -9999
    transform = from_origin(1000, 2000, 10, 10)
    flag = lambda v: (v >= 0.1).astype(np.uint8)  # noqa: E731  (dNBR-like threshold)
    with _raster(a, transform, nodata=-9999, blocks=True) as mem, mem.open() as src:
        ours = _assert_matches_exactextract(src, AWKWARD, classify=flag, window_pixels=500)
        whole = zonal_stats(src, AWKWARD, classify=flag)
    for one, other in zip(ours, whole):  # windows change nothing
        assert one.count == pytest.approx(other.count, rel=1e-12)
        assert one.sum == pytest.approx(other.sum, rel=1e-12)
        assert (one.min, one.max) == (other.min, other.max)


def test_int16_raster_like_burn_dates():
    a = np.zeros((40, 40), dtype=np.int16)
    a[3:9, 3:12] = 75
    a[20:30, 20:25] = -2
    a[35:, :] = -28672
    transform = from_origin(1000, 2000, 10, 10)
    burned = lambda v: ((v >= 1) & (v <= 366)).astype(np.uint8)  # noqa: E731
    with _raster(a, transform, nodata=-28672) as mem, mem.open() as src:
        _assert_matches_exactextract(src, AWKWARD, classify=burned)


def test_overlapping_zones_and_shared_edges_in_one_pass():
    """Districts (a partition with non-aligned shared edges), the same area split again (subdistricts), and
    protected areas crossing both: three layers of zones, all in one pass."""
    a = np.random.default_rng(11).integers(0, 10, (80, 90)).astype(np.uint8)
    transform = from_origin(500_000, 2_000_000, 30, 30)
    x0, y0, x1, y1 = 500_000, 2_000_000 - 80 * 30, 500_000 + 90 * 30, 2_000_000
    pts = shapely.MultiPoint(np.random.default_rng(2).uniform([x0 - 200, y0 - 200], [x1 + 200, y1 + 200], (7, 2)))
    frame = shapely.box(x0 - 300, y0 - 300, x1 + 300, y1 + 300)
    districts = [shapely.intersection(c, frame) for c in shapely.get_parts(shapely.voronoi_polygons(pts))]
    pts2 = shapely.MultiPoint(np.random.default_rng(4).uniform([x0, y0], [x1, y1], (25, 2)))
    subdistricts = [shapely.intersection(c, frame) for c in shapely.get_parts(shapely.voronoi_polygons(pts2))]
    protected = [shapely.Point(x0 + 900, y0 + 1000).buffer(700), shapely.Point(x0 + 1500, y0 + 1400).buffer(600)]
    zones = districts + subdistricts + protected + [shapely.intersection(districts[0], protected[0])]
    with _raster(a, transform) as mem, mem.open() as src:
        ours = _assert_matches_exactextract(src, zones, classify=_fire)
    # the partitions cover the raster exactly once each
    assert sum(s.count for s in ours[: len(districts)]) == pytest.approx(80 * 90, rel=1e-12)
    assert sum(s.count for s in ours[len(districts) : len(districts) + len(subdistricts)]) == pytest.approx(
        80 * 90, rel=1e-12
    )


def test_geographic_raster_with_zones_in_degrees():
    a = np.random.default_rng(8).integers(5, 10, (60, 70)).astype(np.uint8)
    transform = from_origin(100.1, 18.5, 0.001, 0.001)
    zones = [
        shapely.Point(100.13, 18.47).buffer(0.012),
        shapely.box(100.1234, 18.4567, 100.1789, 18.4891),
        shapely.Point(100.1, 18.5).buffer(0.01),  # on the corner of the raster
    ]
    with _raster(a, transform, crs="EPSG:4326") as mem, mem.open() as src:
        _assert_matches_exactextract(src, zones, classify=_fire)


def test_south_up_grid_and_a_rotated_grid():
    a = np.arange(30 * 20, dtype=np.float64).reshape(30, 20)
    south_up = rasterio.Affine(10, 0, 1000, 0, 10, 1500)  # rows go north
    zone = shapely.Polygon([(1013, 1517), (1177, 1533), (1121, 1781)])
    count, total, vmin, vmax, _ = _reference(a, south_up, zone)
    with _raster(a, south_up) as mem, mem.open() as src:
        [s] = zonal_stats(src, [zone])
    assert (s.count, s.sum, s.min, s.max) == (pytest.approx(count), pytest.approx(total), vmin, vmax)
    rotated = rasterio.Affine(10, 1, 1000, 1, -10, 2000)
    with pytest.raises(UnsupportedGrid):
        coverage_cells([zone], rotated, 20, 30)


# vertices on a 1/1000-pixel lattice (on pixel edges now and then): the kernel leaves out pixels covered less
# than 1e-12 of their area (rounding), which exactextract would count in min and max
coords = st.integers(min_value=-3000, max_value=23000).map(lambda i: i / 1000)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(st.tuples(coords, coords), min_size=3, max_size=12),
    buffer=st.sampled_from([0.0, 0.1, 0.5, 2.25]),
    hole=st.sampled_from([0.0, 0.3, 0.5, 0.9]),
)
def test_random_polygons_have_exact_coverage(points, buffer, hole):
    """Any polygon (random hull, buffered, with a hole) on a 20 x 20 grid: the kernel's figures equal the
    Shapely reference to 1e-9 and exactextract's to 1e-6."""
    geom = shapely.convex_hull(shapely.MultiPoint(points)).buffer(buffer)
    if geom.area < 1e-6:
        return
    if hole > 0:
        c = geom.centroid
        geom = geom.difference(shapely.affinity.scale(geom, hole, hole, origin=c))
    a = np.random.default_rng(1).integers(0, 10, (20, 20)).astype(np.uint8)
    transform = from_origin(0, 20, 1, 1)
    # the zone in raster coordinates: y flipped
    geom = shapely.affinity.scale(geom, 1, -1, origin=(0, 10))
    with _raster(a, transform) as mem, mem.open() as src:
        [s] = _assert_matches_exactextract(src, [geom], classify=_fire)
    count, total, vmin, vmax, classes = _reference(a, transform, geom, classify=_fire)
    assert s.count == pytest.approx(count, rel=1e-9, abs=1e-9)
    assert s.sum == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert s.classes == pytest.approx(classes, rel=1e-9, abs=1e-9)
    assert (s.min, s.max) == (vmin, vmax)


def _service_zones(crs_from, x0, y0, step):
    """Two 'districts' sharing an edge and a 'protected area' across them, as the service's zone frame."""
    a = shapely.box(x0 + 0.3 * step, y0 + 0.2 * step, x0 + 10.7 * step, y0 + 20.4 * step)
    b = shapely.box(x0 + 10.7 * step, y0 + 0.2 * step, x0 + 25.1 * step, y0 + 20.4 * step)
    pa = shapely.Point(x0 + 11.3 * step, y0 + 10.1 * step).buffer(6.3 * step)
    frame = gpd.GeoDataFrame(
        {
            "zone_type": ["district", "district", "protected_area", "district_protected_area"],
            "zone_code": ["01", "02", "PA", "01|PA"],
        },
        geometry=[a, b, pa, a.intersection(pa)],
        crs=crs_from,
    )
    return frame.to_crs(4326)


def _write_fire(path, a, transform):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=a.shape[1],
        height=a.shape[0],
        count=1,
        dtype="uint8",
        crs="EPSG:32647",
        transform=transform,
        nodata=255,
    ) as dst:
        dst.write(a, 1)
    return path


def test_the_service_figures_are_exactextracts(tmp_path):
    """``rasters.zonal_stats`` (the kernel) gives the figures exactextract gives (pixels, mean, fire classes,
    burned area) over districts sharing an edge, a protected area across them and their intersection."""
    from geo_service.hotspots.rasters import zonal_stats as service_zonal_stats

    a = np.random.default_rng(21).integers(5, 10, (30, 30)).astype(np.uint8)
    a[:, 4] = 255
    path = _write_fire(tmp_path / "fire.tif", a, from_origin(600_000, 2_000_000, 100, 100))
    zones = _service_zones("EPSG:32647", 600_000, 2_000_000 - 3000, 100)
    stats = service_zonal_stats(path, "fire_mask", zones)
    with rasterio.open(path) as src:
        ref = exact_extract(src, zones.to_crs(src.crs), ["count", "mean", "unique", "frac"], output="pandas")
    assert [s["zone_code"] for s in stats] == ["01", "02", "PA", "01|PA"]
    names = {7: "low", 8: "nominal", 9: "high"}
    for s, r in zip(stats, ref.to_dict("records")):
        assert s["pixels"] == pytest.approx(r["count"], abs=1e-3)
        assert s["mean"] == pytest.approx(r["mean"], rel=1e-6)
        expected = {names[int(v)]: f * r["count"] for v, f in zip(r["unique"], r["frac"]) if int(v) in names}
        assert s["flagged_by_class"] == pytest.approx(expected, abs=2e-3)
        assert s["burned_m2"] == pytest.approx(sum(expected.values()) * 100 * 100, abs=20)


def test_a_rotated_grid_is_refused_before_anything_is_stored(tmp_path):
    from geo_service.hotspots.rasters import RasterRejected, open_checked

    a = np.full((10, 10), 5, dtype=np.uint8)
    path = _write_fire(tmp_path / "rotated.tif", a, rasterio.Affine(100, 0.5, 600_000, 0.5, -100, 2_000_000))
    with pytest.raises(RasterRejected) as refused:
        open_checked(path)
    assert refused.value.details == [{"problem": "rotated_grid"}]


def test_collections_and_missing_zones():
    """A collection holding a multipolygon and a point counts as its polygon; None or empty counts nothing."""
    a = np.arange(100, dtype=np.uint8).reshape(10, 10)
    transform = from_origin(0, 100, 10, 10)
    box = shapely.box(12.5, 13, 57, 81.25)
    nested = shapely.GeometryCollection([shapely.MultiPolygon([box]), shapely.Point(1, 1)])
    with _raster(a, transform) as mem, mem.open() as src:
        plain, collected, missing = zonal_stats(src, [box, nested, None])
        assert zonal_stats(src, []) == []
    assert (collected.count, collected.sum, collected.min, collected.max) == (
        plain.count,
        plain.sum,
        plain.min,
        plain.max,
    )
    assert plain.count == pytest.approx(box.area / 100)
    assert missing.count == 0 and missing.min is None
