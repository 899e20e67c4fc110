"""Fire events: space-time clustering with hand-checked expectations, stable ids, recurrence."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.hotspots.events import EventParams, cluster, recurrence_by_area, recurrence_grid, update_events
from geo_service.hotspots.ingest import ingest_file
from geo_service.places import Gazetteer
from tests.samples import MODIS_HEADER, VIIRS_HEADER

# 0.009 degree of latitude is about 1.0 km; at 18.2 N 0.001 degree of longitude is about 106 m.


def _row(lat, lon, day, hhmm, sat="N", frp=5.0, version="2.0NRT"):
    return f"{lat},{lon},330,0.4,0.4,{day},{hhmm},{sat},VIIRS,n,{version},290,{frp},D\n"


def _load(sm, tmp_path, name, rows):
    f = tmp_path / name
    f.write_text(VIIRS_HEADER + "".join(rows))
    with transaction(sm) as s:
        r = ingest_file(s, f, Gazetteer.load(s))
        ev = update_events(s, r.first_acq, r.last_acq)
    return r, ev


def _events(sm):
    with sm() as s:
        return s.execute(
            text(
                "SELECT id, detections, sensors, max_frp, "
                "to_char(first_seen AT TIME ZONE 'UTC', 'MM-DD HH24:MI') f, "
                "to_char(last_seen AT TIME ZONE 'UTC', 'MM-DD HH24:MI') l, area_m2, "
                "GeometryType(footprint) g FROM fire_events ORDER BY id"
            )
        ).all()


def _event_of(sm, lat, lon):
    with sm() as s:
        return (
            s.execute(
                text(
                    "SELECT DISTINCT he.event_id FROM hotspots h JOIN hotspot_events he ON he.hotspot_id = h.id "
                    "WHERE lat_e4 = :a AND lon_e4 = :o"
                ),
                {"a": round(lat * 1e4), "o": round(lon * 1e4)},
            )
            .scalars()
            .all()
        )


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def test_cluster_links_in_space_and_time():
    # a, b: 300 m apart same hour -> linked; c: 5 km away -> alone; d: at a, 3.6 days later, 2.06 after e
    # (gap 2) -> alone; e: at a, 1.5 days after b -> linked to a/b
    lat = np.array([18.2, 18.2027, 18.245, 18.2, 18.2])
    lon = np.array([100.3, 100.3, 100.3, 100.3, 100.3])
    t = np.array([0.0, 0.04, 0.0, 3.6, 1.54])
    labels = cluster(lon, lat, t, EventParams(distance_m=1000, gap_days=2))
    assert labels[0] == labels[1] == labels[4]
    assert len({labels[0], labels[2], labels[3]}) == 3
    # ground distance, not the box of the k-d tree query: 800 m east + 800 m north is 1.13 km apart
    lat2 = np.array([18.2, 18.2 + 0.8 / 111.0])
    lon2 = np.array([100.3, 100.3 + 0.8 / 105.7])
    assert len(set(cluster(lon2, lat2, np.zeros(2), EventParams(1000, 2)))) == 2


def test_events_are_built_and_keep_their_ids(sm, tmp_path):
    _, ev = _load(
        sm,
        tmp_path,
        "day1.csv",
        [
            _row(18.2000, 100.3000, "2024-03-14", "0612", "N", 4.0),  # fire A, S-NPP
            _row(18.2030, 100.3010, "2024-03-14", "0701", "1", 9.5),  # fire A, NOAA-20, 350 m away
            _row(18.2000, 100.3500, "2024-03-14", "0612", "N", 2.0),  # fire B, 5.3 km east
            _row(18.2000, 100.3000, "2024-03-25", "0612", "N", 3.0),  # at A, 11 days later: another event
        ],
    )
    assert ev["created"] == 3
    events = _events(sm)
    assert sorted((e.detections, tuple(e.sensors)) for e in events) == [
        (1, ("S-NPP",)),
        (1, ("S-NPP",)),
        (2, ("NOAA-20", "S-NPP")),
    ]
    a = _event_of(sm, 18.2030, 100.3010)
    assert len(a) == 1
    fire_a = next(e for e in events if e.id == a[0])
    assert (fire_a.max_frp, fire_a.f, fire_a.l, fire_a.g) == (9.5, "03-14 06:12", "03-14 07:01", "POLYGON")
    # convex hull of two points 350 m apart, buffered 187.5 m: a stadium of about 350*375 + pi*187.5^2 m2
    assert fire_a.area_m2 == pytest.approx(350 * 375 + np.pi * 187.5**2, rel=0.06)

    # the next day, a new detection next to A extends A: same id, more detections
    _, ev = _load(sm, tmp_path, "day2.csv", [_row(18.2040, 100.3020, "2024-03-15", "0630", "2", 6.0)])
    assert ev["created"] == 0 and _event_of(sm, 18.2040, 100.3020) == a
    assert next(e for e in _events(sm) if e.id == a[0]).detections == 3

    # standard processing replaces the NRT rows of day 1: ids unchanged
    _load(
        sm,
        tmp_path,
        "day1_sp.csv",
        [
            _row(18.2000, 100.3000, "2024-03-14", "0612", "N", 4.1, "2"),
            _row(18.2030, 100.3010, "2024-03-14", "0701", "1", 9.5, "2"),
        ],
    )
    with sm() as s:
        day1 = (
            s.execute(
                text(
                    "SELECT DISTINCT he.event_id FROM hotspots h JOIN hotspot_events he ON he.hotspot_id = h.id "
                    "WHERE acq_date_local = '2024-03-14' AND longitude < 100.31"
                )
            )
            .scalars()
            .all()
        )
    assert day1 == a
    assert len(_events(sm)) == 3


def test_a_bridging_detection_merges_two_events_into_the_larger(sm, tmp_path):
    _load(
        sm,
        tmp_path,
        "two.csv",
        [
            _row(18.2000, 100.3000, "2024-03-14", "0612"),
            _row(18.2020, 100.3000, "2024-03-14", "0613"),
            _row(18.2160, 100.3000, "2024-03-14", "0612"),  # 1.55 km north of the second: separate
        ],
    )
    big, small = _event_of(sm, 18.2000, 100.3000), _event_of(sm, 18.2160, 100.3000)
    assert big != small
    _, ev = _load(sm, tmp_path, "bridge.csv", [_row(18.2090, 100.3000, "2024-03-14", "1830")])  # 780 m / 770 m
    assert ev["removed"] == 1
    assert _event_of(sm, 18.2160, 100.3000) == big and _event_of(sm, 18.2090, 100.3000) == big
    assert [(e.id, e.detections) for e in _events(sm)] == [(big[0], 4)]


def test_recurrence_per_reserve_and_grid(sm, tmp_path):
    # NRF-PR-001's interior point, burned in seasons 2022 and 2024; an off-season (August) detection is ignored
    with sm() as s:
        lon, lat = s.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
                "FROM protected_areas WHERE code = 'NRF-PR-001' LIMIT 1) s"
            )
        ).one()
    _load(
        sm,
        tmp_path,
        "seasons.csv",
        [
            _row(round(lat, 4), round(lon, 4), "2022-03-01", "0612"),
            _row(round(lat, 4), round(lon, 4), "2024-04-01", "0612"),
            _row(round(lat, 4), round(lon, 4), "2024-04-02", "0612"),
            _row(round(lat, 4), round(lon, 4), "2023-08-01", "0612"),
        ],
    )
    with sm() as s:
        per_area = {r["code"]: r for r in recurrence_by_area(s)}
        grid = recurrence_grid(s, "NRF-PR-001", cell_m=500)
    assert per_area["NRF-PR-001"]["seasons"] == 2
    assert per_area["NRF-PR-001"]["years_be"] == [2565, 2567]
    assert per_area["NRF-PR-001"]["detections"] == 3
    assert grid["numberReturned"] == 1
    assert grid["features"][0]["properties"] == {"seasons": 2, "years": [2022, 2024], "detections": 3}


def test_event_figures_match_postgis_on_the_stored_detections(sm, tmp_path):
    """The footprints and figures computed in memory equal what one PostGIS aggregate gives per event."""
    rng = np.random.default_rng(3)
    rows = [
        _row(
            round(18.1 + rng.normal(0, 0.004) + 0.05 * (i % 6), 5),
            round(100.1 + rng.normal(0, 0.004), 5),
            f"2024-03-{10 + i % 3:02d}",
            f"{6 + i % 2:02d}{i % 60:02d}",
            "N12"[i % 3],
            round(rng.gamma(2, 4), 1),
        )
        for i in range(240)
    ]
    rows += [_row(18.45, 100.05, "2024-03-11", "0630", "N", 1.0), _row(18.0, 100.2, "2024-03-28", "0630", "1", 2.0)]
    _load(sm, tmp_path, "many.csv", rows)  # six fires and two lone detections
    with sm() as s:
        got = s.execute(
            text("""
            WITH agg AS (
              SELECT he.event_id, count(*) AS n, max(frp) AS max_frp,
                     array_agg(DISTINCT satellite::text ORDER BY satellite::text) AS sensors,
                     mode() WITHIN GROUP (ORDER BY district_code) AS district_code,
                     min(acq_utc) AS f, max(acq_utc) AS l,
                     ST_Buffer(ST_ConvexHull(ST_Transform(ST_Collect(geom), utm_srid(ST_Collect(geom)))), 187.5) AS fp
              FROM hotspots h JOIN hotspot_events he ON he.hotspot_id = h.id GROUP BY he.event_id)
            SELECT count(*) AS events, sum(a.n) AS detections,
                   count(*) FILTER (WHERE (a.n, a.max_frp, a.sensors, a.district_code, a.f, a.l)
                                    IS DISTINCT FROM (e.detections, e.max_frp, e.sensors, e.district_code,
                                                      e.first_seen, e.last_seen)) AS differing,
                   max(abs(ST_Area(a.fp) - e.area_m2) / e.area_m2) AS area_error,
                   max(ST_HausdorffDistance(ST_Transform(a.fp, 4326), e.footprint)) AS shape_error
            FROM agg a JOIN fire_events e ON e.id = a.event_id""")
        ).one()
    assert got.events >= 8 and got.detections == 242 and got.differing == 0
    assert got.area_error < 1e-9 and got.shape_error < 1e-9


def test_distances_are_geodesic():
    """Pairs 997-1000 m apart (WGS 84 geodesic) were left unlinked: a sphere read north-south distances
    at 18 N about 0.5 % long. Now linked up to the limit, in every direction, and not beyond it."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for azimuth in (0.0, 45.0, 90.0, 180.0):
        for metres, linked in ((997.0, True), (999.0, True), (999.9, True), (1000.2, False), (1003.0, False)):
            lon2, lat2, _ = geod.fwd(100.3, 18.2, azimuth, metres)
            labels = cluster(np.array([100.3, lon2]), np.array([18.2, lat2]), np.zeros(2), EventParams(1000, 2))
            assert bool(labels[0] == labels[1]) is linked, (azimuth, metres)


