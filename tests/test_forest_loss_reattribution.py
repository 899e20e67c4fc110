"""Clearing patches follow the boundaries and the area of interest after they were stored: a protected-area load
re-attributes every live patch in the load's own transaction (``wiring`` registers
``forest_loss.ingest.reattribute_patches`` with the layers store), and the start-up's area-of-interest step re-marks
their ``in_aoi`` flag with the detections' SQL definition."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from geo_service.db.engine import transaction
from geo_service.db.startup import apply_configured_area_of_interest
from geo_service.forest_loss import store
from geo_service.forest_loss.ingest import ingest_files
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


def _ingest_one_patch(factory, tmp_path) -> int:
    """Ingest one 30 x 30 m patch near Phrae town, first alerted 2023-03-01 (x 620,020-620,050, y 2,009,950-2,009,980
    in UTM 47N); its id."""
    f = far.gfw_tile(tmp_path / "gfw.tif", [(np.s_[2:5, 2:5], date(2023, 3, 1), 3)])
    with transaction(factory) as s:
        (pid,) = ingest_files(s, [f], encoding="gfw_integrated", settings=ForestLossSettings()).patch_ids
    return pid


@pytest.mark.slow
def test_a_protected_area_load_re_attributes_stored_patches(client, db_url, sessionmaker_for, tmp_path):
    """A 30 x 30 m patch near Phrae town, then a reserve (in force since 2000) loaded over its western half: the
    patch's zones, codes and share follow in the load's transaction (0.5 inside); a revision that drops the reserve
    from the patch (in force before the alert) takes them back out. Its area does not change."""
    factory = sessionmaker_for(db_url)  # ``client``: the app is made, so wiring.py's listeners are registered
    pid = _ingest_one_patch(factory, tmp_path)
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
    assert p["area_m2"] == pytest.approx(before["area_m2"], rel=1e-12)
    # the revision in force from 2020 (before the alert): a kilometre west of the patch
    load("2", "2020-01-01", _utm_polygon(618_000, 2_009_000, 619_000, 2_011_000))
    with transaction(factory) as s:
        (p,) = store.patches_of(s, [pid])
        zones = {(z["zone_type"], z["zone_code"]) for z in store.patch_zones(s, [pid])}
    assert "NRF-MOVED" not in (p["protected_area_codes"] or []) and ("protected_area", "NRF-MOVED") not in zones
    assert p["reserve_code"] == before["reserve_code"]


def test_start_up_re_marks_patches_in_the_area_of_interest(client, db_url, sessionmaker_for, tmp_path):
    """A patch whose stored ``in_aoi`` no longer matches the stored area of interest (as after a change of
    GEO_SERVICE_AOI_PROVINCES) is re-marked by the start-up step, with the detections' definition."""
    factory = sessionmaker_for(db_url)
    pid = _ingest_one_patch(factory, tmp_path)
    with transaction(factory) as s:
        (p,) = store.patches_of(s, [pid])
        assert p["in_aoi"] is True  # near Phrae town, inside the default area of interest
        s.execute(store_text("UPDATE clearing_patches SET in_aoi = false WHERE id = :i"), {"i": pid})
    apply_configured_area_of_interest(factory, make_settings(db_url, tmp_path))
    with transaction(factory) as s:
        assert store.patches_of(s, [pid])[0]["in_aoi"] is True


def store_text(sql: str):
    from sqlalchemy import text

    return text(sql)
