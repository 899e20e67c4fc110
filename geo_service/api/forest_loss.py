"""Forest-loss alerts, where they show (issue 14 item 3): clearing patches as GeoJSON, one patch, and the summaries
per district and per reserve by month and Thai fiscal year.

Who: the incident readers (field officers, investigators, committee members, administrators), each within their
province scope as for incidents (another province's patch is a 404), and partner API keys allowed incidents (or
clearing_patches). Definitions of the figures: ``forest_loss/queries.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from geo_service.api.deps import ReadSessionDep, authenticate, parse_bbox
from geo_service.api.geojson import Feature, GeoJSONResponse, geojson_responses
from geo_service.auth import Principal, Role
from geo_service.errors import Forbidden, Unauthorized
from geo_service.forest_loss import queries
from geo_service.layers import aoi

router = APIRouter(prefix="/api/v1/forest-loss", tags=["forest loss"])

READER_ROLES = (Role.field_officer, Role.investigator, Role.administrator, Role.committee_member)
PARTNER_SCOPES = frozenset({"incidents", "clearing_patches"})


def forest_loss_reader(request: Request) -> Principal:
    """The caller if they may read clearing patches: an incident reader, or a partner key allowed incidents."""
    principal = authenticate(request)
    if principal is None:
        raise Unauthorized()
    if principal.scopes is not None:  # an API key
        if principal.scopes & PARTNER_SCOPES:
            return principal
        raise Forbidden("This key may not read clearing patches (it needs the incidents or clearing_patches scope).")
    if not principal.has(*READER_ROLES):
        raise Forbidden()
    return principal


ReaderDep = Annotated[Principal, Depends(forest_loss_reader)]
SOURCE_HELP = " | ".join(queries.SOURCES)


class Figures(BaseModel):
    """Clearing figures of one row: patches, area (UTM; m2, ha, rai), and what of it was cleared by fire."""

    patches: int = Field(description="Current patches with a part in the row's zone (each once in a total)")
    area_m2: float
    area_ha: float
    area_rai: float
    cleared_by_fire: int = Field(description="Of those patches, how many are marked cleared by fire")
    cleared_by_fire_area_m2: float
    cleared_by_fire_area_ha: float
    cleared_by_fire_area_rai: float
    cleared_by_fire_share: float = Field(description="Area cleared by fire / area (0..1)")


class SummaryRow(Figures):
    """One zone (district or reserve; code null: outside every zone of the kind) in one period."""

    period: str = Field(description="YYYY-MM (month) or the fiscal year in BE (e.g. 2567)")
    period_th: str
    period_en: str
    code: str | None
    name_th: str
    name_en: str


class PeriodTotal(Figures):
    """All counted patches of one period, each once."""

    period: str


class ForestLossSummary(BaseModel):
    """Clearing by zone and period, the totals per period and of the whole answer."""

    by: str
    period: str
    provinces: list[str] | None = Field(description="The provinces counted (null: every province)")
    definition: str
    rows: list[SummaryRow]
    periods: list[PeriodTotal]
    total: Figures


@router.get(
    "/patches",
    summary="Clearing patches as GeoJSON (newest first alert first), with filters",
    response_class=GeoJSONResponse,
    responses=geojson_responses(),
)
def patches(
    session: ReadSessionDep,
    principal: ReaderDep,
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None,
    date_from: Annotated[date | None, Query(alias="from", description="Alerting on or after this day")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="Alerting on or before this day")] = None,
    district: Annotated[str | None, Query(max_length=20, description="Patches with a part in this district")] = None,
    reserve: Annotated[
        str | None, Query(max_length=40, description="Patches with a part in this reserve / protected area")
    ] = None,
    source: Annotated[list[str] | None, Query(description=SOURCE_HELP)] = None,
    min_confidence: Annotated[int | None, Query(description="2 low, 3 high, 4 highest")] = None,
    cleared_by_fire: bool | None = None,
    area: Annotated[str, Query(description="aoi (default) | outside | all")] = "aoi",
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
):
    """A page of current clearing patches (absorbed ones left out) within the caller's provinces."""
    flt = queries.PatchFilter(
        bbox=parse_bbox(bbox),
        date_from=date_from,
        date_to=date_to,
        district=district,
        reserve=reserve,
        sources=source,
        min_confidence=min_confidence,
        cleared_by_fire=cleared_by_fire,
        area=area,
    )
    with session.begin():
        body = queries.patch_page(session, flt, principal, limit, offset)
    return GeoJSONResponse(body)


@router.get(
    "/patches/{patch_id}",
    summary="One clearing patch with its zones and shares, fire evidence and verification",
    response_class=GeoJSONResponse,
    responses=geojson_responses(Feature),
)
def patch(patch_id: Annotated[int, Path(ge=1, le=2**62)], session: ReadSessionDep, principal: ReaderDep):
    """One patch (404 if absent or of another province)."""
    with session.begin():
        body = queries.patch_detail(session, patch_id, principal)
    return GeoJSONResponse(body)


@router.get("/summary", summary="Clearing per district or reserve, by month or Thai fiscal year (ha and rai)")
def summary(
    session: ReadSessionDep,
    principal: ReaderDep,
    by: Annotated[str, Query(description="district | reserve")] = "district",
    period: Annotated[str, Query(description="month | fiscal_year")] = "month",
    date_from: Annotated[date | None, Query(alias="from", description="First alert on or after this day")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="First alert on or before this day")] = None,
    province: Annotated[
        str | None, Query(max_length=20, description="Province code (54, or TH54); default: your provinces")
    ] = None,
    source: Annotated[list[str] | None, Query(description=SOURCE_HELP)] = None,
    min_confidence: Annotated[int | None, Query(description="2 low, 3 high, 4 highest")] = None,
) -> ForestLossSummary:
    """Current patches in the area of interest, per zone and period (definitions in the README)."""
    with session.begin():
        # an empty or blank province is "not given" (the caller's provinces), as for the other filters
        code = aoi.check_province_codes(session, [province])[0] if province and province.strip() else None
        provinces = queries.summary_provinces(principal, code)
        answer = queries.summarise(
            session,
            queries.SummaryQuery(
                by=by,
                period=period,
                date_from=date_from,
                date_to=date_to,
                provinces=provinces,
                sources=source,
                min_confidence=min_confidence,
            ),
        )
    return ForestLossSummary.model_validate({**answer, "provinces": provinces, "definition": queries.DEFINITION_EN})
