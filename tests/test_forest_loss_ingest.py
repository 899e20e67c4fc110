"""Forest-loss alert ingest (issue 14 items 1, 2, 5): every encoding in its published form, patches with hand-checked
counts, areas and dates, attribution, windows, idempotence, ids kept on extension, refusals."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss import store
from geo_service.forest_loss.ingest import ingest_files
from geo_service.settings import ForestLossSettings
from tests import forest_alert_rasters as far
from tests.conftest import cli_env, run_cli

D1 = date(2023, 3, 1)


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _ingest(sm, paths, encoding, **kw):
    settings = kw.pop("settings", ForestLossSettings())
    with transaction(sm) as session:
        return ingest_files(session, paths, encoding=encoding, settings=settings, **kw)


def _patches(sm, ids):
    with transaction(sm) as session:
        return [dict(r) for r in store.patches_of(session, ids)]


def _count(sm, sql):
    with transaction(sm) as session:
        return session.execute(text(sql)).scalar()


def picture():
    """20 x 20 px, 10 m: A = 3x3 block high on D1; B = 2x2 block low 10 days later; C = one highest pixel touching
    B at a corner 50 days after D1 (40 days after B: beyond the 30-day window, so its own patch)."""
    days = np.zeros((20, 20), dtype=np.int32)
    conf = np.zeros((20, 20), dtype=np.uint8)
    days[2:5, 2:5], conf[2:5, 2:5] = far.gfw_day(D1), 3
    days[10:12, 10:12], conf[10:12, 10:12] = far.gfw_day(D1) + 10, 2
    days[12, 12], conf[12, 12] = far.gfw_day(D1) + 50, 4
    return days, conf


def test_gfw_integrated_utm47_hand_checked(sm, tmp_path):
    days, conf = picture()
    f = far.write(tmp_path / "gfw.tif", far.gfw_integrated(days, conf), far.PHRAE_10M, far.UTM47)
    r = _ingest(sm, [f], "gfw_integrated")
    assert (r.patches, r.patches_new, r.alert_pixels) == (3, 3, 14)
    rows = _patches(sm, r.patch_ids)
    got = sorted(
        (p["pixels"], round(p["area_m2"], 3), p["first_date"], p["last_date"], p["confidence_max"]) for p in rows
    )
    assert got == [
        (1, 100.0, date(2023, 4, 20), date(2023, 4, 20), 4),
        (4, 400.0, date(2023, 3, 11), date(2023, 3, 11), 2),
        (9, 900.0, D1, D1, 3),
    ]
    assert {p["province_code"] for p in rows} != {None}
    assert all(p["in_aoi"] for p in rows)


def _gfw_file(tmp_path, name, days, conf, transform=far.PHRAE_10M, crs=far.UTM47):
    return far.write(tmp_path / name, far.gfw_integrated(days, conf), transform, crs)


def _summary(sm, report):
    rows = _patches(sm, report.patch_ids)
    return sorted((p["pixels"], p["first_date"], p["last_date"], p["confidence_max"]) for p in rows)


def test_min_confidence_drops_low_alerts_before_patching(sm, tmp_path):
    days, conf = picture()
    f = _gfw_file(tmp_path, "gfw.tif", days, conf)
    r = _ingest(sm, [f], "gfw_integrated", min_confidence="high")
    assert _summary(sm, r) == [(1, date(2023, 4, 20), date(2023, 4, 20), 4), (9, D1, D1, 3)]
    assert r.params["min_confidence"] == 3


def _dates(days):
    return np.datetime64(far.EPOCH, "D") + days.astype("timedelta64[D]")


EXPECTED_TWO_CLASSES = [
    (1, date(2023, 4, 20), date(2023, 4, 20), 3),
    (4, date(2023, 3, 11), date(2023, 3, 11), 2),
    (9, D1, D1, 3),
]


@pytest.mark.parametrize("encoding", ["glad_l_gfw", "glad_s2_gfw", "radd_gfw"])
def test_gfw_date_conf_encodings(sm, tmp_path, encoding):
    days, conf = picture()
    conf[conf == 4] = 3  # one system's layer: 2 low or 3 high only
    r = _ingest(sm, [_gfw_file(tmp_path, f"{encoding}.tif", days, conf)], encoding)
    assert _summary(sm, r) == EXPECTED_TWO_CLASSES
    assert r.source == {"glad_l_gfw": "glad_l", "glad_s2_gfw": "glad_s2", "radd_gfw": "radd"}[encoding]


def test_date_conf_refuses_the_integrated_highest_class(sm, tmp_path):
    days, conf = picture()
    with pytest.raises(Exception) as e:
        _ingest(sm, [_gfw_file(tmp_path, "radd.tif", days, conf)], "radd_gfw")
    assert getattr(e.value, "code", "") == "alert_encoding"
    assert _count(sm, "SELECT count(*) FROM forest_alert_ingests") == 0


def test_glad_l_umd_two_files_conf_and_day_of_year(sm, tmp_path):
    days, conf = picture()
    conf[conf == 4] = 3
    c, doy = far.glad_l_umd(_dates(days), conf, 2023)
    assert doy[2, 2] == 60 and doy[12, 12] == 110  # 1 March and 20 April 2023, by hand
    fc = far.write(tmp_path / "conf23.tif", c, far.PHRAE_10M, far.UTM47)
    fd = far.write(tmp_path / "alertDate23.tif", doy, far.PHRAE_10M, far.UTM47)
    r = _ingest(sm, [fc, fd], "glad_l_umd", params={"year": 2023})
    assert _summary(sm, r) == EXPECTED_TWO_CLASSES
    with pytest.raises(Exception) as e:
        _ingest(sm, [fc, fd], "glad_l_umd")
    assert "year" in str(e.value)


def test_radd_wur_one_file_alert_and_yydoy(sm, tmp_path):
    days, conf = picture()
    conf[conf == 4] = 3
    alert, yydoy = far.radd_wur(_dates(days), conf)
    assert yydoy[2, 2] == 23060 and yydoy[12, 12] == 23110
    f = far.write(tmp_path / "radd.tif", [alert, yydoy], far.PHRAE_10M, far.UTM47)
    assert _summary(sm, _ingest(sm, [f], "radd_wur")) == EXPECTED_TWO_CLASSES


def test_dist_alert_status_and_date(sm, tmp_path):
    days, conf = picture()
    status = np.zeros(days.shape, dtype=np.uint8)
    status[conf == 3] = 6  # confirmed, >= 50 % loss -> high
    status[conf == 2] = 1  # first detection, < 50 % -> low
    status[conf == 4] = 4  # first detection, >= 50 % -> low
    status[0, :] = 255  # no data row
    st, dd = far.dist_alert(_dates(days), status)
    assert dd[2, 2] == (D1 - date(2020, 12, 31)).days == 790
    fs = far.write(tmp_path / "VEG-DIST-STATUS.tif", st, far.PHRAE_10M, far.UTM47, nodata=255)
    fd = far.write(tmp_path / "VEG-DIST-DATE.tif", dd, far.PHRAE_10M, far.UTM47, nodata=-1)
    r = _ingest(sm, [fs, fd], "dist_alert")
    assert _summary(sm, r) == [
        (1, date(2023, 4, 20), date(2023, 4, 20), 2),
        (4, date(2023, 3, 11), date(2023, 3, 11), 2),
        (9, D1, D1, 3),
    ]
    r50 = _ingest(sm, [fs, fd], "dist_alert", params={"min_loss_50": True})
    assert r50.patches == 2 and not r50.replayed  # other parameters: another ingest


def test_hansen_lossyear_with_treecover_threshold(sm, tmp_path):
    loss = np.zeros((20, 20), dtype=np.uint8)
    cover = np.zeros((20, 20), dtype=np.uint8)
    loss[2:5, 2:5], cover[2:5, 2:5] = 19, 80  # lost in 2019, forest
    loss[10:12, 10:12], cover[10:12, 10:12] = 21, 60  # lost in 2021, forest
    loss[12, 12], cover[12, 12] = 21, 10  # lost in 2021 but 10 % tree cover: not forest at 30 %
    f = far.write(tmp_path / "hansen.tif", [loss, cover], far.PHRAE_10M, far.UTM47)
    r = _ingest(sm, [f], "hansen_gfc")
    assert _summary(sm, r) == [(4, date(2021, 1, 1), date(2021, 1, 1), 3), (9, date(2019, 1, 1), date(2019, 1, 1), 3)]
    assert r.params["forest_threshold"] == 30
    r5 = _ingest(sm, [f], "hansen_gfc", params={"forest_threshold": 5})  # the corner pixel is forest now
    assert sorted(p[0] for p in _summary(sm, r5)) == [5, 9]


def test_change_pair_same_grid_threshold_recorded(sm, tmp_path):
    before = np.full((20, 20), 0.8, dtype=np.float32)
    after = before.copy()
    after[2:5, 2:5] = 0.2  # dNDVI -0.6
    after[10:12, 10:12] = 0.5  # -0.3
    after[12, 12] = 0.75  # -0.05: below the threshold
    fb = far.write(tmp_path / "ndvi_before.tif", before, far.PHRAE_10M, far.UTM47)
    fa = far.write(tmp_path / "ndvi_after.tif", after, far.PHRAE_10M, far.UTM47)
    params = {"index": "ndvi", "threshold": 0.25, "after_date": "2024-02-10", "before_date": "2024-01-05"}
    r = _ingest(sm, [fb, fa], "change_pair", params=params)
    assert _summary(sm, r) == [
        (4, date(2024, 2, 10), date(2024, 2, 10), 2),
        (9, date(2024, 2, 10), date(2024, 2, 10), 2),
    ]
    assert r.params["threshold"] == 0.25 and r.params["index"] == "ndvi"
    with transaction(sm) as session:
        stored = session.execute(text("SELECT params FROM forest_alert_ingests WHERE id = :i"), {"i": r.ingest_id})
        assert stored.scalar()["threshold"] == 0.25
    r2 = _ingest(sm, [fb, fa], "change_pair", params={**params, "threshold": 0.5})
    assert sorted(p[0] for p in _summary(sm, r2)) == [9]


def test_change_pair_after_scene_in_another_crs(sm, tmp_path):
    """The after NDVI in EPSG:4326 is warped onto the before grid (UTM 47N) window by window."""
    from pyproj import Transformer

    before = np.full((40, 40), 0.8, dtype=np.float32)
    fb = far.write(tmp_path / "b.tif", before, far.PHRAE_10M, far.UTM47)
    to_wgs = Transformer.from_crs(far.UTM47, "EPSG:4326", always_xy=True)
    west, north = to_wgs.transform(620_000.0 - 50, 2_010_000.0 + 50)
    px = 0.00005  # about 5 m
    after = np.full((120, 120), 0.8, dtype=np.float32)
    after[40:60, 40:60] = 0.1  # a cleared square of about 100 x 100 m
    fa = far.write(tmp_path / "a.tif", after, far.from_origin(west, north, px, px), "EPSG:4326")
    r = _ingest(sm, [fb, fa], "change_pair", params={"index": "nbr", "threshold": 0.3, "after_date": "2024-03-01"})
    assert r.patches == 1
    (p,) = _patches(sm, r.patch_ids)
    assert 64 <= p["pixels"] <= 144  # about 10 x 10 of the 10 m pixels, edges by bilinear resampling


def test_geographic_tile_area_measured_in_utm(sm, tmp_path):
    """An EPSG:4326 tile (0.00025 degree, as GFW's 10 x 10 degree tiles): a 3 x 3 patch near Phrae measured in UTM 47N."""
    import shapely
    from pyproj import Transformer

    px = 0.00025
    t = far.from_origin(100.1, 18.2, px, px)
    days = np.zeros((10, 10), dtype=np.int32)
    conf = np.zeros((10, 10), dtype=np.uint8)
    days[4:7, 4:7], conf[4:7, 4:7] = far.gfw_day(D1), 3
    r = _ingest(sm, [_gfw_file(tmp_path, "20N_100E.tif", days, conf, t, "EPSG:4326")], "gfw_integrated")
    (p,) = _patches(sm, r.patch_ids)
    box = shapely.box(100.1 + 4 * px, 18.2 - 7 * px, 100.1 + 7 * px, 18.2 - 4 * px)
    utm = shapely.ops.transform(
        Transformer.from_crs(4326, 32647, always_xy=True).transform, shapely.segmentize(box, px / 10)
    )
    assert p["area_m2"] == pytest.approx(utm.area, rel=1e-5)
    assert 6_500 < p["area_m2"] < 6_650  # 9 pixels of about 26.5 x 27.7 m = 733 m2


def test_sinusoidal_raster(sm, tmp_path):
    """A MODIS sinusoidal raster (231.66 m pixels): the patch's UTM area is the equal-area cells' within 0.5 %."""
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, far.SINUSOIDAL, always_xy=True).transform(100.15, 18.15)
    px = 231.656358
    t = far.from_origin(x, y, px, px)
    days = np.zeros((6, 6), dtype=np.int32)
    conf = np.zeros((6, 6), dtype=np.uint8)
    days[1:3, 1:4], conf[1:3, 1:4] = far.gfw_day(D1), 2
    r = _ingest(sm, [_gfw_file(tmp_path, "modis.tif", days, conf, t, far.SINUSOIDAL)], "gfw_integrated")
    (p,) = _patches(sm, r.patch_ids)
    assert p["pixels"] == 6
    assert p["area_m2"] == pytest.approx(6 * px * px, rel=5e-3)


