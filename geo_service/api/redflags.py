"""Red flags: contracts and land documents (loads and edits), the flags, the contractor view, the red-flag sheets.

Parcels (land documents) and every flag are for investigators and administrators only; loads, edits and "run now"
for administrators. Each route opens the transaction and calls one service function.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from geo_service import scratch
from geo_service.api.admin_layers import save_upload
from geo_service.api.deps import (
    AdminDep,
    SessionDep,
    SettingsDep,
    etag,
    field_mapping,
    if_match_version,
    require_roles,
)
from geo_service.api.geojson import GeoJSONResponse, geojson_responses
from geo_service.auth import Principal
from geo_service.cases.access import act_as
from geo_service.cases.schemas import CaseOut
from geo_service.db.engine import transaction
from geo_service.redflags import service, sheet, store
from geo_service.redflags.rules import RULES
from geo_service.redflags.schemas import (
    ContractEdit,
    ContractList,
    ContractorOut,
    ContractOut,
    Dismissal,
    FlagList,
    FlagOut,
    LinkToCase,
    LoadOut,
    OpenCase,
    ParcelEdit,
    ParcelList,
    ParcelOut,
    RunOut,
    RunRequest,
    VegetationOut,
)
from geo_service.settings import RedFlagSettings

router = APIRouter(tags=["red flags"])
Investigator = Annotated[Principal, Depends(require_roles(*service.FLAG_READERS))]
BINARY = {"schema": {"type": "string", "format": "binary"}}
PREFIX = "/api/v1/redflags"
RecordId = Annotated[int, PathParam(ge=1, le=2**62)]


def _load(factory: sessionmaker[Session], kind: str, path: Path, settings: RedFlagSettings, principal, **options):
    with transaction(factory) as session:
        return service.load_file(session, kind, path, settings, principal, **options)


async def _upload(request: Request, kind: str, principal, settings, file, fields, layer, encoding, crs, version):
    mapping = field_mapping(fields, '{"contract_number": "EGP_NO"}')
    with scratch.temp_dir("geo_service_upload_") as tmp:
        path = await save_upload(file, Path(tmp), settings.service.max_upload_mb << 20)
        out = await run_in_threadpool(
            _load,
            request.app.state.sessionmaker,
            kind,
            path,
            settings.red_flags,
            principal,
            original_name=path.name,
            fields=mapping,
            layer=layer,
            encoding=encoding,
            crs=crs,
            source_version=version,
        )
    return JSONResponse(out, status_code=201)


_FILE = File(description="GeoPackage, zipped Shapefile, GeoJSON or CSV with a WKT column, in any CRS")
_FIELDS = Form(description='JSON: target field -> column, e.g. {"contract_number": "EGP_NO"}')
_CRS = Form(max_length=40, description="CRS of a CSV's WKT (default EPSG:4326)")


@router.post(
    "/api/v1/admin/redflags/contracts",
    status_code=201,
    response_model=LoadOut,
    summary="Load public-works contracts (upsert by contract number; rules re-run)",
)
async def upload_contracts(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, _FILE],
    fields: Annotated[str | None, _FIELDS] = None,
    layer: Annotated[str | None, Form(max_length=200)] = None,
    encoding: Annotated[str | None, Form(max_length=30)] = None,
    crs: Annotated[str | None, _CRS] = None,
    version: Annotated[str | None, Form(max_length=60)] = None,
) -> JSONResponse:
    """Check and load a contracts file in one transaction; nothing is stored if any row is refused."""
    return await _upload(request, "contracts", principal, settings, file, fields, layer, encoding, crs, version)


@router.post(
    "/api/v1/admin/redflags/parcels",
    status_code=201,
    response_model=LoadOut,
    summary="Load land-document parcels (confidential; upsert by document type and number)",
)
async def upload_parcels(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, _FILE],
    fields: Annotated[str | None, _FIELDS] = None,
    layer: Annotated[str | None, Form(max_length=200)] = None,
    encoding: Annotated[str | None, Form(max_length=30)] = None,
    crs: Annotated[str | None, _CRS] = None,
    version: Annotated[str | None, Form(max_length=60)] = None,
) -> JSONResponse:
    """Check and load a parcels file in one transaction; nothing is stored if any row is refused."""
    return await _upload(request, "parcels", principal, settings, file, fields, layer, encoding, crs, version)


@router.post("/api/v1/admin/redflags/run", response_model=RunOut, summary="Run the red-flag rules now")
def run_now(session: SessionDep, principal: AdminDep, settings: SettingsDep, body: RunRequest | None = None) -> dict:
    """Run every enabled rule (or those named); audited."""
    with session.begin():
        return {"rules": service.run_now(session, settings.red_flags, principal, body.rules if body else None)}


def _vegetation(factory: sessionmaker[Session], before: Path, after: Path, index: str, settings, principal, **kw):
    with transaction(factory) as session:
        return service.vegetation(session, before, after, index, settings, principal, **kw)


@router.post(
    "/api/v1/admin/redflags/vegetation",
    status_code=201,
    response_model=VegetationOut,
    summary="Measure vegetation gain of reforestation plots from an index raster pair (NDVI / NBR)",
)
async def upload_vegetation(
    request: Request,
    principal: AdminDep,
    settings: SettingsDep,
    before: Annotated[UploadFile, File(description="Index GeoTIFF before (NDVI or NBR, -1..1, any CRS)")],
    after: Annotated[UploadFile, File(description="Index GeoTIFF after (any CRS; warped onto the before grid)")],
    index: Annotated[str, Form(max_length=10, description="ndvi or nbr")] = "ndvi",
    before_date: Annotated[date | None, Form()] = None,
    after_date: Annotated[date | None, Form()] = None,
) -> JSONResponse:
    """Store each covered plot's mean index change and re-run reforestation_loss, in one transaction."""
    limit = settings.red_flags.vegetation_max_mb << 20
    with scratch.temp_dir("geo_service_upload_") as tmp:
        (Path(tmp) / "before").mkdir()
        (Path(tmp) / "after").mkdir()
        before_path = await save_upload(before, Path(tmp) / "before", limit)
        after_path = await save_upload(after, Path(tmp) / "after", limit)
        out = await run_in_threadpool(
            _vegetation,
            request.app.state.sessionmaker,
            before_path,
            after_path,
            index,
            settings.red_flags,
            principal,
            before_date=before_date,
            after_date=after_date,
            names=(before_path.name, after_path.name),
        )
    return JSONResponse(json.loads(json.dumps(out, default=str)), status_code=201)


