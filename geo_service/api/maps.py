"""Committee maps: thin routes over geo_service/maps (HTML pages) and the self-hosted Leaflet files."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from geo_service.api.deps import ReadSessionDep, SessionDep, SettingsDep, require_roles
from geo_service.auth import Principal, Role
from geo_service.cases.access import act_as
from geo_service.maps.period import choose_period

# The map modules (maps.overview, case_map, raster_map, assets) are imported inside the routes: each imports
# folium at module level, and folium brings pandas (about 2 s, heavy third-party), so they load with the first
# map, not when the service starts. No cycle is involved.

router = APIRouter(tags=["maps"])
MapReader = Annotated[Principal, Depends(require_roles(Role.committee_member, Role.investigator, Role.administrator))]
CaseWorker = Annotated[Principal, Depends(require_roles(Role.investigator, Role.administrator))]
# Maps are self-contained pages: scripts and styles from this service only. Folium's scripts are inline, and
# leaflet-measure compiles its templates with new Function ('unsafe-eval'); neither can load anything.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: {tiles}; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


def _page(html: str, tile_url: str | None) -> HTMLResponse:
    tiles = ""
    if tile_url:  # the configured tile server's origin ({s} subdomains as a wildcard)
        parts = urlsplit(tile_url)
        tiles = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}" if parts.scheme else ""
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CSP.format(tiles=tiles),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/maps/overview", response_class=HTMLResponse, summary="Overview map of a period (HTML page)")
def overview_page(
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: MapReader,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    fiscal_year_be: Annotated[
        int | None, Query(description="Thai fiscal year in BE, 2500-2700 (checked by maps.period, as in the CLI)")
    ] = None,
    outside_aoi: Annotated[
        bool,
        Query(
            description="add the detections outside the area of interest as a separate layer, hidden until switched on"
        ),
    ] = False,
    flags_district: Annotated[
        str | None, Query(max_length=20, description="red-flag layer: flags of this district code")
    ] = None,
    flags_reserve: Annotated[
        str | None, Query(max_length=40, description="red-flag layer: flags of this reserve or park code")
    ] = None,
    flags_agency: Annotated[str | None, Query(max_length=300, description="red-flag layer: this agency's")] = None,
    flags_contractor: Annotated[
        str | None, Query(max_length=300, description="red-flag layer: flags across this contractor's contracts")
    ] = None,
    flags_fiscal_year_be: Annotated[
        int | None,
        Query(
            ge=2400,
            le=2700,
            description="red-flag layer: flags of this fiscal year (BE; contracts: theirs, land documents: the year "
            "issued) instead of the contracts of the period's fiscal years plus every standing land-document and "
            "reserve-cell flag",
        ),
    ] = None,
    flags_rule: Annotated[str | None, Query(max_length=40, description="red-flag layer: one rule's flags")] = None,
    flags_dismissed: Annotated[bool, Query(description="red-flag layer: show dismissed flags too")] = False,
) -> HTMLResponse:
    """The overview map of a period (default: the latest fiscal year with data), with the caller's cases and, for
    investigators and administrators, the red flags of their provinces (the flags list's filters, prefixed
    ``flags_``)."""
    choose_period(start, end, fiscal_year_be)  # a wrong value is a 400 before any work
    from geo_service.maps import overview  # folium: see the note at the top

    with session.begin():
        act_as(session, principal)  # row-level security decides which cases exist for the caller
        m = overview.overview_for_caller(
            session,
            principal,
            start,
            end,
            fiscal_year_be,
            tile_url=settings.service.tile_url,
            tile_attribution=settings.service.tile_attribution,
            outside_aoi=outside_aoi,
            tiles_above=settings.tiles.map_tiles_above,
            flag_filters={
                "district": flags_district,
                "reserve": flags_reserve,
                "agency": flags_agency,
                "contractor": flags_contractor,
                "fiscal_year_be": flags_fiscal_year_be,
                "rule": flags_rule,
            },
            flags_dismissed=flags_dismissed,
        )
    return _page(overview.render(m, settings.service.tile_url), settings.service.tile_url)


@router.get("/maps/cases/{case_id}", response_class=HTMLResponse, summary="Map of one case's evidence (HTML page)")
def case_page(case_id: int, session: SessionDep, settings: SettingsDep, principal: CaseWorker) -> HTMLResponse:
    """The map of one case's linked evidence (the case's insiders only)."""
    from geo_service.maps import case_map, overview  # folium: see the note at the top

    with session.begin():
        act_as(session, principal)
        m = case_map.case_map(
            session,
            case_id,
            principal,
            tile_url=settings.service.tile_url,
            tile_attribution=settings.service.tile_attribution,
        )
    return _page(overview.render(m, settings.service.tile_url), settings.service.tile_url)


@router.get("/maps/vendor/{path:path}", include_in_schema=False)
def vendor(path: str) -> Response:
    """A self-hosted Leaflet/plugin file the map pages load."""
    from geo_service.maps import assets  # folium: see the note at the top

    file = assets.resolve(path)
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if path.endswith(".css"):
        return Response(assets.read_css(path), media_type="text/css", headers=headers)
    return FileResponse(file, headers=headers)


@router.get(
    "/maps/rasters/{raster_id}",
    response_class=HTMLResponse,
    summary="Map of one hotspot raster, reprojected for the web, with its colour scale (HTML page)",
)
def raster_page(raster_id: int, session: ReadSessionDep, settings: SettingsDep, principal: MapReader) -> HTMLResponse:
    """The map of one registered hotspot raster with its colour key and figures."""
    from geo_service.maps import overview, raster_map  # folium: see the note at the top

    with session.begin():
        m = raster_map.raster_map(
            session, raster_id, tile_url=settings.service.tile_url, tile_attribution=settings.service.tile_attribution
        )
    return _page(overview.render(m, settings.service.tile_url), settings.service.tile_url)