def test_patch_across_the_utm_47_48_line(sm, tmp_path):
    """A patch from 101.99875 E to 102.00125 E: its part west of 102 E measured in UTM 47N, the rest in 48N."""
    import shapely
    from pyproj import Transformer

    px = 0.00025
    t = far.from_origin(101.998, 18.0, px, px)
    days = np.zeros((8, 16), dtype=np.int32)
    conf = np.zeros((8, 16), dtype=np.uint8)
    days[2:6, 3:13], conf[2:6, 3:13] = far.gfw_day(D1), 3  # cols 3..12: 101.99875 .. 102.00125
    f = _gfw_file(tmp_path, "edge.tif", days, conf, t, "EPSG:4326")
    r = _ingest(sm, [f], "gfw_integrated", bounds=(101.99, 17.99, 102.01, 18.01))
    (p,) = _patches(sm, r.patch_ids)
    west = shapely.box(101.998 + 3 * px, 18.0 - 6 * px, 102.0, 18.0 - 2 * px)
    east = shapely.box(102.0, 18.0 - 6 * px, 101.998 + 13 * px, 18.0 - 2 * px)

    def utm(g, epsg):
        return shapely.ops.transform(
            Transformer.from_crs(4326, epsg, always_xy=True).transform, shapely.segmentize(g, px / 10)
        ).area

    expected = utm(west, 32647) + utm(east, 32648)
    assert p["area_m2"] == pytest.approx(expected, rel=1e-6)
    assert utm(west, 32647) == pytest.approx(utm(east, 32648), rel=2e-3)  # two halves, each in its own zone
    assert p["in_aoi"] is False  # far from Phrae


