"""The "cleared by fire" search (hotspots/near.py ``fire_near_areas``) on awkward data, by hand and against the same
rule written in plain PostGIS (tests/fire_oracle.py): detections a hair inside and outside the reach (the distance
plus half the sensor's pixel: VIIRS 187.5 m, MODIS 500 m), on the first and last day of the window and one day
beyond, across the year (and partition) boundary of 31 Dec/1 Jan Asia/Bangkok, across a 0.5-degree cell edge and
the UTM 47/48 zone line, fire events meeting the window or not, and a random season compared row by row."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from geo_service.db.engine import transaction
from geo_service.hotspots.events import update_events
from geo_service.hotspots.near import fire_near_areas
from geo_service.hotspots.service import ingest_path
from tests.fire_oracle import fire_near_areas_sql
from tests.samples import MODIS_HEADER, VIIRS_HEADER

GEOD = Geod(ellps="WGS84")
LON, LAT = 100.1349, 18.1753  # a forest patch in Phrae
TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
TO_WGS = Transformer.from_crs(32647, 4326, always_xy=True)
KW = {"distance_m": 500.0, "days_before": 60, "days_after": 30}
COUNTRY = (97.3, 5.5, 105.7, 20.6)


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _at(lon, lat, azimuth, metres):
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return round(y, 5), round(x, 5)


def _north_in_utm(lon, lat, metres):
    """(lat, lon) rounded as FIRMS publishes them (1e-5 degree, about 1 m), ``metres`` north in UTM 47N."""
    x, y = TO_UTM.transform(lon, lat)
    lo, la = TO_WGS.transform(x, y + metres)
    return round(la, 5), round(lo, 5)


def _square(k, lon, lat, d0, d1, side=0.0003):
    g = shapely.set_srid(shapely.box(lon, lat, lon + side, lat + side), 4326)
    return (k, shapely.to_wkb(g, include_srid=True), d0, d1)


def _marks(sm, ids):
    """Each patch's (cleared_by_fire, fire_evidence, row version ``xmin``): a row written again has a new xmin."""
    from sqlalchemy import text

    with transaction(sm) as session:
        rows = session.execute(
            text("SELECT id, cleared_by_fire, fire_evidence, xmin::text AS v FROM clearing_patches WHERE id = ANY(:i)"),
            {"i": list(ids)},
        ).mappings()
        return {r["id"]: (r["cleared_by_fire"], r["fire_evidence"], r["v"]) for r in rows}


def _ingest(sm, path, header, lines):
    path.write_text(header + "\n".join(lines) + "\n")
    with transaction(sm) as session:
        ingest_path(session, path, country_bbox=COUNTRY)


