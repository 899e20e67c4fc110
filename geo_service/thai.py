"""Thai calendar and units: Buddhist Era years, the Oct-Sep fiscal year, rai/ngan/square wa, Asia/Bangkok."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
BE_OFFSET = 543
M2_PER_RAI = 1600.0
M2_PER_NGAN = 400.0
M2_PER_SQ_WA = 4.0
M2_PER_HECTARE = 10_000.0


def to_be(year_ce: int) -> int:
    """Buddhist Era year of a CE year (2021 -> 2564)."""
    return year_ce + BE_OFFSET


def fiscal_year_be(d: date) -> int:
    """Thai fiscal year (1 Oct - 30 Sep), named in BE by the year it ends in: 2020-10-01 -> 2564."""
    return to_be(d.year + 1 if d.month >= 10 else d.year)


def fiscal_year_bounds(fy_be: int) -> tuple[date, date]:
    """First and last day of a Thai fiscal year given in BE: 2567 -> (2023-10-01, 2024-09-30)."""
    ce = fy_be - BE_OFFSET
    return date(ce - 1, 10, 1), date(ce, 9, 30)


def area_units(m2: float) -> dict[str, Any]:
    """An area in square metres as hectares, km2, rai and the rai-ngan-wa triple officials write."""
    rai = int(m2 // M2_PER_RAI)
    rest = m2 - rai * M2_PER_RAI
    ngan = int(rest // M2_PER_NGAN)
    wa = round((rest - ngan * M2_PER_NGAN) / M2_PER_SQ_WA, 1)
    return {
        "m2": round(m2, 1),
        "ha": round(m2 / M2_PER_HECTARE, 4),
        "km2": round(m2 / 1e6, 4),
        "rai": round(m2 / M2_PER_RAI, 2),
        "rai_ngan_wa": [rai, ngan, wa],
    }


TH_MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def be_date_th(d: date) -> str:
    """A day in Thai with the Buddhist Era year, e.g. "1 ต.ค. 2566"."""
    return f"{d.day} {TH_MONTHS[d.month - 1]} {d.year + BE_OFFSET}"


def be_date_en(d: date) -> str:
    """A day in English with the Buddhist Era year, e.g. "1 Oct 2566 BE"."""
    return f"{d.day} {EN_MONTHS[d.month - 1]} {d.year + BE_OFFSET} BE"


def be_dmy(value: str | date | None, missing: str = "") -> str:
    """D/M/YYYY in the Buddhist Era, as officials write dates (an ISO date or timestamp; ``missing`` if none).

    An instant (a datetime or ISO timestamp with an offset, as PostgreSQL's UTC sessions return them) is dated by
    its day in Asia/Bangkok: 17:30 UTC on 30 September is 1/10 (and the next fiscal year). A day, or a time with no
    offset, is read as written."""
    if not value:
        return missing
    d = bangkok_day(value)
    return f"{d.day}/{d.month}/{to_be(d.year)}"


def bangkok_day(value: str | date) -> date:
    """The day of an ISO date or timestamp as officials date it: an instant (a datetime or ISO timestamp with an
    offset) by its day in Asia/Bangkok (17:30 UTC on 30 September is 1 October); a day, or a time with no offset,
    as written."""
    if isinstance(value, datetime):
        return (value.astimezone(BANGKOK) if value.tzinfo is not None else value).date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:  # not a timestamp Python reads: its leading day, as before
        return date.fromisoformat(text[:10])
    return (at.astimezone(BANGKOK) if at.tzinfo is not None else at).date()


_DMY = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def parse_date(value) -> date | None:
    """ISO dates, and day/month/year with a CE or BE year (a year above 2400 is read as BE)."""
    if value is None or value == "" or value != value:  # None, empty, NaN or pandas NaT
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    m = _DMY.match(text)
    if m:
        day, month, year = (int(g) for g in m.groups())
    else:
        try:
            parsed = date.fromisoformat(text[:10])
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)") from exc
        day, month, year = parsed.day, parsed.month, parsed.year
    if year > 2400:
        year -= BE_OFFSET
    return date(year, month, day)
