"""Satellite hotspots: FIRMS uploads (administrators), detections, events, summaries, recurrence, rasters."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from geo_service import scratch
from geo_service.api.admin_layers import save_upload
from geo_service.api.deps import AdminDep, SessionDep, SettingsDep, parse_bbox
from geo_service.errors import InvalidInput
from geo_service.hotspots.queries import HotspotFilter, events_geojson, hotspots_geojson
from geo_service.hotspots.raster_products import threshold_for
from geo_service.hotspots.rasters import PRODUCTS, fire_features, raster_stats
from geo_service.hotspots.summaries import CONFIDENCE, SENSORS, SummaryQuery, summarise
from geo_service.layers.aoi import check_scope
from geo_service.layers.aoi import describe as describe_area


def _service():
    """Ingest and events need pandas, pyarrow and scipy: imported on first use, not when the service starts."""
    from geo_service.hotspots import service

    return service


def _events():
    from geo_service.hotspots import events

    return events


router = APIRouter(tags=["hotspots"])
AREA_HELP = "aoi: inside the area of interest (default) | outside: detections beyond it (neighbouring provinces) | all"
GEOJSON = "application/geo+json"


def hotspot_filter(
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None,
    date_from: Annotated[date | None, Query(alias="from", description="first local date (Asia/Bangkok)")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="last local date (Asia/Bangkok)")] = None,
    sensor: Annotated[list[str] | None, Query(description=" | ".join(SENSORS))] = None,
    min_confidence: Annotated[str | None, Query(description="low | nominal | high")] = None,
    district: Annotated[str | None, Query(max_length=20)] = None,
    protected_area: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=50_000, description="features per page")] = 5000,
    offset: Annotated[int, Query(ge=0, description="features skipped (follow the 'next' link)")] = 0,
    province: Annotated[
        str | None, Query(max_length=20, description="province code as loaded, e.g. 54 (the P-code TH54 is read as 54)")
    ] = None,
    area: Annotated[str, Query(description=AREA_HELP)] = "aoi",
) -> HotspotFilter:
    if any(s not in SENSORS for s in sensor or []):
        raise InvalidInput(f"sensor must be one of {', '.join(SENSORS)}.", code="invalid_sensor")
    if min_confidence is not None and min_confidence not in CONFIDENCE:
        raise InvalidInput("min_confidence must be low, nominal or high.", code="invalid_confidence")
    check_scope(area)
    return HotspotFilter(
        parse_bbox(bbox),
        date_from,
        date_to,
        tuple(sensor or ()),
        min_confidence,
        district,
        protected_area,
        limit,
        offset,
        province,
        area,
    )


FilterDep = Annotated[HotspotFilter, Depends(hotspot_filter)]


def _page_url(request: Request):
    return lambda offset: str(request.url.include_query_params(offset=offset))


@router.get(
    "/api/v1/hotspots",
    summary="FIRMS detections as GeoJSON (newest first; numberMatched and a next link when the page is cut)",
)
def list_hotspots(request: Request, session: SessionDep, flt: FilterDep) -> Response:
    return Response(hotspots_geojson(session, flt, _page_url(request)), media_type=GEOJSON)


@router.get("/api/v1/hotspots/events", summary="Fire events (space-time clusters) as GeoJSON footprints")
def list_events(request: Request, session: SessionDep, flt: FilterDep) -> Response:
    return Response(events_geojson(session, flt, _page_url(request)), media_type=GEOJSON)


@router.get("/api/v1/hotspots/summary", summary="Counts, FRP and burned area by district x protected area x period")
def summary(
    session: SessionDep,
    group_by: Annotated[
        list[str] | None, Query(description="province | district | protected_area | land_class")
    ] = None,
    period: Annotated[str, Query(description="day | month | fire_season | fiscal_year | all")] = "month",
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    sensor: Annotated[list[str] | None, Query(description=" | ".join(SENSORS))] = None,
    min_confidence: Annotated[str | None, Query(description="low | nominal | high")] = None,
    processing: Annotated[str | None, Query(description="NRT | SP")] = None,
    district: Annotated[str | None, Query(max_length=20)] = None,
    protected_area: Annotated[str | None, Query(max_length=40)] = None,
    compare: Annotated[
        str | None, Query(description="previous_year: add the same period a year earlier and the change")
    ] = None,
    province: Annotated[
        str | None, Query(max_length=20, description="province code as loaded, e.g. 54 (the P-code TH54 is read as 54)")
    ] = None,
    area: Annotated[str, Query(description=AREA_HELP)] = "aoi",
) -> dict:
    q = SummaryQuery(
        group_by=group_by if group_by is not None else ["district"],
        period=period,
        date_from=date_from,
        date_to=date_to,
        sensors=sensor or [],
        min_confidence=min_confidence,
        processing=processing,
        district=district,
        protected_area=protected_area,
        compare=compare,
        province=province,
        area=area,
    )
    return summarise(session, q)


@router.get("/api/v1/hotspots/recurrence", summary="In how many fire seasons each protected area burned")
def recurrence(session: SessionDep, kind: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    rows = _events().recurrence_by_area(session, kind=kind)
    return {
        "season": "January-May (local dates)",
        "area": describe_area(session, "aoi"),
        "numberReturned": len(rows),
        "rows": rows,
    }


@router.get("/api/v1/hotspots/recurrence/{code}/grid", summary="Recurrence on a fine grid inside a protected area")
def recurrence_grid(session: SessionDep, code: str, cell_m: Annotated[float, Query(ge=100, le=10_000)] = 500) -> dict:
    return _events().recurrence_grid(session, code, cell_m=cell_m)


@router.get("/api/v1/admin/hotspots/batches", summary="Recent FIRMS ingest batches")
def list_batches(
    session: SessionDep, principal: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict]:
    return _service().batches(session, limit)


@router.post(
    "/api/v1/admin/hotspots/firms",
    status_code=201,
    summary="Upload a FIRMS CSV (MODIS/VIIRS, NRT/SP); refused as a whole with line/column reasons",
)
async def upload_firms(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="FIRMS CSV")],
    processing: Annotated[str | None, Form(description="NRT | SP (default: from the version column)")] = None,
    skip_invalid: Annotated[bool, Form(description="store the valid rows, count the invalid")] = False,
) -> JSONResponse:
    if processing is not None and processing not in ("NRT", "SP"):
        raise InvalidInput("processing must be NRT or SP.", code="invalid_processing")
    with scratch.temp_dir("geo_service_firms_") as tmp:
        path = await save_upload(file, Path(tmp), settings.service.max_upload_mb << 20)
        report = await run_in_threadpool(
            _service().ingest_path,
            request.app.state.sessionmaker,
            path,
            country_bbox=settings.service.country_bbox,
            loaded_by=principal.name,
            processing=processing,
            skip_invalid=skip_invalid,
            original_name=path.name,
        )
    return JSONResponse(_jsonable(report.as_dict()), status_code=201)


@router.post(
    "/api/v1/admin/rasters",
    status_code=201,
    summary="Upload a hotspot raster (GeoTIFF): 201 registered or new version, 200 already registered",
)
async def upload_raster(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="GeoTIFF in any CRS with a definition")],
    product: Annotated[str, Form(description=" | ".join(PRODUCTS))],
    acq_date: Annotated[date, Form(description="date the raster describes")],
    threshold: Annotated[
        float | None, Form(description="flag pixels by value (generic; overrides dnbr 0.1, frp 0)")
    ] = None,
    threshold_op: Annotated[str | None, Form(description="> | >= | < | <= (default >= for dnbr, > for frp)")] = None,
    threshold_label: Annotated[
        str | None, Form(max_length=200, description="what a flagged pixel means (required for generic)")
    ] = None,
) -> JSONResponse:
    rule = threshold_for(product, threshold, threshold_op, threshold_label)  # 400 before the upload is read
    with scratch.temp_dir("geo_service_raster_") as tmp:
        path = await save_upload(file, Path(tmp), settings.service.max_upload_mb << 20)
        report = await run_in_threadpool(
            _service().register_raster_file,
            request.app.state.sessionmaker,
            path,
            product,
            acq_date,
            data_dir=settings.db.data_dir,
            name=path.name,
            uploaded_by=principal.name,
            threshold=rule.value if rule else None,
            threshold_op=rule.op if rule else None,
            threshold_label=rule.label if rule else None,
        )
    return JSONResponse(_jsonable(report.as_dict()), status_code=200 if report.status == "already_registered" else 201)


@router.get("/api/v1/rasters", summary="Registered hotspot rasters")
def list_rasters(session: SessionDep) -> list[dict]:
    return _service().rasters(session)


@router.get("/api/v1/rasters/{raster_id}", summary="A raster and its zonal statistics per district / protected area")
def get_raster(session: SessionDep, raster_id: int) -> dict:
    return raster_stats(session, raster_id)


@router.get(
    "/api/v1/rasters/{raster_id}/fire-features",
    summary="Flagged pixels of a raster (fire classes, burned, or the recorded threshold) as GeoJSON polygons",
)
def get_fire_features(session: SessionDep, raster_id: int) -> Response:
    import orjson

    return Response(orjson.dumps(fire_features(session, raster_id)), media_type=GEOJSON)


def _jsonable(d: dict) -> dict:
    import orjson

    return orjson.loads(orjson.dumps(d, option=orjson.OPT_SERIALIZE_NUMPY))
