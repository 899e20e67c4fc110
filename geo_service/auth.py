"""Who is calling and what their role allows.

Roles follow the programme: administrator, investigator, field officer, committee member and partner
agency. A caller is identified by a bearer token: a signed access token from /api/v1/auth/token
(users.py), or the bootstrap administrator's token (GEO_SERVICE_ADMIN_TOKEN, or the one generated into
the data folder), compared in constant time.
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

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(request: Request) -> Principal | None:
    """The caller, None when no token was sent; a token that is sent must be valid."""
    token = _bearer(request)
    if token is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
        return None
    expected = request.app.state.admin_token
    if hmac.compare_digest(token.encode(), expected.encode()):
        return Principal("admin", frozenset({Role.administrator}), display_name="Administrator")
    from geo_service.users import principal_from_token

    return principal_from_token(token, request.app.state.jwt_secret)


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
