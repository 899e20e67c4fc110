"""Reference layers (public data): districts, subdistricts, protected areas as GeoJSON, and their sources."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from geo_service.api.deps import GeoFilterDep, SessionDep, optional_principal
from geo_service.api.geojson import Feature, GeoJSONResponse, geojson_responses
from geo_service.auth import Role
from geo_service.db.models import AdminLevel, ProtectedKind
from geo_service.layers import queries

router = APIRouter(prefix="/api/v1", tags=["reference layers"])

COLLECTION = geojson_responses(description="A GeoJSON FeatureCollection, with the layers' attribution")
ONE = geojson_responses(Feature, description="One GeoJSON Feature, with its layer's attribution")


@router.get("/provinces", summary="Provinces (GeoJSON)", response_class=GeoJSONResponse, responses=COLLECTION)
def provinces(session: SessionDep, flt: GeoFilterDep) -> GeoJSONResponse:
    """The current provinces."""
    return GeoJSONResponse(queries.admin_areas_geojson(session, AdminLevel.province, flt))


@router.get(
    "/districts",
    summary="Districts (amphoe) as a GeoJSON FeatureCollection",
    response_class=GeoJSONResponse,
    responses=COLLECTION,
)
def districts(
    session: SessionDep,
    flt: GeoFilterDep,
    province: Annotated[str | None, Query(max_length=20, description="Province code, e.g. 54")] = None,
) -> GeoJSONResponse:
    """The current districts, of one province if given."""
    return GeoJSONResponse(queries.admin_areas_geojson(session, AdminLevel.district, flt, parent=province))


@router.get(
    "/districts/{code}", summary="One district (GeoJSON Feature)", response_class=GeoJSONResponse, responses=ONE
)
def district(code: str, session: SessionDep, flt: GeoFilterDep) -> GeoJSONResponse:
    """One current district by its code."""
    fc = queries.admin_areas_geojson(session, AdminLevel.district, flt, code=code)
    return GeoJSONResponse(queries.single_feature(fc, "district"))


@router.get(
    "/subdistricts",
    summary="Subdistricts (tambon) as a GeoJSON FeatureCollection",
    response_class=GeoJSONResponse,
    responses=COLLECTION,
)
def subdistricts(
    session: SessionDep,
    flt: GeoFilterDep,
    district: Annotated[str | None, Query(max_length=20, description="District code, e.g. 5401")] = None,
) -> GeoJSONResponse:
    """The current subdistricts, of one district if given."""
    return GeoJSONResponse(queries.admin_areas_geojson(session, AdminLevel.subdistrict, flt, parent=district))


@router.get(
    "/subdistricts/{code}",
    summary="One subdistrict (GeoJSON Feature)",
    response_class=GeoJSONResponse,
    responses=ONE,
)
def subdistrict(code: str, session: SessionDep, flt: GeoFilterDep) -> GeoJSONResponse:
    """One current subdistrict by its code."""
    fc = queries.admin_areas_geojson(session, AdminLevel.subdistrict, flt, code=code)
    return GeoJSONResponse(queries.single_feature(fc, "subdistrict"))


@router.get(
    "/protected-areas",
    summary="Forest reserves and protected areas in force on a date (GeoJSON)",
    response_class=GeoJSONResponse,
    responses=COLLECTION,
)
def protected_areas(
    session: SessionDep,
    flt: GeoFilterDep,
    kind: Annotated[list[ProtectedKind] | None, Query(description="Only these kinds")] = None,
    at: Annotated[date | None, Query(description="Boundaries in force on this date (default: today)")] = None,
    all_versions: Annotated[bool, Query(description="Every boundary version, with its validity")] = False,
) -> GeoJSONResponse:
    """The protected areas in force on a day, or every version of them."""
    return GeoJSONResponse(
        queries.protected_areas_geojson(
            session, flt, kinds=[k.value for k in kind] if kind else None, at=at, all_versions=all_versions
        )
    )


@router.get(
    "/protected-areas/{code}",
    summary="One protected area in force on a date (GeoJSON Feature)",
    response_class=GeoJSONResponse,
    responses=ONE,
)
def protected_area(
    code: str, session: SessionDep, flt: GeoFilterDep, at: Annotated[date | None, Query()] = None
) -> GeoJSONResponse:
    """One protected area, as it is in force on a day (default: today)."""
    fc = queries.protected_areas_geojson(session, flt, code=code, at=at)
    return GeoJSONResponse(queries.single_feature(fc, "protected area in force on that date"))


class LayerSource(BaseModel):
    """A loaded version of a layer: where it comes from, its licence and attribution, and the loaded file."""

    name: str
    version: str
    layer_type: str
    title: str | None
    source: str
    licence: str
    attribution: str
    illustrative: bool
    file_name: str | None = Field(
        default=None, description="The loaded file's name: signed-in staff only (the open-data page omits it too)"
    )
    file_sha256: str | None
    feature_count: int
    loaded_at: datetime
    loaded_by: str | None = Field(
        default=None, description="Who loaded it (a staff user name): signed-in staff only, absent for the public"
    )


# Signed-in callers who are not staff: they get the public answer (no staff user names, no file names: a file
# name an administrator chose can carry internal hints, e.g. a case number).
NOT_STAFF = {Role.partner, Role.network_member}
STAFF_ONLY = {"loaded_by", "file_name"}


@router.get(
    "/layers",
    summary="Loaded layer versions with their source, licence and attribution",
    response_model=list[LayerSource],
)
def layers(session: SessionDep, request: Request) -> JSONResponse:
    """Every loaded layer version, by type and name; ``loaded_by`` and ``file_name`` only for signed-in staff
    (the public list names no member of staff and no file, like the open-data page)."""
    principal = optional_principal(request)
    staff = principal is not None and not principal.roles <= NOT_STAFF
    rows = [
        LayerSource(**r).model_dump(mode="json", exclude=None if staff else STAFF_ONLY)
        for r in queries.layer_sources(session)
    ]
    return JSONResponse(rows)
