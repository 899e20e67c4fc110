"""Satellite hotspots: FIRMS uploads (administrators), detections, events, summaries, recurrence, rasters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from geo_service import scratch
from geo_service.api.admin_layers import save_upload
from geo_service.api.deps import AdminDep, ReadSessionDep, SessionDep, SettingsDep, optional_principal, parse_bbox
from geo_service.api.geojson import FeatureCollection, GeoJSONResponse, Geometry, geojson_responses
from geo_service.auth import Principal
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput
from geo_service.hotspots import events, service
from geo_service.hotspots.ingest import IngestReport
from geo_service.hotspots.queries import HotspotFilter, events_geojson, hotspots_geojson
from geo_service.hotspots.raster_products import threshold_for
from geo_service.hotspots.rasters import PRODUCTS, RasterReport, fire_features, raster_stats
from geo_service.hotspots.summaries import CONFIDENCE, SENSORS, SummaryQuery, summarise
from geo_service.layers.aoi import check_scope
from geo_service.layers.aoi import describe as describe_area

# A stored instant as the API has always written it (ISO 8601 with the offset, +00:00 for UTC).
Timestamp = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]


class AreaCoveredProvince(BaseModel):
    """A province of the area of interest."""

    code: str
    name_th: str | None = None
    name_en: str | None = None


class AreaCovered(BaseModel):
    """What an answer covers: the area of interest (``layers.aoi.describe``)."""

    scope: str = Field(description="aoi | outside | all")
    provinces: list[AreaCoveredProvince]
    buffer_m: float
    configured: list[str] | str = Field(description="the configured province codes, or 'every loaded province'")
    missing: list[str] = Field(description="configured codes with no loaded province")
    defined: bool
    label_en: str
    label_th: str


class HotspotCollection(FeatureCollection):
    """Detections or fire events as GeoJSON, with the data's attribution and the area they cover."""

    attribution: str
    area: AreaCovered


class HotspotSummaryFilters(BaseModel):
    """The filters a summary applied."""

    model_config = ConfigDict(populate_by_name=True)

    date_from: date | None = Field(default=None, alias="from")
    to: date | None = None
    sensors: list[str]
    min_confidence: str | None = None
    processing: str | None = None
    area: str
    province: str | None = None
    district: str | None = None
    protected_area: str | None = None


class HotspotSummaryUnits(BaseModel):
    """Units of the summary's figures."""

    frp: str
    burned_area: str
    dates: str


class HotspotSummaryRow(BaseModel):
    """One group and period; the group columns present are those of ``group_by`` (a row of "none" has a null
    code and the label of its kind), the previous-year columns those of ``compare``."""

    province: str | None = None
    province_name_en: str | None = None
    province_name_th: str | None = None
    district: str | None = None
    district_name_en: str | None = None
    district_name_th: str | None = None
    protected_area: str | None = None
    protected_area_name_en: str | None = None
    protected_area_name_th: str | None = None
    land_class: str | None = None
    period: str
    period_label: str | None = None
    detections: int
    frp_sum_mw: float | None = None
    frp_max_mw: float | None = None
    first_date: date | None = None
    last_date: date | None = None
    satellites: list[str] = []
    burned_area_ha: float | None = None
    burned_area_rai: float | None = None
    previous_year_detections: int | None = None
    previous_year_frp_sum_mw: float | None = None
    change_detections: int | None = None
    change_detections_pct: float | None = None


class HotspotSummary(BaseModel):
    """Detections, FRP and burned area per group and period."""

    group_by: list[str]
    period: str
    area: AreaCovered
    filters: HotspotSummaryFilters
    compare: str | None = None
    units: HotspotSummaryUnits
    source: str
    numberReturned: int  # OGC API field name
    rows: list[HotspotSummaryRow]


class HotspotRecurrenceRow(BaseModel):
    """A protected area and the fire seasons it burned in."""

    code: str
    name_en: str | None = None
    name_th: str | None = None
    kind: str | None = None
    seasons: int
    years: list[int]
    years_be: list[int]
    detections: int


class HotspotRecurrence(BaseModel):
    """In how many fire seasons each protected area burned."""

    season: str
    area: AreaCovered
    numberReturned: int  # OGC API field name
    rows: list[HotspotRecurrenceRow]


class RecurrenceGrid(FeatureCollection):
    """Grid cells inside a protected area (polygons, EPSG:4326); properties: ``seasons``, ``years``,
    ``detections``."""

    protected_area: str
    cell_m: float


class BatchFigures(BaseModel):
    """What an ingest of one file counted: its source and rows by outcome."""

    source: str
    file_name: str | None = None
    file_sha256: str | None = None
    rows_total: int
    rows_new: int
    rows_updated: int
    rows_unchanged: int
    rows_refused: int
    rows_outside: int
    duration_s: float


class HotspotBatch(BatchFigures):
    """One FIRMS ingest batch, as stored."""

    id: int
    first_acq: Timestamp | None = None
    last_acq: Timestamp | None = None
    loaded_by: str | None = None
    loaded_at: Timestamp


class IngestProblem(BaseModel):
    """Why a row (or the file) was refused."""

    line: int | None = None
    column: str | None = None
    reason: str


