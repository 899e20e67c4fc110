"""Who is calling and what their role allows.

Roles follow the programme: administrator, investigator, field officer, committee member and partner
agency. A caller is identified by a bearer token: a signed access token from /api/v1/auth/token
(users.py; checked against the account on every request, so sign-out, deactivation and role changes
apply at once), or the bootstrap administrator's token (GEO_SERVICE_ADMIN_TOKEN, or the one generated into
the data folder), compared in constant time. Partner systems send an API key (``X-API-Key`` or
``Authorization: ApiKey ...``; api_keys.py) and act with the partner role, limited to the key's scopes.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass, field

from fastapi import Request

from geo_service.errors import Forbidden, Unauthorized


class Role(str, enum.Enum):
    administrator = "administrator"
    investigator = "investigator"
    field_officer = "field_officer"
    committee_member = "committee_member"
    partner = "partner"


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    display_name: str | None = None
    scopes: frozenset[str] | None = None  # API keys: the collections it may read (None: no limit)
    fields: tuple[tuple[str, frozenset[str]], ...] = ()  # API keys: collection -> the only properties it may read

    def fields_for(self, collection: str) -> frozenset[str] | None:
        return dict(self.fields).get(collection)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


SESSION_COOKIE = "geo_session"


def authenticate(request: Request) -> Principal | None:
    """The caller, None when no token was sent; a token that is sent must be valid.

    Pages opened in a browser (maps, briefs, evidence packs, photos) may also be read with the session
    cookie set by the sign-in page: for GET and HEAD only, so a cookie can never make a change (no CSRF).
    """
    api_key = request.headers.get("x-api-key")
    if not api_key and request.headers.get("authorization", "").lower().startswith("apikey "):
        api_key = request.headers["authorization"][7:].strip()
    if api_key:
        from geo_service.api_keys import principal_for_key

        with request.app.state.sessionmaker() as session:
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
    from geo_service.users import principal_from_token

    with request.app.state.engine.connect() as conn:
        return principal_from_token(conn, token, request.app.state.jwt_secret)


def require_roles(*roles: Role):
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
