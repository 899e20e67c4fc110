"""Committee briefs: made once for a fiscal year or quarter, stored, and shown or printed later as made."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from geo_service.api.deps import ReadSessionDep, SessionDep, require_roles
from geo_service.auth import Principal, Role
from geo_service.reports import brief as briefs
from geo_service.reports.pdf import html_to_pdf  # light: WeasyPrint itself loads inside html_to_pdf

router = APIRouter(prefix="/api/v1/briefs", tags=["committee briefs"])
Reader = Annotated[
    Principal,
    Depends(require_roles(Role.committee_member, Role.investigator, Role.administrator, Role.national_viewer)),
]


class BriefIn(BaseModel):
    """The period of a new brief: a Thai fiscal year, or one of its quarters."""

    fiscal_year_be: int = Field(
        ge=2500, le=2700, description="Buddhist Era fiscal year, e.g. 2567 (Oct 2023 - Sep 2024)"
    )
    quarter: int | None = Field(default=None, ge=1, le=4, description="1 = October-December")
    province: str | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9_-]+$",
        description='The province the brief covers (e.g. "54"); default: yours when you work in exactly one; '
        "national users get the national brief (every province, grouped by province)",
    )


class BriefOut(BaseModel):
    """A stored brief with its figures, as made."""

    id: int
    data_version: str = Field(description="SHA-256 of what the figures were made from (audit head, loads, layers)")
    province_code: str | None = Field(description="The province the brief covers; null: the national brief")
    figures: dict[str, Any] = Field(
        description="The stored figures: period, districts, protected_areas, area, outside_area, hotspots, "
        "hotspots_previous_year, incidents, cases_by_stage, cases_received, cases_scope, burned_ha_by_district, "
        "burned_area_rasters, freshness, layers, scope (the province covered, or national), by_province (the "
        "national brief: counts per province)"
    )
    created_by: str
    created_at: str = Field(description="When the brief was made (ISO 8601)")


class BriefListItem(BaseModel):
    """A brief in the list (without its figures)."""

    id: int
    period_from: date
    period_to: date
    fiscal_year_be: int
    quarter: int | None
    province_code: str | None
    data_version: str
    created_by: str
    created_at: datetime


@router.post(
    "",
    status_code=201,
    response_model=BriefOut,
    summary="Make a brief for a fiscal year or quarter (figures stored as of now)",
)
def create(body: BriefIn, session: SessionDep, principal: Reader, response: Response) -> dict:
    """Make and store a brief; its address is in the Location header."""
    period = briefs.brief_period(body.fiscal_year_be, body.quarter)
    with session.begin():
        province = briefs.brief_province(session, body.province, principal)
        made = briefs.create_brief(session, period, principal, province)
    response.headers["Location"] = f"/api/v1/briefs/{made['id']}"
    return made


@router.get("", response_model=list[BriefListItem], summary="Briefs made so far")
def list_(session: SessionDep, principal: Reader) -> list[dict]:
    """The briefs made so far, newest first."""
    with session.begin():
        return briefs.list_briefs(session, principal)


# The .pdf route comes first: "/{brief_id}" would otherwise take "5.pdf".
@router.get(
    "/{brief_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
    summary="A brief as PDF",
)
def pdf(brief_id: int, session: ReadSessionDep, principal: Reader) -> Response:
    """The brief's printable page as a PDF file (rendered after the transaction ends)."""
    with session.begin():
        html = briefs.brief_html(session, brief_id, principal)
    return Response(
        html_to_pdf(html),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="brief-{brief_id}.pdf"'},
    )


@router.get("/{brief_id}", response_class=HTMLResponse, summary="A brief as a printable page (its stored figures)")
def show(brief_id: int, session: ReadSessionDep, principal: Reader) -> HTMLResponse:
    """The brief as a printable HTML page, from its stored figures."""
    with session.begin():
        html = briefs.brief_html(session, brief_id, principal)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