class IngestResult(BatchFigures):
    """What a FIRMS upload did (``hotspots.ingest.IngestReport``)."""

    batch_id: int | None = None
    first_acq: str | None = None
    last_acq: str | None = None
    problems: list[IngestProblem]
    timings: dict[str, float]
    event_ids: list[int]


class RasterThreshold(BaseModel):
    """``value <op> threshold`` flags a pixel; ``label`` says what a flagged pixel means."""

    value: float
    op: str
    label: str


class RasterMeaning(BaseModel):
    """What a raster's figures mean (``raster_products.describe``)."""

    product: str
    label_th: str
    label_en: str
    unit: str
    burned_area: bool
    definition: str
    threshold: RasterThreshold | None = None


class RasterZoneStat(BaseModel):
    """Zonal statistics of a raster over a district, protected area or their intersection."""

    id: int | None = None
    zone_type: str
    zone_code: str
    pixels: float
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    percentiles: dict[str, Any] | None = None
    flagged_pixels: float | None = None
    flagged_by_class: dict[str, float] | None = None
    flagged_m2: float | None = None
    burned_m2: float | None = None
    flagged_ha: float | None = None
    flagged_rai: float | None = None
    burned_ha: float | None = None
    burned_rai: float | None = None


class RasterResult(BaseModel):
    """What a raster upload did (registered, new_version, already_registered) and the raster's statistics."""

    raster_id: int | None = None
    product: str
    acq_date: str
    name: str
    crs: str
    width: int
    height: int
    nodata: float | None = None
    file_path: str
    file_sha256: str
    status: str = Field(description="registered | new_version | already_registered")
    version: int
    supersedes: int | None = None
    meaning: RasterMeaning
    zones: int
    flagged_pixels: float | None = None
    burned_ha: float | None = None
    stats: list[RasterZoneStat]


class RasterFacts(BaseModel):
    """What every answer about a registered raster says of it: product, day, grid, when and which version."""

    id: int
    product: str
    acq_date: date
    name: str
    crs: str
    width: int
    height: int
    dtype: str
    nodata: float | None = None
    res_x: float
    res_y: float
    uploaded_at: Timestamp
    version: int
    superseded_by: int | None = None


class RasterItem(RasterFacts):
    """A registered raster (one version)."""

    burned_area: bool
    threshold: float | None = None
    threshold_op: str | None = None
    threshold_label: str | None = None


class RasterVersion(BaseModel):
    """A version of a raster (same name, product and date)."""

    id: int
    version: int
    file_sha256: str
    uploaded_at: Timestamp
    current: bool


class RasterDetail(RasterFacts):
    """A registered raster, what its values mean, its versions and its zonal statistics."""

    file_sha256: str
    footprint: Geometry
    meaning: RasterMeaning
    versions: list[RasterVersion]
    stats: list[RasterZoneStat]


class FireFeatures(FeatureCollection):
    """Flagged pixels of a raster as polygons; properties: ``class``, ``value``, ``burned_area``."""

    raster_id: int
    product: str
    meaning: RasterMeaning
    version: int
    superseded_by: int | None = None
    date: str


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
    """The detection/event filter of the query string (400 on an unknown sensor, confidence or area)."""
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
    response_class=GeoJSONResponse,
    responses=geojson_responses(HotspotCollection),
)
def list_hotspots(request: Request, session: ReadSessionDep, flt: FilterDep) -> Response:
    """Detections as a GeoJSON FeatureCollection, a page at a time."""
    return GeoJSONResponse(hotspots_geojson(session, flt, _page_url(request)))


@router.get(
    "/api/v1/hotspots/events",
    summary="Fire events (space-time clusters) as GeoJSON footprints",
    response_class=GeoJSONResponse,
    responses=geojson_responses(HotspotCollection),
)
def list_events(request: Request, session: ReadSessionDep, flt: FilterDep) -> Response:
    """Fire events (footprints) as a GeoJSON FeatureCollection, a page at a time."""
    return GeoJSONResponse(events_geojson(session, flt, _page_url(request)))


def summary_scope(principal: Principal | None) -> tuple[str | None, list[str] | None]:
    """The (province, group_by) a summary defaults to for its caller: a provincial user's only province; for a
    signed-in national user, every province grouped by province; anonymous callers and users of several
    provinces: the deployment's default (the area of interest by district)."""
    if principal is None or principal.scopes is not None:  # anonymous, or an API key / partner account
        return None, None
    if principal.provinces is None:
        return None, ["province"]
    if len(principal.provinces) == 1:
        return next(iter(principal.provinces)), None
    return None, None


@router.get(
    "/api/v1/hotspots/summary",
    summary="Counts, FRP and burned area by district x protected area x period",
    response_model_exclude_unset=True,
)
def summary(
    request: Request,
    session: ReadSessionDep,
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
) -> HotspotSummary:
    """Detections, FRP and burned area per group and period (the area of interest unless ``area`` says).

    Public data; a signed-in caller gets a default scope: their province when they work in exactly one,
    the national aggregate grouped by province for national users (administrators, national viewers)."""
    if province is None and group_by is None:
        province, group_by = summary_scope(optional_principal(request))
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
    return HotspotSummary.model_validate(summarise(session, q))


