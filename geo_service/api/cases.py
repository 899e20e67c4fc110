"""Cases: thin routes over cases/service.py; each request runs under row-level security as its caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from geo_service.api.deps import AdminDep, SessionDep, etag, if_match_version, require_roles
from geo_service.api.geojson import GeoJSONResponse, geojson_responses
from geo_service.auth import Principal, Role
from geo_service.cases import evidence, service
from geo_service.cases import evidence_geojson as case_geojson
from geo_service.cases.access import act_as
from geo_service.cases.schemas import (
    AssignIn,
    AuditEntryOut,
    CaseCreate,
    CaseList,
    CaseOut,
    CaseUpdate,
    LinkIn,
    NoteIn,
    PartyIn,
    Suggestions,
    Transition,
)
from geo_service.cases.suggestions import PATCH_DAYS, suggest
from geo_service.db.models import CaseCategory, CaseStage
from geo_service.errors import InvalidInput

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
CaseReader = Annotated[Principal, Depends(require_roles(Role.administrator, Role.investigator, Role.committee_member))]
CaseWorker = Annotated[Principal, Depends(require_roles(Role.administrator, Role.investigator))]


BINARY = {"schema": {"type": "string", "format": "binary"}}


@contextmanager
def as_caller(session: Session, principal: Principal) -> Iterator[Session]:
    """The request's transaction, run under row-level security as the caller."""
    with session.begin():
        act_as(session, principal)
        yield session