# --- contracts and parcels -------------------------------------------------------------------------
@router.get(f"{PREFIX}/contracts", response_model=ContractList, summary="Public-works contracts")
def list_contracts(
    session: SessionDep,
    principal: Investigator,
    contractor: Annotated[str | None, Query(max_length=300)] = None,
    agency: Annotated[str | None, Query(max_length=300)] = None,
    fiscal_year_be: Annotated[int | None, Query(ge=2400, le=2700)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """Contracts, filtered, one page at a time."""
    with session.begin():
        return store.list_contracts(
            session,
            contractor=contractor,
            agency=agency,
            fiscal_year_be=fiscal_year_be,
            provinces=principal.provinces,
            limit=limit,
            offset=offset,
        )


@router.get(f"{PREFIX}/contracts/{{contract_id}}", response_model=ContractOut, summary="One contract, its versions")
def read_contract(contract_id: RecordId, session: SessionDep, principal: Investigator):
    """One contract with an ETag for edits, and its history."""
    with session.begin():
        c = service.contract_with_history(session, contract_id, principal)
    return JSONResponse(c, headers={"ETag": etag(c)})


@router.patch(
    f"{PREFIX}/contracts/{{contract_id}}",
    response_model=ContractOut,
    summary="Edit a contract; If-Match with the ETag you read is required",
)
def edit_contract(
    contract_id: RecordId,
    body: ContractEdit,
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    if_match: Annotated[str | None, Header()] = None,
):
    """Edit a contract (optimistic locking, audited, rules re-run)."""
    with session.begin():
        c = service.edit_contract(session, contract_id, body, if_match_version(if_match), settings.red_flags, principal)
    return JSONResponse(c, headers={"ETag": etag(c)})


@router.get(f"{PREFIX}/parcels", response_model=ParcelList, summary="Land-document parcels (confidential)")
def list_parcels(
    session: SessionDep,
    principal: Investigator,
    doc_type: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """Parcels, one page at a time (investigators and administrators only)."""
    with session.begin():
        return store.list_parcels(session, doc_type=doc_type, provinces=principal.provinces, limit=limit, offset=offset)


@router.get(f"{PREFIX}/parcels/{{parcel_id}}", response_model=ParcelOut, summary="One parcel, its versions")
def read_parcel(parcel_id: RecordId, session: SessionDep, principal: Investigator):
    """One parcel with an ETag for edits, and its history."""
    with session.begin():
        p = service.parcel_with_history(session, parcel_id, principal)
    return JSONResponse(p, headers={"ETag": etag(p)})


@router.patch(
    f"{PREFIX}/parcels/{{parcel_id}}",
    response_model=ParcelOut,
    summary="Edit a parcel; If-Match with the ETag you read is required",
)
def edit_parcel(
    parcel_id: RecordId,
    body: ParcelEdit,
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    if_match: Annotated[str | None, Header()] = None,
):
    """Edit a parcel (optimistic locking, audited, rules re-run)."""
    with session.begin():
        p = service.edit_parcel(session, parcel_id, body, if_match_version(if_match), settings.red_flags, principal)
    return JSONResponse(p, headers={"ETag": etag(p)})


# --- flags ---------------------------------------------------------------------------------------
def _filters(
    principal: Investigator,
    district: Annotated[str | None, Query(max_length=20)] = None,
    reserve: Annotated[str | None, Query(max_length=40)] = None,
    agency: Annotated[str | None, Query(max_length=300)] = None,
    contractor: Annotated[str | None, Query(max_length=300)] = None,
    fiscal_year_be: Annotated[int | None, Query(ge=2400, le=2700)] = None,
    rule: Annotated[str | None, Query(max_length=40, description=" | ".join(RULES))] = None,
    status: Annotated[str | None, Query(pattern="^(open|dismissed|linked)$")] = None,
    subject_type: Annotated[str | None, Query(pattern="^(contract|parcel|reserve_cell)$")] = None,
    include_gone: bool = False,
) -> dict:
    return store.flag_params(
        district=district,
        reserve=reserve,
        agency=agency,
        contractor=contractor,
        fiscal_year_be=fiscal_year_be,
        rule=rule,
        status=status,
        subject_type=subject_type,
        include_gone=include_gone,
        provinces=principal.provinces,
    )


FlagFilters = Annotated[dict, Depends(_filters)]


@router.get(f"{PREFIX}/flags", response_model=FlagList, summary="Red flags (filters: district, reserve, agency, ...)")
def list_flags(
    session: SessionDep,
    principal: Investigator,
    filters: FlagFilters,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """Flags, severity first; gone flags only with include_gone."""
    with session.begin():
        return service.list_flags(session, filters, limit=limit, offset=offset)


@router.get(
    f"{PREFIX}/flags.geojson",
    response_class=GeoJSONResponse,
    responses=geojson_responses(description="Flags as a map layer (contract areas, parcels, reserve cells)"),
    summary="Red flags as an RFC 7946 FeatureCollection",
)
def flags_geojson(session: SessionDep, principal: Investigator, filters: FlagFilters):
    """The flags' subjects as a map layer."""
    with session.begin():
        body = store.flags_geojson(session, filters)
    return GeoJSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get(f"{PREFIX}/flags/{{flag_id}}", response_model=FlagOut, summary="One flag with its history")
def read_flag(flag_id: RecordId, session: SessionDep, principal: Investigator):
    """One flag, with an ETag for a dismissal."""
    with session.begin():
        f = service.get_flag(session, flag_id, principal)
    return JSONResponse(f, headers={"ETag": etag(f)})


@router.post(
    f"{PREFIX}/flags/{{flag_id}}/dismiss",
    response_model=FlagOut,
    summary="Dismiss a flag with a reason (audited; never recreated by a re-run)",
)
def dismiss(
    flag_id: RecordId,
    body: Dismissal,
    session: SessionDep,
    principal: Investigator,
    if_match: Annotated[str | None, Header()] = None,
):
    """Dismiss the flag (If-Match optional: when sent, the flag must still be at that version)."""
    with session.begin():
        f = service.dismiss(session, flag_id, body.reason, if_match_version(if_match), principal)
    return JSONResponse(f, headers={"ETag": etag(f)})


@router.post(
    f"{PREFIX}/flags/{{flag_id}}/case",
    response_model=CaseOut,
    status_code=201,
    summary="Open a case from a flag (the flag, its contracts or parcels and its reserve are linked)",
)
def open_case(flag_id: RecordId, body: OpenCase, session: SessionDep, principal: Investigator):
    """Open a case from the flag, under the cases' row-level security."""
    with session.begin():
        act_as(session, principal)
        case = service.open_case(session, flag_id, body, principal)
    return JSONResponse(case, status_code=201, headers={"ETag": etag(case)})


@router.post(f"{PREFIX}/flags/{{flag_id}}/link", response_model=FlagOut, summary="Link a flag to an existing case")
def link(flag_id: RecordId, body: LinkToCase, session: SessionDep, principal: Investigator) -> dict:
    """Link the flag (and its contracts or parcels) to a case the caller works on."""
    with session.begin():
        act_as(session, principal)
        return service.link_to_case(session, flag_id, body.case_id, principal)


@router.get(
    f"{PREFIX}/contractors/{{name}}",
    response_model=ContractorOut,
    summary="A contractor's contracts and every flag across them",
)
def contractor(
    name: Annotated[str, PathParam(min_length=1, max_length=300)], session: SessionDep, principal: Investigator
) -> dict:
    """All flags across a contractor's contracts (name as in the contracts, exact)."""
    with session.begin():
        return service.contractor_view(session, name[:300], principal)


def _sheet(session: Session, kind: str, record_id: int, principal: Principal, fmt: str) -> Response:
    with session.begin():
        body = sheet.export(session, kind, record_id, principal, fmt)
    if fmt == "pdf":
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": f'attachment; filename="red-flag-sheet-{kind}-{record_id}.pdf"',
            },
        )
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The red-flag sheet"}
}
_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": BINARY}, "description": "The red-flag sheet (PDF)"}
}


