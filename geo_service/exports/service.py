"""What an export or an OGC API request does once its route has parsed it: which collection, whether the
caller may read it, the queries for its filters, what the download says about itself, and the audit record.

The routes own the transaction (they open it and pass the session); these functions run in it and never
commit. The feature data itself is streamed or written by the route from its own connection
(``exports.stream``, ``exports.files``), so a download of a million features holds no transaction open here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from geo_service import __version__, audit
from geo_service.auth import Principal
from geo_service.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from geo_service.exports import files
from geo_service.exports.collections import COLLECTIONS, Collection, configured
from geo_service.exports.query import Built, ItemQuery, build_select
from geo_service.hotspots.partitions import local_day_end, local_day_start
from geo_service.layers import aoi
from geo_service.thai import BANGKOK

# The formats of a download, and those that are always WGS 84 (RFC 7946 GeoJSON, KML).
FORMATS = ("geojson", "ndjson", "gpkg", "csv", "xlsx", "kml", "shp")
WGS84_ONLY = ("geojson", "ndjson", "kml")
CRS_CHOICES = (4326, 32647, 32648)
# Simple filter parameters and the property each one means, by collection (the first the collection has).
SIMPLE = {
    "district": ("district_code", "parent_code"),
    "reserve": ("protected_area_codes", "reserve_code", "code"),
    "kind": ("kind",),
}


def collection_named(name: str, settings: Any = None) -> Collection:
    """The collection called ``name`` as the deployment's ``settings`` serve it, or NotFound listing them."""
    collection = COLLECTIONS.get(name)
    if collection is None:
        raise NotFound(f"No collection '{name}'. Collections: {', '.join(COLLECTIONS)}.")
    return configured(collection, settings)


def check_readable(collection: Collection, principal: Principal | None) -> None:
    """Unauthorized (nobody signed in) or Forbidden (role or key) unless the caller may read the collection."""
    if not collection.visible_to(principal):
        if principal is None:
            raise Unauthorized()
        raise Forbidden(f"Your role or key may not read '{collection.name}'.")


def record_export(
    session: Session, principal: Principal | None, collection: Collection, fmt: str, filters: dict, count: int
) -> None:
    """Append the audit record of a download or an OGC API page (who, which collection, format, filters, count)."""
    audit.record(
        session,
        principal.name if principal else "anonymous",
        "export",
        "collection",
        collection.name,
        after={"format": fmt, "filters": filters, "count": count},
    )


@dataclass(frozen=True)
class ExportRequest:
    """A download's parameters as the route parsed them (``bbox`` parsed, ``bbox_text`` as given)."""

    fmt: str = "geojson"
    start: date | None = None
    end: date | None = None
    district: str | None = None
    reserve: str | None = None
    kind: str | None = None
    min_confidence: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_text: str | None = None
    properties: str | None = None
    cql: str | None = None
    crs: int = 4326
    limit: int | None = None

    def filters(self) -> dict[str, Any]:
        """The parameters given, by their query names (for the audit record and the metadata)."""
        given = {
            "from": self.start,
            "to": self.end,
            "district": self.district,
            "reserve": self.reserve,
            "kind": self.kind,
            "min_confidence": self.min_confidence,
            "bbox": self.bbox_text,
            "filter": self.cql,
            "properties": self.properties,
            "crs": self.crs,
            "limit": self.limit,
        }
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class ExportPlan:
    """What the route sends: the queries, the count and extent when the export began, and the metadata (JSON
    values only) that travels with the file."""

    collection: Collection
    built: Built
    count: int
    extent: tuple[float, float, float, float] | None
    metadata: dict[str, Any]

    def geojson_header(self) -> dict[str, Any]:
        """The members of a streamed FeatureCollection before its features."""
        header: dict[str, Any] = {"numberMatched": self.count, "metadata": self.metadata}
        if self.extent is not None:
            header = {"bbox": [round(v, 7) for v in self.extent], **header}
        return header


def item_query(collection: Collection, req: ExportRequest) -> ItemQuery:
    """The download's parameters as an items query on this collection (the CRS rules, the period, and the simple
    filters mapped to the property each means here)."""
    if req.crs not in CRS_CHOICES:
        raise InvalidInput("crs must be 4326, 32647 or 32648.", code="invalid_crs")
    if req.crs != 4326 and req.fmt in WGS84_ONLY:
        raise InvalidInput("GeoJSON (RFC 7946) and KML are always WGS 84 (crs=4326).", code="invalid_crs")
    if req.start and req.end and req.end < req.start:
        raise InvalidInput("'to' is before 'from'.", code="invalid_period")
    q = ItemQuery(
        bbox=req.bbox,
        cql=req.cql,
        crs=req.crs,
        limit=req.limit,
        properties=[p.strip() for p in req.properties.split(",") if p.strip()] if req.properties else None,
    )
    if req.start or req.end:
        # days in Asia/Bangkok, as the collections' local dates, the hotspot API, the maps and the brief count them
        # (UTC days moved the hours 00:00-07:00 to the day before)
        first = local_day_start(req.start).isoformat() if req.start else ".."
        last = (local_day_end(req.end) - timedelta(microseconds=1)).isoformat() if req.end else ".."
        q.datetime = f"{first}/{last}"
    for param, value in (("district", req.district), ("reserve", req.reserve), ("kind", req.kind)):
        if value is not None:
            prop = next((p for p in SIMPLE[param] if p in collection.properties), None)
            if prop is None:
                raise InvalidInput(
                    f"The collection {collection.name} cannot be filtered by {param}.", code="invalid_filter"
                )
            q.equals[prop] = value
    if req.min_confidence is not None:
        if "confidence" not in collection.properties:
            raise InvalidInput(f"The collection {collection.name} has no confidence.", code="invalid_filter")
        q.minimum["confidence"] = req.min_confidence
    return q


