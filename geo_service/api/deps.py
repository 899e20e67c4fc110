"""Shared dependencies: database session, settings, the current principal, bbox and simplification.

``parse_bbox`` (geo_service.bbox) is re-exported here for the routers that read a ``bbox`` query parameter.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from geo_service.api.read_after_write import WRITE_LSN_COOKIE, WRITE_LSN_HEADER
from geo_service.api_keys import principal_for_key
from geo_service.auth import Principal, Role
from geo_service.bbox import parse_bbox
from geo_service.db.engine import transaction
from geo_service.db.read_routing import ReadChoice, parse_lsn
from geo_service.errors import Forbidden, InvalidInput, Unauthorized
from geo_service.layers.queries import GeoFilter
from geo_service.settings import Settings
from geo_service.users import principal_from_token

__all__ = [
    "SESSION_COOKIE",
    "AdminDep",
    "CurrentUser",
    "GeoFilterDep",
    "IncidentReaderDep",
    "ReadSessionDep",
    "ReporterDep",
    "SessionDep",
    "SettingsDep",
    "authenticate",
    "bearer_token",
    "etag",
    "geo_filter",
    "get_session",
    "get_settings",
    "if_match_version",
    "optional_principal",
    "parse_bbox",
    "read_choice",
    "read_session",
    "require_roles",
]


def get_session(request: Request) -> Iterator[Session]:
    """A session for the request (the route opens its transaction when it writes)."""
    with request.app.state.sessionmaker() as session:
        yield session


def read_choice(request: Request) -> ReadChoice:
    """Where this read-only request reads: the replica when it is in step with the primary and has replayed the
    caller's last write (``X-Write-LSN`` header or ``geo_write_lsn`` cookie), else the primary
    (``db.read_routing``). The choice is recorded for the ``X-Read-From`` response header."""
    sent = request.headers.get(WRITE_LSN_HEADER) or request.cookies.get(WRITE_LSN_COOKIE)
    after = parse_lsn(sent)
    choice = request.app.state.read_router.choose(after, unreadable_lsn=bool(sent) and after is None)
    request.state.read_from = choice.source
    return choice


def read_session(request: Request) -> Iterator[Session]:
    """A read-only session for a heavy read-only route, on the database ``read_choice`` picks. Its transactions are
    READ ONLY on either database, so a route declared as a reader cannot write (audit records go to the primary
    in a transaction of the route's own)."""
    with read_choice(request).sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings


# --- who is calling ---------------------------------------------------------------------------------------
SESSION_COOKIE = "geo_session"


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, None without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(request: Request) -> Principal | None:
    """The caller, None when no token was sent; a token that is sent must be valid.

    Partner systems send an API key (``X-API-Key`` or ``Authorization: ApiKey ...``). Pages opened in a browser
    (maps, briefs, evidence packs, photos) may also be read with the session cookie set by the sign-in page:
    for GET and HEAD only, so a cookie can never make a change (no CSRF).
    """
    api_key = request.headers.get("x-api-key")
    if not api_key and request.headers.get("authorization", "").lower().startswith("apikey "):
        api_key = request.headers["authorization"][7:].strip()
    if api_key:
        with transaction(request.app.state.sessionmaker) as session:  # the key's "last used" is recorded
            return principal_for_key(session, api_key.strip())
    token = bearer_token(request)
    if token is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and request.method in ("GET", "HEAD"):
            return _user_principal(request, cookie)
        return None
    expected = request.app.state.admin_token
    if hmac.compare_digest(token.encode(), expected.encode()):
        return Principal("admin", frozenset({Role.administrator}), display_name="Administrator")
    return _user_principal(request, token)


def _user_principal(request: Request, token: str) -> Principal:
    with request.app.state.engine.connect() as conn:
        return principal_from_token(conn, token, request.app.state.jwt_secret)


def require_roles(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency that lets the request through only for a principal holding one of ``roles``."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal is None:
            raise Unauthorized()
        if not principal.has(*roles):
            raise Forbidden()
        return principal

    dependency.__name__ = "require_" + "_or_".join(r.value for r in roles)
    return dependency


SessionDep = Annotated[Session, Depends(get_session)]
# Heavy read-only routes (exports, OGC items, maps, summaries): the replica when it is in step (read_session).
ReadSessionDep = Annotated[Session, Depends(read_session)]
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
    """The caller if a token was sent, else None (public routes that show more to signed-in callers)."""
    return authenticate(request)


def geo_filter(
    bbox: Annotated[
        str | None, Query(description="min lon,min lat,max lon,max lat (EPSG:4326)", examples=["99.9,17.9,100.3,18.3"])
    ] = None,
    simplify: Annotated[float, Query(ge=0, le=5000, description="Simplification tolerance in metres (0: none)")] = 0,
) -> GeoFilter:
    """The bbox and simplification query parameters of the GeoJSON routes."""
    return GeoFilter(bbox=parse_bbox(bbox), simplify_m=simplify)


GeoFilterDep = Annotated[GeoFilter, Depends(geo_filter)]


# --- optimistic locking: a record's version travels as a weak ETag and comes back in If-Match -------
def etag(record: dict) -> str:
    """A record's version as a weak ETag."""
    return f'W/"{record["version"]}"'


def if_match_version(if_match: str | None) -> int | None:
    """The version in an If-Match header (W/"3", "3" or 3); None when the header is missing."""
    if if_match is None:
        return None
    m = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', if_match)
    if not m:
        raise InvalidInput('If-Match must be the ETag you read, e.g. W/"3".', code="invalid_if_match")
    return int(m.group(1))


def field_mapping(raw: str | None, example: str) -> dict[str, str]:
    """The ``fields`` form value of an upload (the file's column for each of the service's fields) as a dict;
    InvalidInput naming ``example`` (a JSON object) when it is not a JSON object of text."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidInput(f"fields must be a JSON object of text, e.g. {example}.", code="invalid_fields")
    return value
