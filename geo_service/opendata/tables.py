"""The open datasets and their tables: what each publishes, counted from the domains' stores, with small counts
suppressed where a count could identify a case or a person.

Nothing here reads a record's text: the tables are built from counts (incidents, cases), areas (clearing
patches) and the layers' published credits. Hotspots and fire events are public data already served by the OGC
API (``exports.collections``); their datasets link those collections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal, Role
from geo_service.cases import service as cases
from geo_service.db.models import CASE_STAGE_LABELS, CaseStage
from geo_service.errors import NotFound
from geo_service.forest_loss import counts as clearing
from geo_service.hotspots import store as hotspots
from geo_service.incidents import store as incidents
from geo_service.layers import aoi
from geo_service.layers import queries as layers
from geo_service.reports import store as briefs
from geo_service.settings import OpenDataSettings
from geo_service.thai import (
    EN_MONTHS,
    M2_PER_HECTARE,
    M2_PER_RAI,
    TH_MONTHS,
    fiscal_year_be,
    fiscal_year_bounds,
    to_be,
)

# EU frequency vocabulary (DCAT-AP dct:accrualPeriodicity)
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"


@dataclass(frozen=True)
class Dataset:
    """One published dataset: names, description, how often it changes, whose licence, and how it is served."""

    name: str
    title_th: str
    title_en: str
    description_th: str
    description_en: str
    frequency: str  # a code of the EU frequency vocabulary: DAILY, WEEKLY, CONT, IRREG, QUARTERLY
    suppressed: bool = False  # counts 1..threshold-1 published as "<threshold"
    collection: str | None = None  # a public OGC API collection that serves it (hotspots, fire events)
    licence_name: str | None = None  # None: the service's own licence (settings)
    licence_url: str | None = None
    spatial: bool = True  # rows with a district: GeoJSON features carry its outline
    keywords: tuple[str, ...] = ()


FIRMS_LICENCE = (
    "NASA FIRMS: free to use with acknowledgement",
    "https://www.earthdata.nasa.gov/data/earthdata-data-use-policy",
)
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "hotspots",
            "จุดความร้อนจากดาวเทียม",
            "Satellite fire hotspots",
            "จุดความร้อนจากดาวเทียม MODIS และ VIIRS (NASA FIRMS) ระบุอำเภอ ตำบล และพื้นที่ป่าที่ตั้งอยู่",
            "MODIS and VIIRS fire detections (NASA FIRMS) with the district, subdistrict and protected area they "
            "fall in",
            "DAILY",
            collection="hotspots",
            licence_name=FIRMS_LICENCE[0],
            licence_url=FIRMS_LICENCE[1],
            keywords=("fire", "hotspot", "ไฟป่า"),
        ),
        Dataset(
            "fire_events",
            "เหตุการณ์ไฟ",
            "Fire events",
            "จุดความร้อนที่ใกล้กันทั้งเวลาและระยะทางรวมเป็นเหตุการณ์ไฟหนึ่งครั้ง",
            "Hotspots close in space and time grouped into one fire event",
            "DAILY",
            collection="fire_events",
            licence_name=FIRMS_LICENCE[0],
            licence_url=FIRMS_LICENCE[1],
            keywords=("fire", "ไฟป่า"),
        ),
        Dataset(
            "incidents_by_district_month",
            "จำนวนเหตุที่เจ้าหน้าที่บันทึก รายอำเภอ รายเดือน",
            "Field incidents by district and month",
            "จำนวนเหตุ (บุกรุก ตัดไม้ เผา ไฟป่า) ที่เจ้าหน้าที่ภาคสนามบันทึก ในจังหวัดของพื้นที่รับผิดชอบ "
            "นับตามอำเภอและเดือนที่พบ (เวลาประเทศไทย) เฉพาะจำนวน ไม่มีรายละเอียดของเหตุ",
            "Counts of the incidents field officers logged (encroachment, logging, burning, wildfire) in the area's "
            "provinces, by district and month observed (Asia/Bangkok); counts only, no detail of any incident",
            "CONT",
            suppressed=True,
            keywords=("incident", "encroachment"),
        ),
        Dataset(
            "clearing_by_district_month",
            "การแผ้วถางป่าจากการแจ้งเตือนดาวเทียม รายอำเภอ รายเดือน",
            "Forest clearing (satellite alerts) by district and month",
            "จำนวนแปลงแผ้วถางจากการแจ้งเตือนดาวเทียมในพื้นที่รับผิดชอบ (ไม่นับแปลงที่ถูกรวมเข้ากับแปลงอื่น) "
            "ตามอำเภอและเดือนที่พบครั้งแรก พร้อมพื้นที่เป็นเฮกตาร์และไร่",
            "Clearing patches from satellite alerts in the area of interest (patches merged into another not "
            "counted), by district and month of their first alert, with their area in hectares and rai",
            "WEEKLY",
            keywords=("deforestation", "clearing", "แผ้วถาง"),
        ),
        Dataset(
            "cases_by_stage_fiscal_year",
            "จำนวนเรื่องตามขั้นตอนและปีงบประมาณ",
            "Cases by stage and fiscal year",
            "จำนวนเรื่องกล่าวหาในจังหวัดของพื้นที่รับผิดชอบ ตามปีงบประมาณที่รับเรื่องและขั้นตอนปัจจุบัน เฉพาะจำนวน ไม่รวมเรื่องลับ",
            "Counts of the anti-corruption cases of the area's provinces by the Thai fiscal year they were received "
            "in and their current stage; counts only, confidential cases not counted",
            "CONT",
            suppressed=True,
            spatial=False,
            keywords=("anti-corruption", "case"),
        ),
        Dataset(
            "reference_layers",
            "ชั้นข้อมูลอ้างอิงและสัญญาอนุญาต",
            "Reference layers and their licences",
            "ชั้นข้อมูลขอบเขตการปกครองและพื้นที่ป่าที่ระบบใช้ พร้อมแหล่งที่มา สัญญาอนุญาต และวันที่นำเข้า",
            "The boundary and protected-area layers the service uses, with their source, licence, credit and load date",
            "IRREG",
            spatial=False,
            keywords=("boundaries", "licence"),
        ),
        Dataset(
            "committee_briefs",
            "สรุปรายงานต่อคณะอนุกรรมการที่เผยแพร่",
            "Published committee briefs",
            "สรุปรายงานรายปีงบประมาณหรือรายไตรมาสที่คณะอนุกรรมการอนุมัติให้เผยแพร่ (PDF)",
            "The fiscal-year and quarterly briefs the committee chose to publish (PDF)",
            "QUARTERLY",
            spatial=False,
            keywords=("brief", "report"),
        ),
    )
}


@dataclass
class Table:
    """A dataset's table: its columns (key -> Thai and English label), rows, the district column that places a
    row on the map (None: not spatial), when its data last changed and the period it covers."""

    dataset: Dataset
    columns: dict[str, tuple[str, str]]
    rows: list[dict[str, Any]]
    last_update: datetime | date | None = None
    temporal: tuple[date | None, date | None] = (None, None)
    district_column: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)


def enabled(settings: OpenDataSettings) -> list[Dataset]:
    """The datasets this deployment publishes, in registry order."""
    return [DATASETS[n] for n in settings.datasets if n in DATASETS]


def dataset(settings: OpenDataSettings, name: str) -> Dataset:
    """The published dataset ``name``; NotFound when there is none or it is not published here."""
    if name not in settings.datasets or name not in DATASETS:
        raise NotFound("No open dataset with this name here. See /catalog.json for the list.")
    return DATASETS[name]


def suppress(n: int, threshold: int) -> tuple[int | None, str]:
    """A count as published: (the count, its text), or (None, "<threshold") for 1..threshold-1 (a zero names
    nobody and is published)."""
    if 0 < n < threshold:
        return None, f"<{threshold}"
    return n, str(n)


def month_labels(month: date) -> dict[str, Any]:
    """A month's columns: ISO ``YYYY-MM``, Thai and English labels with the Buddhist Era year, its fiscal year."""
    return {
        "month": month.strftime("%Y-%m"),
        "month_th": f"{TH_MONTHS[month.month - 1]} {to_be(month.year)}",
        "month_en": f"{EN_MONTHS[month.month - 1]} {to_be(month.year)} BE",
        "fiscal_year_be": fiscal_year_be(month),
    }


