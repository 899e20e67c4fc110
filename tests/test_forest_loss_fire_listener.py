"""Which patches a hotspot ingest marks again (forest_loss/fire.py ``after_hotspots_ingested``, its candidates
``patches_reached``): by hand, on the edges of the candidate query: the window's first local day that is still the
day before in UTC, a MODIS pixel's farther reach, an SP detection replacing the NRT one of the same key at a
position a few metres away (the key rounds positions to 1e-4 degree), a merged patch left alone."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss import store
from geo_service.forest_loss.fire_words import evidence_words
from geo_service.hotspots.service import ingest_path
from tests.samples import VIIRS_HEADER
from tests.test_forest_loss_fire import MODIS_HEADER

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


def _ingest(sm, path, header, lines, events=True):
    path.write_text(header + "\n".join(lines) + "\n")
    with transaction(sm) as session:
        return ingest_path(session, path, country_bbox=COUNTRY, events=events)


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


def test_the_windows_first_local_day_is_the_day_before_in_utc(sm, tmp_path):
    """Alerts 1-10 Mar 2024: the window opens on 1 Jan 2024 (Asia/Bangkok), which begins at 31 Dec 2023 17:00 UTC.
    A detection at 31 Dec 2023 17:30 UTC, 100 m away, marks the patch; one at 16:30 UTC (31 Dec local) does not."""
    with transaction(sm) as session:
        pid = _patch(session, X0, Y0, "2024-03-01", "2024-03-10")
    lat, lon = _latlon(X0 + 15, Y0 + 100)
    _ingest(sm, tmp_path / "a.csv", VIIRS_HEADER, [_viirs(lat, lon, "2023-12-31", "1630")])
    assert _mark(sm, pid) == (False, None)
    _ingest(sm, tmp_path / "b.csv", VIIRS_HEADER, [_viirs(lat, lon, "2023-12-31", "1730")])
    fire, evidence = _mark(sm, pid)
    assert fire is True and evidence["hotspots"] == 1 and evidence["hotspot_days"] == ["2024-01-01", "2024-01-01"]


def test_sp_replacing_nrt_a_few_metres_away_unmarks_the_patch(sm, tmp_path):
    """The detection key rounds positions to 1e-4 degree (about 11 m): an SP detection replaces the NRT one of
    the same key even when its published position moved. MODIS NRT 995 m north of the patch (reach 500 + 500 m):
    the patch burned; SP of the same pass 8.9 m farther north (same key): the patch did not, and must be re-marked
    although no detection of the SP batch lies within the reach of it. Without events (``hotspots ingest
    --no-events``): an event's footprint, a disc around the position, would widen the box by itself."""
    k = round(18.18 * 1e4)
    lat_nrt, lat_sp = (k - 0.45) * 1e-4, (k + 0.35) * 1e-4  # both round to k
    lon = 100.16
    x, y_nrt = TO_UTM.transform(lon, lat_nrt)
    with transaction(sm) as session:
        pid = _patch(session, x - 15, y_nrt - 995.0, "2024-03-01", "2024-03-10")

    def modis(lat, version):
        return f"{lat:.5f},{lon:.5f},325.4,1.1,1.0,2024-03-05,0330,Terra,MODIS,85,{version},298.1,35.2,D"

    report = _ingest(sm, tmp_path / "nrt.csv", MODIS_HEADER, [modis(lat_nrt, "6.1NRT")], events=False)
    assert report.rows_new == 1
    fire, evidence = _mark(sm, pid)
    assert fire is True and evidence["events"] == [] and 994 < evidence["nearest_m"] < 996
    _, y_sp = TO_UTM.transform(lon, lat_sp)
    assert 1003 < y_sp - (y_nrt - 995.0) < 1005  # the SP position is out of reach
    report = _ingest(sm, tmp_path / "sp.csv", MODIS_HEADER, [modis(lat_sp, "6.1")], events=False)
    assert report.rows_updated == 1 and report.rows_new == 0  # the same detection, replaced
    assert _mark(sm, pid) == (False, None)


def test_a_merged_patch_is_not_marked_again(sm, tmp_path):
    """A patch absorbed into another (``merged_into``) keeps what it had: only live patches are candidates."""
    with transaction(sm) as session:
        live = _patch(session, X0, Y0, "2024-03-01", "2024-03-10")
        merged = _patch(session, X0 + 40, Y0, "2024-03-01", "2024-03-02")
        session.execute(text("UPDATE clearing_patches SET merged_into = :l WHERE id = :m"), {"l": live, "m": merged})
    lat, lon = _latlon(X0 + 35, Y0 + 50)
    _ingest(sm, tmp_path / "a.csv", VIIRS_HEADER, [_viirs(lat, lon, "2024-03-05", "0630")])
    assert _mark(sm, live)[0] is True and _mark(sm, merged) == (False, None)


