"""Committee briefs: made once for a fiscal year or quarter, stored, and shown or printed later as made."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from geo_service.api.deps import SessionDep, require_roles
from geo_service.auth import Principal, Role
from geo_service.reports import brief as briefs

router = APIRouter(prefix="/api/v1/briefs", tags=["committee briefs"])
Reader = Annotated[Principal, Depends(require_roles(Role.committee_member, Role.investigator, Role.administrator))]


class BriefIn(BaseModel):
    fiscal_year_be: int = Field(
        ge=2500, le=2700, description="Buddhist Era fiscal year, e.g. 2567 (Oct 2023 - Sep 2024)"
    )
    quarter: int | None = Field(default=None, ge=1, le=4, description="1 = October-December")


@router.post("", status_code=201, summary="Make a brief for a fiscal year or quarter (figures stored as of now)")
def create(body: BriefIn, session: SessionDep, principal: Reader):
    with session.begin():
        made = briefs.create_brief(session, briefs.brief_period(body.fiscal_year_be, body.quarter), principal)
    return JSONResponse(made, status_code=201, headers={"Location": f"/api/v1/briefs/{made['id']}"})


@router.get("", summary="Briefs made so far")
def list_(session: SessionDep, principal: Reader) -> list[dict]:
    return briefs.list_briefs(session)


# The .pdf route comes first: "/{brief_id}" would otherwise take "5.pdf".
@router.get("/{brief_id}.pdf", response_class=Response, summary="A brief as PDF")
def pdf(brief_id: int, session: SessionDep, principal: Reader):
    from geo_service.reports.pdf import html_to_pdf

    document = html_to_pdf(briefs.render_html(session, briefs.get_brief(session, brief_id)))
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="brief-{brief_id}.pdf"'},
    )


@router.get("/{brief_id}", response_class=HTMLResponse, summary="A brief as a printable page (its stored figures)")
def show(brief_id: int, session: SessionDep, principal: Reader):
    return HTMLResponse(
        briefs.render_html(session, briefs.get_brief(session, brief_id)),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
