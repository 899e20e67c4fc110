"""Hotspot summaries: detections, FRP and burned area by district x protected area x period.

Every figure is an indexed aggregate of stored columns (attribution is done at ingest). Periods are local
(Asia/Bangkok) dates: ``day``, ``month``, ``fire_season`` (January-May of a year, the northern season; other
months are left out) and ``fiscal_year`` (1 October - 30 September, labelled in Buddhist Era: FY 2567 =
Oct 2023 - Sep 2024). A detection inside two overlapping protected areas (a park over a reserve) counts
in both rows when grouping by protected area. Burned area comes from the zonal statistics of the current
versions of registered rasters whose product encodes burned area (fire mask, burned-area day of year, dNBR;
never an index raster or an FRP grid: ``raster_products``) of the same zones and period (rasters have no
sensor or confidence, so a sensor, confidence or processing filter leaves it out).

``compare="previous_year"`` answers the committee's "compared with last year?": each row also gets the
detections and FRP of the same group in the same period one year earlier (the same query run over dates
shifted by a year, so a fire season, fiscal year, month or day lines up with its predecessor) and the change.

Only detections inside the deployment's area of interest are counted unless ``area`` asks for those outside
it (``outside``) or both (``all``); the answer names the area (``layers.aoi.describe``). Rows of detections
in no district, province or protected area are labelled as such and come after the named ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput
from geo_service.hotspots import store
from geo_service.hotspots.partitions import local_day_end, local_day_start
from geo_service.layers import aoi
from geo_service.thai import BANGKOK

PERIODS = {
    "day": ("to_char({d}, 'YYYY-MM-DD')", "to_char({d}, 'YYYY-MM-DD')"),
    "month": ("to_char({d}, 'YYYY-MM')", "to_char({d}, 'YYYY-MM')"),
    "fire_season": (
        "extract(year FROM {d})::int::text",
        "'fire season ' || extract(year FROM {d})::int || ' (BE ' || be_year({d}) || ')'",
    ),
    # the Thai calendar's SQL functions (migration 0016), twins of thai.py
    "fiscal_year": ("fiscal_year_be({d})::text", "'FY ' || fiscal_year_be({d})"),
    "all": ("'all'", "'whole period'"),
}
GROUPS = tuple(store.GROUP_COLUMNS)  # province, district, protected_area, land_class
# How a row of detections in no area of a grouping is labelled (English, Thai): never an unnamed row.
NONE_LABELS = {
    "province": ("Outside the loaded provinces", "นอกจังหวัดที่โหลดขอบเขตไว้"),
    "district": ("Outside the districts of the loaded provinces", "นอกเขตอำเภอของจังหวัดที่โหลดไว้"),
    "protected_area": ("Outside every protected area", "นอกพื้นที่คุ้มครอง"),
}
COMPARE = ("previous_year",)
CONFIDENCE = {"low": 1, "nominal": 2, "high": 3}
SENSORS = {
    "MODIS": ("Terra", "Aqua"),
    "VIIRS": ("S-NPP", "NOAA-20", "NOAA-21"),
    "Terra": ("Terra",),
    "Aqua": ("Aqua",),
    "S-NPP": ("S-NPP",),
    "NOAA-20": ("NOAA-20",),
    "NOAA-21": ("NOAA-21",),
}


@dataclass
class SummaryQuery:
    """What to summarise (validated by ``check``)."""

    group_by: list[str] = field(default_factory=lambda: ["district"])
    period: str = "month"
    date_from: date | None = None
    date_to: date | None = None
    sensors: list[str] = field(default_factory=list)
    min_confidence: str | None = None
    processing: str | None = None
    district: str | None = None
    protected_area: str | None = None
    compare: str | None = None
    province: str | None = None
    area: str = "aoi"  # aoi | outside | all (layers.aoi.SCOPES)
    # the day taken as today (Asia/Bangkok; default the clock): a year earlier is compared up to a year before it
    today: date | None = None

    def check(self) -> None:
        """Refuse (InvalidInput, 400) an unknown grouping, period, sensor, confidence, processing or comparison."""
        bad = [g for g in self.group_by if g not in GROUPS]
        if bad or len(set(self.group_by)) != len(self.group_by):
            raise InvalidInput(f"group_by takes {', '.join(GROUPS)} (each once).", code="invalid_group_by")
        aoi.check_scope(self.area)
        if self.period not in PERIODS:
            raise InvalidInput(f"period must be one of {', '.join(PERIODS)}.", code="invalid_period")
        unknown = [s for s in self.sensors if s not in SENSORS]
        if unknown:
            raise InvalidInput(f"sensor must be one of {', '.join(SENSORS)}.", code="invalid_sensor")
        if self.min_confidence is not None and self.min_confidence not in CONFIDENCE:
            raise InvalidInput("min_confidence must be low, nominal or high.", code="invalid_confidence")
        if self.processing is not None and self.processing not in ("NRT", "SP"):
            raise InvalidInput("processing must be NRT or SP.", code="invalid_processing")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInput("from is after to.", code="invalid_period")
        if self.compare is not None and self.compare not in COMPARE:
            raise InvalidInput("compare must be previous_year.", code="invalid_compare")
        if self.compare and self.period == "all" and not (self.date_from and self.date_to):
            raise InvalidInput(
                "To compare the whole period with the year before, give from and to.", code="invalid_compare"
            )


def date_range(
    column: str, date_from: date | None, date_to: date | None, params: dict, *, utc_column: str | None = None
) -> list[str]:
    """Conditions (bound parameters) for ``date_from <= column <= date_to``.

    With ``utc_column`` (the acquisition time of the detections whose local date ``column`` is) the same days
    are also a range of that instant, from local midnight of ``date_from`` to local midnight after
    ``date_to``: the same rows, and PostgreSQL skips the partitions outside it (migration 0021).
    """
    where = []
    if date_from:
        params["date_from"] = date_from
        where.append(f"{column} >= :date_from")
        if utc_column:
            params["utc_from"] = local_day_start(date_from)
            where.append(f"{utc_column} >= :utc_from")
    if date_to:
        params["date_to"] = date_to
        where.append(f"{column} <= :date_to")
        if utc_column:
            params["utc_to"] = local_day_end(date_to)
            where.append(f"{utc_column} < :utc_to")
    return where


def detection_filters(
    params: dict,
    *,
    sensors=(),
    min_confidence: str | None = None,
    processing: str | None = None,
    district: str | None = None,
    province: str | None = None,
    area: str = "all",
    alias: str = "h",
) -> list[str]:
    """Conditions on detections by sensor, minimum confidence, processing level, district, province and area
    of interest (``aoi``, ``outside``, ``all``), with bound values."""
    where = []
    scope = aoi.scope_sql(area, f"{alias}.in_aoi")
    if scope:
        where.append(scope)
    if province:
        params["province"] = province
        where.append(f"{alias}.province_code = :province")
    if sensors:
        params["satellites"] = sorted({s for name in sensors for s in SENSORS[name]})
        where.append(f"{alias}.satellite = ANY(:satellites)")
    if min_confidence:
        params["min_conf"] = CONFIDENCE[min_confidence]
        where.append(f"{alias}.confidence >= :min_conf")
    if processing:
        params["processing"] = processing
        where.append(f"{alias}.processing = :processing")
    if district:
        params["district"] = district
        where.append(f"{alias}.district_code = :district")
    return where


def _year_earlier(day: date | None) -> date | None:
    """The same day one year earlier (29 February -> 28 February), as PostgreSQL's ``- interval '1 year'``."""
    if day is None:
        return None
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def _filters(q: SummaryQuery, params: dict, alias: str = "h", shift: bool = False) -> list[str]:
    date_from, date_to = q.date_from, q.date_to
    if shift:
        # the days so far, a year earlier: a period not over (this fiscal year, a month to come) is not set against
        # the whole of last year's
        today = q.today or datetime.now(BANGKOK).date()
        date_from, date_to = _year_earlier(q.date_from), _year_earlier(min(q.date_to or today, today))
    where = date_range(f"{alias}.acq_date_local", date_from, date_to, params, utc_column=f"{alias}.acq_utc")
    where += detection_filters(
        params,
        sensors=q.sensors,
        min_confidence=q.min_confidence,
        processing=q.processing,
        district=q.district,
        province=q.province,
        area=q.area,
        alias=alias,
    )
    if q.period == "fire_season":
        where.append(f"extract(month FROM {alias}.acq_date_local) BETWEEN 1 AND 5")
    return where