def test_a_modis_pixel_reaches_farther_than_a_viirs_one(sm, tmp_path):
    """900 m north of the patch (UTM): a VIIRS position is out of reach (500 + 187.5 m), a MODIS one in (500 +
    500 m): only the MODIS ingest marks the patch. Its evidence keeps the two distances apart (the detection's
    published position, the event's footprint) and the words a person reads say what each one measures."""
    with transaction(sm) as session:
        pid = _patch(session, X0, Y0, "2024-03-01", "2024-03-10")
    lat, lon = _latlon(X0 + 15, Y0 + 900)
    _ingest(sm, tmp_path / "v.csv", VIIRS_HEADER, [_viirs(lat, lon, "2024-03-05", "0630")])
    assert _mark(sm, pid) == (False, None)
    line = f"{lat:.5f},{lon:.5f},325.4,1.1,1.0,2024-03-05,0330,Terra,MODIS,85,6.1NRT,298.1,35.2,D"
    _ingest(sm, tmp_path / "m.csv", MODIS_HEADER, [line])
    fire, evidence = _mark(sm, pid)
    assert fire is True and evidence["hotspots"] == 1 and len(evidence["events"]) == 1
    # the published position 900 m away (beyond the 500 m a reader sees in the rule), its pixel's event 400 m
    assert 898 < evidence["hotspot_nearest_m"] < 902 and 398 < evidence["event_nearest_m"] < 402
    assert evidence["nearest_m"] == evidence["event_nearest_m"]
    assert evidence["hotspot_sensors"] == ["MODIS"]  # the instrument of the counted detection is recorded
    th, en = evidence_words(fire, evidence, "2024-03-01")
    assert re.match(
        r"cleared by fire: 1 MODIS fire detection (898|899|900|901|902) m from the patch, on 5 Mar 2567 BE, 4 days "
        r"after the first alert; 1 fire event, its footprint (398|399|400|401|402) m from the patch \(the rule: ",
        en,
    ), en
    assert "pixel comes within 500 m of the patch (its published position VIIRS (pixel 375 m) up to 687.5 m, " in en
    assert "MODIS (pixel 1 km) up to 1,000 m)" in en and "neighbouring province" in en
    assert re.match(
        r"ถูกเผา: จุดความร้อน MODIS 1 จุด ห่างแปลง (898|899|900|901|902) ม\. วันที่ 5 มี\.ค\. 2567 "
        r"\(4 วันหลังการแจ้งเตือนแรก\); เหตุไฟ 1 เหตุ ขอบเขตห่างแปลง (398|399|400|401|402) ม\. \(เกณฑ์: ",
        th,
    ), th
    assert "MODIS (พิกเซล 1 km) ไม่เกิน 1,000 ม." in th


def test_evidence_words_without_fire_and_of_older_evidence():
    """No mark: "no fire found near the patch"; evidence recorded before the distances were split (no rule) is said
    as recorded; a mark without evidence says so (tests/test_fire_words_places.py: every place that shows it)."""
    assert evidence_words(False, None) == ("ไม่พบไฟใกล้แปลง", "no fire found near the patch")
    th, en = evidence_words(True, {"hotspots": 3, "events": [], "nearest_m": 120.0, "days": [-5, 2]})
    assert en == "cleared by fire: 3 fire detections; the nearest fire 120 m from the patch"
    assert th == "ถูกเผา: จุดความร้อน 3 จุด; ไฟใกล้สุดห่างแปลง 120 ม."
    assert evidence_words(True, None) == (
        "ถูกเผา (ไม่มีรายละเอียดบันทึกไว้)",
        "cleared by fire (no details recorded with this mark)",
    )


def test_a_batch_reaches_the_patches_near_its_fires_not_all_between_them(sm, tmp_path):
    """The candidates are searched cell by cell (``REACH_CELL_DEG``, each cell its own box and days): two fires
    30 km apart reach the patch beside the west one, not the patch halfway between them (in the same days), which
    one box around both fires searched again (bench/fire_listener.py: most of a daily file's cost)."""
    from geo_service.forest_loss.fire import patches_reached
    from geo_service.settings import ForestLossSettings

    with transaction(sm) as session:
        beside = _patch(session, X0, Y0, "2024-03-01", "2024-03-10")
        between = _patch(session, X0 + 15_000, Y0, "2024-03-01", "2024-03-10")
    west, east = _latlon(X0 + 15, Y0 + 300), _latlon(X0 + 30_015, Y0 + 300)
    path = tmp_path / "two.csv"
    path.write_text(VIIRS_HEADER + _viirs(*west, "2024-03-05", "0630") + "\n" + _viirs(*east, "2024-03-05", "0631"))
    with transaction(sm) as session:
        report = ingest_path(session, path, country_bbox=COUNTRY)
        assert patches_reached(session, report, ForestLossSettings()) == [beside]
    assert _mark(sm, beside)[0] is True and _mark(sm, between) == (False, None)


