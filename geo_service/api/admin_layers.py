"""Administrators load boundary files (GeoJSON, GeoPackage, zipped Shapefile, KML) over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from geo_service import scratch
from geo_service.api.deps import AdminDep, SettingsDep, field_mapping
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput, PayloadTooLarge
from geo_service.layers.load import load_file
from geo_service.layers.reader import LAYER_TYPES
from geo_service.layers.store import LayerMeta, LoadReport

router = APIRouter(prefix="/api/v1/admin", tags=["administration"])


def _load_in_transaction(
    factory: sessionmaker[Session], path: Path, layer_type: str, meta: LayerMeta, *, dry_run: bool, **options
) -> LoadReport:
    """Load the file in one transaction: committed, or rolled back when refused or with ``dry_run``."""
    with transaction(factory, dry_run=dry_run) as session:
        return load_file(session, path, layer_type, meta, dry_run=dry_run, **options)


async def save_upload(upload: UploadFile, folder: Path, limit_bytes: int) -> Path:
    """Write an upload into ``folder`` under its own base name, refusing it past ``limit_bytes``."""
    name = Path(upload.filename or "upload").name
    target = folder / name
    size = 0
    with open(target, "wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit_bytes:
                raise PayloadTooLarge(f"The file is larger than {limit_bytes // (1 << 20)} MB.")
            out.write(chunk)
    return target


@router.post(
    "/layers",
    summary="Load a boundary layer file (one transaction; nothing stored if refused)",
    status_code=201,
    response_model=LoadReport,  # the store's own report (a dataclass) is the schema
    responses={200: {"model": LoadReport, "description": "dry_run: checked, nothing stored"}},
)
async def upload_layer(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile or KML, in any CRS")],
    layer_type: Annotated[str, Form(description=" | ".join(LAYER_TYPES))],
    name: Annotated[str, Form(min_length=1, max_length=120)],
    version: Annotated[str, Form(min_length=1, max_length=60)],
    source: Annotated[str, Form(min_length=1, max_length=2000)],
    licence: Annotated[str, Form(min_length=1, max_length=500)],
    attribution: Annotated[str, Form(min_length=1, max_length=1000)],
    title: Annotated[str | None, Form(max_length=500)] = None,
    illustrative: Annotated[bool, Form()] = False,
    fields: Annotated[str | None, Form(description='JSON: {"code": "COLUMN", "name_th": "COLUMN", ...}')] = None,
    layer: Annotated[str | None, Form(max_length=200)] = None,
    encoding: Annotated[str | None, Form(max_length=30)] = None,
    default_kind: Annotated[str | None, Form(max_length=40)] = None,
    repair: Annotated[bool, Form()] = False,
    dry_run: Annotated[bool, Form()] = False,
) -> JSONResponse:
    """Check and load an uploaded file (201), or with dry_run only report what would change (200)."""
    if layer_type not in LAYER_TYPES:
        raise InvalidInput(f"layer_type must be one of: {', '.join(LAYER_TYPES)}.", code="invalid_layer_type")
    mapping = field_mapping(fields, '{"code": "amp_code", "name_th": "ADM2_TH"}')
    meta = LayerMeta(
        name=name,
        version=version,
        source=source,
        licence=licence,
        attribution=attribution,
        title=title,
        illustrative=illustrative,
        loaded_by=principal.name,
    )
    with scratch.temp_dir("geo_service_upload_") as tmp:
        path = await save_upload(file, Path(tmp), settings.service.max_upload_mb << 20)
        report = await run_in_threadpool(
            _load_in_transaction,
            request.app.state.sessionmaker,
            path,
            layer_type,
            meta,
            original_name=path.name,
            fields=mapping,
            layer=layer,
            encoding=encoding,
            default_kind=default_kind,
            repair=repair,
            dry_run=dry_run,
        )
    return JSONResponse(report.as_dict(), status_code=200 if dry_run else 201)