def test_patch_crossing_a_reserve_boundary_shared_exactly(sm, tmp_path):
    import shapely
    from pyproj import Transformer

    with transaction(sm) as session:
        code, wkb = session.execute(
            text("""SELECT code, ST_AsBinary(geom) FROM protected_areas_on(DATE '2023-03-01')
                    WHERE kind = 'national_reserved_forest' ORDER BY code LIMIT 1""")
        ).one()
    reserve = shapely.ops.transform(
        Transformer.from_crs(4326, 32647, always_xy=True).transform, shapely.from_wkb(bytes(wkb))
    )
    # a point on the reserve's boundary, snapped to the 10 m grid; a 20 x 20 px patch centred on it
    bx, by = reserve.exterior.coords[0] if reserve.geom_type == "Polygon" else reserve.geoms[0].exterior.coords[0]
    x0, y0 = round(bx / 10) * 10 - 100, round(by / 10) * 10 + 100
    days = np.full((20, 20), far.gfw_day(D1), dtype=np.int32)
    conf = np.full((20, 20), 3, dtype=np.uint8)
    f = _gfw_file(tmp_path, "reserve.tif", days, conf, far.from_origin(x0, y0, 10, 10), far.UTM47)
    r = _ingest(sm, [f], "gfw_integrated", bounds=None)
    (p,) = _patches(sm, r.patch_ids)
    patch = shapely.box(x0, y0 - 200, x0 + 200, y0)
    share = patch.intersection(reserve).area / patch.area
    assert 0.02 < share < 0.98  # it does cross the boundary
    with transaction(sm) as session:
        zones = {(z["zone_type"], z["zone_code"]): z for z in store.patch_zones(session, [p["id"]])}
    assert zones[("protected_area", code)]["share"] == pytest.approx(share, abs=2e-3)
    assert p["area_m2"] == pytest.approx(40_000, rel=1e-6)
    assert sum(z["share"] for (t, _), z in zones.items() if t == "district") == pytest.approx(1, abs=1e-6)
    assert p["reserve_code"] == code and code in p["protected_area_codes"]