def _detections(session: Session, q: SummaryQuery, shift: bool = False) -> list[dict]:
    """One row per group and period; with ``shift`` the detections of one year earlier, keyed by this year's
    periods (each date moved forward by a year)."""
    params: dict = {}
    where = _filters(q, params, shift=shift)
    day = "(h.acq_date_local + interval '1 year')::date" if shift else "h.acq_date_local"
    key, label = (s.format(d=day) for s in PERIODS[q.period])
    if q.protected_area:
        params["protected_area"] = q.protected_area
        where.append("pa.code = :protected_area")
    return store.grouped_detections(
        session,
        q.group_by,
        key,
        label,
        where,
        params,
        per_protected_area="protected_area" in q.group_by or bool(q.protected_area),
    )


def summarise(session: Session, q: SummaryQuery) -> dict:
    """Counts, FRP and burned area per group and period.

    Parameters
    ----------
    session : Session
    q : SummaryQuery
        Groups (province, district, protected_area, land_class), period, date range (local dates), sensors
        (MODIS, VIIRS or a satellite), minimum confidence, processing level, one province, district or
        protected area, the area (``aoi`` by default, ``outside`` or ``all``) and ``compare="previous_year"``.

    Returns
    -------
    dict
        ``rows`` (one per group and period, with units in the names) and the query's description.
    """
    q.check()
    q.province = aoi.province_code(session, q.province)
    rows = _detections(session, q)
    burned = _burned_area(session, q)
    names = _names(session)
    for r in rows:
        m2 = burned.pop(_row_key(q, r), None)
        _finish(r, q, names, m2)
    for k, m2 in burned.items():  # burned area where no hotspot was detected
        r = _empty_row(q, k)
        _finish(r, q, names, m2)
        rows.append(r)
    if q.compare:
        _add_previous_year(session, q, rows, names)
    rows.sort(key=lambda r: _sort_key(q, r))
    return {
        "group_by": q.group_by,
        "period": q.period,
        "area": aoi.describe(session, q.area),
        "filters": {
            "from": q.date_from,
            "to": q.date_to,
            "sensors": q.sensors,
            "min_confidence": q.min_confidence,
            "processing": q.processing,
            "area": q.area,
            "province": q.province,
            "district": q.district,
            "protected_area": q.protected_area,
        },
        "compare": q.compare,
        "units": {
            "frp": "MW (sum and maximum of fire radiative power)",
            "burned_area": "ha and rai",
            "dates": "local dates, Asia/Bangkok",
        },
        "source": "NASA FIRMS (MODIS C6.1, VIIRS 375 m); burned area from registered rasters",
        "numberReturned": len(rows),
        "rows": rows,
    }