def months_between(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s to ``last``'s, both included."""
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def area_districts(session: Session) -> list[dict[str, str]]:
    """The current districts of the area of interest's provinces (code, Thai and English names), by code."""
    codes = aoi.aoi_province_codes(session)
    rows = session.execute(
        text(
            "SELECT code, name_th, name_en FROM current_admin_areas WHERE level = 'district' "
            "AND parent_code = ANY(:p) ORDER BY code"
        ),
        {"p": codes},
    ).mappings()
    return [dict(r) for r in rows]


def district_outlines(session: Session, codes: list[str]) -> dict[str, dict]:
    """GeoJSON geometries (simplified to about 100 m, 6 decimals) of these current districts, by code."""
    rows = session.execute(
        text(
            "SELECT code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.001), 6)::json AS g "
            "FROM current_admin_areas WHERE level = 'district' AND code = ANY(:c)"
        ),
        {"c": codes},
    )
    return {r.code: r.g for r in rows}


NO_DISTRICT = ("นอกเขตอำเภอของจังหวัด (แนวกันชน)", "In no district of the province (the area's buffer)")
DISTRICT_COLUMNS = {
    "district_code": ("รหัสอำเภอ", "District code"),
    "district_th": ("อำเภอ", "District (Thai)"),
    "district_en": ("อำเภอ (อังกฤษ)", "District (English)"),
    "month": ("เดือน", "Month"),
    "month_th": ("เดือน (พ.ศ.)", "Month (Thai)"),
    "month_en": ("เดือน (อังกฤษ)", "Month (English)"),
    "fiscal_year_be": ("ปีงบประมาณ", "Fiscal year (BE)"),
}
COUNT_COLUMNS = {
    "count": ("จำนวน", "Count"),
    "count_text": ("จำนวน (ตามที่เผยแพร่)", "Count as published"),
    "suppressed": ("ปกปิดจำนวนน้อย", "Small count hidden"),
}


def _district_month_rows(
    session: Session, data: dict[tuple[str, date], dict[str, Any]], empty: dict[str, Any]
) -> tuple[list[dict], tuple[date | None, date | None]]:
    """One row per district of the area (and the no-district row when it has data) and month from the first to
    the last month with data: the data, or ``empty`` (an empty month is a zero, not a gap)."""
    if not data:
        return [], (None, None)
    months = months_between(min(m for _, m in data), max(m for _, m in data))
    districts = [(d["code"], d["name_th"], d["name_en"]) for d in area_districts(session)]
    known = {c for c, _, _ in districts}
    extra = sorted({d for d, _ in data if d not in known})
    for code in extra:  # a district no longer current, or none (''): still counted, never dropped
        districts.append((code, NO_DISTRICT[0] if code == "" else code, NO_DISTRICT[1] if code == "" else code))
    rows = [
        {"district_code": code, "district_th": th, "district_en": en, **month_labels(m), **data.get((code, m), empty)}
        for code, th, en in districts
        for m in months
    ]
    last = months[-1]
    end = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    return rows, (months[0], date.fromordinal(end.toordinal() - 1))


def incidents_table(session: Session, settings: OpenDataSettings) -> Table:
    """Incidents of the area's provinces by district and month observed, small counts suppressed."""
    counted = incidents.district_month_counts(session, aoi.aoi_province_codes(session))
    t = settings.threshold

    def cell(n: int) -> dict[str, Any]:
        value, shown = suppress(n, t)
        return {"count": value, "count_text": shown, "suppressed": value is None}

    data = {(d, m): cell(n) for d, m, n in counted["rows"]}
    rows, temporal = _district_month_rows(session, data, cell(0))
    return Table(
        DATASETS["incidents_by_district_month"],
        {**DISTRICT_COLUMNS, **COUNT_COLUMNS},
        rows,
        counted["last_update"],
        temporal,
        "district_code",
    )


def clearing_table(session: Session, settings: OpenDataSettings) -> Table:
    """Clearing patches of the area by district and month of the first alert, with their area (ha, rai)."""
    counted = clearing.district_month_counts(session)

    def cell(n: int, m2: float) -> dict[str, Any]:
        return {
            "patches": n,
            "area_ha": round(m2 / M2_PER_HECTARE, 2),
            "area_rai": round(m2 / M2_PER_RAI, 2),
        }

    data = {(d, m): cell(n, a) for d, m, n, a in counted["rows"]}
    rows, temporal = _district_month_rows(session, data, cell(0, 0.0))
    return Table(
        DATASETS["clearing_by_district_month"],
        {
            **DISTRICT_COLUMNS,
            "patches": ("จำนวนแปลง", "Patches"),
            "area_ha": ("พื้นที่ (เฮกตาร์)", "Area (ha)"),
            "area_rai": ("พื้นที่ (ไร่)", "Area (rai)"),
        },
        rows,
        counted["last_update"],
        temporal,
        "district_code",
    )


def public_audience(session: Session) -> Principal:
    """Whom the public's case counts are read as: a committee member of the area's provinces (row-level security
    applies: no confidential case, no other province's case)."""
    return Principal(
        name="open-data:public",
        roles=frozenset({Role.committee_member}),
        provinces=frozenset(aoi.aoi_province_codes(session)),
    )


def cases_table(session: Session, settings: OpenDataSettings) -> Table:
    """Cases of the area's provinces by fiscal year received and current stage, counts only, small ones hidden."""
    counted = cases.public_stage_counts(session, public_audience(session))
    got = {(r["fiscal_year_be"], r["stage"]): r["n"] for r in counted["rows"]}
    years = sorted({y for y, _ in got})
    rows = []
    for year in range(years[0], years[-1] + 1) if years else ():
        for stage in CaseStage:
            value, shown = suppress(got.get((year, stage.value), 0), settings.threshold)
            th, en = CASE_STAGE_LABELS[stage]
            rows.append(
                {
                    "fiscal_year_be": year,
                    "stage": stage.value,
                    "stage_th": th,
                    "stage_en": en,
                    "count": value,
                    "count_text": shown,
                    "suppressed": value is None,
                }
            )
    temporal = (fiscal_year_bounds(years[0])[0], fiscal_year_bounds(years[-1])[1]) if years else (None, None)
    return Table(
        DATASETS["cases_by_stage_fiscal_year"],
        {
            "fiscal_year_be": ("ปีงบประมาณ", "Fiscal year (BE)"),
            "stage": ("รหัสขั้นตอน", "Stage code"),
            "stage_th": ("ขั้นตอน", "Stage (Thai)"),
            "stage_en": ("ขั้นตอน (อังกฤษ)", "Stage (English)"),
            **COUNT_COLUMNS,
        },
        rows,
        counted["last_update"],
        temporal,
    )


LAYER_FIELDS = (
    "name",
    "version",
    "layer_type",
    "title",
    "source",
    "licence",
    "attribution",
    "illustrative",
    "feature_count",
    "file_sha256",
    "loaded_at",
)


def layers_table(session: Session, settings: OpenDataSettings) -> Table:
    """Every loaded layer version with its source, licence and credit (not who loaded it, nor the file's name)."""
    rows = [{k: r[k] for k in LAYER_FIELDS} for r in layers.layer_sources(session)]
    for r in rows:
        r["loaded_at"] = r["loaded_at"].isoformat()
    last = max((r["loaded_at"] for r in rows), default=None)
    return Table(
        DATASETS["reference_layers"],
        {
            "name": ("ชื่อชั้นข้อมูล", "Layer"),
            "version": ("รุ่น", "Version"),
            "layer_type": ("ประเภท", "Type"),
            "title": ("ชื่อเรื่อง", "Title"),
            "source": ("แหล่งที่มา", "Source"),
            "licence": ("สัญญาอนุญาต", "Licence"),
            "attribution": ("การอ้างอิง", "Credit"),
            "illustrative": ("ขอบเขตสมมติ (ไม่เป็นทางการ)", "Illustrative (not official)"),
            "feature_count": ("จำนวนรูปแปลง", "Features"),
            "file_sha256": ("SHA-256 ของไฟล์", "File SHA-256"),
            "loaded_at": ("นำเข้าเมื่อ", "Loaded at"),
        },
        rows,
        datetime.fromisoformat(last) if last else None,
    )


def briefs_table(session: Session, settings: OpenDataSettings) -> Table:
    """The briefs marked public: period, fiscal year, quarter, province, when made and published, and the PDF."""
    rows, published = [], briefs.public_briefs(session)
    for b in published:
        rows.append(
            {
                "id": b["id"],
                "fiscal_year_be": b["fiscal_year_be"],
                "quarter": b["quarter"],
                "period_from": b["period_from"].isoformat(),
                "period_to": b["period_to"].isoformat(),
                "province_code": b["province_code"],
                "created_at": b["created_at"].isoformat(),
                "published_at": b["published_at"].isoformat() if b["published_at"] else None,
                "pdf": f"/open/briefs/{b['id']}.pdf",
            }
        )
    last = max((b["published_at"] for b in published if b["published_at"]), default=None)
    start = min((date.fromisoformat(r["period_from"]) for r in rows), default=None)
    end = max((date.fromisoformat(r["period_to"]) for r in rows), default=None)
    return Table(
        DATASETS["committee_briefs"],
        {
            "id": ("เลขที่", "Number"),
            "fiscal_year_be": ("ปีงบประมาณ", "Fiscal year (BE)"),
            "quarter": ("ไตรมาส", "Quarter"),
            "period_from": ("ตั้งแต่", "From"),
            "period_to": ("ถึง", "To"),
            "province_code": ("จังหวัด", "Province"),
            "created_at": ("จัดทำเมื่อ", "Made at"),
            "published_at": ("เผยแพร่เมื่อ", "Published at"),
            "pdf": ("PDF", "PDF"),
        },
        rows,
        last,
        (start, end),
    )


BUILDERS: dict[str, Callable[[Session, OpenDataSettings], Table]] = {
    "incidents_by_district_month": incidents_table,
    "clearing_by_district_month": clearing_table,
    "cases_by_stage_fiscal_year": cases_table,
    "reference_layers": layers_table,
    "committee_briefs": briefs_table,
}


def table(session: Session, settings: OpenDataSettings, name: str) -> Table:
    """The table of the published dataset ``name`` (NotFound for a dataset without one, or not published)."""
    ds = dataset(settings, name)
    if ds.name not in BUILDERS:
        raise NotFound(f"This dataset has no table here: the OGC API serves it (/ogc/collections/{ds.collection}).")
    return BUILDERS[ds.name](session, settings)


def collection_freshness(session: Session) -> dict[str, Any]:
    """Hotspots' and fire events' coverage: the first and last month with detections, the last acquisition and
    the last load (fire events are clustered when detections are loaded)."""
    fresh = hotspots.freshness(session)
    months = hotspots.months_detected(session)
    return {
        "first": min(months) if months else None,
        "latest": fresh["hotspot_latest"],
        "loaded": fresh["hotspot_loaded"],
    }