def test_fire_near_areas_follows_the_rule_on_edges(sm, tmp_path):
    """Counts, days, nearest metres and event ids by hand on edges, and every row equal to the SQL's."""
    viirs, modis = [], []

    def v(lat, lon, day="2024-12-31", hhmm=None, dn="N"):  # 31 Dec 17:xx UTC = 1 Jan 00:xx local
        viirs.append(
            f"{lat},{lon},330.5,0.4,0.4,{day},{hhmm or f'17{10 + len(viirs):02d}'},N,VIIRS,n,2.0NRT,290.1,5.2,{dn}"
        )

    def m(lat, lon):
        modis.append(f"{lat},{lon},325.4,1.1,1.0,2024-12-31,17{10 + len(modis):02d},Terra,MODIS,85,6.1NRT,298.1,35.2,N")

    # area A: a 30 m square at (LON, LAT), alerts 2025-01-01..2025-01-05: window 2024-11-02 .. 2025-02-04 (local).
    # North of its top edge's middle, in UTM metres (positions rounded to 1e-5 degree move them ~1 m: edges are 2 m
    # either side of the reach): VIIRS reach 500 + 187.5 = 687.5 m, MODIS 500 + 500 = 1,000 m
    top = (LON + 0.00015, LAT + 0.0003)
    for metres in (100, 480, 685.5, 689.5, 900):  # VIIRS: 3 in (100, 480, 685.5)
        v(*_north_in_utm(*top, metres))
    for metres in (700, 997, 1003, 1200):  # MODIS: 2 in (700, 997): a coarse pixel reaches farther
        m(*_north_in_utm(*top, metres))
    lat, lon = _at(LON, LAT, 90, 200)
    for day, hhmm in (
        ("2024-11-01", "1659"),  # 1 Nov 23:59 local: a day before the window
        ("2024-11-01", "1700"),  # 2 Nov 00:00 local: the window's first day
        ("2025-02-04", "1659"),  # 4 Feb 23:59 local: its last day
        ("2025-02-04", "1700"),  # 5 Feb 00:00 local: a day after
        ("2024-12-31", "1659"),  # 31 Dec 23:59 local (partition 2024)
        ("2024-12-31", "1701"),  # 1 Jan 00:01 local (partition 2025)
    ):
        v(lat, lon, day, hhmm)
    # a fire (an event) 2 km west, burning in March 2025: meets area B's window, not C's
    for i in range(6):
        v(*_at(LON, LAT, 270, 2000 + 60 * i), f"2025-03-0{1 + i % 3}", "0630", "D")
    # G: a square at the west edge of the 0.5-degree cell x = 100.5 .. 101, its detection 285 m east in the next cell
    v(18.17530, 100.50250)
    # H: a square just west of the UTM 47/48 line (102 E), its detection 320 m east, in zone 48
    v(18.17530, 102.00310)
    # I: 800 m north of a square 20 km east of A, a VIIRS and a MODIS detection: only the MODIS pixel reaches it
    v(*_north_in_utm(LON + 0.2 + 0.00015, LAT + 0.0003, 800))
    m(*_north_in_utm(LON + 0.2 + 0.00015, LAT + 0.0003, 800))
    _ingest(sm, tmp_path / "viirs.csv", VIIRS_HEADER, viirs)
    _ingest(sm, tmp_path / "modis.csv", MODIS_HEADER, modis)
    with transaction(sm) as session:
        update_events(session)

    areas = [
        _square(100, LON, LAT, date(2025, 1, 1), date(2025, 1, 5)),  # A
        _square(101, LON - 0.019, LAT, date(2025, 3, 20), date(2025, 3, 20)),  # B: beside the event, 20 days after
        _square(102, LON - 0.019, LAT, date(2025, 5, 3), date(2025, 5, 3)),  # C: window from 4 Mar, fire ended 3 Mar
        _square(103, LON, LAT, date(2025, 4, 6), date(2025, 4, 6)),  # D: A's place, 2025-02-05 .. 2025-05-06
        _square(104, LON, LAT, date(2024, 12, 31), date(2024, 12, 31)),  # E: a window across the year
        _square(105, LON + 0.5, LAT, date(2025, 1, 1), date(2025, 1, 1)),  # F: 50 km east, nothing
        _square(106, 100.4995, 18.1752, date(2025, 1, 1), date(2025, 1, 1)),  # G
        _square(107, 101.9995, 18.1752, date(2025, 1, 1), date(2025, 1, 1)),  # H
        _square(108, LON + 0.2, LAT, date(2025, 1, 1), date(2025, 1, 1)),  # I
    ]
    with transaction(sm) as session:
        new = fire_near_areas(session, areas, **KW)
        ref = fire_near_areas_sql(session, areas, **KW)
    assert [r["area_id"] for r in new] == [r["area_id"] for r in ref]
    for a, b in zip(new, ref, strict=True):
        assert a["hotspots"] == b["hotspots"] and a["events"] == b["events"], (a, b)
        assert (a["hotspot_first_day"], a["hotspot_last_day"]) == (b["hotspot_first_day"], b["hotspot_last_day"])
        for key in ("hotspot_nearest_m", "event_nearest_m"):  # PROJ in PostGIS and in pyproj: the same to 1 mm
            assert (a[key] is None) == (b[key] is None) and (a[key] is None or abs(a[key] - b[key]) < 1e-3), (a, b)
    by_id = {r["area_id"]: r for r in new}
    # A: VIIRS at 100, 480 and 685.5 m, MODIS at 700 and 997 m, and the 4 in the window at 200 m east (not VIIRS at
    # 689.5 and 900 m, MODIS at 1,003 and 1,200 m, nor the 2 beyond the window)
    assert by_id[100]["hotspots"] == 3 + 2 + 4
    assert 98.5 < by_id[100]["hotspot_nearest_m"] < 101.5
    assert by_id[100]["hotspot_first_day"] == date(2024, 11, 2) and by_id[100]["hotspot_last_day"] == date(2025, 2, 4)
    assert by_id[101]["events"] and by_id[101]["event_nearest_m"] < 500
    assert 102 not in by_id and 105 not in by_id
    # D: only the detection of 5 Feb 00:00 local, the day after A's window
    assert by_id[103]["hotspots"] == 1 and by_id[103]["hotspot_first_day"] == date(2025, 2, 5)
    assert by_id[104]["hotspots"] >= 7
    assert by_id[106]["hotspots"] == 1 and 250 < by_id[106]["hotspot_nearest_m"] < 320  # across the cell edge
    assert by_id[107]["hotspots"] == 1 and 280 < by_id[107]["hotspot_nearest_m"] < 360  # across the zone line
    assert by_id[108]["hotspots"] == 1 and 798 < by_id[108]["hotspot_nearest_m"] < 802  # the MODIS one only