def test_linking_distance_and_footprint_follow_the_sensor(sm, tmp_path):
    """A MODIS pixel is 1 km (VIIRS 375 m): MODIS detections 1.5 km apart are neighbouring pixels of one fire,
    and a lone MODIS detection's footprint is its pixel's disc (78.5 ha), not the 11 ha of a VIIRS one."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    lon2, lat2, _ = geod.fwd(100.3, 18.2, 90.0, 1500.0)
    lon, lat = np.array([100.3, lon2]), np.array([18.2, lat2])
    params = EventParams()
    for instruments, linked in ((["MODIS", "MODIS"], True), (["MODIS", "VIIRS"], True), (["VIIRS", "VIIRS"], False)):
        labels = cluster(lon, lat, np.zeros(2), params, params.link_m(np.array(instruments, dtype=object)))
        assert bool(labels[0] == labels[1]) is linked, instruments

    rows = [
        "18.2000,100.3000,320,1.0,1.0,2024-03-14,0330,Terra,MODIS,70,6.1NRT,300,12.0,D\n",
        f"18.2000,{lon2:.4f},321,1.0,1.0,2024-03-14,0330,Terra,MODIS,70,6.1NRT,300,8.0,D\n",  # 1.5 km east
        "18.4000,100.3000,322,1.0,1.0,2024-03-14,0330,Terra,MODIS,70,6.1NRT,300,5.0,D\n",
    ]  # alone
    f = tmp_path / "modis.csv"
    f.write_text(MODIS_HEADER + "".join(rows))
    with transaction(sm) as s:
        r = ingest_file(s, f, Gazetteer.load(s))
        update_events(s, r.first_acq, r.last_acq)
    _load(
        sm,
        tmp_path,
        "viirs.csv",
        [
            _row(18.0, 100.1, "2024-03-14", "0612"),  # a lone VIIRS one
            _row(18.4000, 100.3030, "2024-03-14", "0612"),
        ],
    )  # 320 m from the lone MODIS
    events = sorted((e.detections, tuple(e.sensors), e.area_m2) for e in _events(sm))
    assert [(n, sensors) for n, sensors, _ in events] == [(1, ("S-NPP",)), (2, ("S-NPP", "Terra")), (2, ("Terra",))]
    lone_viirs, mixed, pair = (a for _, _, a in events)
    assert lone_viirs == pytest.approx(np.pi * 187.5**2, rel=0.01)
    # two MODIS pixel discs 1.5 km apart: 1,500 m x 1,000 m + a 500 m disc
    assert pair == pytest.approx(1500 * 1000 + np.pi * 500**2, rel=0.01)
    # the hull of a MODIS disc (500 m) and a VIIRS disc (187.5 m) 320 m apart (the VIIRS one reaches 7.5 m
    # beyond the MODIS disc): the same figure as Shapely's hull of the two discs, not a 500 m buffer of both
    import shapely

    modis_disc, viirs_disc = shapely.Point(0, 0).buffer(500, 8), shapely.Point(320, 0).buffer(187.5, 8)  # as stored
    hull = shapely.convex_hull(shapely.union(modis_disc, viirs_disc)).area
    assert modis_disc.area < mixed and mixed == pytest.approx(hull, rel=0.01)
    assert mixed < shapely.Point(0, 0).buffer(500, 8).union(shapely.Point(320, 0).buffer(500, 8)).area


def test_events_cli_refuses_a_wrong_day_without_a_traceback(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo_service.cli import app
    from geo_service.settings import get_settings
    from tests.conftest import _url_text

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", _url_text(db_url))
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["hotspots", "events", "--since", "2024-13-01"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "error:" in result.output and "Traceback" not in result.output
