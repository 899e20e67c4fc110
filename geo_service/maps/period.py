"""The period a map covers, from the query: from/to days, or a fiscal year in BE (default: the current one)."""

from __future__ import annotations

from datetime import date, datetime

from geo_service.errors import InvalidInput
from geo_service.maps.layers import Period, fiscal_period
from geo_service.thai import BANGKOK, fiscal_year_be


def choose_period(start: date | None, end: date | None, fy_be: int | None) -> Period:
    if fy_be is not None and (start or end):
        raise InvalidInput("Give either fiscal_year_be or from/to, not both.", code="invalid_period")
    if fy_be is not None:
        return fiscal_period(fy_be)
    today = datetime.now(BANGKOK).date()
    if start is None and end is None:
        return fiscal_period(fiscal_year_be(today))
    if start is None or end is None:
        raise InvalidInput("Give both from and to (YYYY-MM-DD).", code="invalid_period")
    if end < start:
        raise InvalidInput("'to' is before 'from'.", code="invalid_period")
    if (end - start).days > 3 * 366:
        raise InvalidInput("A map covers at most three years.", code="invalid_period")
    return Period(start, end)
