"""The transparency page, the DCAT catalogue, the downloads and the public briefs (issue 17).

Functions run in the caller's transaction (the edge opens it) and never commit.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from shapely import from_wkb
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.db.models import CASE_STAGE_LABELS, CaseStage
from geo_service.errors import NotFound
from geo_service.exports.files import FORMULA_START
from geo_service.layers import aoi
from geo_service.opendata import tables
from geo_service.opendata.tables import FREQUENCY, Dataset, Table
from geo_service.reports import brief as brief_pages
from geo_service.reports import store as briefs
from geo_service.settings import OpenDataSettings
from geo_service.thai import BANGKOK, be_dmy

CSV = "text/csv"
GEOJSON = "application/geo+json"
PDF = "application/pdf"
ZIP = "application/zip"
PAGE_MONTHS = 12  # the page shows the last 12 months with data; the downloads hold every month

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "gsp": "http://www.opengis.net/ont/geosparql#",
    "locn": "http://www.w3.org/ns/locn#",
}


def _lang(th: str, en: str) -> list[dict[str, str]]:
    return [{"@language": "th", "@value": th}, {"@language": "en", "@value": en}]


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(BANGKOK).isoformat(timespec="seconds")
    return value.isoformat()


def shown_time(value: datetime | date | None) -> str:
    """When something changed, as officials write it: D/M/YYYY (BE) and HH:MM in Asia/Bangkok ("—" if never)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = value.astimezone(BANGKOK)
        return f"{be_dmy(local.date())} {local:%H:%M}"
    return be_dmy(value)


# --- downloads ---------------------------------------------------------------------------------------------
def csv_cell(value: Any) -> Any:
    """One CSV cell: empty for None, true/false, numbers as they are, and a text that a spreadsheet would run as a
    formula (starting with ``= + - @``, a tab or CR) prefixed with ``'`` so that it is shown as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_bytes(table: Table) -> bytes:
    """A table as CSV: UTF-8 with a byte-order mark (Excel reads Thai), the column keys as the header, empty for
    a suppressed count (its ``count_text`` says "<5"); text cells neutralised against formulas (``csv_cell``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(row[c]) for c in table.columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def geojson(session: Session, table: Table) -> dict[str, Any]:
    """A table as an RFC 7946 FeatureCollection: one feature per row, placed on its district's outline
    (simplified) when the table has districts, else with a null geometry."""
    outlines: dict[str, dict] = {}
    if table.district_column:
        outlines = tables.district_outlines(session, sorted({r[table.district_column] for r in table.rows}))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": i + 1,
                "geometry": outlines.get(row[table.district_column]) if table.district_column else None,
                "properties": row,
            }
            for i, row in enumerate(table.rows)
        ],
        "numberReturned": len(table.rows),
        "name": table.dataset.name,
        "title": f"{table.dataset.title_th} / {table.dataset.title_en}",
    }


# --- the catalogue -----------------------------------------------------------------------------------------
def _distributions(ds: Dataset, base: str, table: Table | None) -> list[dict[str, Any]]:
    def dist(title_th: str, title_en: str, url: str, media: str, fmt: str, **extra) -> dict[str, Any]:
        return {
            "@type": "dcat:Distribution",
            "dct:title": _lang(title_th, title_en),
            "dcat:accessURL": url,
            "dcat:downloadURL": url,
            "dcat:mediaType": media,
            "dct:format": fmt,
            **extra,
        }

    if ds.collection:
        c = ds.collection
        return [
            dist("GeoJSON ทั้งชุด", "GeoJSON, all features", f"{base}/api/v1/exports/{c}?f=geojson", GEOJSON, "GeoJSON"),
            dist(
                "CSV (บีบอัด zip)",
                "CSV (zipped)",
                f"{base}/api/v1/exports/{c}?f=csv",
                ZIP,
                "CSV",
                **{"dcat:packageFormat": "http://publications.europa.eu/resource/authority/file-type/ZIP"},
            ),
            dist(
                "OGC API - Features",
                "OGC API - Features",
                f"{base}/ogc/collections/{c}/items?f=json",
                GEOJSON,
                "GeoJSON",
                **{"dct:conformsTo": "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"},
            ),
        ]
    out = [
        dist("ตาราง CSV", "CSV table", f"{base}/open/data/{ds.name}.csv", CSV, "CSV"),
        dist("GeoJSON", "GeoJSON", f"{base}/open/data/{ds.name}.geojson", GEOJSON, "GeoJSON"),
    ]
    if ds.name == "committee_briefs" and table is not None:
        for r in table.rows:
            out.append(dist(f"สรุปรายงานเลขที่ {r['id']}", f"Brief no. {r['id']}", f"{base}{r['pdf']}", PDF, "PDF"))
    return out


