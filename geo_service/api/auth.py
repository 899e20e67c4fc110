"""Sign-in (OAuth2 password flow, signed short-lived tokens), the current user, and user accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from geo_service.api.deps import AdminDep, CurrentUser, SessionDep
from geo_service.auth import Role
from geo_service.users import create_user, issue_token, verify_password

router = APIRouter(prefix="/api/v1", tags=["authentication"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    roles: list[str]


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[Role] = Field(min_length=1)


@router.post("/auth/token", summary="Sign in: username and password for a short-lived bearer token")
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, request: Request) -> Token:
    user = verify_password(session, form.username, form.password)
    settings = request.app.state.settings
    access, seconds = issue_token(user, request.app.state.jwt_secret, settings.service.token_minutes)
    return Token(access_token=access, expires_in=seconds, username=user.username, roles=user.roles)


@router.get("/auth/me", summary="Who the token belongs to")
def me(principal: CurrentUser) -> dict:
    return {"username": principal.name, "display_name": principal.display_name,
            "roles": sorted(r.value for r in principal.roles)}


@router.post("/admin/users", summary="Create a user account", status_code=201, tags=["administration"])
def add_user(body: UserCreate, session: SessionDep, principal: AdminDep) -> dict:
    with session.begin():
        user = create_user(session, body.username, body.password, [r.value for r in body.roles], body.display_name)
    return {"username": user.username, "display_name": user.display_name, "roles": user.roles}
