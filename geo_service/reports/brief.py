"""The committee brief for a Thai fiscal year or quarter: figures by district and reserve, hotspots per week
against the previous year, forest loss (clearing patches, ha and rai), incidents, cases by stage (counts only), data
sources and their freshness.

The figures are computed once and stored with the data version they came from (the audit trail's head,
the latest hotspot batch, incident and layer loads); a brief shown later is rendered from the stored
figures, so it is reproduced with the same numbers whatever has been loaded since.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal, Role
from geo_service.cases import service as cases
from geo_service.db.models import CASE_STAGE_LABELS, INCIDENT_KIND_LABELS, CaseStage, IncidentKind
from geo_service.errors import Forbidden, InvalidInput, NotFound
from geo_service.forest_loss import queries as forest_loss
from geo_service.hotspots import store as hotspots
from geo_service.hotspots.rasters import burned_area_by_zone, latest_acq_date
from geo_service.incidents import store as incidents
from geo_service.layers import aoi
from geo_service.layers.queries import loaded_layers
from geo_service.maps.period import check_fiscal_year_be
from geo_service.redflags import store as redflags_store
from geo_service.redflags.rules import RULE_LABELS
from geo_service.reports import store
from geo_service.thai import BANGKOK, be_dmy, fiscal_year_bounds, to_be


def audience(province: str | None) -> Principal:
    """The committee member a brief's case counts are read as, scoped to ``province`` (None: national).

    Whoever may read a brief: it is stored and shown to committee members, so its case counts are what a
    committee member may see (no confidential case), read through the same row-level security: of the brief's
    province (a provincial brief), or of every province (the national brief)."""
    return Principal(
        name="brief-audience:committee",
        roles=frozenset({Role.committee_member}),
        provinces=None if province is None else frozenset({province}),
    )


def brief_province(session: Session, requested: str | None, principal: Principal) -> str | None:
    """The province a new brief covers (None: the national brief, grouped by province).

    Asked for: a loaded province within the caller's scope. Not asked for: the caller's province when they
    have exactly one; national callers get the national brief; a caller of several provinces must choose."""
    if requested is not None:
        code = aoi.check_province_codes(session, [requested])[0]
        if not principal.sees_province(code):
            raise Forbidden(
                f"You make briefs for your province(s) only: {', '.join(sorted(principal.provinces or []))}."
            )
        return code
    if principal.provinces is None:
        return None
    if len(principal.provinces) == 1:
        return next(iter(principal.provinces))
    raise InvalidInput(
        "Say which province the brief covers ('province', e.g. \"54\"): you work in "
        + (f"{len(principal.provinces)} provinces." if principal.provinces else "no province."),
        code="province_required",
    )


def _province_area(session: Session, province: str) -> tuple[dict, dict]:
    """How a provincial brief names its area and what lies outside it (``aoi.describe``'s shape): the area of
    interest itself when it is exactly this province, else the province by its attributed detections."""
    if aoi.aoi_province_codes(session) == [province]:
        return aoi.describe(session, "aoi"), aoi.describe(session, "outside")
    th, en = aoi.province_names(session, [province]).get(province, (None, None))
    name_en, name_th = f"{en or province} ({province})", (f"จังหวัด{th} ({province})" if th else province)
    base = {"provinces": [{"code": province, "name_th": th, "name_en": en}], "buffer_m": 0.0, "missing": []}
    return (
        {**base, "scope": "province", "label_en": f"Province: {name_en}", "label_th": f"จังหวัด: {name_th}"},
        {
            **base,
            "scope": "outside",
            "label_en": f"Outside the province (other provinces and beyond), beyond {name_en}",
            "label_th": f"นอกจังหวัด (จังหวัดอื่นและนอกเขต) นอกเหนือจาก {name_th}",
        },
    )


def _by_province(session: Session, period: BriefPeriod) -> list[dict]:
    """The national brief's table: hotspots, incidents and cases (counts only) of every loaded province, then
    the records of no province."""
    hot = hotspots.province_counts(session, period.start, period.end)
    inc = incidents.province_counts(session, period.start, period.end)
    cas = cases.province_stage_counts(session, period.start, period.end, audience(None))
    names = aoi.province_names(session)
    rows = []
    for code in [*sorted(names), None]:
        entry = cas.get(code, {"by_stage": {}, "received": 0})
        row = {
            "code": code,
            "name_th": names[code][0] if code in names else "นอกจังหวัดที่โหลด",
            "name_en": names[code][1] if code in names else "Outside the loaded provinces",
            "hotspots": hot.get(code, {}).get("n", 0),
            "frp": hot.get(code, {}).get("frp", 0.0),
            "incidents": inc.get(code, 0),
            "cases_active": sum(entry["by_stage"].values()),
            "cases_received": entry["received"],
        }
        if code is not None or any(row[k] for k in ("hotspots", "incidents", "cases_active")):
            rows.append(row)
    return rows


CASES_SCOPE = {
    "th": "เรื่องที่ดำเนินอยู่ในช่วงนี้ (รับก่อนสิ้นช่วงและยังไม่ยุติก่อนต้นช่วง) ตามขั้นตอน ณ วันที่จัดทำ ไม่รวมเรื่องลับ",
    "en": "Cases active during the period (received by its last day, not closed before its first), "
    "by their stage when the brief was made; confidential cases are not counted",
}
TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class BriefPeriod:
    """A brief's period: first and last day (included), its Thai fiscal year (BE) and quarter (None: the year)."""

    start: date
    end: date  # included
    fiscal_year_be: int
    quarter: int | None

    @property
    def label_th(self) -> str:
        """The period in Thai, e.g. "ปีงบประมาณ 2567 ไตรมาส 2"."""
        return f"ปีงบประมาณ {self.fiscal_year_be}" + (f" ไตรมาส {self.quarter}" if self.quarter else "")

    @property
    def label_en(self) -> str:
        """The period in English, e.g. "Fiscal year 2567 BE, quarter 2"."""
        return f"Fiscal year {self.fiscal_year_be} BE" + (f", quarter {self.quarter}" if self.quarter else "")


def brief_period(fiscal_year_be: int, quarter: int | None = None) -> BriefPeriod:
    """FY 2567 = 1 Oct 2023 - 30 Sep 2024; quarter 1 = Oct-Dec."""
    check_fiscal_year_be(fiscal_year_be)
    if quarter is not None and quarter not in (1, 2, 3, 4):
        raise InvalidInput("quarter is 1 to 4 (quarter 1 = October to December).", code="invalid_period")
    start, end = fiscal_year_bounds(fiscal_year_be)
    ce = end.year
    if quarter:
        month = 10 + 3 * (quarter - 1)
        year = ce - 1 if month <= 12 else ce
        month = month if month <= 12 else month - 12
        start = date(year, month, 1)
        nxt = date(year + (month + 3 > 12), (month + 3 - 1) % 12 + 1, 1)
        end = nxt - timedelta(days=1)
    return BriefPeriod(start, end, fiscal_year_be, quarter)


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _hotspots(
    session: Session, start: date, end: date, province: str | None = None, weeks_of: date | None = None
) -> dict:
    """Detections of the area of interest (``in_aoi``; of ``province`` by attribution when given) by district,
    protected area and week, and their total; those outside it only as ``outside_aoi``, a count that is never
    part of the total. ``weeks_of``: the last day of the period the weekly series spans (default ``end``): the
    weeks after ``end`` are None (not yet come), not 0."""
    # a detection in the area's buffer lies in no district of the province: its row ('') comes last
    counts = hotspots.period_counts(session, start, end, province)
    weeks = (((weeks_of or end) - start).days // 7) + 1
    elapsed = ((end - start).days // 7) + 1
    series: list[int | None] = [0] * elapsed + [None] * (weeks - elapsed)
    for week, n in counts["weekly"].items():
        series[week] = n
    return {
        "by_district": counts["by_district"],
        "by_protected_area": counts["by_protected_area"],
        "weekly": series,
        "total": sum(n for n in series if n),
        "outside_aoi": counts["outside_aoi"],
        "by_sensor": counts["by_sensor"],
    }


def coverage(first: date | None, latest: date | None, start: date, end: date) -> str:
    """How far the loaded detections (first and latest day) cover the days ``start`` to ``end``: "none" (a count
    of 0 there means no data, not no fire), "partial" (data begin or end inside), or "full"."""
    if first is None or latest is None or first > end or latest < start:
        return "none"
    return "partial" if first > start or latest < end else "full"


def compute_figures(
    session: Session, period: BriefPeriod, province: str | None = None, today: date | None = None
) -> dict:
    """Every figure of the brief for ``period``, as stored (JSON-ready): names, hotspots against the previous year,
    incidents, case counts, burned area, data freshness and layers.

    ``province``: a provincial brief (its districts, detections attributed to it, its incidents and cases); None:
    the deployment's brief (the area of interest) with every province's counts in ``by_province``.

    ``today`` (default: today in Asia/Bangkok): a period not yet over is counted to ``today`` and compared with the
    same days a year earlier (not with the whole of last year's period); its weeks to come are None."""
    today = today or datetime.now(BANGKOK).date()
    to_date = max(min(period.end, today), period.start - timedelta(days=1))  # before its start: no day yet
    names = {
        r.code: {"th": r.name_th, "en": r.name_en}
        for r in session.execute(
            text(
                "SELECT code, name_th, name_en FROM current_admin_areas WHERE level = 'district' "
                "AND (CAST(:p AS text) IS NULL OR parent_code = :p) ORDER BY code"
            ),
            {"p": province},
        )
    }
    areas = {
        r.code: {"th": r.name_th, "en": r.name_en, "kind": r.kind, "illustrative": r.illustrative}
        for r in session.execute(
            text(
                "SELECT code, name_th, name_en, kind::text AS kind, illustrative FROM latest_protected_areas "
                "ORDER BY code"
            )
        )
    }
    # A province that is the whole area of interest keeps the area's figures (its buffer, the records of no
    # province); any other province counts what is attributed to it.
    whole_area = province is not None and aoi.aoi_province_codes(session) == [province]
    by_attribution = None if whole_area else province
    this = _hotspots(session, period.start, to_date, by_attribution, weeks_of=period.end)
    before_from, before_to = _shift_year(period.start, -1), _shift_year(to_date, -1)
    before = _hotspots(session, before_from, before_to, by_attribution, weeks_of=_shift_year(period.end, -1))
    first, latest = hotspots.detection_days(session)
    this["covered"] = coverage(first, latest, period.start, to_date)
    this["data_from"], this["data_to"] = (d.isoformat() if d else None for d in (first, latest))
    incident_counts = incidents.counts_by_kind_and_district(
        session, period.start, period.end, province, with_unplaced=whole_area
    )
    # Counts only: no title, party or note of any case leaves in a brief.
    case_counts = cases.stage_counts(session, period.start, period.end, audience(province))
    # burned area: only products that encode it (fire mask, burn date, dNBR), current versions (rasters.py)
    burned = burned_area_by_zone(session, "district", date_from=period.start, date_to=period.end)
    if province is not None:
        burned = [r for r in burned if r["zone_code"] in names]
        area, outside_area = _province_area(session, province)
    else:
        area, outside_area = aoi.describe(session, "aoi"), aoi.describe(session, "outside")
    hotspot_fresh, incident_fresh = hotspots.freshness(session), incidents.freshness(session)
    fresh = {
        "hotspot_latest": hotspot_fresh["hotspot_latest"],
        "hotspot_loaded": hotspot_fresh["hotspot_loaded"],
        "hotspot_batch": hotspot_fresh["hotspot_batch"],
        "incident_latest": incident_fresh["incident_latest"],
        "incident_max_id": incident_fresh["incident_max_id"],
        "raster_latest": latest_acq_date(session),
        **forest_loss.freshness(session),  # a new alert ingest changes the brief's data version
    }
    layers = loaded_layers(session)
    return {
        "period": {
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "fiscal_year_be": period.fiscal_year_be,
            "quarter": period.quarter,
            "label_th": period.label_th,
            "label_en": period.label_en,
            # the last day counted: the period's end, or the day the brief was made while the period runs
            "counted_to": to_date.isoformat(),
            "in_progress": to_date < period.end,
        },
        "scope": _scope(session, province),
        "districts": names,
        "protected_areas": areas,
        "area": area,
        "outside_area": outside_area,
        "hotspots": this,
        "hotspots_previous_year": {
            "total": before["total"],
            "weekly": before["weekly"],
            "outside_aoi": before["outside_aoi"],
            "from": before_from.isoformat(),
            "to": before_to.isoformat(),
            "covered": coverage(first, latest, before_from, before_to),
        },
        "incidents": [{"kind": k, "district": d, "count": n} for k, d, n in incident_counts],
        "cases_by_stage": case_counts["by_stage"],
        "cases_received": case_counts["received"],
        "cases_scope": CASES_SCOPE,
        "burned_ha_by_district": [{"code": r["zone_code"], "ha": round(r["burned_ha"], 2)} for r in burned],
        "burned_area_rasters": sorted({i for r in burned for i in r["rasters"]}),
        "freshness": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fresh.items()},
        "layers": [{**r, "loaded_at": r["loaded_at"].isoformat()} for r in layers],
        "by_province": None if province is not None else _by_province(session, period),
        # the summaries' definitions (forest_loss/queries.py): the brief's province and period only
        "forest_loss": forest_loss.brief_figures(session, period.start, period.end, province),
        # counts only (by rule and by agency): never a parcel, a document number or an owner
        "red_flags": _red_flags(session, period, province),
    }


def _red_flags(session: Session, period: BriefPeriod, province: str | None) -> dict:
    counts = redflags_store.brief_counts(session, period.start, period.end, province)
    by_rule: dict[str, dict] = {}
    for r in counts["by_rule"]:
        th, en = RULE_LABELS.get(r["rule"], (r["rule"], r["rule"]))
        row = by_rule.setdefault(r["rule"], {"rule": r["rule"], "th": th, "en": en, "high": 0, "medium": 0, "low": 0})
        row[r["severity"]] = r["flags"]
    return {
        "by_rule": list(by_rule.values()),
        "by_agency": counts["by_agency"],
        "total": counts["total"],
        # what the counts cover, printed beside them: contract flags of these fiscal years (BE), the brief's province
        "fiscal_years_be": counts["fiscal_years_be"],
    }


def _scope(session: Session, province: str | None) -> dict:
    """What the brief covers, in Thai and English: one province, or every province (national)."""
    if province is None:
        return {
            "province": None,
            "label_th": "ภาพรวมทุกจังหวัด (ระดับประเทศ)",
            "label_en": "All provinces (national)",
        }
    th, en = aoi.province_names(session, [province]).get(province, (None, None))
    return {
        "province": province,
        "label_th": f"จังหวัด{th} ({province})" if th else province,
        "label_en": f"{en or province} province ({province})",
    }


def _data_version(session: Session, figures: dict) -> str:
    """What the brief was made from: the audit head and the loads, digested with the figures themselves."""
    head = audit.head(session)  # recomputing the whole chain per brief would grow with every export
    basis = {"audit_head": head, "freshness": figures["freshness"], "layers": figures["layers"]}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def create_brief(session: Session, period: BriefPeriod, principal: Principal, province: str | None = None) -> dict:
    """Compute the period's figures (of ``province``, or national), store them with their data version, record
    the export; the stored brief."""
    figures = compute_figures(session, period, province)
    version = _data_version(session, figures)
    brief_id = store.insert_brief(
        session,
        period_from=period.start,
        period_to=period.end,
        fiscal_year_be=period.fiscal_year_be,
        quarter=period.quarter,
        data_version=version,
        figures=figures,
        created_by=principal.name,
        province_code=province,
    )
    audit.record(
        session,
        principal.name,
        "export",
        "brief",
        brief_id,
        after={"period": figures["period"], "province": province, "data_version": version},
    )
    return get_brief(session, brief_id)


def get_brief(session: Session, brief_id: int, viewer: Principal | None = None) -> dict:
    """A stored brief: id, data version, figures, who made it and when (ISO 8601); NotFound if none, or if it
    is another province's brief than ``viewer``'s (national briefs are read by every reader: counts only)."""
    row = store.brief_row(session, brief_id)
    if row is None or (
        viewer is not None and row["province_code"] is not None and not viewer.sees_province(row["province_code"])
    ):
        raise NotFound("No brief with this number.")
    return {
        "id": row["id"],
        "data_version": row["data_version"],
        "province_code": row["province_code"],
        "figures": row["figures"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
    }


def list_briefs(session: Session, viewer: Principal | None = None) -> list[dict]:
    """The briefs made so far, newest first, without their figures: the national ones and those of
    ``viewer``'s provinces."""
    return [
        b
        for b in store.list_briefs(session)
        if viewer is None or b["province_code"] is None or viewer.sees_province(b["province_code"])
    ]


def brief_html(session: Session, brief_id: int, viewer: Principal | None = None) -> str:
    """A stored brief as its printable HTML page (from its stored figures)."""
    return render_html(session, get_brief(session, brief_id, viewer))


# --- rendering ------------------------------------------------------------------------------------
def _weekly_chart(figures: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = ["Loma", "Garuda", "DejaVu Sans"]
    fy = figures["period"]["fiscal_year_be"]
    fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=110)

    def gaps(series: list) -> list[float]:  # weeks to come (None) are left undrawn, not drawn as 0
        return [float("nan") if n is None else n for n in series]

    ax.plot(gaps(figures["hotspots"]["weekly"]), color="#d62728", label=f"{figures['period']['label_th']}")
    previous = figures["hotspots_previous_year"]
    if previous.get("covered") != "none":  # no data loaded then: no line of zeros that reads "no fire"
        ax.plot(gaps(previous["weekly"]), color="#7f7f7f", linestyle="--", label=f"ปีก่อนหน้า / previous year ({fy - 1})")
    ax.set_xlabel("สัปดาห์ที่ นับจากต้นช่วง / week from the start of the period")
    ax.set_ylabel("จุดความร้อน / hotspots")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def district_label(figures: dict, code: str, n: int) -> str:
    """The permanent label of a district on the brief's map: Thai and English names, then the count."""
    names = figures["districts"].get(code, {})
    return f"{names.get('th', code)}\n{names.get('en', '')}\n{n:,}"


def _map_image(session: Session, figures: dict) -> str:
    """The brief's map as a base64 PNG (``map_figure``)."""
    import matplotlib.pyplot as plt

    fig, _ = map_figure(session, figures)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def map_figure(session: Session, figures: dict):
    """Districts shaded by hotspot count, protected areas outlined (current boundaries, no basemap), framed on the
    brief's districts: the figure and its axes."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from shapely import from_wkb

    plt.rcParams["font.family"] = ["Loma", "Garuda", "DejaVu Sans"]
    rows = session.execute(
        text(
            "SELECT code, parent_code, ST_AsBinary(ST_SimplifyPreserveTopology(geom, 0.001)) AS wkb "
            "FROM current_admin_areas WHERE level = 'district'"
        )
    ).all()
    rows = [r for r in rows if r.code in figures["districts"]]  # a provincial brief maps its own districts
    counted = {p["code"] for p in (figures.get("area") or {}).get("provinces", [])}
    if counted and (figures.get("scope") or {}).get("province") is None:
        # the national brief counts the area of interest: a district beyond it was shaded and labelled 0 whatever
        # burned there (its detections are on the separate "outside" line)
        rows = [r for r in rows if r.parent_code in counted]
    counts = {r["code"]: r["n"] for r in figures["hotspots"]["by_district"]}
    districts = gpd.GeoDataFrame(
        {"code": [r.code for r in rows], "n": [counts.get(r.code, 0) for r in rows]},
        geometry=[from_wkb(r.wkb) for r in rows],
        crs=4326,
    )
    pa = session.execute(
        text("SELECT ST_AsBinary(geom) AS wkb FROM protected_areas_on(:e)"),
        {"e": date.fromisoformat(figures["period"]["to"])},
    ).all()
    fig, ax = plt.subplots(figsize=(6.5, 6), dpi=110)
    districts.plot(
        ax=ax,
        column="n",
        cmap="OrRd",
        edgecolor="#555555",
        linewidth=0.6,
        legend=True,
        legend_kwds={"label": "จุดความร้อน / hotspots", "shrink": 0.6},
    )
    if pa:
        gpd.GeoSeries([from_wkb(r.wkb) for r in pa], crs=4326).boundary.plot(ax=ax, color="#1a7f37", linewidth=0.8)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]  # readable on the darkest class, in print
    for r in districts.itertuples():
        c = r.geometry.representative_point()
        ax.annotate(
            district_label(figures, r.code, r.n), (c.x, c.y), ha="center", va="center", fontsize=7, path_effects=halo
        )
    if len(districts):
        # framed on the brief's districts: the outlines of every loaded protected area (another province's too)
        # widened the frame until a provincial brief's districts were a speck in a corner
        x0, y0, x1, y1 = districts.total_bounds
        pad = 0.03 * max(x1 - x0, y1 - y0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_axis_off()
    ax.set_aspect(1 / 0.95)
    fig.text(
        0.01,
        0.01,
        "Hotspots: NASA FIRMS. Boundaries: RTSD / OCHA COD-AB (CC BY-IGO). Green outlines: protected "
        "areas (illustrative where so labelled).",
        fontsize=6,
    )
    return fig, ax


def render_html(session: Session, brief: dict) -> str:
    """The printable page of a brief from its stored figures (with the weekly chart and the map as images)."""
    f = brief["figures"]
    kinds = {k.value: INCIDENT_KIND_LABELS[k] for k in IncidentKind}
    stages = {s.value: CASE_STAGE_LABELS[s] for s in CaseStage}
    incident_rows: dict[str, dict] = {}
    for item in f["incidents"]:
        incident_rows.setdefault(item["kind"], {"total": 0})
        incident_rows[item["kind"]]["total"] += item["count"]
    area_rows = [
        {
            "code": r["code"],
            **f["protected_areas"].get(r["code"], {"th": r["code"], "en": "", "kind": "", "illustrative": False}),
            "n": r["n"],
        }
        for r in f["hotspots"]["by_protected_area"]
    ]
    return _env.get_template("brief.html").render(
        brief=brief,
        f=f,
        kinds=kinds,
        stages=stages,
        incident_rows=incident_rows,
        area_rows=area_rows,
        chart=_weekly_chart(f),
        map_png=_map_image(session, f),
        to_be=to_be,
        generated=datetime.now(BANGKOK),
        be=lambda d: be_dmy(d, missing="—"),
    )