def _sort_key(q: SummaryQuery, r: dict) -> tuple:
    """By period, then each group with the named areas first and the row of "none" after them."""
    return (str(r["period"]), *[x for g in q.group_by for x in (not r.get(g), str(r.get(g) or ""))])


def _row_key(q: SummaryQuery, r: dict) -> tuple:
    """(group codes..., period) of a row: how detections, burned area and the year before are matched."""
    return tuple(r.get(g) or "" for g in q.group_by) + (r["period"],)


def _empty_row(q: SummaryQuery, key: tuple) -> dict:
    r = dict(zip([*q.group_by, "period"], key))
    r.update(detections=0, frp_sum_mw=0.0, frp_max_mw=None, period_label=None, satellites=[])
    return r


def _add_previous_year(session: Session, q: SummaryQuery, rows: list[dict], names: dict) -> None:
    """Previous-year detections and FRP on each row, and the change; groups that had detections a year
    earlier but none now get a row of their own (within the periods shown, or the dates asked)."""
    before = {_row_key(q, r): r for r in _detections(session, q, shift=True)}
    periods, shown = {r["period"] for r in rows}, {_row_key(q, r) for r in rows}
    for k, prev in before.items():
        if k not in shown and (k[-1] in periods or (q.date_from and q.date_to)):
            r = _empty_row(q, k)
            r["period_label"] = prev["period_label"]  # computed on dates moved to this year: this year's label
            _finish(r, q, names, None)
            rows.append(r)
    for r in rows:
        earlier = before.get(_row_key(q, r))
        n_prev = earlier["detections"] if earlier else 0
        r["previous_year_detections"] = n_prev
        r["previous_year_frp_sum_mw"] = earlier["frp_sum_mw"] if earlier else 0.0
        r["change_detections"] = r["detections"] - n_prev
        r["change_detections_pct"] = round(100.0 * (r["detections"] - n_prev) / n_prev, 1) if n_prev else None


