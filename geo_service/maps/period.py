"""The period a map covers, from the query: from/to days, or a fiscal year in BE (default: the latest with data).

``choose_period`` is the one check of a map's period, shared by the web route and the CLI: a value out of
range is an ``InvalidInput`` (400 on the web, an error line and exit code 1 in the CLI), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from geo_service.errors import InvalidInput
from geo_service.thai import (
    BANGKOK,
    BE_OFFSET,
    be_date_en,
    be_date_th,
    fiscal_year_be,
    fiscal_year_bounds,
)


@dataclass(frozen=True)
class Period:
    """A span of whole days (Asia/Bangkok), both ends included."""

    start: date  # first day (Asia/Bangkok)
    end: date  # last day, inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """The period as instants [start, end) at Bangkok midnights."""
        return (
            datetime.combine(self.start, time(), BANGKOK),
            datetime.combine(self.end + timedelta(days=1), time(), BANGKOK),
        )

    @property
    def label_th(self) -> str:
        """The period in Thai dates (BE)."""
        return f"{be_date_th(self.start)} – {be_date_th(self.end)}"

    @property
    def label_en(self) -> str:
        """The period in English dates (BE)."""
        return f"{be_date_en(self.start)} – {be_date_en(self.end)}"

    @property
    def step(self) -> str:
        """The time slider's step: a day for up to four months, else a week."""
        return "P1D" if (self.end - self.start).days <= 120 else "P7D"


FY_BE_MIN, FY_BE_MAX = 2500, 2700  # fiscal years a map (or a brief) may name: 1 Oct 1956 - 30 Sep 2157


def fiscal_period(fy_be: int) -> Period:
    """A Thai fiscal year (BE) as a period: 1 October to 30 September."""
    return Period(*fiscal_year_bounds(fy_be))


def check_fiscal_year_be(fy_be: int) -> int:
    """``fy_be`` if it is a Buddhist Era fiscal year in range, else InvalidInput (2025 is a CE year)."""
    if not FY_BE_MIN <= fy_be <= FY_BE_MAX:
        hint = f" ({fy_be} looks like a CE year: BE {fy_be + BE_OFFSET})" if 1900 <= fy_be <= 2200 else ""
        raise InvalidInput(
            f"fiscal_year_be is a Buddhist Era year from {FY_BE_MIN} to {FY_BE_MAX}, such as 2567{hint}.",
            code="invalid_period",
        )
    return fy_be


def choose_period(
    start: date | None, end: date | None, fy_be: int | None, *, latest_fy_be: int | None = None
) -> Period:
    """The period asked for; with none, the fiscal year ``latest_fy_be`` (the latest with data) or else the
    current one."""
    if fy_be is not None and (start or end):
        raise InvalidInput("Give either fiscal_year_be or from/to, not both.", code="invalid_period")
    if fy_be is not None:
        return fiscal_period(check_fiscal_year_be(fy_be))
    today = datetime.now(BANGKOK).date()
    if start is None and end is None:
        return fiscal_period(latest_fy_be or fiscal_year_be(today))
    if start is None or end is None:
        raise InvalidInput("Give both from and to (YYYY-MM-DD).", code="invalid_period")
    lowest, highest = fiscal_period(FY_BE_MIN).start, fiscal_period(FY_BE_MAX).end
    if not (lowest <= start <= highest and lowest <= end <= highest):
        raise InvalidInput(
            f"from and to are days between {lowest} and {highest} (CE, YYYY-MM-DD).", code="invalid_period"
        )
    if end < start:
        raise InvalidInput("'to' is before 'from'.", code="invalid_period")
    if (end - start).days > 3 * 366:
        raise InvalidInput("A map covers at most three years.", code="invalid_period")
    return Period(start, end)