def catalog(session: Session, settings: OpenDataSettings, base: str) -> dict[str, Any]:
    """The DCAT-AP-like catalogue (JSON-LD) of the published datasets, with absolute links under ``base``."""
    base = base.rstrip("/")
    publisher = {"@type": "foaf:Organization", "foaf:name": _lang(settings.publisher_th, settings.publisher_en)}
    spatial = _spatial(session)
    hot = None
    datasets = []
    for ds in tables.enabled(settings):
        table = tables.BUILDERS[ds.name](session, settings) if ds.name in tables.BUILDERS else None
        if table is not None:
            modified, temporal = table.last_update, table.temporal
        else:
            hot = hot or tables.collection_freshness(session)
            modified, temporal = hot["loaded"], (hot["first"], hot["latest"])
        licence = ds.licence_url or settings.licence_url
        datasets.append(
            {
                "@type": "dcat:Dataset",
                "@id": f"{base}/catalog.json#{ds.name}",
                "dct:identifier": ds.name,
                "dct:title": _lang(ds.title_th, ds.title_en),
                "dct:description": _lang(ds.description_th, ds.description_en),
                "dcat:keyword": list(ds.keywords),
                "dct:license": {"@id": licence, "dct:title": ds.licence_name or settings.licence_name},
                "dct:publisher": publisher,
                "dct:accrualPeriodicity": {"@id": FREQUENCY + ds.frequency},
                "dct:modified": _iso(modified),
                **(
                    {
                        "dct:temporal": {
                            "@type": "dct:PeriodOfTime",
                            "dcat:startDate": _iso(temporal[0]),
                            "dcat:endDate": _iso(temporal[1]),
                        }
                    }
                    if ds.name != "reference_layers"
                    else {}
                ),
                "dct:spatial": spatial,
                "dcat:landingPage": f"{base}/open#{ds.name}",
                "dcat:distribution": _distributions(ds, base, table),
            }
        )
    return {
        "@context": CONTEXT,
        "@type": "dcat:Catalog",
        "@id": f"{base}/catalog.json",
        "dct:title": _lang("ข้อมูลเปิดเพื่อความโปร่งใส", "Open data for transparency"),
        "dct:description": _lang(
            "ข้อมูลที่เปิดเผยได้ของโครงการเฝ้าระวังทรัพยากรป่าไม้ จำนวนที่น้อยกว่า "
            f'{settings.threshold} ซึ่งอาจระบุตัวบุคคลหรือเรื่องได้แสดงเป็น "<{settings.threshold}"',
            "What the forest-watch programme can publish; counts below "
            f'{settings.threshold} that could identify a case or a person are shown as "<{settings.threshold}"',
        ),
        "dct:publisher": publisher,
        "dct:license": {"@id": settings.licence_url, "dct:title": settings.licence_name},
        "foaf:homepage": f"{base}/open",
        "dct:modified": datetime.now(BANGKOK).isoformat(timespec="seconds"),
        "dcat:dataset": datasets,
    }


