"""The public transparency page ``/open``, the DCAT catalogue ``/catalog.json``, the open tables as CSV and
GeoJSON, the PDFs of the briefs marked public, and the administrator's switch that marks a brief public.

Everything here but the switch is public: it reads only counts, areas, published credits and the briefs marked
public (tests/test_open_data.py walks every public route with a hostile data set)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from geo_service.api.deps import ReadSessionDep, SessionDep, SettingsDep, require_roles
from geo_service.api.geojson import FeatureCollection, GeoJSONResponse, geojson_responses
from geo_service.auth import Principal, Role
from geo_service.opendata import service, tables
from geo_service.reports.pdf import html_to_pdf
from geo_service.web.field import CSP

router = APIRouter(tags=["open data"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "web" / "templates")
PUBLISHERS = Annotated[Principal, Depends(require_roles(Role.administrator))]  # no committee-chair role exists
# The PDFs of public briefs, newest use last: a plain OrderedDict (a bounded LRU needs nothing more; keyed by the
# database, the brief, its data version and publication, so a re-publication or another database renders anew).
PDF_CACHE_SIZE = 32
_PDF_CACHE: OrderedDict[tuple[str, int, str, str], bytes] = OrderedDict()
_PDF_LOCK = threading.Lock()  # routes run in the thread pool
PUBLIC_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


class JSONLDResponse(JSONResponse):
    """JSON-LD (``application/ld+json``)."""

    media_type = "application/ld+json"


class LangString(BaseModel):
    """A text in one language (JSON-LD ``@language`` and ``@value``)."""

    model_config = ConfigDict(populate_by_name=True)
    language: str = Field(alias="@language")
    value: str = Field(alias="@value")


class Distribution(BaseModel):
    """A way to get a dataset: its download URL and media type (DCAT ``dcat:Distribution``)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")
    type: str = Field(alias="@type")
    title: list[LangString] = Field(alias="dct:title")
    access_url: str = Field(alias="dcat:accessURL")
    download_url: str = Field(alias="dcat:downloadURL")
    media_type: str = Field(alias="dcat:mediaType")
    format: str = Field(alias="dct:format")


class CatalogDataset(BaseModel):
    """One dataset of the catalogue (DCAT ``dcat:Dataset``)."""

    model_config = ConfigDict(populate_by_name=True)
    type: str = Field(alias="@type")
    id: str = Field(alias="@id")
    identifier: str = Field(alias="dct:identifier")
    title: list[LangString] = Field(alias="dct:title")
    description: list[LangString] = Field(alias="dct:description")
    keyword: list[str] = Field(alias="dcat:keyword")
    license: dict[str, Any] = Field(alias="dct:license")
    publisher: dict[str, Any] = Field(alias="dct:publisher")
    accrual_periodicity: dict[str, str] = Field(alias="dct:accrualPeriodicity")
    modified: str | None = Field(alias="dct:modified", description="Last update of its data (Asia/Bangkok)")
    temporal: dict[str, Any] | None = Field(
        default=None, alias="dct:temporal", description="The period covered (none for the reference layers)"
    )
    spatial: dict[str, Any] | None = Field(alias="dct:spatial")
    landing_page: str = Field(alias="dcat:landingPage")
    distribution: list[Distribution] = Field(alias="dcat:distribution")


class Catalog(BaseModel):
    """The DCAT-AP-like catalogue of the open datasets (JSON-LD)."""

    model_config = ConfigDict(populate_by_name=True)
    context: dict[str, str] = Field(alias="@context")
    type: str = Field(alias="@type")
    id: str = Field(alias="@id")
    title: list[LangString] = Field(alias="dct:title")
    description: list[LangString] = Field(alias="dct:description")
    publisher: dict[str, Any] = Field(alias="dct:publisher")
    license: dict[str, Any] = Field(alias="dct:license")
    homepage: str = Field(alias="foaf:homepage")
    modified: str = Field(alias="dct:modified")
    dataset: list[CatalogDataset] = Field(alias="dcat:dataset")


class BriefPublicIn(BaseModel):
    """Whether the brief is public (listed on /open with its PDF) or not."""

    public: bool