@pytest.mark.slow
def test_fire_near_areas_equals_the_sql_on_a_random_season(sm, tmp_path):
    """400 patches and 3,000 VIIRS/MODIS detections at random over 0.8 x 0.6 degree (two cells wide) and a season:
    every row equal to the SQL's."""
    rng = np.random.default_rng(7)
    start = date(2024, 1, 1)
    viirs, modis = [], []
    for i in range(3000):
        lon, lat = 99.9 + rng.random() * 0.8, 18.0 + rng.random() * 0.6
        day = start + timedelta(days=int(rng.integers(0, 150)))
        hhmm = f"{rng.integers(0, 24):02d}{rng.integers(0, 60):02d}"
        if i % 4:
            viirs.append(f"{lat:.5f},{lon:.5f},330.5,0.4,0.4,{day},{hhmm},N,VIIRS,n,2.0NRT,290.1,5.2,N")
        else:
            modis.append(f"{lat:.5f},{lon:.5f},325.4,1.1,1.0,{day},{hhmm},Terra,MODIS,85,6.1NRT,298.1,35.2,N")
    _ingest(sm, tmp_path / "viirs.csv", VIIRS_HEADER, viirs)
    _ingest(sm, tmp_path / "modis.csv", MODIS_HEADER, modis)
    with transaction(sm) as session:
        update_events(session)
    areas = []
    for k in range(400):
        lon, lat = 99.9 + rng.random() * 0.8, 18.0 + rng.random() * 0.6
        d0 = start + timedelta(days=int(rng.integers(0, 200)))
        areas.append(_square(k + 1, lon, lat, d0, d0 + timedelta(days=int(rng.integers(0, 40))), 0.0003 * (1 + k % 5)))
    with transaction(sm) as session:
        new = fire_near_areas(session, areas, **KW)
        ref = fire_near_areas_sql(session, areas, **KW)
    assert len(new) > 50 and any(r["events"] for r in new)  # the data burns: the comparison is not empty
    assert [r["area_id"] for r in new] == [r["area_id"] for r in ref]
    for a, b in zip(new, ref, strict=True):
        assert a["hotspots"] == b["hotspots"] and a["events"] == b["events"], (a, b)
        assert (a["hotspot_first_day"], a["hotspot_last_day"]) == (b["hotspot_first_day"], b["hotspot_last_day"])
        for key in ("hotspot_nearest_m", "event_nearest_m"):
            assert (a[key] is None) == (b[key] is None) and (a[key] is None or abs(a[key] - b[key]) < 1e-3), (a, b)


def test_set_fire_writes_only_the_rows_that_change(sm):
    """``set_fire`` gives each patch its mark and evidence (none for those without), and leaves a row whose mark
    and evidence are already right unwritten (its row version, ``xmin``, stays)."""
    from geo_service.forest_loss import store as forest_store
    from tests.forest_patch_fixtures import insert_patches

    with transaction(sm) as session:
        ids = insert_patches(session, LON, LAT)
    near, far, hostile = ids["near"], ids["far"], ids["hostile"]  # near: burned, the others not
    ev_near = {"hotspots": 2, "events": [7], "nearest_m": 12.5}

    def state():
        return _marks(sm, [near, far, hostile])

    with transaction(sm) as session:
        forest_store.set_fire(session, [near, far, hostile], {near: ev_near, hostile: {"hotspots": 1}})
    s1 = state()
    assert (
        s1[near][:2] == (True, ev_near) and s1[far][:2] == (False, None) and s1[hostile][:2] == (True, {"hotspots": 1})
    )
    with transaction(sm) as session:  # same answers for near and far: untouched; hostile loses its mark
        forest_store.set_fire(session, [near, far, hostile], {near: ev_near})
    s2 = state()
    assert s2[near] == s1[near] and s2[far] == s1[far]
    assert s2[hostile][:2] == (False, None) and s2[hostile][2] != s1[hostile][2]
    with transaction(sm) as session:  # new evidence for near is written
        forest_store.set_fire(session, [near], {near: {**ev_near, "hotspots": 3}})
    assert state()[near][:2] == (True, {**ev_near, "hotspots": 3})


