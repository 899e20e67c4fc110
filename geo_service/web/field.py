"""The phone-friendly incident form: GET /field (server-rendered, Thai first), its service worker and
static files. The page talks only to this service's own API (see static/field/*.js)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from geo_service.db.models import IncidentKind, Severity
from geo_service.web.field_text import page_text

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

# Only this origin: no CDN, no inline script, no external font or image.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=STATIC), name="static")


@router.get("/field", response_class=HTMLResponse)
def field_form(request: Request) -> HTMLResponse:
    """The incident form, in Thai, with the English text for the toggle."""
    text = page_text()
    response = templates.TemplateResponse(
        request,
        "field.html",
        {
            "t": {k: v["th"] for k, v in text.items()},
            "text": text,
            "kinds": [k.value for k in IncidentKind],
            "severities": [s.value for s in Severity],
        },
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/field/sw.js")
def service_worker() -> FileResponse:
    """The service worker lives under /static but controls the form's page at /field."""
    return FileResponse(
        STATIC / "field" / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/field", "Cache-Control": "no-cache"},
    )