class BriefPublicOut(BaseModel):
    """A brief's publication: public or not, since when and by whom."""

    id: int
    public: bool
    published_at: datetime | None
    published_by: str | None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/open", response_class=HTMLResponse, summary="The public transparency page (Thai and English)")
def open_page(request: Request, session: ReadSessionDep, settings: SettingsDep) -> HTMLResponse:
    """What the public may see: the datasets, their last update, counts (small counts hidden), layers and their
    licences, the published briefs; server-rendered, no script."""
    with session.begin():
        ctx = service.page(session, settings.open_data)
    response = templates.TemplateResponse(request, "open.html", {**ctx, "base": _base(request)})
    response.headers["Content-Security-Policy"] = CSP
    response.headers.update(PUBLIC_HEADERS)
    return response


@router.get(
    "/catalog.json",
    response_model=Catalog,
    response_class=JSONLDResponse,
    response_model_by_alias=True,
    response_model_exclude_unset=True,  # no dct:temporal where a dataset has no period
    summary="DCAT catalogue of the open datasets (JSON-LD)",
)
def catalog(request: Request, session: ReadSessionDep, settings: SettingsDep) -> dict:
    """Each published dataset with its licence, publisher, update frequency, coverage and download links."""
    with session.begin():
        return service.catalog(session, settings.open_data, _base(request))


@router.get(
    "/open/data/{name}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="An open table as CSV (UTF-8)",
)
def table_csv(name: str, session: ReadSessionDep, settings: SettingsDep) -> Response:
    """The table of an open dataset as CSV; suppressed counts are empty, their text says "<5"."""
    with session.begin():
        table = tables.table(session, settings.open_data, name)
    return Response(
        service.csv_bytes(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{table.dataset.name}.csv"', **PUBLIC_HEADERS},
    )


@router.get(
    "/open/data/{name}.geojson",
    response_class=GeoJSONResponse,
    responses=geojson_responses(FeatureCollection),
    summary="An open table as GeoJSON (district outlines, or no geometry)",
)
def table_geojson(name: str, session: ReadSessionDep, settings: SettingsDep) -> GeoJSONResponse:
    """The table of an open dataset as GeoJSON: each row a feature, on its district's outline where it has one."""
    with session.begin():
        table = tables.table(session, settings.open_data, name)
        body = service.geojson(session, table)
    return GeoJSONResponse(
        body, headers={"Content-Disposition": f'attachment; filename="{table.dataset.name}.geojson"', **PUBLIC_HEADERS}
    )


@router.get(
    "/open/briefs/{brief_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
    summary="A brief marked public, as PDF",
)
def public_brief_pdf(brief_id: int, request: Request, session: ReadSessionDep, settings: SettingsDep) -> Response:
    """The PDF of a brief marked public (404 for every other brief: absent and unpublished look the same).

    A brief is stored as made, so its PDF is rendered once per publication and kept (a few seconds of
    WeasyPrint and matplotlib that anyone could otherwise ask for again and again)."""
    with session.begin():
        tables.dataset(settings.open_data, "committee_briefs")
        brief = service.public_brief(session, brief_id)
        key = (str(request.app.state.engine.url), brief_id, brief["data_version"], str(brief["published_at"]))
        with _PDF_LOCK:
            pdf = _PDF_CACHE.get(key)
        html = None if pdf is not None else service.public_brief_html(session, brief_id)
    if pdf is None:
        pdf = html_to_pdf(html or "")
    with _PDF_LOCK:
        _PDF_CACHE[key] = pdf
        _PDF_CACHE.move_to_end(key)
        while len(_PDF_CACHE) > PDF_CACHE_SIZE:
            _PDF_CACHE.popitem(last=False)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="brief-{brief_id}.pdf"', **PUBLIC_HEADERS},
    )


@router.put(
    "/api/v1/briefs/{brief_id}/public",
    response_model=BriefPublicOut,
    summary="Mark a brief public (listed on /open with its PDF) or withdraw it",
)
def mark_public(brief_id: int, body: BriefPublicIn, session: SessionDep, principal: PUBLISHERS) -> dict:
    """Administrators decide for the committee; the change is audited."""
    with session.begin():
        return service.set_brief_public(session, brief_id, body.public, principal)
