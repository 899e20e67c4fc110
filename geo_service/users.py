"""User accounts: argon2 password hashes (pwdlib), roles, and short-lived signed access tokens (PyJWT)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt
from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo_service.auth import Principal, Role
from geo_service.db.models import User
from geo_service.errors import Conflict, InvalidInput, Unauthorized

ALGORITHM = "HS256"  # pinned: tokens signed with anything else are refused
_hasher = PasswordHash.recommended()
_dummy: list[str] = []


def _dummy_hash() -> str:
    """Verifying against this when the user does not exist keeps the answer time the same."""
    if not _dummy:
        _dummy.append(_hasher.hash("not a real password"))
    return _dummy[0]


def create_user(session: Session, username: str, password: str, roles: list[str], display_name: str | None = None) -> User:
    if len(password) < 10:
        raise InvalidInput("A password needs at least 10 characters.", code="weak_password")
    try:
        roles = sorted({Role(r).value for r in roles})
    except ValueError:
        raise InvalidInput("Unknown role; use: " + ", ".join(r.value for r in Role), code="unknown_role") from None
    user = User(username=username.strip().lower(), display_name=display_name or username,
                password_hash=_hasher.hash(password), roles=roles)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"A user named '{username}' exists already.") from None
    return user


def verify_password(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        _hasher.verify(password, _dummy_hash())
        raise Unauthorized("Wrong username or password.")
    if not _hasher.verify(password, user.password_hash) or not user.is_active:
        raise Unauthorized("Wrong username or password.")
    return user


def issue_token(user: User, secret: str, minutes: int) -> tuple[str, int]:
    now = datetime.now(timezone.utc)
    claims = {"sub": user.username, "name": user.display_name, "roles": user.roles,
              "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def principal_from_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Your sign-in has expired; sign in again.", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("The token is not valid or has expired.") from None
    roles = frozenset(Role(r) for r in claims.get("roles", []) if r in Role._value2member_map_)
    return Principal(claims["sub"], roles, display_name=claims.get("name"))
