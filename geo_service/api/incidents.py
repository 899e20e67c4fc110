"""Field incidents: locate, create (idempotent), read, update (If-Match), list and GeoJSON."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from geo_service import redaction
from geo_service.api.deps import IncidentReaderDep, ReporterDep, SessionDep, etag, if_match_version, parse_bbox
from geo_service.api.geojson import GeoJSONResponse, geojson_responses
from geo_service.db.models import IncidentKind, IncidentStatus
from geo_service.errors import InvalidInput, LayerRejected, PayloadTooLarge
from geo_service.incidents import bulk, service
from geo_service.incidents.schemas import (
    ImportReportOut,
    IncidentCreate,
    IncidentFilter,
    IncidentOut,
    IncidentPage,
    IncidentUpdate,
    LocateOut,
    LocationIn,
)

router = APIRouter(prefix="/api/v1", tags=["incidents"])
KEY = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")


class ImportRefused(LayerRejected):  # 422, like a refused layer file
    """A real import with refused rows: nothing was stored."""

    code = "import_refused"


def incident_filter(
    district: Annotated[str | None, Query(max_length=20)] = None,
    subdistrict: Annotated[str | None, Query(max_length=20)] = None,
    protected_area: Annotated[str | None, Query(max_length=40)] = None,
    in_reserve: bool | None = None,
    kind: Annotated[list[IncidentKind] | None, Query()] = None,
    status: Annotated[list[IncidentStatus] | None, Query()] = None,
    start: Annotated[date | None, Query(alias="from", description="First day (Asia/Bangkok)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day (Asia/Bangkok), included")] = None,
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Text in description, reporter, location or tags")
    ] = None,
) -> IncidentFilter:
    """The list filters from the query string (shared by the JSON and GeoJSON lists)."""
    if start and end and end < start:
        raise InvalidInput("'to' is before 'from'.", code="invalid_period")
    return IncidentFilter(
        district=district,
        subdistrict=subdistrict,
        protected_area=protected_area,
        in_reserve=in_reserve,
        kinds=[k.value for k in kind] if kind else None,
        statuses=[s.value for s in status] if status else None,
        start=start,
        end=end,
        bbox=parse_bbox(bbox),
        q=q,
    )


FilterDep = Annotated[IncidentFilter, Depends(incident_filter)]


@router.post(
    "/incidents/locate",
    summary="Where a position falls (district, reserve) before saving",
    response_model=LocateOut,
)
def locate(body: LocationIn, session: SessionDep, principal: ReporterDep):
    """Where a position falls, without saving it."""
    with session.begin():
        answer = service.where_is(session, body)
    return JSONResponse(answer)


@router.post(
    "/incidents",
    status_code=201,
    summary="Log an incident (idempotent with an Idempotency-Key header)",
    response_model=IncidentOut,
    responses={200: {"model": IncidentOut, "description": "A retry with the same Idempotency-Key: the incident"}},
)
def create(
    body: IncidentCreate,
    session: SessionDep,
    principal: ReporterDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="A client-generated unique key (8-100 chars); a retry with the same key never duplicates"),
    ] = None,
):
    """Log an incident; a retry with the same Idempotency-Key returns the first one (200)."""
    if idempotency_key is not None and not KEY.match(idempotency_key):
        raise InvalidInput(
            "Idempotency-Key must be 8-100 letters, digits, '.', '_', ':' or '-'.", code="invalid_idempotency_key"
        )
    with session.begin():
        incident, created = service.create_incident(session, body, principal, idempotency_key)
    headers = {"ETag": etag(incident), "Location": f"/api/v1/incidents/{incident['id']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(redaction.incident(incident, principal), status_code=201 if created else 200, headers=headers)


@router.get("/incidents", summary="Incidents with filters, newest first, paginated", response_model=IncidentPage)
def list_(
    session: SessionDep,
    principal: IncidentReaderDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """A page of incidents, what the caller may not read withheld."""
    with session.begin():
        page = service.list_for(session, flt, principal, limit, offset)
    return JSONResponse(page)


@router.get(
    "/incidents.geojson",
    summary="Incidents as a GeoJSON FeatureCollection (same filters)",
    response_class=GeoJSONResponse,
    responses=geojson_responses(),
)
def list_geojson(
    session: SessionDep,
    principal: IncidentReaderDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """A page of incidents as GeoJSON points, what the caller may not read withheld."""
    with session.begin():
        body = service.feature_collection(session, flt, principal, limit, offset)
    return GeoJSONResponse(body)


@router.get("/incidents/{incident_id}", summary="One incident (ETag = its version)", response_model=IncidentOut)
def read(incident_id: int, session: SessionDep, principal: IncidentReaderDep):
    """One incident, what the caller may not read withheld."""
    with session.begin():
        incident = service.get_incident(session, incident_id, principal)
    return JSONResponse(redaction.incident(incident, principal), headers={"ETag": etag(incident)})


@router.patch(
    "/incidents/{incident_id}",
    summary="Change an incident; send If-Match with the ETag you read",
    response_model=IncidentOut,
)
def update(
    incident_id: int,
    body: IncidentUpdate,
    session: SessionDep,
    principal: ReporterDep,
    if_match: Annotated[str | None, Header()] = None,
):
    """Change an incident still at the version read (If-Match)."""
    with session.begin():
        incident = service.update_incident(session, incident_id, body, if_match_version(if_match), principal)
    return JSONResponse(redaction.incident(incident, principal), headers={"ETag": etag(incident)})


@router.post(
    "/incidents/import",
    summary="Import incidents from CSV, GPX or KML (dry run, or all or nothing)",
    response_model=ImportReportOut,
    responses={201: {"model": ImportReportOut, "description": "Imported (not a dry run): every row stored"}},
)
async def import_file(
    session: SessionDep,
    principal: ReporterDep,
    request: Request,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or Thai cp874), GPX waypoints or KML placemarks")],
    dry_run: Annotated[bool, Form(description="Check and report row by row; store nothing")] = True,
    default_kind: Annotated[IncidentKind | None, Form(description="Kind for rows without one")] = None,
    encoding: Annotated[str | None, Form(max_length=20, description="Text encoding of a CSV (default: detect)")] = None,
    confirm_outside_province: Annotated[bool, Form()] = False,
):
    """Check a file row by row (dry run: 200) or store all its incidents (201); a refused row stores none."""
    limit = request.app.state.settings.service.max_upload_mb << 20
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge("The file is larger than this service accepts.")

    def run():
        with session.begin():
            report = bulk.import_incidents(
                session,
                data,
                file.filename or "upload.csv",
                principal,
                dry_run=dry_run,
                default_kind=default_kind.value if default_kind else None,
                encoding=encoding,
                confirm_outside_province=confirm_outside_province,
            )
            if report.refused and not dry_run:
                raise ImportRefused(
                    f"{report.refused} of {len(report.rows)} rows are refused; nothing was stored. "
                    "Fix them (see details) and import again.",
                    details=[r.__dict__ for r in report.rows if r.status == "refused"],
                )
            return report

    report = await run_in_threadpool(run)
    return JSONResponse(report.as_dict(), status_code=200 if dry_run else 201)
