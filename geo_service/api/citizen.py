"""Reports from the public (no account), their follow-up with the receipt code, the triage queue, the audited
opening of contact details, and the volunteer network (README, *Reports from the public*).

No address or device data is stored: the client address is used only for the abuse limits, as a keyed hash in a
counter row that has no link to any report, and ``AnonymousAccessLog`` keeps it out of uvicorn's access log for
these paths (and the receipt code is sent in a header, never in a URL that a log would keep).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from geo_service.api.auth import Token
from geo_service.api.deps import SessionDep, optional_principal, require_roles
from geo_service.auth import Principal, Role
from geo_service.citizen import sealing, service
from geo_service.citizen.schemas import (
    AssignIn,
    ContactOut,
    FollowUpOut,
    MemberIn,
    MemberOut,
    MergeIn,
    NetworkCountsOut,
    OpenContactIn,
    ReceiptOut,
    RejectIn,
    ReportDetailOut,
    ReportIn,
    ReportPage,
    Status,
)
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput, PayloadTooLarge
from geo_service.incidents.schemas import LocateOut, LocationIn

router = APIRouter(prefix="/api/v1/citizen", tags=["citizen reports"])

# Paths whose callers' addresses never reach a log line: the public page, every static file and the district
# outlines it loads (none of them says anything about staff), and the citizen API.
ANONYMOUS_PATHS = ("/report", "/static/", "/api/v1/districts", "/api/v1/citizen/")
TriageDep = Annotated[Principal, Depends(require_roles(*service.TRIAGE_ROLES))]
InvestigatorDep = Annotated[Principal, Depends(require_roles(Role.investigator))]
AdminDep = Annotated[Principal, Depends(require_roles(Role.administrator))]
MemberDep = Annotated[Principal, Depends(require_roles(Role.network_member))]
CountsDep = Annotated[
    Principal,
    Depends(require_roles(Role.administrator, Role.investigator, Role.committee_member, Role.national_viewer)),
]
IMAGE_MEDIA: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/heic": {}}, "description": "The image"}
}


class AnonymousAccessLog(logging.Filter):
    """Replaces the client address of uvicorn's access-log records for the public report's paths with "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, without the address when the path is a citizen path."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and str(args[2]).startswith(ANONYMOUS_PATHS):
            record.args = ("-", *args[1:])
        return True