@router.get(
    f"{PREFIX}/contracts/{{contract_id}}/sheet",
    response_class=Response,
    responses=_HTML,
    summary="Red-flag sheet of a contract (HTML)",
)
def contract_sheet(contract_id: RecordId, session: SessionDep, principal: Investigator) -> Response:
    """The contract's red-flag sheet; the export is audited."""
    return _sheet(session, "contract", contract_id, principal, "html")


@router.get(
    f"{PREFIX}/contracts/{{contract_id}}/sheet.pdf",
    response_class=Response,
    responses=_PDF,
    summary="Red-flag sheet of a contract (PDF)",
)
def contract_sheet_pdf(contract_id: RecordId, session: SessionDep, principal: Investigator) -> Response:
    """The contract's red-flag sheet as PDF; the export is audited."""
    return _sheet(session, "contract", contract_id, principal, "pdf")


@router.get(
    f"{PREFIX}/parcels/{{parcel_id}}/sheet",
    response_class=Response,
    responses=_HTML,
    summary="Red-flag sheet of a parcel (HTML, confidential)",
)
def parcel_sheet(parcel_id: RecordId, session: SessionDep, principal: Investigator) -> Response:
    """The parcel's red-flag sheet; the export is audited."""
    return _sheet(session, "parcel", parcel_id, principal, "html")


@router.get(
    f"{PREFIX}/parcels/{{parcel_id}}/sheet.pdf",
    response_class=Response,
    responses=_PDF,
    summary="Red-flag sheet of a parcel (PDF, confidential)",
)
def parcel_sheet_pdf(parcel_id: RecordId, session: SessionDep, principal: Investigator) -> Response:
    """The parcel's red-flag sheet as PDF; the export is audited."""
    return _sheet(session, "parcel", parcel_id, principal, "pdf")
