"""Bulk import of incidents from CSV (UTF-8 with or without BOM, or Thai cp874/TIS-620), GPX and KML.

A dry run reports, row by row, what would be stored and why a row is refused. A real import is all or
nothing: if any row is refused, nothing is stored. Each row gets an idempotency key derived from the
file's SHA-256 and the row number, so importing the same file twice never duplicates an incident.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree
from pydantic import ValidationError
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.errors import GeoServiceError, InvalidInput
from geo_service.incidents import service
from geo_service.incidents.schemas import IncidentCreate
from geo_service.limits import CSV_FIELD_CHARS

MAX_ROWS = 5000
# Column names accepted in CSV headers (lower case), Thai and English.
ALIASES = {
    "kind": ("kind", "type", "ประเภท", "ประเภทเหตุการณ์"),
    "observed_at": ("observed_at", "datetime", "date_time", "time", "วันเวลา", "วันที่"),
    "location": ("location", "position", "coordinates", "พิกัด", "ตำแหน่ง"),
    "lat": ("lat", "latitude", "ละติจูด"),
    "lon": ("lon", "lng", "long", "longitude", "ลองจิจูด"),
    "datum": ("datum", "พื้นหลักฐาน"),
    "description": ("description", "details", "desc", "รายละเอียด"),
    "reporter": ("reporter", "reported_by", "ผู้รายงาน"),
    "severity": ("severity", "ความรุนแรง"),
    "tags": ("tags", "แท็ก"),
}
KIND_WORDS = {
    "บุกรุก": "encroachment",
    "บุกรุกพื้นที่ป่า": "encroachment",
    "แผ้วถาง": "land_clearing",
    "แผ้วถางป่า": "land_clearing",
    "ตัดไม้": "illegal_logging",
    "ลักลอบตัดไม้": "illegal_logging",
    "เผา": "burning",
    "การเผา": "burning",
    "ไฟป่า": "wildfire",
    "อื่น ๆ": "other",
    "อื่นๆ": "other",
}


@dataclass
class RowReport:
    """What became of one row: ok, refused (with the reason) or a duplicate of an earlier import."""

    row: int
    status: str  # ok | refused | duplicate
    reason: str | None = None
    lat: float | None = None
    lon: float | None = None
    district: str | None = None
    reserve: str | None = None
    incident_id: int | None = None


@dataclass
class ImportReport:
    """The row-by-row report of an import (or a dry run) of one file."""

    format: str
    encoding: str | None
    sha256: str
    dry_run: bool
    rows: list[RowReport] = field(default_factory=list)

    @property
    def refused(self) -> int:
        """How many rows are refused."""
        return sum(r.status == "refused" for r in self.rows)

    def as_dict(self) -> dict:
        """The report as the API returns it, with counts per status."""
        counts = {s: sum(r.status == s for r in self.rows) for s in ("ok", "refused", "duplicate")}
        return {
            "format": self.format,
            "encoding": self.encoding,
            "sha256": self.sha256,
            "dry_run": self.dry_run,
            "stored": not self.dry_run and self.refused == 0,
            "counts": counts,
            "rows": [r.__dict__ for r in self.rows],
        }


# --- reading the file -----------------------------------------------------------------------------
def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (LookupError, UnicodeDecodeError):
            raise InvalidInput(f"The file cannot be read as {encoding}.", code="bad_encoding") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp874"), "cp874"  # Windows Thai, a superset of TIS-620
    except UnicodeDecodeError:
        raise InvalidInput(
            "The file is neither UTF-8 nor Thai (TIS-620/cp874) text; save it as UTF-8 CSV.", code="bad_encoding"
        ) from None


def _csv_rows(text: str) -> list[dict[str, Any]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise InvalidInput("The CSV file has no header row.", code="bad_file")
    columns = {}
    for name in reader.fieldnames:
        key = (name or "").strip().lower()
        for target, aliases in ALIASES.items():
            if key in aliases:
                columns[name] = target
    if not any(t in columns.values() for t in ("location", "lat")):
        raise InvalidInput(
            "The CSV needs a position: a 'location' column (any format) or 'lat' and 'lon' columns. "
            "Columns found: " + ", ".join(reader.fieldnames),
            code="bad_file",
        )
    rows = []
    try:
        for raw in reader:
            row = {columns[k]: (v or "").strip() for k, v in raw.items() if k in columns and v is not None}
            long = [k for k, v in row.items() if len(v) > CSV_FIELD_CHARS]
            if long:
                raise InvalidInput(
                    f"Line {reader.line_num}: the {long[0]} field is longer than {CSV_FIELD_CHARS:,} characters.",
                    code="bad_file",
                )
            rows.append(row)
    except csv.Error:
        raise InvalidInput(
            f"Line {reader.line_num}: the CSV cannot be read (a field longer than the "
            f"{CSV_FIELD_CHARS:,} characters accepted, or broken quoting).",
            code="bad_file",
        ) from None
    return rows


def _xml(data: bytes):
    try:
        return ElementTree.fromstring(data)
    except Exception:
        raise InvalidInput(
            "The file is not well-formed XML (or uses entities this service refuses).", code="bad_file"
        ) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(el, name: str) -> str:
    for c in el:
        if _local(c.tag) == name:
            return (c.text or "").strip()
    return ""


def _gpx_rows(data: bytes) -> list[dict[str, Any]]:
    root = _xml(data)
    rows = []
    for wpt in root.iter():
        if _local(wpt.tag) != "wpt":
            continue
        rows.append(
            {
                "lat": wpt.get("lat", ""),
                "lon": wpt.get("lon", ""),
                "observed_at": _child_text(wpt, "time"),
                "description": " - ".join(t for t in (_child_text(wpt, "name"), _child_text(wpt, "desc")) if t),
                "kind": _child_text(wpt, "type"),
            }
        )
    return rows


def _kml_rows(data: bytes) -> list[dict[str, Any]]:
    root = _xml(data)
    rows = []
    for pm in root.iter():
        if _local(pm.tag) != "Placemark":
            continue
        row: dict[str, Any] = {
            "description": " - ".join(t for t in (_child_text(pm, "name"), _child_text(pm, "description")) if t)
        }
        for el in pm.iter():
            tag = _local(el.tag)
            if tag == "coordinates" and "lon" not in row:
                first = (el.text or "").split()[0] if (el.text or "").split() else ""
                parts = first.split(",")
                row["lon"], row["lat"] = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            elif tag == "when" and not row.get("observed_at"):
                row["observed_at"] = (el.text or "").strip()
            elif tag == "Data" and el.get("name", "").lower() in ALIASES:
                row[el.get("name").lower()] = _child_text(el, "value")
        if "lon" not in row:
            row["lon"] = row["lat"] = ""  # not a point placemark: refused with a reason
        rows.append(row)
    return rows


def read_rows(data: bytes, filename: str, encoding: str | None = None) -> tuple[str, str | None, list[dict]]:
    """The rows of a CSV, GPX or KML file (by its name) as dicts of known fields: (format, encoding, rows)."""
    name = filename.lower()
    if name.endswith((".csv", ".txt")):
        text, used = _decode(data, encoding)
        return "csv", used, _csv_rows(text)
    if name.endswith(".gpx"):
        return "gpx", None, _gpx_rows(data)
    if name.endswith(".kml"):
        return "kml", None, _kml_rows(data)
    raise InvalidInput("Import CSV (.csv), GPX (.gpx) or KML (.kml) files.", code="unsupported_format")


# --- turning rows into incidents ------------------------------------------------------------------
def _payload(row: dict, default_kind: str | None, confirm_outside: bool) -> dict:
    kind = (row.get("kind") or default_kind or "").strip()
    kind = KIND_WORDS.get(kind, kind.lower().replace(" ", "_"))
    location: dict[str, Any] = {"datum": row.get("datum") or "WGS84", "confirm_outside_province": confirm_outside}
    if row.get("location"):
        location["text"] = row["location"]
    else:
        location["lat"], location["lon"] = row.get("lat") or None, row.get("lon") or None
    payload: dict[str, Any] = {"kind": kind, "location": location, "description": row.get("description") or ""}
    for key in ("observed_at", "reporter", "severity"):
        if row.get(key):
            payload[key] = row[key]
    if row.get("tags"):
        payload["tags"] = [t for t in (s.strip() for s in row["tags"].replace(",", ";").split(";")) if t]
    return payload


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts)


def import_incidents(
    session: Session,
    data: bytes,
    filename: str,
    principal: Principal,
    *,
    dry_run: bool,
    default_kind: str | None = None,
    encoding: str | None = None,
    confirm_outside_province: bool = False,
) -> ImportReport:
    """Check every row, then store all of them in the caller's transaction (or none: see module doc)."""
    fmt, used, rows = read_rows(data, filename, encoding)
    if not rows:
        raise InvalidInput("The file contains no incidents.", code="empty_file")
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"At most {MAX_ROWS} incidents per file; split the file.", code="too_many_rows")
    digest = hashlib.sha256(data).hexdigest()
    report = ImportReport(format=fmt, encoding=used, sha256=digest, dry_run=dry_run)
    checked: list[tuple[RowReport, IncidentCreate]] = []
    first_row = 2 if fmt == "csv" else 1  # CSV row numbers as a spreadsheet shows them (header is row 1)
    for n, row in enumerate(rows, start=first_row):
        rep = RowReport(row=n, status="ok")
        try:
            body = IncidentCreate.model_validate(_payload(row, default_kind, confirm_outside_province))
            service.observed_time(body.observed_at)
            loc = service.locate(session, body.location)
            service.check_in_scope(loc.place["province_code"], principal)
            rep.lat, rep.lon = round(loc.point.lat, 7), round(loc.point.lon, 7)
            rep.district, rep.reserve = loc.place["district_code"], loc.place["reserve_code"]
            checked.append((rep, body))
        except ValidationError as exc:
            rep.status, rep.reason = "refused", _reason(exc)
        except GeoServiceError as exc:
            rep.status, rep.reason = "refused", exc.message
        report.rows.append(rep)
    if dry_run or report.refused:
        return report
    for rep, body in checked:
        key = f"import:{digest[:40]}:{rep.row}"
        incident, created = service.create_incident(session, body, principal, idempotency_key=key)
        rep.incident_id = incident["id"]
        if not created:
            rep.status = "duplicate"
    summary = report.as_dict()
    audit.record(
        session,
        principal.name,
        "ingest",
        "incident_import",
        digest[:16],
        after={"file": filename, "sha256": digest, "format": fmt, "counts": summary["counts"]},
    )
    return report