def _case_response(case: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(case, status_code=status, headers={"ETag": etag(case)})


@router.get(
    "",
    response_model=CaseList,
    response_model_exclude_unset=True,  # the fields a role may not see stay absent
    summary="Cases this caller may see (newest first)",
)
def list_cases(
    session: SessionDep,
    principal: CaseReader,
    stage: CaseStage | None = None,
    category: CaseCategory | None = None,
    fiscal_year_be: Annotated[int | None, Query(ge=2500, le=2700)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Cases this caller may see, filtered, one page at a time."""
    with as_caller(session, principal):
        return service.list_cases(
            session,
            principal,
            stage=stage and stage.value,
            category=category and category.value,
            fiscal_year_be=fiscal_year_be,
            limit=limit,
            offset=offset,
        )


@router.post(
    "", response_model=CaseOut, status_code=201, summary="Open a case (the reference is assigned by the service)"
)
def create(body: CaseCreate, session: SessionDep, principal: CaseWorker):
    """Open a case."""
    with as_caller(session, principal):
        case = service.create_case(session, body, principal)
    return _case_response(case, 201)


@router.get("/{case_id}", response_model=CaseOut, summary="One case, with the fields this caller's role may see")
def read(case_id: int, session: SessionDep, principal: CaseReader):
    """One case, with an ETag for later edits."""
    with as_caller(session, principal):
        return _case_response(service.get_case(session, case_id, principal))


@router.patch("/{case_id}", response_model=CaseOut, summary="Edit a case; If-Match with the ETag you read is required")
def update(
    case_id: int,
    body: CaseUpdate,
    session: SessionDep,
    principal: CaseWorker,
    if_match: Annotated[str | None, Header()] = None,
):
    """Edit the case (If-Match required)."""
    with as_caller(session, principal):
        return _case_response(service.update_case(session, case_id, body, if_match_version(if_match), principal))


@router.delete("/{case_id}", status_code=204, summary="Delete a case (administrators; recorded in the audit trail)")
def delete(case_id: int, session: SessionDep, principal: AdminDep):
    """Delete a case (administrators)."""
    with as_caller(session, principal):
        service.delete_case(session, case_id, principal)
    return Response(status_code=204)


@router.post(
    "/{case_id}/transitions",
    response_model=CaseOut,
    summary="Move the case to another stage, with a reason; If-Match with the ETag you read is required",
)
def move(
    case_id: int,
    body: Transition,
    session: SessionDep,
    principal: CaseWorker,
    if_match: Annotated[str | None, Header()] = None,
):
    """Move the case to another stage (If-Match required)."""
    with as_caller(session, principal):
        return _case_response(service.transition(session, case_id, body, if_match_version(if_match), principal))


@router.post("/{case_id}/assignments", response_model=CaseOut, summary="Assign an investigator")
def assign(case_id: int, body: AssignIn, session: SessionDep, principal: CaseWorker):
    """Assign an investigator to the case."""
    with as_caller(session, principal):
        return _case_response(service.assign(session, case_id, body.username, principal))


@router.delete(
    "/{case_id}/assignments/{username}", response_model=CaseOut, summary="Remove an investigator from the case"
)
def unassign(case_id: int, username: str, session: SessionDep, principal: CaseWorker):
    """Take an investigator off the case."""
    with as_caller(session, principal):
        return _case_response(service.unassign(session, case_id, username, principal))


@router.post(
    "/{case_id}/parties",
    response_model=CaseOut,
    status_code=201,
    summary="Add an agency or official concerned (confidential)",
)
def add_party(case_id: int, body: PartyIn, session: SessionDep, principal: CaseWorker):
    """Add an agency or official concerned."""
    with as_caller(session, principal):
        return _case_response(service.add_party(session, case_id, body, principal), 201)


@router.delete("/{case_id}/parties/{party_id}", response_model=CaseOut, summary="Remove a party")
def remove_party(case_id: int, party_id: int, session: SessionDep, principal: CaseWorker):
    """Remove a party from the case."""
    with as_caller(session, principal):
        return _case_response(service.remove_party(session, case_id, party_id, principal))


@router.post(
    "/{case_id}/notes",
    response_model=CaseOut,
    status_code=201,
    summary="Add a note (confidential unless said otherwise)",
)
def add_note(case_id: int, body: NoteIn, session: SessionDep, principal: CaseWorker):
    """Add a note to the case."""
    with as_caller(session, principal):
        return _case_response(service.add_note(session, case_id, body, principal), 201)


@router.post(
    "/{case_id}/attachments", response_model=CaseOut, status_code=201, summary="Attach a file (kept with its SHA-256)"
)
async def add_attachment(
    case_id: int,
    session: SessionDep,
    principal: CaseWorker,
    file: Annotated[UploadFile, File()],
    description: Annotated[str | None, Form(max_length=2000)] = None,
):
    """Keep a file with the case."""
    data = await file.read(service.MAX_ATTACHMENT + 1)

    def run():
        with as_caller(session, principal):
            return service.add_attachment(
                session, case_id, data, file.filename or "file", file.content_type, description, principal
            )

    return _case_response(await run_in_threadpool(run), 201)


@router.get(
    "/{case_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": BINARY}, "description": "The file as it was sent"}},
    summary="Download an attachment",
)
def get_attachment(case_id: int, attachment_id: int, session: SessionDep, principal: CaseWorker):
    """Download a file of the case (audited)."""
    with as_caller(session, principal):
        data, content_type, filename, sha = service.download_attachment(session, case_id, attachment_id, principal)
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "ETag": f'"{sha}"',
            "X-Content-Type-Options": "nosniff",
            "X-Original-Content-Type": content_type[:100],
        },
    )


@router.post(
    "/{case_id}/links",
    response_model=CaseOut,
    status_code=201,
    summary="Link evidence (incident, hotspot, event, area...)",
)
def add_link(case_id: int, body: LinkIn, session: SessionDep, principal: CaseWorker):
    """Link one piece of evidence."""
    with as_caller(session, principal):
        return _case_response(service.add_link(session, case_id, body, principal), 201)


@router.delete("/{case_id}/links/{link_id}", response_model=CaseOut, summary="Unlink evidence")
def remove_link(case_id: int, link_id: int, session: SessionDep, principal: CaseWorker):
    """Unlink evidence."""
    with as_caller(session, principal):
        return _case_response(service.remove_link(session, case_id, link_id, principal))


@router.get(
    "/{case_id}/audit",
    response_model=list[AuditEntryOut],
    summary="The case's audit trail (assigned investigators, administrators)",
)
def case_audit(case_id: int, session: SessionDep, principal: CaseWorker) -> list[dict]:
    """The case's audit trail, oldest first."""
    with as_caller(session, principal):
        return service.case_audit(session, case_id, principal)


@router.get("/{case_id}/evidence-pack", response_class=HTMLResponse, summary="Printable evidence pack (HTML)")
def evidence_pack(case_id: int, session: SessionDep, principal: CaseWorker):
    """The evidence pack as a printable page."""
    with as_caller(session, principal):
        html = evidence.export_html(session, case_id, principal)
    return Response(
        content=html,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/{case_id}/evidence-pack.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": BINARY}, "description": "The evidence pack (PDF)"}},
    summary="Evidence pack as PDF (WeasyPrint)",
)
def evidence_pack_pdf(case_id: int, session: SessionDep, principal: CaseWorker):
    """The evidence pack as a PDF file named after the case's reference."""
    with as_caller(session, principal):
        reference, pdf = evidence.export_pdf(session, case_id, principal)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{reference}.pdf"',
        },
    )


@router.get(
    "/{case_id}/suggestions",
    response_model=Suggestions,
    summary="Hotspots, fire events and clearing patches near the case's incidents or in its reserves",
)
def suggestions(
    case_id: int,
    session: SessionDep,
    principal: CaseWorker,
    distance_m: Annotated[float, Query(gt=0, le=20_000)] = 1000,
    days: Annotated[int, Query(ge=0, le=60)] = 3,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    patch_days: Annotated[
        int, Query(ge=0, le=365, description="clearing patches: days between an incident and the patch's alerts")
    ] = PATCH_DAYS,
) -> dict:
    """Ranked suggestions of evidence, each with its reason."""
    with as_caller(session, principal):
        return suggest(
            session, case_id, principal, distance_m=distance_m, days=days, limit=limit, patch_days=patch_days
        )


@router.post(
    "/{case_id}/links/batch", response_model=CaseOut, status_code=201, summary="Link several pieces of evidence at once"
)
def add_links(case_id: int, body: list[LinkIn], session: SessionDep, principal: CaseWorker):
    """Link up to 200 pieces of evidence, all or nothing."""
    if not 1 <= len(body) <= 200:
        raise InvalidInput("Send 1 to 200 links at a time.", code="invalid_batch")
    with as_caller(session, principal):
        return _case_response(service.add_links(session, case_id, body, principal), 201)


@router.get(
    "/{case_id}/evidence.geojson",
    response_class=GeoJSONResponse,
    responses=geojson_responses(description="The linked evidence, each feature with its link"),
    summary="The case's linked evidence as an RFC 7946 FeatureCollection",
)
def evidence_geojson(case_id: int, session: SessionDep, principal: CaseWorker):
    """The case's linked evidence as GeoJSON (the export is audited)."""
    with as_caller(session, principal):
        body = case_geojson.export_evidence(session, case_id, principal)
    return GeoJSONResponse(body, headers={"Cache-Control": "no-store"})
