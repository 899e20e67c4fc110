"""The public report page: GET /report (no account, Thai first, phone first, works offline) and its service
worker. It talks only to /api/v1/citizen/* and the public district outlines (static/report/report.js)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from geo_service.web.field import CSP, STATIC, templates
from geo_service.web.report_text import KINDS, page_text

router = APIRouter(include_in_schema=False)


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request) -> HTMLResponse:
    """The public report form, in Thai, with the English text for the toggle."""
    text = page_text()
    response = templates.TemplateResponse(
        request, "report.html", {"t": {k: v["th"] for k, v in text.items()}, "text": text, "kinds": list(KINDS)}
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/report/sw.js")
def service_worker() -> FileResponse:
    """The service worker of /report (its files live under /static/report/)."""
    return FileResponse(
        STATIC / "report" / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/report", "Cache-Control": "no-cache"},
    )