def test_same_file_same_parameters_is_a_no_op(sm, tmp_path):
    days, conf = picture()
    f = _gfw_file(tmp_path, "gfw.tif", days, conf)
    first = _ingest(sm, [f], "gfw_integrated")
    again = _ingest(sm, [f], "gfw_integrated")
    assert again.replayed and again.ingest_id == first.ingest_id
    assert sorted(again.patch_ids) == sorted(first.patch_ids)
    assert _count(sm, "SELECT count(*) FROM forest_alert_ingests") == 1
    assert _count(sm, "SELECT count(*) FROM clearing_patches") == 3


def test_patch_keeps_its_id_when_later_alerts_extend_it(sm, tmp_path):
    d = far.gfw_day(D1)
    days = np.zeros((20, 20), dtype=np.int32)
    conf = np.zeros((20, 20), dtype=np.uint8)
    days[2:5, 2:5], conf[2:5, 2:5] = d, 3  # A
    days[2:5, 8:11], conf[2:5, 8:11] = d, 2  # B, three columns east of A
    first = _ingest(sm, [_gfw_file(tmp_path, "w1.tif", days, conf)], "gfw_integrated")
    a_id, b_id = sorted(first.patch_ids)
    # the next download (cumulative, as GFW's layer is) adds a bridge 20 days later joining A and B
    days[2:5, 5:8], conf[2:5, 5:8] = d + 20, 4
    second = _ingest(sm, [_gfw_file(tmp_path, "w2.tif", days, conf)], "gfw_integrated")
    assert (second.patches_new, second.patches_extended, second.patches_merged) == (0, 1, 1)
    (a,) = _patches(sm, [a_id])
    (b,) = _patches(sm, [b_id])
    assert a["merged_into"] is None and b["merged_into"] == a_id
    assert (a["pixels"], a["pixels_low"], a["pixels_high"], a["pixels_highest"]) == (27, 9, 9, 9)
    assert a["area_m2"] == pytest.approx(2_700, rel=1e-6)
    assert (a["first_date"], a["last_date"], a["confidence_max"]) == (D1, date(2023, 3, 21), 4)
    assert a["first_ingest_id"] == first.ingest_id and a["last_ingest_id"] == second.ingest_id
    # later alerts beside it within 30 days of the bridge: still the same patch
    days[5, 5:8], conf[5, 5:8] = d + 45, 3
    # ... and alerts beside it but 200 days later: a new patch
    days[5, 2:5], conf[5, 2:5] = d + 200, 3
    third = _ingest(sm, [_gfw_file(tmp_path, "w3.tif", days, conf)], "gfw_integrated")
    assert (third.patches_new, third.patches_extended) == (1, 1)
    (a,) = _patches(sm, [a_id])
    assert a["pixels"] == 30 and a["last_date"] == date(2023, 4, 15)
    assert _count(sm, "SELECT count(*) FROM clearing_patches WHERE merged_into IS NULL") == 2


