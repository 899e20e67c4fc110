"""Shared dependencies: database session, settings, the current principal, bbox and simplification."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from geo_service.auth import Principal, Role, authenticate, require_roles
from geo_service.errors import InvalidInput
from geo_service.layers.queries import GeoFilter
from geo_service.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminDep = Annotated[Principal, Depends(require_roles(Role.administrator))]
CurrentUser = Annotated[Principal, Depends(require_roles(*Role))]
# Who may log and edit incidents: everyone working in the field or on cases.
ReporterDep = Annotated[Principal, Depends(require_roles(Role.field_officer, Role.investigator, Role.administrator))]
# Who may read incidents (reporter names and exact positions are not public).
IncidentReaderDep = Annotated[
    Principal, Depends(require_roles(Role.field_officer, Role.investigator, Role.administrator, Role.committee_member))
]


def optional_principal(request: Request) -> Principal | None:
    return authenticate(request)


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None or value == "":
        return None
    parts = value.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise InvalidInput(
            "bbox must be four numbers: min longitude, min latitude, max longitude, max latitude "
            "(for example 99.9,17.9,100.3,18.3).",
            code="invalid_bbox",
        )
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput(
            "bbox is outside the range of longitude (-180..180) and latitude (-90..90); "
            "are longitude and latitude swapped?",
            code="invalid_bbox",
        )
    if minx > maxx or miny > maxy:
        raise InvalidInput(
            "bbox minimum is larger than its maximum; give min lon, min lat, max lon, max lat.", code="invalid_bbox"
        )
    return minx, miny, maxx, maxy


def geo_filter(
    bbox: Annotated[
        str | None, Query(description="min lon,min lat,max lon,max lat (EPSG:4326)", examples=["99.9,17.9,100.3,18.3"])
    ] = None,
    simplify: Annotated[float, Query(ge=0, le=5000, description="Simplification tolerance in metres (0: none)")] = 0,
) -> GeoFilter:
    return GeoFilter(bbox=parse_bbox(bbox), simplify_m=simplify)


GeoFilterDep = Annotated[GeoFilter, Depends(geo_filter)]


# --- optimistic locking: a record's version travels as a weak ETag and comes back in If-Match -------
def etag(record: dict) -> str:
    return f'W/"{record["version"]}"'


def if_match_version(if_match: str | None) -> int | None:
    """The version in an If-Match header (W/"3", "3" or 3); None when the header is missing."""
    if if_match is None:
        return None
    m = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', if_match)
    if not m:
        raise InvalidInput('If-Match must be the ETag you read, e.g. W/"3".', code="invalid_if_match")
    return int(m.group(1))
