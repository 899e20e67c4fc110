"""The interactive API documentation (/docs: Swagger UI, /redoc: ReDoc) with their files served by the
service itself, from the npm packages pinned in geo_service/web/vendor/package-lock.json: the pages work
offline and load nothing from a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from geo_service.errors import NotFound

MODULES = Path(__file__).resolve().parent / "vendor" / "node_modules"
PREFIX = "/docs/vendor"
FILES = {  # served name -> file under node_modules
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "favicon-32x32.png": "swagger-ui-dist/favicon-32x32.png",
    "redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
}
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI document."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} — API",
        swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
        oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_ui_parameters={"validatorUrl": None},
    )  # no badge fetched from validator.swagger.io


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc for the OpenAPI document."""
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} — API (ReDoc)",
        redoc_js_url=f"{PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{PREFIX}/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get(PREFIX + "/{name}")
def vendor(name: str) -> FileResponse:
    """One of the documentation's pinned files (an allow-list: nothing else under node_modules)."""
    if name not in FILES:
        raise NotFound("No such documentation file.")
    file = MODULES / FILES[name]
    if not file.is_file():
        raise NotFound("Documentation file missing: run ./dev setup (npm ci in geo_service/web/vendor).")
    return FileResponse(file, headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
