"""Downloads for partners: any collection as GeoJSON (streamed), GeoJSON lines, GeoPackage, CSV, Excel, KML
or Shapefile, with filters and a choice of properties; every download is recorded in the audit trail."""

from __future__ import annotations

import base64
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from geo_service.api.deps import authenticate, parse_bbox, read_choice
from geo_service.api.geojson import FeatureCollection, GeoJSONResponse, geojson_responses
from geo_service.auth import Principal
from geo_service.db.engine import transaction
from geo_service.exports import files, service, stream
from geo_service.exports.collections import Collection
from geo_service.exports.queryables import PROPERTY_TYPES
from geo_service.hashing import sha256_file
from geo_service.thai import BANGKOK

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
Format = Literal["geojson", "ndjson", "gpkg", "csv", "xlsx", "kml", "shp"]
BINARY = {"type": "string", "format": "binary"}


class ExportMetadata(BaseModel):
    """What a download says about itself (also in a GeoPackage's, KML's or zip's metadata)."""

    model_config = ConfigDict(extra="allow")
    collection: str
    title: str
    title_th: str
    source: str
    licence: str
    period: dict[str, str | None] = Field(description="from and to as given (ISO dates), null when open")
    filters: dict[str, Any] = Field(description="The parameters of the request, by their query names")
    properties: list[str] = Field(description="The properties of each feature, in order")
    count: int = Field(description="Features when the export began")
    crs: str
    generated_at: str
    generator: str
    area: dict[str, Any] = Field(description="The deployment's area of interest")


class ExportFeatureCollection(FeatureCollection):
    """A streamed GeoJSON download: after the features, ``numberReturned`` and the ``sha256`` of the document up
    to and including the ``]`` that closes ``features`` (what was actually sent)."""

    bbox: list[float] | None = None
    metadata: ExportMetadata
    sha256: str


# Newline-delimited GeoJSON: one Feature per line, then a last line that says what was sent.
FEATURE_LINE = {
    "type": "object",
    "description": "One line: a GeoJSON Feature; the last line is "
    '{"type": "ExportSummary", "numberReturned": n, "sha256": "<hex of every line before it>"}',
    "properties": {
        "type": {"type": "string", "enum": ["Feature", "ExportSummary"]},
        "id": {"type": "string"},
        "geometry": {"type": "object"},
        "properties": {"type": "object"},
        "numberReturned": {"type": "integer"},
        "sha256": {"type": "string"},
    },
}
# What each format is sent as (f=csv and f=shp are zip files).
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        **geojson_responses(ExportFeatureCollection, description="The download, by its format f")[200],
        "content": {
            "application/geo+json-seq": {"schema": FEATURE_LINE},
            **{media: {"schema": BINARY} for media, _ in files.FORMATS.values()},
        },
    }
}


def collection_for(request: Request, name: str) -> tuple[Collection, Principal | None]:
    """The collection ``name`` and the caller, who must be allowed to read it (404, 401 or 403 otherwise)."""
    collection = service.collection_named(name, request.app.state.settings)
    principal = authenticate(request)
    service.check_readable(collection, principal)
    return collection, principal


@router.get(
    "/{name}",
    summary="Download a collection (streamed GeoJSON, GeoJSON lines, GeoPackage, CSV, Excel, KML, Shapefile)",
    response_class=GeoJSONResponse,
    responses=DOWNLOADS,
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
) -> Response:
    """Stream or send one collection in the format ``f``, with the filters given; the download is audited."""
    collection, principal = collection_for(request, name)
    req = service.ExportRequest(
        fmt=f,
        start=start,
        end=end,
        district=district,
        reserve=reserve,
        kind=kind,
        min_confidence=min_confidence,
        bbox=parse_bbox(bbox),
        bbox_text=bbox,
        properties=properties,
        cql=filter,
        crs=crs,
        limit=limit,
    )

    def plan() -> tuple[service.ExportPlan, Engine]:
        # the count and the features on the read database (the replica when in step), the audit on the primary
        reads = read_choice(request)
        with transaction(reads.sessionmaker) as session:
            planned = service.plan_export(session, collection, principal, req)
        with transaction(request.app.state.sessionmaker) as session:
            service.record_export(session, principal, collection, req.fmt, req.filters(), planned.count)
        return planned, reads.engine

    p, engine = await run_in_threadpool(plan)  # the features are read on their own connection, as they are sent
    stamp = datetime.now(BANGKOK).strftime("%Y%m%d")
    if f == "geojson":
        return StreamingResponse(
            stream.feature_collection(engine, p.built.features, p.geojson_header()),
            media_type="application/geo+json",
            headers=_download(f"{name}_{stamp}.geojson", p.count),
        )
    if f == "ndjson":
        return StreamingResponse(
            stream.feature_lines(engine, p.built.features),
            media_type="application/geo+json-seq",
            headers=_download(f"{name}_{stamp}.geojsonl", p.count),
        )
    tmp = files.temp_dir()
    path = await run_in_threadpool(
        partial(
            files.write_file,
            geometry_type=p.collection.geometry_type,
            types={n: PROPERTY_TYPES.get(n, "string") for n in p.built.shown},
        ),
        engine,
        p.built.rows,
        p.built.shown,
        f,
        crs,
        p.metadata,
        name,
        Path(tmp.name),
    )
    media, suffix = files.FORMATS[f]
    digest = base64.b64encode(bytes.fromhex(await run_in_threadpool(sha256_file, path))).decode()
    return FileResponse(
        path,
        media_type=media,
        filename=f"{name}_{stamp}{suffix}",
        headers={"X-Feature-Count": str(p.count), "Repr-Digest": f"sha-256=:{digest}:"},
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
