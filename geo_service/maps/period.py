"""The period a map covers, from the query: from/to days, or a fiscal year in BE (default: the current one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from geo_service.errors import InvalidInput
from geo_service.limits import MAX_DATE, MIN_DATE, check_date
from geo_service.thai import BANGKOK, BE_OFFSET, fiscal_year_be

TH_MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def be_date_th(d: date) -> str:
    return f"{d.day} {TH_MONTHS[d.month - 1]} {d.year + BE_OFFSET}"


def be_date_en(d: date) -> str:
    return f"{d.day} {EN_MONTHS[d.month - 1]} {d.year + BE_OFFSET} BE"


@dataclass(frozen=True)
class Period:
    start: date  # first day (Asia/Bangkok)
    end: date  # last day, inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, time(), BANGKOK),
                datetime.combine(self.end + timedelta(days=1), time(), BANGKOK))

    @property
    def label_th(self) -> str:
        return f"{be_date_th(self.start)} – {be_date_th(self.end)}"

    @property
    def label_en(self) -> str:
        return f"{be_date_en(self.start)} – {be_date_en(self.end)}"

    @property
    def step(self) -> str:
        """The time slider's step: a day for up to four months, else a week."""
        return "P1D" if (self.end - self.start).days <= 120 else "P7D"


def fiscal_period(fy_be: int) -> Period:
    ce = fy_be - BE_OFFSET
    return Period(date(ce - 1, 10, 1), date(ce, 9, 30))


# --- district counts: one function per source ----------------------------------------------------




def choose_period(start: date | None, end: date | None, fy_be: int | None) -> Period:
    if fy_be is not None and (start or end):
        raise InvalidInput("Give either fiscal_year_be or from/to, not both.", code="invalid_period")
    if fy_be is not None:
        if not (MIN_DATE.year + BE_OFFSET < fy_be <= MAX_DATE.year + BE_OFFSET):
            raise InvalidInput(f"fiscal_year_be must lie between {MIN_DATE.year + BE_OFFSET + 1} and "
                               f"{MAX_DATE.year + BE_OFFSET}.", code="date_out_of_range")
        return fiscal_period(fy_be)
    check_date(start, "from")
    check_date(end, "to")
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