def test_the_bulk_path_reaches_the_listener(db_url, engine_for, tmp_path):
    """A file large enough for the bulk path (a year's partition loaded and attached, partitions.BulkYear; here
    any file, ``bulk_min_bytes`` 0) goes through the same ingest_path, so its detections re-mark patches too."""
    from geo_service.db.engine import make_sessionmaker
    from geo_service.settings import Settings

    sm = make_sessionmaker(engine_for(db_url), Settings(bulk_min_bytes=0))
    with transaction(sm) as session:
        pid = _patch(session, X0, Y0, "2023-03-01", "2023-03-10")
    lat, lon = _latlon(X0 + 15, Y0 + 100)
    report = _ingest(sm, tmp_path / "bulk.csv", VIIRS_HEADER, [_viirs(lat, lon, "2023-03-05", "0630")])
    assert "attach" in report.timings, report.timings  # the bulk path was taken
    fire, evidence = _mark(sm, pid)
    assert fire is True and evidence["hotspot_days"] == ["2023-03-05", "2023-03-05"]


def test_a_recluster_outside_an_ingest_marks_again(sm, tmp_path):
    """``hotspots ingest --no-events`` then ``hotspots events`` (or the worker's ``recluster_events`` job): the
    events come later, outside the ingest, and may reach a patch its detections alone do not: six VIIRS
    detections on a ring 735 m around a 30 m patch (each over 687.5 m from it, 735 m apart: one event) whose
    footprint covers it. The ingest leaves the patch unmarked; the re-clustering marks it, with its event."""
    import math

    from geo_service.hotspots.service import recluster_events

    with transaction(sm) as session:
        pid = _patch(session, X0, Y0, "2024-03-01", "2024-03-10")
    cx, cy = X0 + 15, Y0 - 15
    ring = [_latlon(cx + 735 * math.cos(k * math.pi / 3), cy + 735 * math.sin(k * math.pi / 3)) for k in range(6)]
    lines = [_viirs(lat, lon, "2024-03-05", f"06{30 + k}") for k, (lat, lon) in enumerate(ring)]
    _ingest(sm, tmp_path / "ring.csv", VIIRS_HEADER, lines, events=False)
    assert _mark(sm, pid) == (False, None)  # no detection's pixel within 500 m
    with transaction(sm) as session:
        result = recluster_events(session)
    assert len(result["events"]) == 1
    fire, evidence = _mark(sm, pid)
    assert fire is True and evidence["hotspots"] == 0 and evidence["events"] == result["events"]
    assert evidence["event_nearest_m"] == 0.0 and evidence["hotspot_nearest_m"] is None


def test_the_collections_say_what_cleared_by_fire_measures():
    """The OGC metadata a partner or the public reads (clearing patches; the per-district aggregate, public when
    the deployment allows) says a pixel or a footprint, neighbours' detections, and that marks are re-made."""
    from geo_service.exports.collections import COLLECTIONS

    for name in ("clearing_patches", "forest_loss_by_district"):
        text_ = COLLECTIONS[name].description
        assert "pixel" in text_ and "footprint" in text_ and "neighbouring province" in text_, name
        assert "re-made after every hotspot ingest" in text_, name


def test_the_worker_pulls_fires_that_can_mark_a_patch_at_the_areas_edge(db_url, sessionmaker_for):
    """The worker's FIRMS box (no fixed box): the area of interest's bounds widened by the farthest reach of the
    rule (500 m + a MODIS half pixel, 1,000 m, over UTM's least scale) before rounding outward to 0.01 degree: a
    neighbour's MODIS detection 1 km beyond the area's northernmost point still reaches the patch there."""
    from geo_service.coords import widen_box
    from geo_service.layers import aoi
    from geo_service.settings import Settings
    from geo_service.worker.catalogue import firms_bbox

    with sessionmaker_for(db_url)() as session:
        box = firms_bbox(session, Settings(firms_bbox=None))
        bounds = shapely.from_wkb(aoi.geometry_wkb(session)).bounds
    need = widen_box(bounds, 1000.0 / 0.9996)
    assert box[0] <= need[0] and box[1] <= need[1] and box[2] >= need[2] and box[3] >= need[3], (box, need)
    assert all(abs(v * 100 - round(v * 100)) < 1e-9 for v in box)  # 0.01 degree (99.35 * 100 is not 9935.0)
