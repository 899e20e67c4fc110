"""Administration: user accounts, partner API keys and the audit-trail check (every change audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from geo_service import api_keys, audit, users
from geo_service.api.deps import AdminDep, SessionDep
from geo_service.auth import Role
from geo_service.exports.collections import COLLECTIONS

# What a key's scope may name: each collection's published properties.
PUBLISHED_PROPERTIES = {name: c.properties for name, c in COLLECTIONS.items()}

router = APIRouter(prefix="/api/v1/admin", tags=["administration"])


USERNAME = r"^[A-Za-z0-9_.@-]+$"
PROVINCE_CODE = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]


class UserCreate(BaseModel):
    """A new account: sign-in name, password, display name and roles."""

    username: str = Field(min_length=2, max_length=80, pattern=USERNAME)
    password: str = Field(min_length=10, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[Role] = Field(min_length=1)
    provinces: list[PROVINCE_CODE] | None = Field(
        default=None,
        max_length=100,
        description='Province codes the account works in (e.g. ["54"]); none for administrators and national '
        "viewers; investigators, field officers and committee members need at least one (omitted: the area of "
        "interest's province when the deployment has exactly one)",
    )


class UserChange(BaseModel):
    """A change of an account: only the fields sent change."""

    roles: list[Role] | None = Field(default=None, min_length=1, description="Replaces the roles")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    is_active: bool | None = Field(default=None, description="false deactivates (and signs out) the account")
    provinces: list[PROVINCE_CODE] | None = Field(
        default=None, max_length=100, description="Replaces the provinces (a change signs the account out)"
    )


class UserOut(BaseModel):
    """An account as administrators see it (never the password hash)."""

    username: str
    display_name: str
    roles: list[str]
    provinces: list[str] = Field(description="Province codes the account works in (empty: national roles)")
    is_active: bool
    created_at: datetime
    updated_at: datetime


@router.get("/users", summary="User accounts (without passwords)")
def list_users(session: SessionDep, principal: AdminDep) -> list[UserOut]:
    """Every account, by sign-in name."""
    return [UserOut(**u) for u in users.list_users(session)]


@router.post("/users", summary="Create a user account", status_code=201)
def add_user(body: UserCreate, session: SessionDep, principal: AdminDep) -> UserOut:
    """Create an account (audited)."""
    with session.begin():
        user = users.create_user(
            session,
            body.username,
            body.password,
            [r.value for r in body.roles],
            body.display_name,
            actor=principal.name,
            provinces=body.provinces,
        )
        return UserOut(**users.public(user))


@router.patch(
    "/users/{username}",
    summary="Change roles, provinces, name or active flag (role and province changes sign the user out)",
)
def change_user(username: str, body: UserChange, session: SessionDep, principal: AdminDep) -> UserOut:
    """Change an account's roles, provinces, display name or active flag (audited)."""
    with session.begin():
        return UserOut(
            **users.update_user(
                session,
                username,
                principal.name,
                roles=None if body.roles is None else [r.value for r in body.roles],
                display_name=body.display_name,
                is_active=body.is_active,
                provinces=body.provinces,
            )
        )


@router.post("/users/{username}/deactivate", summary="Deactivate an account: its tokens stop working at once")
def deactivate_user(username: str, session: SessionDep, principal: AdminDep) -> UserOut:
    """Deactivate an account (audited)."""
    with session.begin():
        return UserOut(**users.update_user(session, username, principal.name, is_active=False))


@router.post("/users/{username}/reactivate", summary="Reactivate an account (the user signs in again)")
def reactivate_user(username: str, session: SessionDep, principal: AdminDep) -> UserOut:
    """Reactivate an account (audited)."""
    with session.begin():
        return UserOut(**users.update_user(session, username, principal.name, is_active=True))


class KeyIn(BaseModel):
    """A new partner API key: who it is for and the collections (and fields) it may read."""

    name: str = Field(min_length=2, max_length=200, description="The partner agency or system")
    scopes: list[str] = Field(min_length=1, description="Collections: " + ", ".join(api_keys.SCOPES))


class KeyCreated(BaseModel):
    """A key just created: the key itself appears here once and never again."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    key: str


class KeyOut(BaseModel):
    """A partner API key as listed (without the key)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@router.post("/api-keys", status_code=201, summary="Create a partner API key (the key is shown only now)")
def create_key(body: KeyIn, session: SessionDep, principal: AdminDep) -> KeyCreated:
    """Create a key (audited); its scopes are checked against the collections' fields."""
    with session.begin():
        return KeyCreated(**api_keys.create_key(session, body.name, body.scopes, principal, PUBLISHED_PROPERTIES))


@router.get("/api-keys", summary="Partner API keys (without the keys)")
def list_keys(session: SessionDep, principal: AdminDep) -> list[KeyOut]:
    """Every key, revoked ones too."""
    return [KeyOut(**k) for k in api_keys.list_keys(session)]


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke a partner API key")
def revoke_key(key_id: int, session: SessionDep, principal: AdminDep) -> Response:
    """Revoke a key at once (audited)."""
    with session.begin():
        api_keys.revoke_key(session, key_id, principal)
    return Response(status_code=204)


class AuditProblem(BaseModel):
    """One entry that is missing, out of the chain or changed."""

    id: int | None
    problem: str


class AuditCheck(BaseModel):
    """The result of recomputing the audit trail's hash chain."""

    ok: bool
    entries: int
    head: str
    problems: list[AuditProblem]


@router.get("/audit/verify", summary="Recompute the audit trail's hash chain")
def verify_audit(session: SessionDep, principal: AdminDep) -> AuditCheck:
    """Whether the trail is intact, how many entries it holds, its head and every problem found."""
    result = audit.verify(session)
    return AuditCheck(
        ok=result.ok,
        entries=result.entries,
        head=result.head,
        problems=[AuditProblem(**p) for p in result.problems],
    )