def _spatial(session: Session) -> dict[str, Any] | None:
    """The area of interest as a DCAT location: its provinces and bounding box (WKT, lon/lat)."""
    wkb = aoi.geometry_wkb(session)
    if wkb is None:
        return None
    x0, y0, x1, y1 = (round(v, 4) for v in from_wkb(wkb).bounds)
    names = aoi.province_names(session, aoi.aoi_province_codes(session))
    return {
        "@type": "dct:Location",
        "dct:title": _lang(
            ", ".join(th or c for c, (th, _) in names.items()), ", ".join(en or c for c, (_, en) in names.items())
        ),
        "dcat:bbox": {
            "@type": "gsp:wktLiteral",
            "@value": f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))",
        },
    }


# --- the page ----------------------------------------------------------------------------------------------
def _pivot(table: Table, value: str) -> dict[str, Any]:
    """A district x month table of the last PAGE_MONTHS months with data: month headers, one row per district."""
    months: list[dict[str, str]] = []
    for r in table.rows:
        if not months or all(m["month"] != r["month"] for m in months):
            months.append({"month": r["month"], "th": r["month_th"], "en": r["month_en"]})
    months = sorted(months, key=lambda m: m["month"])[-PAGE_MONTHS:]
    keep = {m["month"] for m in months}
    rows: dict[str, dict[str, Any]] = {}
    for r in table.rows:
        if r["month"] in keep:
            entry = rows.setdefault(r["district_code"], {"th": r["district_th"], "en": r["district_en"], "cells": []})
            entry["cells"].append(r[value])
    return {"months": months, "rows": list(rows.values())}


def page(session: Session, settings: OpenDataSettings) -> dict[str, Any]:
    """Everything the page shows: each published dataset with its last update and downloads, the tables of
    counts (incidents and clearing: the last 12 months with data), the layers and their licences, the briefs."""
    out: dict[str, Any] = {"threshold": settings.threshold, "datasets": [], "licence": settings}
    hot = None
    for ds in tables.enabled(settings):
        entry: dict[str, Any] = {"ds": ds, "table": None}
        if ds.name in tables.BUILDERS:
            table = tables.BUILDERS[ds.name](session, settings)
            entry.update(table=table, updated=shown_time(table.last_update), downloads=_distributions(ds, "", table))
            if ds.name == "incidents_by_district_month":
                entry["pivot"] = _pivot(table, "count_text")
            elif ds.name == "clearing_by_district_month":
                entry["pivot"] = _pivot(table, "patches")
                entry["pivot_area"] = _pivot(table, "area_rai")
            elif ds.name == "cases_by_stage_fiscal_year":
                entry["stages"] = [CASE_STAGE_LABELS[s] for s in CaseStage]
                years: dict[int, list[str]] = {}
                for r in table.rows:
                    years.setdefault(r["fiscal_year_be"], []).append(r["count_text"])
                entry["years"] = sorted(years.items(), reverse=True)
        else:
            hot = hot or tables.collection_freshness(session)
            entry.update(
                updated=shown_time(hot["loaded"]),
                latest=shown_time(hot["latest"]),
                downloads=_distributions(ds, "", None),
            )
        out["datasets"].append(entry)
    return out


# --- public briefs -----------------------------------------------------------------------------------------
def set_brief_public(session: Session, brief_id: int, public: bool, principal: Principal) -> dict[str, Any]:
    """Mark a brief public (listed on /open with its PDF) or withdraw it; audited. NotFound if there is none."""
    row = briefs.set_public(session, brief_id, public, principal.name)
    if row is None:
        raise NotFound("No brief with this number.")
    audit.record(session, principal.name, "update", "brief", brief_id, after={"public": public})
    return row


def public_brief(session: Session, brief_id: int) -> dict[str, Any]:
    """A brief marked public (id, data_version, published_at); NotFound for any other (absent or not public:
    one answer)."""
    row = briefs.public_brief(session, brief_id)
    if row is None:
        raise NotFound("No published brief with this number.")
    return row


def public_brief_html(session: Session, brief_id: int) -> str:
    """The printable page of a brief marked public, without its author's user name; NotFound for any other."""
    public_brief(session, brief_id)
    # the public copy names no member of staff: the author's user name is left out ("made <date>")
    return brief_pages.render_html(session, {**brief_pages.get_brief(session, brief_id), "created_by": None})