@pytest.mark.parametrize(
    ("make", "code"),
    [
        ("no_crs", "tile_rejected"),
        ("bad_values", "alert_encoding"),
        ("not_tiff", "tile_rejected"),
        ("one_layer_for_two", "tile_rejected"),
        ("float_for_integers", "tile_rejected"),
    ],
)
def test_bad_files_refused_nothing_stored(sm, tmp_path, make, code):
    days, conf = picture()
    encoding = "gfw_integrated"
    if make == "no_crs":
        f = far.write(tmp_path / "x.tif", far.gfw_integrated(days, conf), far.PHRAE_10M, None)
    elif make == "bad_values":
        v = far.gfw_integrated(days, conf)
        v[7, 7] = 12345  # leading digit 1
        f = far.write(tmp_path / "x.tif", v, far.PHRAE_10M, far.UTM47)
    elif make == "not_tiff":
        f = tmp_path / "x.tif"
        f.write_text("latitude,longitude\n18,100\n")
    elif make == "one_layer_for_two":
        f, encoding = _gfw_file(tmp_path, "x.tif", days, conf), "radd_wur"
    else:
        f = far.write(tmp_path / "x.tif", days.astype(np.float32), far.PHRAE_10M, far.UTM47)
    with pytest.raises(Exception) as e:
        _ingest(sm, [f], encoding)
    assert getattr(e.value, "code", None) == code, e.value
    assert _count(sm, "SELECT count(*) FROM forest_alert_ingests") == 0
    assert _count(sm, "SELECT count(*) FROM clearing_patches") == 0