def install_access_log_filter() -> None:
    """Add the filter to uvicorn's access logger once (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AnonymousAccessLog) for f in access.filters):
        access.addFilter(AnonymousAccessLog())


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(request: Request, purpose: str, value: str, limit: int) -> None:
    """One abuse-limit count in a transaction of its own (committed even when the request then fails)."""
    with transaction(request.app.state.sessionmaker) as session:
        service.check_rate(session, request.app.state.jwt_secret, purpose, value, limit)


def _receipt_key(value: str) -> str:
    """A receipt as counted by its limit: the canonical form when it is one (so O/0 or spaces do not make a second
    counter), else as sent."""
    try:
        return sealing.normalise_receipt(value)
    except InvalidInput:
        return value


def _keys(request: Request) -> service.Keys:
    settings = request.app.state.settings
    return service.keys_for(
        settings.citizen,
        settings.db.data_dir,
        request.app.state.jwt_secret,
        settings.service.environment == "production",
    )


async def _read_photos(files: list[UploadFile] | None, request: Request) -> list[bytes]:
    settings = request.app.state.settings.citizen
    files = [f for f in files or [] if f.filename or f.size]
    if len(files) > settings.max_photos:
        raise InvalidInput(f"Send at most {settings.max_photos} photos at a time.", code="too_many_files")
    limit = settings.photo_max_mb_public << 20
    out = []
    for f in files:
        data = await f.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"A photo may be at most {settings.photo_max_mb_public} MB.")
        out.append(data)
    return out


# --- the public ------------------------------------------------------------------------------------------
@router.post(
    "/reports",
    status_code=201,
    summary="Report what you saw (no account); keep the receipt code to follow it",
    response_model=ReceiptOut,
    responses={200: {"model": ReceiptOut, "description": "A retry of the same report: the same receipt"}},
)
async def submit(
    request: Request,
    session: SessionDep,
    report: Annotated[str, Form(max_length=20_000, description="The report as JSON (ReportIn)")],
    photos: Annotated[list[UploadFile] | None, File(description="Up to 5 photos (JPEG, PNG, HEIC)")] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=16,
            max_length=100,
            description="A random key per report, at least 16 characters (the page sends a UUID): the receipt is "
            "derived from it, and a retry with it and the same report gets the same receipt",
        ),
    ] = None,
):
    """Store a report with its photos; a network member signed in sends with their identity sealed the same way."""
    principal = optional_principal(request)
    member = principal if principal is not None and principal.has(Role.network_member) else None
    settings = request.app.state.settings.citizen
    _limit(request, "report-address", _address(request), settings.reports_per_address_per_hour)
    try:
        body = ReportIn.model_validate_json(report)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("report", *e["loc"])} for e in exc.errors()]) from None
    blobs = await _read_photos(photos, request)
    keys = _keys(request)

    def run():
        with session.begin():
            return service.submit(session, body, blobs, keys, settings, idempotency_key, member)

    answer, created = await run_in_threadpool(run)
    return JSONResponse(
        ReceiptOut.model_validate(answer).model_dump(mode="json"),
        status_code=201 if created else 200,
        headers={"Cache-Control": "no-store"} | ({} if created else {"Idempotent-Replayed": "true"}),
    )


@router.post("/locate", summary="Where a position falls (the public form's check)", response_model=LocateOut)
def locate(request: Request, body: LocationIn, session: SessionDep):
    """District, subdistrict and protected areas of a typed, tapped or GPS position; nothing is stored."""
    _limit(
        request, "lookup-address", _address(request), request.app.state.settings.citizen.lookups_per_address_per_hour
    )
    with session.begin():
        return service.locate_public(session, body)


@router.get("/receipt", summary="A report's state, for the holder of its receipt code", response_model=FollowUpOut)
def follow_up(
    request: Request,
    session: SessionDep,
    x_receipt: Annotated[str, Header(max_length=64, description="The receipt code")],
):
    """Status, reason and counts; nothing about who handles it."""
    settings = request.app.state.settings.citizen
    _limit(request, "lookup-address", _address(request), settings.lookups_per_address_per_hour)
    _limit(request, "receipt", _receipt_key(x_receipt), settings.requests_per_receipt_per_hour)
    with session.begin():
        answer = service.follow_up(session, x_receipt)
    return JSONResponse(
        FollowUpOut.model_validate(answer).model_dump(mode="json"), headers={"Cache-Control": "no-store"}
    )


@router.post(
    "/receipt/additions",
    summary="Add information or photos to your report (receipt code in X-Receipt)",
    response_model=FollowUpOut,
    status_code=201,
)
async def add_information(
    request: Request,
    session: SessionDep,
    x_receipt: Annotated[str, Header(max_length=64, description="The receipt code")],
    text: Annotated[str, Form(max_length=5000)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
):
    """Store more text and photos with the report."""
    settings = request.app.state.settings.citizen
    _limit(request, "lookup-address", _address(request), settings.lookups_per_address_per_hour)
    _limit(
        request,
        "addition",
        _receipt_key(x_receipt),
        settings.additions_per_receipt_per_hour,
    )
    blobs = await _read_photos(photos, request)

    def run():
        with session.begin():
            return service.add_information(session, x_receipt, text, blobs, settings)

    answer = await run_in_threadpool(run)
    return JSONResponse(FollowUpOut.model_validate(answer).model_dump(mode="json"), status_code=201)


# --- triage ------------------------------------------------------------------------------------------------
@router.get("/reports", summary="The triage queue (your provinces)", response_model=ReportPage)
def queue(
    session: SessionDep,
    principal: TriageDep,
    status: Annotated[list[Status] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    """Reports waiting (default) or in the given statuses, newest first."""
    with session.begin():
        return service.queue(session, principal, list(status or ["received"]), limit, offset)


@router.get("/reports/{report_id}", summary="One report with its photos and additions", response_model=ReportDetailOut)
def one(report_id: int, session: SessionDep, principal: TriageDep):
    """A report (contact details only through the audited opening)."""
    with session.begin():
        return service.get_report(session, report_id, principal)


def _image(data: bytes, media_type: str, sha256: str, name: str) -> Response:
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
            "X-Original-SHA256": sha256,
        },
    )


@router.get(
    "/reports/{report_id}/photos/{photo_id}",
    summary="A report photo with EXIF and GPS stripped",
    response_class=Response,
    responses=IMAGE_MEDIA,
)
def photo(report_id: int, photo_id: int, session: SessionDep, principal: TriageDep):
    """The stripped copy (re-encoded pixels, no metadata); the original's SHA-256 in X-Original-SHA256."""
    with session.begin():
        data, media, sha = service.photo(session, report_id, photo_id, principal)
    return _image(data, media, sha, f"CR-{report_id}-{photo_id}.jpg")


