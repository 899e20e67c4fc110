"""Downloads for partners: any collection as GeoJSON (streamed), GeoJSON lines, GeoPackage, CSV, Excel, KML
or Shapefile, with filters and a choice of properties; every download is recorded in the audit trail."""

from __future__ import annotations

import base64
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from geo_service import __version__, audit
from geo_service.api.deps import authenticate, parse_bbox
from geo_service.auth import Principal
from geo_service.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from geo_service.exports import files, stream
from geo_service.exports.collections import COLLECTIONS, Collection
from geo_service.exports.query import ItemQuery, build_select
from geo_service.hashing import sha256_file
from geo_service.layers import aoi
from geo_service.thai import BANGKOK

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
Format = Literal["geojson", "ndjson", "gpkg", "csv", "xlsx", "kml", "shp"]
# Simple filter parameters and the property each one means, by collection.
SIMPLE = {
    "district": ("district_code", "parent_code"),
    "reserve": ("protected_area_codes", "reserve_code", "code"),
    "kind": ("kind",),
}


def collection_for(request: Request, name: str) -> tuple[Collection, Principal | None]:
    collection = COLLECTIONS.get(name)
    if collection is None:
        raise NotFound(f"No collection '{name}'. Collections: {', '.join(COLLECTIONS)}.")
    principal = authenticate(request)
    if not collection.visible_to(principal):
        if principal is None:
            raise Unauthorized()
        raise Forbidden(f"Your role or key may not read '{name}'.")
    return collection, principal


def record_export(
    request: Request, principal: Principal | None, collection: Collection, fmt: str, filters: dict, count: int
) -> None:
    with request.app.state.sessionmaker() as session, session.begin():
        audit.record(
            session,
            principal.name if principal else "anonymous",
            "export",
            "collection",
            collection.name,
            after={"format": fmt, "filters": filters, "count": count},
        )


@router.get(
    "/{name}", summary="Download a collection (streamed GeoJSON, GeoJSON lines, GeoPackage, CSV, Excel, KML, Shapefile)"
)
async def export(
    name: str,
    request: Request,
    f: Annotated[Format, Query(description="Format")] = "geojson",
    start: Annotated[date | None, Query(alias="from", description="First day, on the collection's date")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included")] = None,
    district: Annotated[str | None, Query(max_length=20)] = None,
    reserve: Annotated[str | None, Query(max_length=40, description="Protected-area code")] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    min_confidence: Annotated[int | None, Query(ge=1, le=3, description="Hotspots: 1 low, 2 nominal, 3 high")] = None,
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None,
    properties: Annotated[str | None, Query(description="Comma-separated properties to include")] = None,
    filter: Annotated[str | None, Query(max_length=4000, description="CQL2 text filter")] = None,
    crs: Annotated[int, Query(description="4326, or 32647 (UTM 47N) for GeoPackage, CSV, Excel and Shapefile")] = 4326,
    limit: Annotated[int | None, Query(ge=1, le=5_000_000)] = None,
):
    collection, principal = collection_for(request, name)
    if crs not in (4326, 32647, 32648):
        raise InvalidInput("crs must be 4326, 32647 or 32648.", code="invalid_crs")
    if crs != 4326 and f in ("geojson", "ndjson", "kml"):
        raise InvalidInput("GeoJSON (RFC 7946) and KML are always WGS 84 (crs=4326).", code="invalid_crs")
    if start and end and end < start:
        raise InvalidInput("'to' is before 'from'.", code="invalid_period")
    q = ItemQuery(
        bbox=parse_bbox(bbox),
        cql=filter,
        crs=crs,
        limit=limit,
        properties=[p.strip() for p in properties.split(",") if p.strip()] if properties else None,
    )
    if start or end:
        q.datetime = f"{start.isoformat() if start else '..'}/{end.isoformat() if end else '..'}"
    for param, value in (("district", district), ("reserve", reserve), ("kind", kind)):
        if value is not None:
            prop = next((p for p in SIMPLE[param] if p in collection.properties), None)
            if prop is None:
                raise InvalidInput(f"The collection {name} cannot be filtered by {param}.", code="invalid_filter")
            q.equals[prop] = value
    if min_confidence is not None:
        if "confidence" not in collection.properties:
            raise InvalidInput(f"The collection {name} has no confidence.", code="invalid_filter")
        q.minimum["confidence"] = min_confidence
    built = build_select(collection, principal, q)
    filters = {
        k: v
        for k, v in {
            "from": start,
            "to": end,
            "district": district,
            "reserve": reserve,
            "kind": kind,
            "min_confidence": min_confidence,
            "bbox": bbox,
            "filter": filter,
            "properties": properties,
            "crs": crs,
            "limit": limit,
        }.items()
        if v is not None
    }
    engine = request.app.state.engine

    def prepare():
        with engine.connect() as conn:
            count, *extent = conn.execute(built.summary).one()
        if f == "xlsx" and count > files.XLSX_MAX_ROWS:
            raise InvalidInput(
                f"{count:,} features do not fit an Excel worksheet ({files.XLSX_MAX_ROWS:,} rows): "
                "narrow the period or area, or choose CSV or GeoPackage.",
                code="too_many_rows",
            )
        record_export(request, principal, collection, f, filters, count)
        return count, extent

    def area():
        with request.app.state.sessionmaker() as session:
            return aoi.describe(session, "all")

    count, extent = await run_in_threadpool(prepare)
    metadata = {
        "collection": collection.name,
        "title": collection.title,
        "title_th": collection.title_th,
        "source": collection.attribution,
        "licence": collection.licence,
        "period": {"from": start, "to": end},
        "filters": filters,
        "properties": built.shown,
        "count": count,
        "crs": f"EPSG:{crs}",
        "generated_at": datetime.now(BANGKOK).isoformat(timespec="seconds"),
        "generator": f"geo_service {__version__}",
        # the deployment's area of interest; detections and events say whether they lie in it (in_aoi)
        "area": await run_in_threadpool(area),
    }
    stamp = datetime.now(BANGKOK).strftime("%Y%m%d")
    if f == "geojson":
        header = {"numberMatched": count, "metadata": metadata}
        if count:
            header = {"bbox": [round(v, 7) for v in extent], **header}
        return StreamingResponse(
            stream.feature_collection(engine, built.features, _jsonable(header)),
            media_type="application/geo+json",
            headers=_download(f"{name}_{stamp}.geojson", count),
        )
    if f == "ndjson":
        return StreamingResponse(
            stream.feature_lines(engine, built.features),
            media_type="application/geo+json-seq",
            headers=_download(f"{name}_{stamp}.geojsonl", count),
        )
    tmp = files.temp_dir()
    path = await run_in_threadpool(
        files.write_file, engine, built.rows, built.shown, f, crs, _jsonable(metadata), name, Path(tmp.name)
    )
    media, suffix = files.FORMATS[f]
    digest = base64.b64encode(bytes.fromhex(await run_in_threadpool(sha256_file, path))).decode()
    return FileResponse(
        path,
        media_type=media,
        filename=f"{name}_{stamp}{suffix}",
        headers={"X-Feature-Count": str(count), "Repr-Digest": f"sha-256=:{digest}:"},
        background=BackgroundTask(tmp.cleanup),
    )


def _download(filename: str, count: int) -> dict:
    """Headers of a streamed download; X-Feature-Count is the count when the export began (the stream's own
    last line or members give what was sent, with its SHA-256)."""
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Feature-Count": str(count),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
