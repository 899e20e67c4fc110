"""The Thai calendar is defined once per language: thai.py for Python, the SQL functions of migration 0016
for SQL. Both must agree on every day, across fiscal-year and calendar-year boundaries."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import create_engine, text

from geo_service import thai
from geo_service.maps.period import fiscal_period
from geo_service.reports.brief import brief_period
from tests.conftest import _url_text


def test_sql_and_python_agree_on_every_day(ref_url):
    days = [date(2019, 9, 1) + timedelta(days=i) for i in range(0, 2 * 366 + 40)] + [
        date(1900, 1, 1),
        date(2200, 12, 31),
    ]
    engine = create_engine(_url_text(ref_url))
    try:
        with engine.connect() as c:
            rows = c.execute(
                text("SELECT d, be_year(d), fiscal_year_be(d), be_dmy(d) FROM unnest(CAST(:days AS date[])) d"),
                {"days": days},
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == len(days)
    for d, be, fy, dmy in rows:
        assert (be, fy, dmy) == (thai.to_be(d.year), thai.fiscal_year_be(d), thai.be_dmy(d)), d


def test_fiscal_year_bounds_are_the_one_rule_for_maps_and_briefs():
    assert thai.fiscal_year_bounds(2567) == (date(2023, 10, 1), date(2024, 9, 30))
    for fy in (2500, 2563, 2567, 2700):
        start, end = thai.fiscal_year_bounds(fy)
        assert thai.fiscal_year_be(start) == thai.fiscal_year_be(end) == fy
        assert thai.fiscal_year_be(start - timedelta(days=1)) == fy - 1
        assert (fiscal_period(fy).start, fiscal_period(fy).end) == (start, end)
        assert (brief_period(fy).start, brief_period(fy).end) == (start, end)
    q = [brief_period(2567, n) for n in (1, 2, 3, 4)]
    assert [(p.start, p.end) for p in q] == [
        (date(2023, 10, 1), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 3, 31)),
        (date(2024, 4, 1), date(2024, 6, 30)),
        (date(2024, 7, 1), date(2024, 9, 30)),
    ]