@router.get(
    "/reports/{report_id}/photos/{photo_id}/original",
    summary="A report photo as received (assigned investigator; audited)",
    response_class=Response,
    responses=IMAGE_MEDIA,
)
def original_photo(report_id: int, photo_id: int, session: SessionDep, principal: InvestigatorDep):
    """The photo's bytes as received, EXIF included (evidence)."""
    with session.begin():
        data, media, sha = service.original_photo(session, report_id, photo_id, principal)
    return _image(data, media, sha, f"CR-{report_id}-{photo_id}-original")


@router.post("/reports/{report_id}/assign", summary="Assign the investigator", response_model=ReportDetailOut)
def assign(report_id: int, body: AssignIn, session: SessionDep, principal: TriageDep):
    """Name the investigator who may open the contact details."""
    with session.begin():
        return service.assign(session, report_id, body.investigator, principal)


@router.post(
    "/reports/{report_id}/accept", summary="Accept: the report becomes an incident", response_model=ReportDetailOut
)
def accept(report_id: int, request: Request, session: SessionDep, principal: TriageDep):
    """Create the incident (linked both ways: the report keeps its id, the incident names CR-<id>) with the photos'
    stripped copies."""
    with session.begin():
        return service.accept(session, report_id, principal, request.app.state.settings.service)


@router.post("/reports/{report_id}/merge", summary="Merge into the report it repeats", response_model=ReportDetailOut)
def merge(report_id: int, body: MergeIn, session: SessionDep, principal: TriageDep):
    """Join this report to another."""
    with session.begin():
        return service.merge(session, report_id, body.into, body.reason, principal)


@router.post("/reports/{report_id}/reject", summary="Reject with a reason", response_model=ReportDetailOut)
def reject(report_id: int, body: RejectIn, session: SessionDep, principal: TriageDep):
    """Refuse the report; the reporter reads the reason with the receipt."""
    with session.begin():
        return service.reject(session, report_id, body.reason, principal)


@router.post(
    "/reports/{report_id}/contact",
    summary="Open the sealed contact details (assigned investigator; audited)",
    response_model=ContactOut,
)
def open_contact(
    report_id: int, body: OpenContactIn, request: Request, session: SessionDep, principal: InvestigatorDep
):
    """The contact details (and a network member's account), opened with the key file; the opening is audited."""
    settings = request.app.state.settings
    with session.begin():
        answer = service.open_contact(
            session, report_id, body.purpose, principal, settings.citizen.key_file(settings.db.data_dir)
        )
    return JSONResponse(
        ContactOut.model_validate(answer).model_dump(mode="json"), headers={"Cache-Control": "no-store"}
    )


# --- the volunteer network ---------------------------------------------------------------------------------
@router.post(
    "/auth/token",
    summary="A network member's sign-in from the report page (the address is not logged)",
    response_model=Token,
)
def member_sign_in(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep
) -> JSONResponse:
    """A bearer token for an active network member; staff accounts are refused here (they sign in at /signin or
    ``/api/v1/auth/token``, whose access-log lines keep the address). Limited per address like the look-ups."""
    settings = request.app.state.settings
    _limit(request, "signin-address", _address(request), settings.citizen.lookups_per_address_per_hour)
    with session.begin():
        answer = service.member_sign_in(
            session, form.username, form.password, request.app.state.jwt_secret, settings.service.token_minutes
        )
    return JSONResponse(Token.model_validate(answer).model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post(
    "/auth/logout",
    status_code=204,
    summary="A network member's sign-out from the report page (every device)",
    response_class=Response,
)
def member_sign_out(session: SessionDep, principal: MemberDep) -> Response:
    """Revoke the member's tokens."""
    with session.begin():
        service.member_sign_out(session, principal)
    return Response(status_code=204)


@router.post(
    "/network/members", status_code=201, summary="Add a network member (account and district)", response_model=MemberOut
)
def add_member(body: MemberIn, session: SessionDep, principal: AdminDep):
    """A volunteer account with the network_member role, in a district."""
    with session.begin():
        return service.add_member(session, body, principal)


@router.get("/network/members", summary="The network's members", response_model=list[MemberOut])
def members(session: SessionDep, principal: AdminDep):
    """Members with their district and whether the account is active."""
    with session.begin():
        return service.list_members(session, principal)


@router.get(
    "/network/districts",
    summary="Active members and reports per district (the programme's reporting)",
    response_model=NetworkCountsOut,
)
def district_counts(
    session: SessionDep,
    principal: CountsDep,
    fiscal_year: Annotated[
        int | None, Query(ge=2540, le=2743, description="Thai fiscal year (BE); none: all time")
    ] = None,
):
    """Counts per district of the caller's provinces."""
    with session.begin():
        return service.district_counts(session, principal, fiscal_year)
