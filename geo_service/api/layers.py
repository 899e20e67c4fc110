"""Reference layers (public data): districts, subdistricts, protected areas as GeoJSON, and their sources."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from geo_service.api.deps import GeoFilterDep, SessionDep
from geo_service.db.models import AdminLevel, ProtectedKind
from geo_service.layers import queries

router = APIRouter(prefix="/api/v1", tags=["reference layers"])
GEOJSON = "application/geo+json"


def _geojson(body: bytes) -> Response:
    return Response(content=body, media_type=GEOJSON)


@router.get("/provinces", summary="Provinces (GeoJSON)", response_class=Response)
def provinces(session: SessionDep, flt: GeoFilterDep) -> Response:
    return _geojson(queries.admin_areas_geojson(session, AdminLevel.province, flt))


@router.get("/districts", summary="Districts (amphoe) as a GeoJSON FeatureCollection", response_class=Response)
def districts(
    session: SessionDep,
    flt: GeoFilterDep,
    province: Annotated[str | None, Query(max_length=20, description="Province code, e.g. 54")] = None,
):
    return _geojson(queries.admin_areas_geojson(session, AdminLevel.district, flt, parent=province))


@router.get("/districts/{code}", summary="One district (GeoJSON Feature)", response_class=Response)
def district(code: str, session: SessionDep, flt: GeoFilterDep):
    fc = queries.admin_areas_geojson(session, AdminLevel.district, flt, code=code)
    return _geojson(queries.single_feature(fc, "district"))


@router.get("/subdistricts", summary="Subdistricts (tambon) as a GeoJSON FeatureCollection", response_class=Response)
def subdistricts(
    session: SessionDep,
    flt: GeoFilterDep,
    district: Annotated[str | None, Query(max_length=20, description="District code, e.g. 5401")] = None,
):
    return _geojson(queries.admin_areas_geojson(session, AdminLevel.subdistrict, flt, parent=district))


@router.get("/subdistricts/{code}", summary="One subdistrict (GeoJSON Feature)", response_class=Response)
def subdistrict(code: str, session: SessionDep, flt: GeoFilterDep):
    fc = queries.admin_areas_geojson(session, AdminLevel.subdistrict, flt, code=code)
    return _geojson(queries.single_feature(fc, "subdistrict"))


@router.get(
    "/protected-areas",
    summary="Forest reserves and protected areas in force on a date (GeoJSON)",
    response_class=Response,
)
def protected_areas(
    session: SessionDep,
    flt: GeoFilterDep,
    kind: Annotated[list[ProtectedKind] | None, Query(description="Only these kinds")] = None,
    at: Annotated[date | None, Query(description="Boundaries in force on this date (default: today)")] = None,
    all_versions: Annotated[bool, Query(description="Every boundary version, with its validity")] = False,
):
    return _geojson(
        queries.protected_areas_geojson(
            session, flt, kinds=[k.value for k in kind] if kind else None, at=at, all_versions=all_versions
        )
    )


@router.get(
    "/protected-areas/{code}",
    summary="One protected area in force on a date (GeoJSON Feature)",
    response_class=Response,
)
def protected_area(code: str, session: SessionDep, flt: GeoFilterDep, at: Annotated[date | None, Query()] = None):
    fc = queries.protected_areas_geojson(session, flt, code=code, at=at)
    return _geojson(queries.single_feature(fc, "protected area in force on that date"))


@router.get("/layers", summary="Loaded layer versions with their source, licence and attribution")
def layers(session: SessionDep) -> list[dict]:
    return queries.layer_sources(session)