@router.get("/api/v1/hotspots/recurrence", summary="In how many fire seasons each protected area burned")
def recurrence(session: ReadSessionDep, kind: Annotated[str | None, Query(max_length=40)] = None) -> HotspotRecurrence:
    """Protected areas by the number of fire seasons (January-May) they had detections in."""
    rows = events.recurrence_by_area(session, kind=kind)
    return HotspotRecurrence.model_validate(
        {
            "season": "January-May (local dates)",
            "area": describe_area(session, "aoi"),
            "numberReturned": len(rows),
            "rows": rows,
        }
    )


@router.get(
    "/api/v1/hotspots/recurrence/{code}/grid",
    summary="HotspotRecurrence on a fine grid inside a protected area",
    response_model_exclude_unset=True,
)
def recurrence_grid(
    session: ReadSessionDep, code: str, cell_m: Annotated[float, Query(ge=100, le=10_000)] = 500
) -> RecurrenceGrid:
    """Cells of a grid inside a protected area with the fire seasons each burned in (GeoJSON)."""
    return RecurrenceGrid.model_validate(events.recurrence_grid(session, code, cell_m=cell_m))


@router.get("/api/v1/admin/hotspots/batches", summary="Recent FIRMS ingest batches")
def list_batches(
    session: SessionDep, principal: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[HotspotBatch]:
    """The latest FIRMS ingest batches, newest first."""
    return [HotspotBatch.model_validate(b) for b in service.batches(session, limit)]


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
) -> IngestResult:
    """Ingest a FIRMS CSV and update the fire events it touches, in one transaction."""
    if processing is not None and processing not in ("NRT", "SP"):
        raise InvalidInput("processing must be NRT or SP.", code="invalid_processing")
    with scratch.temp_dir("geo_service_firms_") as tmp:
        path = await save_upload(file, Path(tmp), settings.service.max_upload_mb << 20)

        def ingest() -> IngestReport:
            with transaction(request.app.state.sessionmaker) as session:
                return service.ingest_path(
                    session,
                    path,
                    settings=settings.hotspots,
                    country_bbox=settings.service.country_bbox,
                    loaded_by=principal.name,
                    processing=processing,
                    skip_invalid=skip_invalid,
                    original_name=path.name,
                )

        report = await run_in_threadpool(ingest)
    return IngestResult.model_validate(_jsonable(report.as_dict()))


@router.post(
    "/api/v1/admin/rasters",
    status_code=201,
    summary="Upload a hotspot raster (GeoTIFF): 201 registered or new version, 200 already registered",
    responses={200: {"model": RasterResult, "description": "The file is already registered (nothing written)"}},
)
async def upload_raster(
    request: Request,
    response: Response,
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
) -> RasterResult:
    """Check, store (as COG) and register a raster with its zonal statistics, in one transaction."""
    rule = threshold_for(product, threshold, threshold_op, threshold_label)  # 400 before the upload is read
    with scratch.temp_dir("geo_service_raster_") as tmp:
        path = await save_upload(file, Path(tmp), settings.service.max_upload_mb << 20)

        def register() -> RasterReport:
            with transaction(request.app.state.sessionmaker) as session:
                return service.register_raster_file(
                    session,
                    path,
                    product,
                    acq_date,
                    data_dir=settings.db.data_dir,
                    settings=settings.hotspots,
                    name=path.name,
                    uploaded_by=principal.name,
                    threshold=rule.value if rule else None,
                    threshold_op=rule.op if rule else None,
                    threshold_label=rule.label if rule else None,
                )

        report = await run_in_threadpool(register)
    response.status_code = 200 if report.status == "already_registered" else 201
    return RasterResult.model_validate(_jsonable(report.as_dict()))


@router.get("/api/v1/rasters", summary="Registered hotspot rasters")
def list_rasters(session: SessionDep) -> list[RasterItem]:
    """Registered rasters, newest first, every version."""
    return [RasterItem.model_validate(r) for r in service.rasters(session)]


@router.get("/api/v1/rasters/{raster_id}", summary="A raster and its zonal statistics per district / protected area")
def get_raster(session: SessionDep, raster_id: int) -> RasterDetail:
    """A raster, what its values mean, its versions and its zonal statistics (404 when unknown)."""
    return RasterDetail.model_validate(raster_stats(session, raster_id))


@router.get(
    "/api/v1/rasters/{raster_id}/fire-features",
    summary="Flagged pixels of a raster (fire classes, burned, or the recorded threshold) as GeoJSON polygons",
    response_class=GeoJSONResponse,
    responses=geojson_responses(FireFeatures),
)
def get_fire_features(session: ReadSessionDep, raster_id: int) -> Response:
    """Flagged pixels of a raster as GeoJSON polygons."""
    return GeoJSONResponse(orjson.dumps(fire_features(session, raster_id)))


def _jsonable(d: dict) -> dict:
    return orjson.loads(orjson.dumps(d, option=orjson.OPT_SERIALIZE_NUMPY))
