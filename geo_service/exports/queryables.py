"""What each collection's properties are: their types, which can be filtered and sorted on.

One table (``PROPERTY_TYPES``) gives every exported property's type; ``queryables(collection, principal)``
is the per-collection, per-caller view of it that everything else reads: the OGC API's
``/collections/{id}/queryables`` (OGC API - Features Part 3, a JSON Schema), the property filters and
``sortby`` of the items, and the CQL2 checks. A test compares this table with the types PostgreSQL
returns for each collection's query, so a new property without a declared type fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from geo_service.auth import Principal
from geo_service.exports.collections import Collection

STRING, INTEGER, NUMBER, BOOLEAN, DATE, DATETIME, STRING_LIST = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "date-time",
    "string-list",
)
TEMPORAL = frozenset({DATE, DATETIME})

# property name -> type, for every property of every collection (a name means the same thing everywhere).
PROPERTY_TYPES: dict[str, str] = {
    # administrative areas and protected areas
    "code": STRING,
    "name_th": STRING,
    "name_en": STRING,
    "parent_code": STRING,
    "area_km2": NUMBER,
    "area_rai": NUMBER,
    "area_ha": NUMBER,
    "version": STRING,
    "attribution": STRING,
    "kind": STRING,
    "legal_reference": STRING,
    "agency": STRING,
    "valid_from": DATE,
    "valid_to": DATE,
    "in_force": BOOLEAN,
    "illustrative": BOOLEAN,
    # hotspots and fire events
    "hotspot_id": INTEGER,
    "acq_utc": DATETIME,
    "acq_date_local": DATE,
    "satellite": STRING,
    "instrument": STRING,
    "processing": STRING,
    "confidence": INTEGER,
    "confidence_raw": STRING,
    "frp": NUMBER,
    "daynight": STRING,
    "brightness": NUMBER,
    "province_code": STRING,
    "district_code": STRING,
    "subdistrict_code": STRING,
    "reserve_code": STRING,
    "protected_area_codes": STRING_LIST,
    "event_id": INTEGER,
    "first_seen": DATETIME,
    "last_seen": DATETIME,
    "detections": INTEGER,
    "max_frp": NUMBER,
    "sensors": STRING_LIST,
    # red flags and contracts (redflags/store.py)
    "flag_id": INTEGER,
    "rule": STRING,
    "subj_type": STRING,
    "subj_id": STRING,
    "reason_th": STRING,
    "reason_en": STRING,
    "contractor": STRING,
    "fy_be": INTEGER,
    "found_at": DATETIME,
    "case_id": INTEGER,
    "contract_id": INTEGER,
    "contract_no": STRING,
    "project": STRING,
    "work_type": STRING,
    "budget_thb": NUMBER,
    "paid_thb": NUMBER,
    "start_date": DATE,
    "end_date": DATE,
    "width_m": NUMBER,
    "named_dist": STRING,
    "named_res": STRING,
    # incidents
    "incident_id": INTEGER,
    "status": STRING,
    "severity": STRING,
    "observed_at": DATETIME,
    "in_reserve": BOOLEAN,
    "reserve_distance_m": NUMBER,
    "tags": STRING_LIST,
    "description": STRING,
    "reporter": STRING,
    "created_by": STRING,
    "reference": STRING,
    "in_aoi": BOOLEAN,
    # clearing patches (forest-loss alerts) and their aggregates per district and month
    "patch_id": INTEGER,
    "sources": STRING_LIST,
    "first_date": DATE,
    "last_date": DATE,
    "fiscal_year_be": INTEGER,
    "pixels": INTEGER,
    "confidence_max": INTEGER,
    "share_low": NUMBER,
    "share_high": NUMBER,
    "share_highest": NUMBER,
    "cleared_by_fire": BOOLEAN,
    "verification": STRING,
    "verified_by": STRING,
    "month": STRING,
    "month_start": DATE,
    "month_be": STRING,
    "patches": INTEGER,
    "cleared_by_fire_patches": INTEGER,
    # the Thai office columns: local times (text with +07:00), Buddhist-Era dates (D/M/YYYY) and names
    "acq_local": STRING,
    "acq_date_be": STRING,
    "first_seen_local": STRING,
    "last_seen_local": STRING,
    "first_date_be": STRING,
    "last_date_be": STRING,
    "observed_local": STRING,
    "observed_date_be": STRING,
    "valid_from_be": STRING,
    "valid_to_be": STRING,
    "district_th": STRING,
    "district_en": STRING,
    "subdistrict_th": STRING,
    "subdistrict_en": STRING,
    "reserve_th": STRING,
    "reserve_en": STRING,
}
GEOMETRY_FORMATS = {"Point": "geometry-point", "Polygon": "geometry-polygon", "MultiPolygon": "geometry-multipolygon"}


@dataclass(frozen=True)
class Queryable:
    """One property a caller may filter on: its name and type."""

    name: str
    type: str

    @property
    def temporal(self) -> bool:
        """Whether it is a date or a time."""
        return self.type in TEMPORAL

    @property
    def sortable(self) -> bool:
        """Whether sortby may name it (lists cannot be ordered)."""
        return self.type != STRING_LIST

    def schema(self) -> dict:
        """This property as JSON Schema (OGC API - Features Part 3)."""
        if self.type == STRING_LIST:
            return {"title": self.name, "type": "array", "items": {"type": "string"}}
        if self.type in TEMPORAL:
            return {"title": self.name, "type": "string", "format": self.type}
        return {"title": self.name, "type": self.type}

    def value(self, text: str):
        """A value given as text (a property filter ``?name=value``, a date literal) in this type, or ValueError."""
        if self.type == INTEGER:
            return int(text)
        if self.type == NUMBER:
            return float(text)
        if self.type == BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if self.type in TEMPORAL:
            return instant(text)
        return text


def instant(text: str) -> date | datetime:
    """A date (``2024-01-01``, also GDAL 3.6's ``2024-01-01T``) or an RFC 3339 time (UTC when no offset)."""
    text = text.strip()
    if len(text) == 11 and text.endswith("T"):
        text = text[:-1]
    if len(text) == 10:
        return date.fromisoformat(text)
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def queryables(collection: Collection, principal: Principal | None = None) -> dict[str, Queryable]:
    """The properties this caller may filter and sort on in this collection (name -> Queryable), in order."""
    return {p: Queryable(p, PROPERTY_TYPES[p]) for p in collection.properties_for(principal)}


def _geometry(collection: Collection) -> dict:
    return {
        "title": "geometry",
        "format": GEOMETRY_FORMATS.get(collection.geometry_type, "geometry-any"),
        "x-ogc-role": "primary-geometry",
    }


def json_schema(collection: Collection, principal: Principal | None, url: str, sortables: bool = False) -> dict:
    """The queryables document (``application/schema+json``) of OGC API - Features Part 3; with ``sortables``
    the properties ``sortby`` accepts (Part 5 draft)."""
    props = {} if sortables else {"geometry": _geometry(collection)}
    props |= {name: q.schema() for name, q in queryables(collection, principal).items() if q.sortable or not sortables}
    what = "sortby may name" if sortables else "filter, property filters and sortby may name"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": collection.title,
        "description": f"Properties of {collection.name} that {what}.",
        "properties": props,
        "additionalProperties": False,
    }


def feature_schema(collection: Collection, principal: Principal | None, url: str) -> dict:
    """A JSON Schema of one GeoJSON Feature of the collection (rel ``describedby``): clients such as GDAL type
    their fields from it, also when the collection is still empty."""
    props = {"id": {"title": "id", "type": "string"}}
    props |= {name: q.schema() for name, q in queryables(collection, principal).items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "title": collection.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": _geometry(collection),
            "properties": {"type": "object", "properties": props},
        },
    }
