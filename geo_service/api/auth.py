"""Sign-in (OAuth2 password flow, signed short-lived tokens), sign-out (revokes them) and the current user."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from geo_service.api.deps import SESSION_COOKIE, CurrentUser, SessionDep, bearer_token
from geo_service.errors import Unauthorized
from geo_service.users import issue_token, revoke_tokens, token_claims, verify_password

router = APIRouter(prefix="/api/v1", tags=["authentication"])


class Token(BaseModel):
    """A signed, short-lived bearer token and whose it is."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    roles: list[str]


@router.post("/auth/token", summary="Sign in: username and password for a short-lived bearer token")
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, request: Request) -> Token:
    """Check the password and issue a token valid for the configured minutes."""
    user = verify_password(session, form.username, form.password)
    settings = request.app.state.settings
    access, seconds = issue_token(user, request.app.state.jwt_secret, settings.service.token_minutes)
    return Token(access_token=access, expires_in=seconds, username=user.username, roles=user.roles)


def safe_next(target: str | None) -> str:
    """Only a path on this service (never another site) to go back to after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/maps/overview"


@router.post(
    "/auth/session",
    summary="Sign in from a browser page: sets the session cookie (read-only pages)",
    status_code=303,
    response_class=RedirectResponse,
)
def browser_session(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    request: Request,
    next: Annotated[str | None, Form(max_length=500)] = None,
):
    """Sign in from the browser's sign-in page: back to ``next`` with the session cookie, or to the page again."""
    try:
        user = verify_password(session, form.username, form.password)
    except Unauthorized:
        return RedirectResponse(f"/signin?failed=1&next={quote(safe_next(next), safe='')}", status_code=303)
    settings = request.app.state.settings
    access, seconds = issue_token(user, request.app.state.jwt_secret, settings.service.token_minutes)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        access,
        max_age=seconds,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post(
    "/auth/logout",
    summary="Sign out: ends every sign-in of the account (tokens and browser sessions)",
    status_code=303,
    response_class=RedirectResponse,
)
def logout(request: Request, session: SessionDep):
    """Revokes the bearer token or session cookie sent (with every other token of the same account) and
    clears the cookie. Without a valid token it only clears the cookie."""
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            claims = token_claims(token, request.app.state.jwt_secret)
        except Unauthorized:
            claims = None
        if claims is not None:
            with session.begin():
                revoke_tokens(session, claims["sub"], claims["sub"], only_version=claims["tv"])
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class Me(BaseModel):
    """The caller: account name, display name, roles and province scope."""

    username: str
    display_name: str | None
    roles: list[str]
    provinces: list[str] | None = Field(
        default=None, description="The province codes the caller works in; null: every province (national)"
    )


@router.get("/auth/me", summary="Who the token belongs to")
def me(principal: CurrentUser) -> Me:
    """The account (or API key, or bootstrap administrator) the request acts as."""
    return Me(
        username=principal.name,
        display_name=principal.display_name,
        roles=sorted(r.value for r in principal.roles),
        provinces=None if principal.provinces is None else sorted(principal.provinces),
    )