def test_unknown_encoding_and_size_cap_refused_before_opening(sm, tmp_path):
    f = tmp_path / "big.tif"
    f.write_bytes(np.random.default_rng(0).bytes(2 << 20))  # not even a TIFF: the cap is checked first
    with pytest.raises(Exception) as e:
        _ingest(sm, [f], "gfw_integrated", settings=ForestLossSettings(max_file_mb=1))
    assert e.value.code == "file_too_large"
    with pytest.raises(Exception) as e:
        _ingest(sm, [f], "glad_v2")
    assert e.value.code == "unknown_encoding" and "gfw_integrated" in str(e.value)
    assert _count(sm, "SELECT count(*) FROM forest_alert_ingests") == 0


@pytest.mark.slow
def test_huge_tile_only_the_area_of_interest_is_read(sm, tmp_path):
    """A 10 x 10 degree EPSG:4326 tile (40,000 x 40,000 px of int32 = 6.4 GB if read whole) with alerts in Phrae
    and far away: only the area of interest's window is read, within a memory bound."""
    import tracemalloc

    import rasterio
    from rasterio.windows import Window

    px = 0.00025
    path = tmp_path / "20N_100E.tif"
    profile = dict(
        driver="GTiff",
        height=40_000,
        width=40_000,
        count=1,
        dtype="int32",
        crs="EPSG:4326",
        transform=far.from_origin(100.0, 20.0, px, px),
        compress="deflate",
        tiled=True,
        blockxsize=512,
        blockysize=512,
        BIGTIFF="YES",
        sparse_ok=True,
    )
    block = np.full((6, 6), 30_000 + far.gfw_day(D1), dtype=np.int32)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(block, 1, window=Window(600, 7200, 6, 6))  # 100.15 E, 18.2 N: Phrae
        ds.write(block, 1, window=Window(20_000, 20_000, 6, 6))  # 105 E, 15 N: far outside
    assert path.stat().st_size < 5 << 20
    tracemalloc.start()
    r = _ingest(sm, [path], "gfw_integrated")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert r.patches == 1 and r.alert_pixels == 36  # the far block was never read
    assert r.window["pixels"] < 0.02 * r.window["raster_pixels"]
    assert peak < 400 << 20, f"peak {peak / 2**20:.0f} MiB"


