"""The "cleared by fire" search (hotspots/store.py ``fire_near_areas``) gives the answers of the first query
(``fire_near_areas_reference``) on awkward data: detections a hair inside and outside the distance, on the first and
last day of the window and one day beyond, across the year (and partition) boundary of 31 Dec/1 Jan Asia/Bangkok,
and fire events meeting the window or not."""

from __future__ import annotations

from datetime import date

import pytest
import shapely
from pyproj import Geod

from geo_service.db.engine import transaction
from geo_service.hotspots import store as hotspots_store
from geo_service.hotspots.events import update_events
from geo_service.hotspots.service import ingest_path
from tests.samples import VIIRS_HEADER

GEOD = Geod(ellps="WGS84")
LON, LAT = 100.1349, 18.1753  # a forest patch in Phrae


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _at(lon, lat, azimuth, metres):
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return round(y, 5), round(x, 5)


def test_fire_near_areas_equals_the_reference(sm, tmp_path):
    """Every answer (count, nearest metres, first/last day, event ids) equals the reference's, on edges."""
    lines, edge_in = [], 0
    # area A: a 30 m square at (LON, LAT), alerts 2025-01-01..2025-01-05: window 2024-11-02 .. 2025-02-04 (local)
    for metres in (100, 480, 499.5, 500.5, 520, 900):
        lat, lon = _at(LON, LAT + 0.0003, 0, metres)  # north of the square's top edge
        if metres in (499.5, 500.5):  # coordinates are stored to 1e-5 degree: the metres as stored, by hand
            edge_in += GEOD.inv(lon, LAT + 0.0003, lon, lat)[2] <= 500
        # 1 Jan 00:3x local; each its own minute (a detection is unique by time and place to 1e-4 degree)
        lines.append(f"{lat},{lon},330.5,0.4,0.4,2024-12-31,17{30 + len(lines)},N,VIIRS,n,2.0NRT,290.1,5.2,N")
    lat, lon = _at(LON, LAT, 90, 200)
    for day, hhmm in (
        ("2024-11-01", "1659"),  # 1 Nov 23:59 local: a day before the window
        ("2024-11-01", "1700"),  # 2 Nov 00:00 local: the window's first day
        ("2025-02-04", "1659"),  # 4 Feb 23:59 local: its last day
        ("2025-02-04", "1700"),  # 5 Feb 00:00 local: a day after
        ("2024-12-31", "1659"),  # 31 Dec 23:59 local (partition 2024)
        ("2024-12-31", "1701"),  # 1 Jan 00:01 local (partition 2025)
    ):
        lines.append(f"{lat},{lon},330.5,0.4,0.4,{day},{hhmm},N,VIIRS,n,2.0NRT,290.1,5.2,N")
    # a fire (an event) 2 km west, burning in March 2025: meets area B's window, not A's
    for i in range(6):
        lat, lon = _at(LON, LAT, 270, 2000 + 60 * i)
        lines.append(f"{lat},{lon},330.5,0.4,0.4,2025-03-0{1 + i % 3},0630,N,VIIRS,n,2.0NRT,290.1,5.2,D")
    csv = tmp_path / "viirs.csv"
    csv.write_text(VIIRS_HEADER + "\n".join(lines) + "\n")
    with transaction(sm) as session:
        ingest_path(session, csv, country_bbox=(97.3, 5.5, 105.7, 20.6))
    with transaction(sm) as session:
        update_events(session)

    areas = []
    for i, (lon, lat, d0, d1) in enumerate(
        [
            (LON, LAT, date(2025, 1, 1), date(2025, 1, 5)),  # A
            (LON - 0.019, LAT, date(2025, 3, 20), date(2025, 3, 20)),  # B: beside the event, 20 days after
            (LON - 0.019, LAT, date(2025, 5, 3), date(2025, 5, 3)),  # C: window from 4 Mar, the fire's last day 3 Mar
            (LON, LAT, date(2025, 4, 6), date(2025, 4, 6)),  # D: A's place, 2025-02-05 .. 2025-05-06
            (LON, LAT, date(2024, 12, 31), date(2024, 12, 31)),  # E: a window across the year
            (LON + 0.5, LAT, date(2025, 1, 1), date(2025, 1, 1)),  # F: 50 km east, nothing
        ]
    ):
        g = shapely.set_srid(shapely.box(lon, lat, lon + 0.0003, lat + 0.0003), 4326)
        areas.append((100 + i, shapely.to_wkb(g, include_srid=True), d0, d1))
    kw = {"distance_m": 500.0, "days_before": 60, "days_after": 30}
    with transaction(sm) as session:
        new = [dict(r) for r in hotspots_store.fire_near_areas(session, areas, **kw)]
        old = [dict(r) for r in hotspots_store.fire_near_areas_reference(session, areas, **kw)]
    assert new == old
    by_id = {r["area_id"]: r for r in new}
    # A: the 100 and 480 m detections, those at the edge within 500 m, and the 4 in the window at 200 m (not the
    # 520 and 900 m ones, nor the 2 beyond the window)
    assert edge_in == 1
    assert by_id[100]["hotspots"] == 2 + edge_in + 4
    assert by_id[100]["hotspot_first_day"] == date(2024, 11, 2) and by_id[100]["hotspot_last_day"] == date(2025, 2, 4)
    assert by_id[101]["events"]  # B: the March fire's event
    assert 102 not in by_id and 105 not in by_id
    # D: only the detection of 5 Feb 00:00 local, the day after A's window
    assert by_id[103]["hotspots"] == 1 and by_id[103]["hotspot_first_day"] == date(2025, 2, 5)
    assert by_id[104]["hotspots"] >= 7


def test_set_fire_writes_only_the_rows_that_change(sm):
    """``set_fire`` gives each patch its mark and evidence (none for those without), and leaves a row whose mark
    and evidence are already right unwritten (its row version, ``xmin``, stays)."""
    from sqlalchemy import text

    from geo_service.forest_loss import store as forest_store
    from tests.forest_patch_fixtures import insert_patches

    with transaction(sm) as session:
        ids = insert_patches(session, LON, LAT)
    near, far, hostile = ids["near"], ids["far"], ids["hostile"]  # near: burned, the others not
    ev_near = {"hotspots": 2, "events": [7], "nearest_m": 12.5}

    def state():
        with transaction(sm) as session:
            rows = session.execute(
                text(
                    "SELECT id, cleared_by_fire, fire_evidence, xmin::text AS v FROM clearing_patches WHERE id = ANY(:i)"
                ),
                {"i": [near, far, hostile]},
            ).mappings()
            return {r["id"]: (r["cleared_by_fire"], r["fire_evidence"], r["v"]) for r in rows}

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