def _finish(r: dict, q: SummaryQuery, names: dict, m2: float | None) -> None:
    for g in ("province", "district", "protected_area"):
        if g in q.group_by:
            code = r.get(g) or None
            r[g] = code
            r[f"{g}_name_en"], r[f"{g}_name_th"] = names.get((g, code), (None, None)) if code else NONE_LABELS[g]
    r["burned_area_ha"] = round(m2 / 1e4, 2) if m2 is not None else None
    r["burned_area_rai"] = round(m2 / 1600, 1) if m2 is not None else None


def _names(session: Session) -> dict:
    out = {}
    for level, code, en, th in session.execute(
        text(
            "SELECT level::text, code, name_en, name_th FROM current_admin_areas "
            "WHERE level IN ('province', 'district')"
        )
    ):
        out[(level, code)] = (en, th)
    for code, en, th in session.execute(text("SELECT code, name_en, name_th FROM latest_protected_areas")):
        out[("protected_area", code)] = (en, th)
    return out


def _burned_area(session: Session, q: SummaryQuery) -> dict:
    """Burned m2 per (group keys..., period) from raster zonal statistics, where the grouping allows."""
    zone = {
        ("district",): "district",
        ("protected_area",): "protected_area",
        ("district", "protected_area"): "district_protected_area",
        ("protected_area", "district"): "district_protected_area",
    }.get(tuple(q.group_by))
    if zone is None or q.sensors or q.min_confidence or q.processing or q.province or q.area == "outside":
        return {}  # raster zones are the districts and protected areas of the area of interest
    # raster_burned_area: the one SQL reading of burned area (current versions of burned-area products), the
    # same view rasters.burned_area_by_zone reads for the brief and the raster map.
    params: dict = {"zone": zone}
    where = ["b.zone_type = :zone"]
    where += date_range("b.acq_date", q.date_from, q.date_to, params)
    key = PERIODS[q.period][0].format(d="b.acq_date")
    if q.period == "fire_season":
        where.append("extract(month FROM b.acq_date) BETWEEN 1 AND 5")
    rows = session.execute(
        text(f"""
        SELECT b.zone_code, {key} AS period, sum(b.burned_m2) AS m2
        FROM raster_burned_area b WHERE {" AND ".join(where)} GROUP BY 1, 2"""),
        params,
    ).all()
    out = {}
    for code, period, m2 in rows:
        parts = code.split("|") if zone == "district_protected_area" else [code]
        if zone == "district_protected_area" and tuple(q.group_by) == ("protected_area", "district"):
            parts = parts[::-1]
        if q.district and ("district" in q.group_by) and parts[q.group_by.index("district")] != q.district:
            continue
        if (
            q.protected_area
            and ("protected_area" in q.group_by)
            and parts[q.group_by.index("protected_area")] != q.protected_area
        ):
            continue
        out[tuple(parts) + (period,)] = float(m2)
    return out