def test_api_upload_list_detail_and_refusal(client, admin_headers, tmp_path):
    from tests.samples import post_viirs

    # a VIIRS detection beside the patches, days before their alerts: they were cleared by fire
    post_viirs(
        client, admin_headers, ["18.17460,100.13570,330.5,0.4,0.4,2023-02-19,0630,N,VIIRS,n,2.0NRT,290.1,5.2,D\n"]
    )
    days, conf = picture()
    f = _gfw_file(tmp_path, "gfw.tif", days, conf)
    bad = far.write(tmp_path / "nocrs.tif", far.gfw_integrated(days, conf), far.PHRAE_10M, None)
    r = client.post(
        "/api/v1/forest-loss/ingests",
        headers=admin_headers,
        files={"files": ("nocrs.tif", bad.read_bytes(), "image/tiff")},
        data={"source": "gfw_integrated"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "tile_rejected", r.text
    assert "coordinate reference system" in r.json()["error"]["message"]
    assert client.get("/api/v1/forest-loss/ingests", headers=admin_headers).json() == []
    r = client.post(
        "/api/v1/forest-loss/ingests",
        headers=admin_headers,
        files={"files": ("gfw.tif", f.read_bytes(), "image/tiff")},
        data={"source": "gfw_integrated", "min_confidence": "low"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["patches"], body["alert_pixels"], body["replayed"]) == (3, 14, False)
    assert body["area_ha"] == pytest.approx(0.14) and body["area_rai"] == pytest.approx(0.875)
    # the detection (19 Feb) lies within 500 m of all three and within 60 days before each first alert (1 Mar,
    # 11 Mar, 20 Apr: 19 Feb is exactly 60 days before 20 Apr)
    assert body["cleared_by_fire"] == 3
    listed = client.get("/api/v1/forest-loss/ingests", headers=admin_headers).json()
    assert [i["id"] for i in listed] == [body["ingest_id"]]
    detail = client.get(f"/api/v1/forest-loss/ingests/{body['ingest_id']}", headers=admin_headers).json()
    assert detail["patches"] == 3 and detail["area_rai"] == pytest.approx(0.875)
    assert client.get("/api/v1/forest-loss/ingests/999999", headers=admin_headers).status_code == 404
    # the patches the ingest stored are the ones the alerts collection (issue 14 item 3) serves
    fc = client.get("/api/v1/forest-loss/patches", headers=admin_headers).json()
    assert sorted(f["id"] for f in fc["features"]) == sorted(body["patch_ids"])
    r = client.post(
        "/api/v1/forest-loss/ingests",
        headers=admin_headers,
        files={"files": ("gfw.tif", f.read_bytes(), "image/tiff")},
        data={"source": "glad_v9"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_encoding"


@pytest.mark.slow
def test_cli_ingest_change_pair_list_and_refusal(db_url, tmp_path):
    env = cli_env(db_url, tmp_path / "var")

    def cli(*args):
        return run_cli(env, "forest-loss", *args, timeout=300)

    days, conf = picture()
    f = _gfw_file(tmp_path, "gfw.tif", days, conf)
    r = cli("ingest", str(f), "--source", "gfw_integrated")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "gfw_integrated" in r.stdout and "0.14" in r.stdout and "0.88" in r.stdout  # 0.14 ha, 0.875 rai
    again = cli("ingest", str(f), "--source", "gfw_integrated")
    assert again.returncode == 0 and "already ingested" in again.stdout
    before = far.write(tmp_path / "b.tif", np.full((20, 20), 0.8, dtype=np.float32), far.PHRAE_10M, far.UTM47)
    after_values = np.full((20, 20), 0.8, dtype=np.float32)
    after_values[5:8, 5:8] = 0.3
    after = far.write(tmp_path / "a.tif", after_values, far.PHRAE_10M, far.UTM47)
    r = cli(
        "change-pair", str(before), str(after), "--index", "ndvi", "--threshold", "0.3", "--after-date", "2025-03-10"
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert "change_pair" in r.stdout
    listed = cli("list")
    assert listed.returncode == 0 and "change_pair" in listed.stdout and "gfw.tif" in listed.stdout
    nocrs = far.write(tmp_path / "nocrs.tif", far.gfw_integrated(days, conf), far.PHRAE_10M, None)
    bad = cli("ingest", str(nocrs), "--source", "gfw_integrated")
    assert bad.returncode == 1 and "no coordinate reference system" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr


def test_cleared_by_fire_rule_distance_and_days(sm, tmp_path):
    """Detections 10 days before the alert beside patch A count; one 200 days before, or 3 km away, does not."""
    from geo_service.hotspots.service import ingest_path
    from tests.samples import VIIRS_HEADER

    csv = tmp_path / "viirs.csv"
    csv.write_text(
        VIIRS_HEADER
        + "18.17530,100.13490,330.5,0.4,0.4,2023-02-19,0630,N,VIIRS,n,2.0NRT,290.1,5.2,D\n"  # beside A, 10 days before
        + "18.17530,100.13490,330.5,0.4,0.4,2022-08-01,0630,N,VIIRS,n,2.0NRT,290.1,5.2,D\n"  # 212 days before
        + "18.20000,100.13490,330.5,0.4,0.4,2023-02-25,0630,N,VIIRS,n,2.0NRT,290.1,5.2,D\n"  # 2.7 km north
    )
    with transaction(sm) as session:
        ingest_path(session, csv, country_bbox=(97.3, 5.5, 105.7, 20.6))
    days = np.zeros((20, 20), dtype=np.int32)
    conf = np.zeros((20, 20), dtype=np.uint8)
    days[2:5, 2:5], conf[2:5, 2:5] = far.gfw_day(D1), 3  # A at the detection
    days[2:5, 15:18], conf[2:5, 15:18] = far.gfw_day(D1) + 100, 3  # D: 130 m east, 110 days after the detection
    r = _ingest(sm, [_gfw_file(tmp_path, "fire.tif", days, conf)], "gfw_integrated")
    a, d = _patches(sm, r.patch_ids)
    assert a["cleared_by_fire"] and not d["cleared_by_fire"]
    ev = a["fire_evidence"]
    assert ev["hotspots"] == 1 and ev["hotspot_days"] == ["2023-02-19", "2023-02-19"]
    assert ev["nearest_m"] < 50 and ev["rule"] == {
        "distance_m": 500.0,
        "days_before": 60,
        "days_after": 30,
        "half_pixel_m": {"VIIRS": 187.5, "MODIS": 500.0},
    }
    assert r.cleared_by_fire == 1
