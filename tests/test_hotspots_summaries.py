"""Summaries by district x protected area x period, with sensor and confidence filters (hand-counted)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.hotspots.ingest import ingest_file
from geo_service.hotspots.summaries import SummaryQuery, summarise
from geo_service.places import Gazetteer
from tests.samples import MODIS_HEADER


def _song_and_reserve_points(sm):
    """A point in Song (5406) outside every protected area, and one in NRF-PR-001 with its district."""
    with sm() as s:
        song = s.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Difference(a.geom, "
                "(SELECT ST_Union(geom) FROM protected_areas))) p FROM admin_areas a "
                "WHERE a.code = '5406' AND a.is_current) s"
            )
        ).one()
        nrf = s.execute(
            text(
                "SELECT ST_X(p), ST_Y(p), (SELECT code FROM admin_areas a WHERE a.level = 'district' "
                "AND ST_Intersects(a.geom, p) ORDER BY code LIMIT 1) FROM (SELECT ST_PointOnSurface("
                "geom) p FROM protected_areas WHERE code = 'NRF-PR-001') s"
            )
        ).one()
    return song, nrf


@pytest.fixture
def loaded(db_url, sessionmaker_for, tmp_path):
    sm = sessionmaker_for(db_url)
    song, nrf = _song_and_reserve_points(sm)
    rows = [
        # in Song, outside any protected area: 2 in Sep 2023 (FY 2566), 1 in Oct 2023 (FY 2567), Terra + Aqua
        (song, "2023-09-10", "0330", "Terra", 85, 10.0),
        (song, "2023-09-11", "0330", "Terra", 20, 5.0),
        (song, "2023-10-02", "0620", "Aqua", 50, 7.5),
        # inside NRF-PR-001 in March 2024 (fire season 2024, FY 2567)
        (nrf, "2024-03-01", "0330", "Terra", 90, 30.0),
        (nrf, "2024-03-02", "0330", "Terra", 40, 12.0),
    ]
    f = tmp_path / "modis.csv"
    f.write_text(
        MODIS_HEADER
        + "".join(
            f"{p[1]:.6f},{p[0]:.6f},320,1,1,{d},{t},{sat},MODIS,{c},6.1NRT,295,{frp},D\n"
            for p, d, t, sat, c, frp in rows
        )
    )
    with transaction(sm) as s:
        ingest_file(s, f, Gazetteer.load(s))
    return sm, nrf[2]


def _rows(sm, **kw):
    with sm() as s:
        return summarise(s, SummaryQuery(**kw))["rows"]


def test_by_district_and_fiscal_year(loaded):
    sm, nrf_district = loaded
    rows = _rows(sm, group_by=["district"], period="fiscal_year")
    got = {(r["district"], r["period_label"]): (r["detections"], r["frp_sum_mw"]) for r in rows}
    expected = {("5406", "FY 2566"): (2, 15.0), ("5406", "FY 2567"): (1, 7.5)}
    key = (nrf_district, "FY 2567")
    expected[key] = (expected.get(key, (0, 0.0))[0] + 2, expected.get(key, (0, 0.0))[1] + 42.0)
    assert got == expected
    assert all(r["district_name_en"] for r in rows)


def test_by_district_x_protected_area_fire_season_and_filters(loaded):
    sm, nrf_district = loaded
    rows = _rows(sm, group_by=["district", "protected_area"], period="fire_season")
    assert [
        (r["district"], r["protected_area"], r["period_label"], r["detections"], r["frp_max_mw"]) for r in rows
    ] == [(nrf_district, "NRF-PR-001", "fire season 2024 (BE 2567)", 2, 30.0)]
    high = _rows(sm, group_by=["district"], period="all", min_confidence="high")
    expected = {"5406": 1}
    expected[nrf_district] = expected.get(nrf_district, 0) + 1  # confidence 85 in Song and 90 in the reserve
    assert {r["district"]: r["detections"] for r in high} == expected
    aqua = _rows(sm, group_by=[], period="month", sensors=["Aqua"])
    assert [(r["period"], r["detections"]) for r in aqua] == [("2023-10", 1)]
    viirs = _rows(sm, group_by=["district"], period="month", sensors=["VIIRS"])
    assert viirs == []
    day = _rows(sm, group_by=["land_class"], period="all", date_from=date(2023, 9, 11), date_to=date(2024, 3, 1))
    assert {r["land_class"]: r["detections"] for r in day} == {
        "outside_protected_land": 2,
        "national_reserved_forest": 1,
    }


def test_compared_with_the_previous_year(db_url, sessionmaker_for, tmp_path):
    """Fire seasons 2023 and 2024: each row carries the same group's figures a year earlier and the change;
    a reserve with detections in 2023 and none in 2024 gets a 2024 row of its own."""
    sm = sessionmaker_for(db_url)
    song, nrf = _song_and_reserve_points(sm)
    rows = [
        (song, "2023-03-05", 10.0),
        (song, "2023-03-06", 5.0),  # season 2023: 2
        (song, "2024-02-29", 1.0),
        (song, "2024-03-05", 2.0),
        (song, "2024-04-01", 3.0),  # season 2024: 3
        (nrf, "2023-04-01", 7.0),
    ]  # reserve: 2023 only
    f = tmp_path / "two_seasons.csv"
    f.write_text(
        MODIS_HEADER
        + "".join(f"{p[1]:.6f},{p[0]:.6f},320,1,1,{d},0330,Terra,MODIS,80,6.1NRT,295,{frp},D\n" for p, d, frp in rows)
    )
    with transaction(sm) as s:
        ingest_file(s, f, Gazetteer.load(s))
    got = _rows(sm, group_by=["protected_area"], period="fire_season", compare="previous_year")
    assert [
        (
            r["protected_area"],
            r["period_label"],
            r["detections"],
            r["previous_year_detections"],
            r["change_detections"],
            r["change_detections_pct"],
        )
        for r in got
    ] == [
        ("NRF-PR-001", "fire season 2023 (BE 2566)", 1, 0, 1, None),
        (None, "fire season 2023 (BE 2566)", 2, 0, 2, None),  # the row of "none" after the named ones
        ("NRF-PR-001", "fire season 2024 (BE 2567)", 0, 1, -1, -100.0),
        (None, "fire season 2024 (BE 2567)", 3, 2, 1, 50.0),
    ]
    assert got[1]["protected_area_name_en"] == "Outside every protected area"
    assert got[3]["previous_year_frp_sum_mw"] == 15.0 and got[3]["frp_sum_mw"] == 6.0
    window = _rows(
        sm,
        group_by=["protected_area"],
        period="all",
        date_from=date(2024, 1, 1),
        date_to=date(2024, 5, 31),
        compare="previous_year",
    )
    assert {r["protected_area"]: (r["detections"], r["previous_year_detections"]) for r in window} == {
        None: (3, 2),
        "NRF-PR-001": (0, 1),
    }
    # 29 February 2024 has no twin: 1 March 2023 .. 28 February 2023 is the year before 1 March .. 29 February
    leap = _rows(
        sm, group_by=[], period="all", date_from=date(2024, 2, 29), date_to=date(2024, 2, 29), compare="previous_year"
    )
    assert [(r["detections"], r["previous_year_detections"]) for r in leap] == [(1, 0)]
