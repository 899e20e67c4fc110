"""The sign-in page for pages opened in a browser (committee maps, briefs, evidence packs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from geo_service.api.auth import safe_next
from geo_service.web.field import CSP, HERE

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


@router.get("/signin", response_class=HTMLResponse)
def signin(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None, failed: bool = False
) -> HTMLResponse:
    """The sign-in page; back to ``next`` afterwards."""
    response = templates.TemplateResponse(request, "signin.html", {"next": safe_next(next), "failed": failed})
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response