def test_a_hotspot_ingest_marks_again_only_the_patches_it_reaches(sm, tmp_path):
    """Fires come after the clearing too: each hotspot ingest marks again the patches its detections can reach
    (listener ``forest_loss.fire.after_hotspots_ingested``). A patch is written only when its mark or evidence
    changes (its row version, ``xmin``, stays otherwise): not by a re-run over the same fires, not by the same file
    again, not by a detection too far or out of every window."""
    from geo_service.forest_loss.fire import mark_fire
    from geo_service.settings import ForestLossSettings
    from tests.forest_patch_fixtures import insert_patches

    with transaction(sm) as session:
        ids = insert_patches(session, LON, LAT)
    # near: 250-350 m east of the anchor, alerts 1-10 Mar 2024, stored burned with hand-made evidence; far: 750-850 m
    # west, alerts 1-5 Feb 2024; hostile: 5 km south; far and hostile stored not burned
    near, far, hostile = ids["near"], ids["far"], ids["hostile"]

    def state():
        return _marks(sm, [near, far, hostile])

    def viirs(name, lat, lon, day):
        _ingest(
            sm, tmp_path / name, VIIRS_HEADER, [f"{lat},{lon},330.5,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290.1,5.2,D"]
        )

    s0 = state()
    viirs("a.csv", 18.1753, 100.1349, "2024-03-05")  # at the anchor: 250 m from near, 750 m from far (> 687.5 m)
    s1 = state()
    assert s1[near][0] is True and s1[near][1]["hotspots"] == 1 and s1[near][2] != s0[near][2]  # evidence replaced
    assert s1[near][1]["hotspot_days"] == ["2024-03-05", "2024-03-05"]
    assert s1[far] == s0[far] and s1[hostile] == s0[hostile]  # not burned before, not burned now: not written
    with transaction(sm) as session:  # the same fires again, directly: nothing written
        assert mark_fire(session, [near, far, hostile], ForestLossSettings()) == 1
    assert state() == s1
    viirs("a-again.csv", 18.1753, 100.1349, "2024-03-05")  # the same detection again: nothing written
    assert state() == s1
    lat, lon = _at(LON, LAT, 270, 600)
    viirs("b.csv", lat, lon, "2024-02-03")  # 600 m west: 150 m from far, 850 m from near
    s2 = state()
    assert (
        s2[far][0] is True and s2[far][1]["hotspot_days"] == ["2024-02-03", "2024-02-03"] and s2[far][2] != s1[far][2]
    )
    assert s2[near] == s1[near] and s2[hostile] == s1[hostile]
    viirs("c.csv", 18.1753, 100.1349, "2024-07-01")  # at the anchor, after every window (near's ends 9 Apr)
    assert state() == s2


def test_an_ingest_writes_the_fire_mark_with_the_new_rows(sm, tmp_path):
    """A new patch near a fire is stored burned in one write: the ingest's transaction inserts its row with the mark
    and evidence and updates no patch row (``pg_stat_xact_user_tables``, counted inside that transaction)."""
    from sqlalchemy import text

    from geo_service.forest_loss import store as forest_store
    from geo_service.forest_loss.ingest import ingest_files
    from geo_service.settings import ForestLossSettings
    from tests import forest_alert_rasters as far

    lon, lat = TO_WGS.transform(620_035, 2_009_965)  # the middle of the tile's 30 x 30 m patch below
    _ingest(
        sm,
        tmp_path / "v.csv",
        VIIRS_HEADER,
        [f"{lat:.5f},{lon:.5f},330.5,0.4,0.4,2023-02-20,0630,N,VIIRS,n,2.0NRT,290.1,5.2,D"],
    )
    tile = far.gfw_tile(tmp_path / "gfw.tif", [(np.s_[2:5, 2:5], date(2023, 3, 1), 3)])
    with transaction(sm) as session:
        report = ingest_files(session, [tile], encoding="gfw_integrated", settings=ForestLossSettings())
        ins, upd = session.execute(
            text("SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'clearing_patches'")
        ).one()
    assert report.cleared_by_fire == 1 and (ins, upd) == (1, 0)
    with transaction(sm) as session:
        (p,) = forest_store.patches_of(session, report.patch_ids)
    assert p["cleared_by_fire"] is True and p["fire_evidence"]["hotspot_days"] == ["2023-02-20", "2023-02-20"]
    assert p["fire_evidence"]["nearest_m"] == 0.0  # the detection lies inside the patch
