"""Which patches a hotspot ingest marks again (forest_loss/fire.py ``after_hotspots_ingested``, its candidates
``patches_reached``): by hand, on the edges of the candidate query: the window's first local day that is still the
day before in UTC, a MODIS pixel's farther reach, an SP detection replacing the NRT one of the same key at a
position a few metres away (the key rounds positions to 1e-4 degree), a merged patch left alone."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss import store
from geo_service.hotspots.service import ingest_path
from tests.samples import VIIRS_HEADER

TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
TO_WGS = Transformer.from_crs(32647, 4326, always_xy=True)
COUNTRY = (97.3, 5.5, 105.7, 20.6)
X0, Y0 = 623_000.0, 2_010_000.0  # UTM 47N, in Phrae (about 100.16 E, 18.18 N)


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _patch(session, x0: float, y_top: float, first: str, last: str) -> int:
    """A 30 m square (UTM 47N) whose top edge is at ``y_top``, stored as the ingest stores patches, not burned."""
    ingest_id = store.create_ingest(
        session, source="gfw_integrated", encoding="gfw_integrated", file_name="t", file_sha256="0" * 64,
        params_key=f"t{x0}{y_top}{first}", params={}, crs="EPSG:32647", window=None, created_by="test",
    )  # fmt: skip
    (pid,) = store.new_patch_ids(session, 1)
    g = shapely.transform(
        shapely.box(x0, y_top - 30, x0 + 30, y_top),
        lambda xy: np.column_stack(TO_WGS.transform(xy[:, 0], xy[:, 1])),
    )
    store.insert_patches(
        session,
        [
            {
                "id": pid, "wkb": shapely.to_wkb(g), "first_date": date.fromisoformat(first), "last_date": date.fromisoformat(last), "pixels": 9,
                "pixels_low": 0, "pixels_high": 9, "pixels_highest": 0, "confidence_max": 3,
                "sources": ["gfw_integrated"],
            }
        ],
        ingest_id,
    )  # fmt: skip
    return pid


def _latlon(x: float, y: float) -> tuple[float, float]:
    lon, lat = TO_WGS.transform(x, y)
    return lat, lon


def _mark(sm, pid: int):
    with transaction(sm) as session:
        return session.execute(
            text("SELECT cleared_by_fire, fire_evidence FROM clearing_patches WHERE id = :i"), {"i": pid}
        ).one()


def _ingest(sm, path, header, lines, processing=None):
    path.write_text(header + "\n".join(lines) + "\n")
    with transaction(sm) as session:
        return ingest_path(session, path, country_bbox=COUNTRY, processing=processing)


def _viirs(lat, lon, day, hhmm, version="2.0NRT"):
    return f"{lat:.5f},{lon:.5f},330.5,0.4,0.4,{day},{hhmm},N,VIIRS,n,{version},290.1,5.2,N"


def test_an_event_in_the_box_but_out_of_reach_of_every_area_is_no_error(sm, tmp_path):
    """A fire event read for a cell (its box is widened by the farthest reach, 1,000 m) whose footprint stays
    beyond 500 m of every area counts for none: the search answers nothing (it raised IndexError, failing the
    hotspot ingest whose listener asked)."""
    from geo_service.hotspots.near import fire_near_areas

    lat, lon = _latlon(X0 + 15, Y0 + 900)  # its footprint (a 187.5 m disc) 712.5 m from the square
    _ingest(sm, tmp_path / "v.csv", VIIRS_HEADER, [_viirs(lat, lon, "2024-03-05", "0630")])
    square = shapely.transform(
        shapely.box(X0, Y0 - 30, X0 + 30, Y0), lambda xy: np.column_stack(TO_WGS.transform(xy[:, 0], xy[:, 1]))
    )
    with transaction(sm) as session:
        assert session.execute(text("SELECT count(*) FROM fire_events")).scalar() == 1
        area = (1, shapely.to_wkb(square), date(2024, 3, 1), date(2024, 3, 10))
        assert fire_near_areas(session, [area], distance_m=500.0, days_before=60, days_after=30) == []


def test_a_mark_changed_by_a_hotspot_ingest_changes_the_patches_data_version(sm, tmp_path):
    """The vector tiles' ETag of the clearing patches and of the open-data aggregate (``cleared_by_fire`` and
    ``cleared_by_fire_patches`` are among their properties) and the brief's data version follow the patches'
    ``updated_at``: a hotspot ingest that re-marks a patch must move them, or a client keeps the old mark (304)."""
    from geo_service.exports.collections import COLLECTIONS
    from geo_service.exports.tiles import data_version
    from geo_service.forest_loss.queries import freshness

    def versions():
        with transaction(sm) as session:
            return (
                data_version(session, COLLECTIONS["clearing_patches"]),
                data_version(session, COLLECTIONS["forest_loss_by_district"]),
                freshness(session)["forest_alert_changed"],
            )

    with transaction(sm) as session:
        pid = _patch(session, X0, Y0, "2024-03-01", "2024-03-10")
    before = versions()
    lat, lon = _latlon(X0 + 15, Y0 + 100)
    _ingest(sm, tmp_path / "a.csv", VIIRS_HEADER, [_viirs(lat, lon, "2024-03-05", "0630")])
    assert _mark(sm, pid)[0] is True
    after = versions()
    assert all(a != b for a, b in zip(before, after, strict=True)), (before, after)
    _ingest(sm, tmp_path / "b.csv", VIIRS_HEADER, [_viirs(lat, lon, "2024-07-05", "0630")])  # out of every window
    assert versions() == after  # nothing re-marked: the versions stay