# What a number means, for the properties that carry one: printed in every export's metadata (GeoJSON ``metadata``,
# metadata.json of CSV and Shapefile zips, the GeoPackage description, the Excel metadata sheet), since a column
# named "frp" holding 12.5 says neither megawatts nor of what.
UNITS = {
    "frp": "MW: fire radiative power of the detection",
    "max_frp": "MW: highest fire radiative power among the event's detections",
    "brightness": "K: brightness temperature (VIIRS I-4, MODIS channel 21/22)",
    "confidence": "1 low, 2 nominal, 3 high (MODIS 0-100 % read as < 30, 30-79, >= 80)",
    "confidence_max": "2 low, 3 high, 4 highest (several alert systems agree)",
    "area_rai": "rai (1 rai = 1,600 m2 = 0.16 ha)",
    "area_ha": "ha (10,000 m2)",
    "area_km2": "km2",
    "reserve_distance_m": "m",
    "width_m": "m",
    "pixels": "alert pixels",
    "share_low": "fraction 0-1 of the patch's pixels",
    "share_high": "fraction 0-1 of the patch's pixels",
    "share_highest": "fraction 0-1 of the patch's pixels",
    "paid_thb": "THB (baht)",
    "budget_thb": "THB (baht)",
}


def plan_export(
    session: Session, collection: Collection, principal: Principal | None, req: ExportRequest
) -> ExportPlan:
    """Check and plan a download: its queries, how many features it holds (an Excel sheet must fit them) and its
    metadata. Read-only (it may run on a replica); the caller records the download with ``record_export``."""
    built = build_select(collection, principal, item_query(collection, req))
    count, *box = session.execute(built.summary).one()
    if req.fmt == "xlsx" and count > files.XLSX_MAX_ROWS:
        raise InvalidInput(
            f"{count:,} features do not fit an Excel worksheet ({files.XLSX_MAX_ROWS:,} rows): "
            "narrow the period or area, or choose CSV or GeoPackage.",
            code="too_many_rows",
        )
    filters = req.filters()
    metadata = {
        "collection": collection.name,
        "title": collection.title,
        "title_th": collection.title_th,
        "source": collection.attribution,
        "licence": collection.licence,
        # whole days in Asia/Bangkok, both included (item_query)
        "period": {"from": req.start, "to": req.end, "days_in": "Asia/Bangkok"},
        "filters": filters,
        "properties": built.shown,
        "units": {p: UNITS[p] for p in built.shown if p in UNITS},
        "count": count,
        "crs": f"EPSG:{req.crs}",
        "generated_at": datetime.now(BANGKOK).isoformat(timespec="seconds"),
        "generator": f"geo_service {__version__}",
        # the deployment's area of interest; detections and events say whether they lie in it (in_aoi)
        "area": aoi.describe(session, "all"),
    }
    extent = (box[0], box[1], box[2], box[3]) if count else None
    return ExportPlan(collection, built, count, extent, jsonable(metadata))


def jsonable(value: Any) -> Any:
    """``value`` with its dates and times as ISO 8601 text (nested dicts too)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# --- OGC API - Features


def collection_extent(
    session: Session, collection: Collection, principal: Principal | None = None
) -> list[float] | None:
    """The collection's bounding box (min lon, min lat, max lon, max lat) over every feature ``principal`` may read
    (a provincial caller: their provinces' rows of a province-scoped collection), None when empty."""
    count, *box = session.execute(build_select(collection, principal, ItemQuery()).summary).one()
    return [round(v, 7) for v in box] if count else None


def with_id(row: str) -> dict:
    """A Feature from PostGIS with its id (the first property) also at the top level, as OGC clients expect."""
    feature = orjson.loads(row)
    feature["id"] = feature["properties"].get("id")
    return feature


def items_page(
    session: Session, collection: Collection, principal: Principal | None, q: ItemQuery
) -> tuple[int, list[dict]]:
    """One page of features (and how many match in all) for an OGC API items request. Read-only (it may run on a
    replica); the caller records the page with ``record_export``."""
    built = build_select(collection, principal, q)
    matched = session.execute(built.count).scalar_one()
    features = [with_id(r) for r in session.execute(built.features).scalars()]
    return matched, features


def one_feature(session: Session, collection: Collection, principal: Principal | None, feature_id: str) -> dict:
    """The feature ``feature_id`` of the collection with the properties this caller may see, or NotFound."""
    built = build_select(collection, principal, ItemQuery(feature_id=feature_id, limit=1))
    row = session.execute(built.features).scalar()
    if row is None:
        raise NotFound("No feature with this id in the collection.")
    return with_id(row)
