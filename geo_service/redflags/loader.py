"""Load contracts and land-document parcels from GeoPackage, zipped Shapefile, GeoJSON or CSV with WKT.

Files are opened by the reference layers' reader (``layers.reader.read_frame``: format from the bytes, GDAL off
the network, cp874 Shapefiles, CRS from the file or, for CSV, given), then every row is checked; a refused file
names each bad row and nothing is stored. Geometries are transformed to EPSG:4326 and must lie in Thailand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo_service.errors import LayerRejected
from geo_service.layers.reader import FORMATS, read_frame
from geo_service.settings import THAILAND_BBOX
from geo_service.thai import parse_date

FILE_FORMATS = {**FORMATS, ".csv": "csv"}
MAX_LISTED = 20

CONTRACT_TARGETS = (
    "contract_number",
    "project_name",
    "agency",
    "contractor",
    "work_type",
    "budget_thb",
    "paid_thb",
    "fiscal_year_be",
    "start_date",
    "end_date",
    "delivery_date",
    "firebreak_km",
    "planted_rai",
    "quantity",
    "unit",
    "named_district_code",
    "named_reserve_code",
    "width_m",
)
PARCEL_TARGETS = ("doc_type", "doc_number", "issue_date", "issuing_office", "confidential")

WORK_ALIASES = {
    "firebreak": "firebreak",
    "แนวกันไฟ": "firebreak",
    "fire_control": "fire_control",
    "fire control": "fire_control",
    "ควบคุมไฟป่า": "fire_control",
    "patrol": "patrol",
    "ลาดตระเวน": "patrol",
    "reforestation": "reforestation",
    "tree planting": "reforestation",
    "ปลูกป่า": "reforestation",
    "check_dam": "check_dam",
    "check dam": "check_dam",
    "ฝาย": "check_dam",
    "ฝายชะลอน้ำ": "check_dam",
    "forest_road": "forest_road",
    "forest road": "forest_road",
    "ถนน": "forest_road",
    "other": "other",
}
DOC_ALIASES = {
    "chanote": "chanote",
    "โฉนด": "chanote",
    "โฉนดที่ดิน": "chanote",
    "น.ส.4": "chanote",
    "น.ส.4จ.": "chanote",
    "nor_sor_3_gor": "nor_sor_3_gor",
    "nor sor 3 gor": "nor_sor_3_gor",
    "ns3k": "nor_sor_3_gor",
    "น.ส.3ก.": "nor_sor_3_gor",
    "น.ส.3ก": "nor_sor_3_gor",
    "nor_sor_3": "nor_sor_3",
    "nor sor 3": "nor_sor_3",
    "ns3": "nor_sor_3",
    "น.ส.3": "nor_sor_3",
    "sor_kor_1": "sor_kor_1",
    "sor kor 1": "sor_kor_1",
    "ส.ค.1": "sor_kor_1",
    "sor_por_kor_4_01": "sor_por_kor_4_01",
    "sor por kor 4-01": "sor_por_kor_4_01",
    "spk 4-01": "sor_por_kor_4_01",
    "ส.ป.ก.4-01": "sor_por_kor_4_01",
    "other": "other",
}
WORK_TYPES = tuple(sorted(set(WORK_ALIASES.values())))
DOC_TYPES = tuple(sorted(set(DOC_ALIASES.values())))


def _refuse(message: str, problems: list[dict] | None = None) -> LayerRejected:
    problems = problems or []
    details = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        details.append({"reason": f"... and {len(problems) - MAX_LISTED} more problems"})
    return LayerRejected(message + " Nothing was stored.", details=details)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip()
    return s or None


def _number(value: Any, what: str) -> float | None:
    s = _text(value)
    if s is None:
        return None
    try:
        x = float(s.replace(",", ""))
    except ValueError:
        raise ValueError(f"{what} '{s[:30]}' is not a number") from None
    if not math.isfinite(x) or x < 0 or x > 1e13:
        raise ValueError(f"{what} {s[:30]} is out of range")
    return x


def work_type(value: Any) -> str | None:
    """The work type of a Thai or English spelling (None if unknown)."""
    s = _text(value)
    return None if s is None else WORK_ALIASES.get(s.lower()) or WORK_ALIASES.get(s.replace(" ", "").lower())


def doc_type(value: Any) -> str | None:
    """The document type of a Thai or English spelling (dots and spaces in Thai abbreviations ignored)."""
    s = _text(value)
    if s is None:
        return None
    return DOC_ALIASES.get(s.lower()) or DOC_ALIASES.get(s.replace(" ", "").lower())


def _frame(path: Path, original_name: str | None, layer: str | None, encoding: str | None, crs: str | None):
    import geopandas as gpd

    raw = read_frame(
        path,
        original_name=original_name,
        layer=layer,
        encoding=encoding,
        csv_crs=crs or "EPSG:4326",
        formats=FILE_FORMATS,
    )
    gdf = raw.gdf
    geoms = gdf.geometry.values
    problems = []
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for k in np.flatnonzero(missing):
        problems.append({"feature": int(k), "reason": "the row has no geometry"})
    invalid = np.flatnonzero(~missing & ~shapely.is_valid(geoms))
    for k in invalid:
        problems.append({"feature": int(k), "reason": f"invalid geometry: {shapely.is_valid_reason(geoms[k])}"})
    if problems:
        raise _refuse("Some rows have unusable geometries.", problems)
    gs = gpd.GeoSeries(geoms, crs=gdf.crs)
    if not gs.crs.equals("EPSG:4326"):
        gs = gs.to_crs("EPSG:4326")
    b = shapely.bounds(gs.values)
    minx, miny, maxx, maxy = THAILAND_BBOX
    outside = ~((b[:, 0] >= minx) & (b[:, 1] >= miny) & (b[:, 2] <= maxx) & (b[:, 3] <= maxy))
    if outside.any():
        raise _refuse(
            "Some rows lie outside Thailand; is the coordinate system right?",
            [
                {"feature": int(k), "reason": f"lon {b[k][0]:.4f}..{b[k][2]:.4f}, lat {b[k][1]:.4f}..{b[k][3]:.4f}"}
                for k in np.flatnonzero(outside)
            ],
        )
    records = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    # 2D only (a CSV's WKT may carry Z): the columns are 2D
    return records, list(shapely.force_2d(gs.values)), raw.driver, gdf.crs.to_string()


def _mapping(targets: tuple[str, ...], fields: dict[str, str] | None, columns: list[str]) -> dict[str, str]:
    unknown = sorted(set(fields or {}) - set(targets))
    if unknown:
        raise _refuse(f"Unknown target fields: {', '.join(unknown)}; the file takes {', '.join(targets)}.")
    return {t: (fields or {}).get(t, t) for t in targets}


def read_contracts(
    path: str | Path,
    *,
    original_name: str | None = None,
    fields: dict[str, str] | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
) -> tuple[list[dict], dict]:
    """Read and check a contracts file; (rows ready for the store, a summary). Raises LayerRejected."""
    records, geoms, driver, source_crs = _frame(Path(path), original_name, layer, encoding, crs)
    columns = list(records[0]) if records else []
    m = _mapping(CONTRACT_TARGETS, fields, columns)
    missing = [
        f"{t} (column '{m[t]}')"
        for t in ("contract_number", "project_name", "agency", "work_type")
        if m[t] not in columns
    ]
    if missing:
        raise _refuse(
            "Required fields are missing: " + "; ".join(missing) + ". Map them to the file's columns.",
            [{"reason": "columns in the file: " + ", ".join(map(str, columns))}],
        )
    rows: list[dict] = []
    problems: list[dict] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):

        def get(t: str, rec: dict = rec) -> Any:
            return rec.get(m[t])

        number = _text(get("contract_number"))
        try:
            if not number:
                raise ValueError("the contract number is empty")
            if number in seen:
                raise ValueError(f"the contract number {number} appears twice (also row {seen[number]})")
            wt = work_type(get("work_type"))
            if wt is None:
                raise ValueError(f"unknown work type '{_text(get('work_type'))}'; use one of {', '.join(WORK_TYPES)}")
            g = geoms[i]
            type_id = shapely.get_type_id(g)
            width = _number(get("width_m"), "width_m")
            if type_id in (1, 5):  # LineString, MultiLineString
                if not width:
                    raise ValueError("a line contract needs its stated width (width_m, metres)")
            elif type_id not in (3, 6):
                raise ValueError(f"the geometry is a {g.geom_type}; a contract is a polygon or a line with a width")
            start, end = parse_date(get("start_date")), parse_date(get("end_date"))
            if start and end and end < start:
                raise ValueError("end_date is before start_date")
            fy = _number(get("fiscal_year_be"), "fiscal_year_be")
            if fy is not None and not 2400 <= fy <= 2700:
                raise ValueError(f"fiscal_year_be {int(fy)} is not a Buddhist Era year (e.g. 2567)")
            quantities = {
                k: v
                for k, v in {
                    "firebreak_km": _number(get("firebreak_km"), "firebreak_km"),
                    "planted_rai": _number(get("planted_rai"), "planted_rai"),
                    "quantity": _number(get("quantity"), "quantity"),
                    "unit": _text(get("unit")),
                }.items()
                if v is not None
            }
            rows.append(
                {
                    "contract_number": number,
                    "project_name": _text(get("project_name")) or number,
                    "agency": _text(get("agency")) or "",
                    "contractor": _text(get("contractor")),
                    "work_type": wt,
                    "budget_thb": _number(get("budget_thb"), "budget_thb"),
                    "paid_thb": _number(get("paid_thb"), "paid_thb"),
                    "fiscal_year_be": int(fy) if fy is not None else None,
                    "start_date": start,
                    "end_date": end,
                    "delivery_date": parse_date(get("delivery_date")),
                    "quantities": quantities,
                    "named_district_code": _text(get("named_district_code")),
                    "named_reserve_code": _text(get("named_reserve_code")),
                    "width_m": width,
                    "wkt": g.wkt,
                }
            )
            if not rows[-1]["agency"]:
                raise ValueError("the agency is empty")
            seen[number] = i
        except ValueError as exc:
            problems.append({"feature": i, "code": number, "reason": str(exc)})
    if problems:
        raise _refuse("Some contracts have missing or wrong attributes.", problems)
    return rows, {"driver": driver, "source_crs": source_crs, "features": len(rows)}


def read_parcels(
    path: str | Path,
    *,
    original_name: str | None = None,
    fields: dict[str, str] | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
) -> tuple[list[dict], dict]:
    """Read and check a land-document parcels file; (rows ready for the store, a summary). Raises LayerRejected."""
    records, geoms, driver, source_crs = _frame(Path(path), original_name, layer, encoding, crs)
    columns = list(records[0]) if records else []
    m = _mapping(PARCEL_TARGETS, fields, columns)
    missing = [f"{t} (column '{m[t]}')" for t in ("doc_type", "doc_number") if m[t] not in columns]
    if missing:
        raise _refuse(
            "Required fields are missing: " + "; ".join(missing) + ". Map them to the file's columns.",
            [{"reason": "columns in the file: " + ", ".join(map(str, columns))}],
        )
    rows: list[dict] = []
    problems: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(records):
        number = _text(rec.get(m["doc_number"]))
        try:
            dt = doc_type(rec.get(m["doc_type"]))
            if dt is None:
                raise ValueError(
                    f"unknown document type '{_text(rec.get(m['doc_type']))}'; use one of {', '.join(DOC_TYPES)}"
                )
            if not number:
                raise ValueError("the document number is empty")
            if (dt, number) in seen:
                raise ValueError(f"document {dt} {number} appears twice (also row {seen[(dt, number)]})")
            if shapely.get_type_id(geoms[i]) not in (3, 6):
                raise ValueError(f"the geometry is a {geoms[i].geom_type}, not a polygon")
            conf = _text(rec.get(m["confidential"]))
            rows.append(
                {
                    "doc_type": dt,
                    "doc_number": number,
                    "issue_date": parse_date(rec.get(m["issue_date"])),
                    "issuing_office": _text(rec.get(m["issuing_office"])),
                    "confidential": conf is None or conf.lower() not in ("0", "false", "no", "ไม่"),
                    "wkt": geoms[i].wkt,
                }
            )
            seen[(dt, number)] = i
        except ValueError as exc:
            problems.append({"feature": i, "code": number, "reason": str(exc)})
    if problems:
        raise _refuse("Some parcels have missing or wrong attributes.", problems)
    return rows, {"driver": driver, "source_crs": source_crs, "features": len(rows)}
