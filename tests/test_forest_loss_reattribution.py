"""Clearing patches follow the boundaries and the area of interest after they were stored: a protected-area load
re-attributes every live patch in the load's own transaction (``wiring`` registers
``forest_loss.ingest.reattribute_patches`` with the layers store), and the start-up's area-of-interest step re-marks
their ``in_aoi`` flag with the detections' SQL definition when the configured area changed (only then)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.db.startup import apply_configured_area_of_interest
from geo_service.forest_loss import store
from geo_service.forest_loss.ingest import ingest_files
from geo_service.layers.load import load_file
from geo_service.layers.store import LayerMeta
from geo_service.settings import ForestLossSettings
from tests import forest_alert_rasters as far
from tests.conftest import make_settings
from tests.samples import load_protected_areas, protected_area_file

TO_LL = Transformer.from_crs(32647, 4326, always_xy=True)


def _utm_polygon(x0, y0, x1, y1) -> Polygon:
    # corners every 10 m along the edges, so the lon/lat polygon follows the UTM box to the millimetre
    xs, ys = np.arange(x0, x1 + 1, 10.0), np.arange(y0, y1 + 1, 10.0)
    ring = (
        [(x, y0) for x in xs]
        + [(x1, y) for y in ys[1:]]
        + [(x, y1) for x in xs[::-1][1:]]
        + [(x0, y) for y in ys[::-1][1:]]
    )
    return Polygon([TO_LL.transform(x, y) for x, y in ring])


@pytest.mark.slow
def test_a_protected_area_load_re_attributes_stored_patches(client, db_url, sessionmaker_for, tmp_path):
    """A 30 x 30 m patch near Phrae town, then a reserve (in force since 2000) loaded over its western half: the
    patch's zones, codes and share follow in the load's transaction (0.5 inside); a revision that drops the reserve
    from the patch (in force before the alert) takes them back out. Its area does not change."""
    factory = sessionmaker_for(db_url)  # ``client``: the app is made, so wiring.py's listeners are registered
    pid = _phrae_patch(factory, tmp_path)
    with transaction(factory) as s:
        (before,) = store.patches_of(s, [pid])
        assert "NRF-MOVED" not in (before["protected_area_codes"] or [])

    def load(version: str, valid_from: str, geom: Polygon) -> None:
        path = protected_area_file(tmp_path / f"moved_{version}.geojson", "NRF-MOVED", version, valid_from, geom)
        load_protected_areas(factory, path, "pa-moved", version)

    load("1", "2000-01-01", _utm_polygon(619_000, 2_009_000, 620_035, 2_011_000))  # the patch's western 15 of 30 m
    with transaction(factory) as s:
        (p,) = store.patches_of(s, [pid])
        zones = {(z["zone_type"], z["zone_code"]): z for z in store.patch_zones(s, [pid])}
    assert "NRF-MOVED" in p["protected_area_codes"] and p["reserve_code"] == "NRF-MOVED"
    assert zones[("protected_area", "NRF-MOVED")]["share"] == pytest.approx(0.5, abs=1e-3)
    assert p["area_m2"] == before["area_m2"]  # kept as stored, to the bit
    # the revision in force from 2020 (before the alert): a kilometre west of the patch
    load("2", "2020-01-01", _utm_polygon(618_000, 2_009_000, 619_000, 2_011_000))
    with transaction(factory) as s:
        (p,) = store.patches_of(s, [pid])
        zones = {(z["zone_type"], z["zone_code"]) for z in store.patch_zones(s, [pid])}
    assert "NRF-MOVED" not in (p["protected_area_codes"] or []) and ("protected_area", "NRF-MOVED") not in zones
    assert p["reserve_code"] == before["reserve_code"]


def _versions(factory, pid: int) -> tuple[str, bytes, dict[tuple[str, str], str]]:
    """The patch's row version, its area's bytes, and the row version of each of its zone rows."""
    with factory() as s:
        v, area = s.execute(
            text("SELECT xmin::text, float8send(area_m2) FROM clearing_patches WHERE id = :i"), {"i": pid}
        ).one()
        zones = s.execute(
            text("SELECT zone_type, zone_code, xmin::text FROM clearing_patch_zones WHERE patch_id = :i"), {"i": pid}
        ).all()
    return v, bytes(area), {(t, c): x for t, c, x in zones}


@pytest.mark.slow
def test_a_boundary_load_writes_only_what_it_changed(client, db_url, sessionmaker_for, tmp_path):
    """The listener skips a layer type no attribution reads, and a load that changes nothing of a patch (a reserve
    a kilometre away) leaves the patch and its zone rows untouched (same row versions). A reserve over the patch's
    western half adds its zone row and codes; the province, district and subdistrict rows are not rewritten and the
    area keeps its bits."""
    from geo_service.forest_loss.ingest import ZONES_OF_LAYER, reattribute_patches
    from geo_service.layers.reader import LAYER_TYPES

    assert set(ZONES_OF_LAYER) == set(LAYER_TYPES), "a new layer type: say which patch zones it decides, if any"
    factory = sessionmaker_for(db_url)
    pid = _phrae_patch(factory, tmp_path)
    v0, area0, zones0 = _versions(factory, pid)
    assert {t for t, _ in zones0} == {"province", "district", "subdistrict"}
    with transaction(factory) as s:
        assert reattribute_patches(s, "roads") == 0
    assert _versions(factory, pid) == (v0, area0, zones0)

    def load(code: str, geom: Polygon) -> None:
        load_protected_areas(
            factory, protected_area_file(tmp_path / f"{code}.geojson", code, "1", "2000-01-01", geom), f"pa-{code}", "1"
        )

    load("NRF-FAR", _utm_polygon(618_000, 2_009_000, 619_000, 2_011_000))  # a kilometre west of the patch
    assert _versions(factory, pid) == (v0, area0, zones0)
    load("NRF-HALF", _utm_polygon(619_000, 2_009_000, 620_035, 2_011_000))  # the patch's western 15 of 30 m
    v1, area1, zones1 = _versions(factory, pid)
    assert v1 != v0 and area1 == area0
    assert set(zones1) == set(zones0) | {("protected_area", "NRF-HALF")}
    assert all(zones1[k] == zones0[k] for k in zones0)  # the admin rows were not rewritten
    with transaction(factory) as s:
        (p,) = store.patches_of(s, [pid])
    assert p["protected_area_codes"] == ["NRF-HALF"] and p["reserve_code"] == "NRF-HALF" and p["in_aoi"] is True


def _load_nan(factory, tmp_path) -> None:
    """A box east of Phrae standing in for Nan's outline (province 55), far from the test patch."""
    gdf = gpd.GeoDataFrame(
        {"ADM1_PCODE": ["TH55"], "ADM1_TH": ["น่าน"], "ADM1_EN": ["Nan"]},
        geometry=[Polygon([(100.7, 18.55), (100.85, 18.55), (100.85, 18.85), (100.7, 18.85)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "nan.geojson"
    gdf.to_file(path)
    meta = LayerMeta(name="nan-test", version="1", source="test", licence="CC0", attribution="test")
    with transaction(factory) as s:
        load_file(s, path, "province", meta, fields={"code": "ADM1_PCODE", "name_th": "ADM1_TH", "name_en": "ADM1_EN"})


def _phrae_patch(factory, tmp_path) -> int:
    """Ingest one 30 x 30 m patch near Phrae town, first alerted 2023-03-01 (x 620,020-620,050, y 2,009,950-2,009,980
    in UTM 47N); its id."""
    f = far.gfw_tile(tmp_path / "gfw.tif", [(np.s_[2:5, 2:5], date(2023, 3, 1), 3)])
    with transaction(factory) as s:
        (pid,) = ingest_files(s, [f], encoding="gfw_integrated", settings=ForestLossSettings()).patch_ids
    return pid


def _flag_and_version(factory, pid: int) -> tuple[bool, str]:
    with factory() as s:
        row = s.execute(text("SELECT in_aoi, xmin::text AS v FROM clearing_patches WHERE id = :i"), {"i": pid}).one()
    return row.in_aoi, row.v


def test_start_up_re_marks_patches_when_the_configured_area_changes(client, db_url, sessionmaker_for, tmp_path):
    """GEO_SERVICE_AOI_PROVINCES changed between two starts moves a patch out of the area of interest and back in,
    with the detections' definition: Phrae's patch is outside when the area is Nan (55) alone, inside again when it
    is Phrae (54)."""
    factory = sessionmaker_for(db_url)
    _load_nan(factory, tmp_path)
    pid = _phrae_patch(factory, tmp_path)
    assert _flag_and_version(factory, pid)[0] is True  # every loaded province (the default) holds it
    apply_configured_area_of_interest(factory, make_settings(db_url, tmp_path, aoi_provinces=["TH55"]))
    assert _flag_and_version(factory, pid)[0] is False
    apply_configured_area_of_interest(factory, make_settings(db_url, tmp_path, aoi_provinces=["54"]))
    assert _flag_and_version(factory, pid)[0] is True
    apply_configured_area_of_interest(factory, make_settings(db_url, tmp_path, aoi_provinces=["55", "54"]))
    assert _flag_and_version(factory, pid)[0] is True  # both provinces: still inside


def test_start_up_with_the_same_area_does_not_touch_patches(client, db_url, sessionmaker_for, tmp_path):
    """A restart with the configuration already stored re-marks nothing: the patch keeps its row version (no
    UPDATE reached it), and a flag set by hand (standing for any stored state) is left as it is; a changed
    configuration then re-marks it."""
    factory = sessionmaker_for(db_url)
    pid = _phrae_patch(factory, tmp_path)
    settings = make_settings(db_url, tmp_path, aoi_provinces=["54"])
    apply_configured_area_of_interest(factory, settings)  # the area becomes Phrae's (from every loaded province)
    flag, version = _flag_and_version(factory, pid)
    assert flag is True
    assert apply_configured_area_of_interest(factory, settings) == 0
    assert _flag_and_version(factory, pid) == (True, version)
    with transaction(factory) as s:
        s.execute(text("UPDATE clearing_patches SET in_aoi = false WHERE id = :i"), {"i": pid})
    apply_configured_area_of_interest(factory, make_settings(db_url, tmp_path, aoi_provinces=["TH54"]))  # same area
    assert _flag_and_version(factory, pid)[0] is False
    apply_configured_area_of_interest(factory, make_settings(db_url, tmp_path, aoi_provinces=["54"], aoi_buffer_m=100))
    assert _flag_and_version(factory, pid)[0] is True
