"""Forest-loss alert ingests (issue 14): upload an alert raster (administrators), list and read the ingests."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from geo_service import scratch
from geo_service.api.admin_layers import save_upload
from geo_service.api.deps import AdminDep, SessionDep, SettingsDep
from geo_service.bbox import parse_bbox
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput, NotFound
from geo_service.forest_loss.ingest import get_ingest, ingest_files, list_ingests
from geo_service.forest_loss.sources import ENCODINGS

router = APIRouter(tags=["forest-loss"])

MAX_FILES = 2  # the encodings have at most two layers


class ForestLossIngestResult(BaseModel):
    """What an ingest did; ``replayed``: the same file with the same parameters was ingested before (no change)."""

    ingest_id: int
    replayed: bool
    source: str
    encoding: str
    file_name: str
    file_sha256: str
    params: dict[str, Any] = Field(description="the parameters that define the result (thresholds, date window...)")
    crs: str
    window: dict[str, Any] | None = Field(description="the window of the raster read (the area of interest)")
    alert_pixels: int
    patches: int
    patches_new: int
    patches_extended: int = Field(description="stored patches extended by this ingest (they keep their id)")
    patches_unchanged: int
    patches_merged: int = Field(description="stored patches absorbed by an older one this ingest joined them to")
    alert_from: date | None
    alert_to: date | None
    area_ha: float
    area_rai: float
    cleared_by_fire: int
    patch_ids: list[int]
    seconds: float
    timings: dict[str, float]


class ForestLossIngestItem(BaseModel):
    """One ingest as listed."""

    id: int
    source: str
    encoding: str
    file_name: str
    file_sha256: str
    params: dict[str, Any]
    crs: str
    window: dict[str, Any] | None
    alert_pixels: int
    patches_new: int
    patches_extended: int
    alert_from: date | None
    alert_to: date | None
    created_by: str | None
    created_at: datetime


class ForestLossIngestDetail(ForestLossIngestItem):
    """One ingest with its live patches (created or last extended by it): count and area."""

    patches: int
    area_ha: float
    area_rai: float


@router.post(
    "/api/v1/forest-loss/ingests",
    status_code=201,
    summary="Upload a forest-loss alert raster (GeoTIFF; one file, or one per layer) and make clearing patches",
)
async def upload_ingest(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    files: Annotated[
        list[UploadFile], File(description="GeoTIFF(s): one file, or one per layer in the encoding's order")
    ],
    source: Annotated[str, Form(description=" | ".join(ENCODINGS), max_length=40)],
    min_confidence: Annotated[str | None, Form(description="low | high | highest", max_length=10)] = None,
    year: Annotated[int | None, Form(description="GLAD-L (UMD): the year of the layers", ge=2015, le=2100)] = None,
    forest_threshold: Annotated[int | None, Form(description="Hansen GFC: treecover2000 >= %", ge=0, le=100)] = None,
    min_loss_50: Annotated[bool | None, Form(description="DIST-ALERT: only >= 50 % vegetation loss")] = None,
    index: Annotated[str | None, Form(description="change pair: ndvi | nbr", max_length=10)] = None,
    threshold: Annotated[float | None, Form(description="change pair: drop of the index", gt=0, le=2)] = None,
    before_date: Annotated[date | None, Form(description="change pair: date of the before scene")] = None,
    after_date: Annotated[date | None, Form(description="change pair: date of the after scene")] = None,
    bbox: Annotated[str | None, Form(description="read this area (west,south,east,north) instead of the AOI")] = None,
) -> ForestLossIngestResult:
    """Ingest an alert raster in one transaction: refused as a whole (nothing stored) or stored as a whole."""
    if not 1 <= len(files) <= MAX_FILES:
        raise InvalidInput("Send one alert file, or one file per layer (at most two).", code="invalid_files")
    box = parse_bbox(bbox)
    params = {
        "year": year,
        "forest_threshold": forest_threshold,
        "min_loss_50": min_loss_50 or None,
        "index": index,
        "threshold": threshold,
        "before_date": before_date,
        "after_date": after_date,
    }
    limit = min(settings.service.max_upload_mb, settings.forest_loss.max_file_mb) << 20
    with scratch.temp_dir("geo_service_forest_loss_") as tmp:
        paths: list[Path] = []
        for k, f in enumerate(files):
            folder = Path(tmp) / str(k)  # two layers may carry the same base name
            folder.mkdir()
            paths.append(await save_upload(f, folder, limit))

        def ingest():
            with transaction(request.app.state.sessionmaker) as session:
                return ingest_files(
                    session,
                    paths,
                    encoding=source,
                    settings=settings.forest_loss,
                    params=params,
                    min_confidence=min_confidence,
                    bounds=box,
                    file_name=", ".join(p.name for p in paths),
                    created_by=principal.name,
                )

        report = await run_in_threadpool(ingest)
    return ForestLossIngestResult.model_validate(report.as_dict())


@router.get("/api/v1/forest-loss/ingests", summary="Forest-loss alert ingests, newest first")
def list_forest_loss_ingests(
    principal: AdminDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ForestLossIngestItem]:
    """The latest ingests."""
    return [ForestLossIngestItem.model_validate(r) for r in list_ingests(session, limit)]


@router.get("/api/v1/forest-loss/ingests/{ingest_id}", summary="One forest-loss ingest and its patches' area")
def get_forest_loss_ingest(principal: AdminDep, session: SessionDep, ingest_id: int) -> ForestLossIngestDetail:
    """One ingest; 404 when there is none with this id."""
    if not 0 < ingest_id < 2**31:
        raise NotFound("No forest-loss ingest with this id.")
    row = get_ingest(session, ingest_id)
    if row is None:
        raise NotFound("No forest-loss ingest with this id.")
    return ForestLossIngestDetail.model_validate(row)
