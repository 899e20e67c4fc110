"""User accounts: argon2 password hashes (pwdlib), roles, revocable short-lived access tokens (PyJWT),
and their management by administrators (every change audited).

A token names the user and the account's ``token_version``; each request reads the account again, so a
deactivated account, a changed role or a sign-out takes effect on the next request, not at the token's
expiry. Roles always come from the database, never from the token.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Connection, Row, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import NATIONAL_ROLES, PROVINCIAL_ROLES, Principal, Role
from geo_service.db.models import User
from geo_service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from geo_service.layers import aoi

ALGORITHM = "HS256"  # pinned: tokens signed with anything else are refused
_hasher = PasswordHash.recommended()  # argon2id, m=64 MiB, t=3, p=4 until configure_hashing() says otherwise
_cost = (65536, 3)
_dummy: list[str] = []


def configure_hashing(memory_kib: int, time_cost: int) -> None:
    """Set the argon2id cost of new password hashes (GEO_SERVICE_PASSWORD_HASH_MEMORY_KIB / _TIME_COST).
    Stored hashes keep verifying with the parameters written in them."""
    global _hasher, _cost
    if _cost == (memory_kib, time_cost):
        return
    _hasher = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))
    _cost = (memory_kib, time_cost)
    _dummy.clear()  # the stand-in hash for unknown users must cost what a real one does


def hash_password(password: str) -> str:
    """The argon2id hash stored for ``password`` (its parameters and salt are written in it)."""
    return _hasher.hash(password)


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (with the parameters written in it)."""
    return _hasher.verify(password, stored)


def _dummy_hash() -> str:
    """Verifying against this when the user does not exist keeps the answer time the same."""
    if not _dummy:
        _dummy.append(hash_password("not a real password"))
    return _dummy[0]


def _roles(roles: list[str]) -> list[str]:
    try:
        checked = sorted({Role(r).value for r in roles})
    except ValueError:
        raise InvalidInput("Unknown role; use: " + ", ".join(r.value for r in Role), code="unknown_role") from None
    if not checked:
        raise InvalidInput("Give at least one role.", code="unknown_role")
    return checked


def is_national(roles: list[str]) -> bool:
    """Whether an account with these roles answers for every province (administrator, national viewer)."""
    return any(r in {n.value for n in NATIONAL_ROLES} for r in roles)


def check_provinces(session: Session, roles: list[str], provinces: list[str] | None) -> list[str]:
    """The province codes to store for an account with ``roles``.

    National accounts (administrator, national viewer) store none: they see every province, and naming one is
    refused so nobody believes it limits them. Investigators, field officers and committee members need at
    least one loaded province; when ``provinces`` is not given (None) they get the area of interest's province
    if the deployment has exactly one (the single-office default), else the request is refused. An empty list
    never means "everything"."""
    if is_national(roles):
        if provinces:
            raise InvalidInput(
                "Administrators and national viewers see every province; leave 'provinces' empty for them.",
                code="invalid_provinces",
            )
        return []
    provincial = any(r in {p.value for p in PROVINCIAL_ROLES} for r in roles)
    if provinces is None:
        default = aoi.aoi_province_codes(session)
        if not provincial:
            return []
        if len(default) == 1:
            return default
        raise InvalidInput(
            "Give the province(s) this account works in ('provinces', e.g. [\"54\"]): this deployment serves "
            + (f"{len(default)} provinces" if default else "no loaded province yet")
            + ".",
            code="province_required",
        )
    codes = aoi.check_province_codes(session, provinces)
    if provincial and not codes:
        raise InvalidInput(
            "Investigators, field officers and committee members need at least one province.",
            code="province_required",
        )
    return codes


def scope_of(roles: list[str], provinces: list[str]) -> frozenset[str] | None:
    """The province scope of an account: None (every province) for national roles, else its provinces."""
    return None if is_national(roles) else frozenset(provinces)


def public(user: User) -> dict:
    """What administrators see of an account (never the hash or the token version)."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "roles": list(user.roles),
        "provinces": list(user.provinces or []),
        "is_active": user.is_active,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: list[str],
    display_name: str | None = None,
    actor: str = "system",
    provinces: list[str] | None = None,
) -> User:
    """Create an account with a hashed password (audited); ``provinces`` as ``check_provinces`` decides."""
    if len(password) < 10:
        raise InvalidInput("A password needs at least 10 characters.", code="weak_password")
    checked_roles = _roles(roles)
    user = User(
        username=username.strip().lower(),
        display_name=display_name or username,
        password_hash=hash_password(password),
        roles=checked_roles,
        provinces=check_provinces(session, checked_roles, provinces),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"A user named '{username}' exists already.") from None
    session.refresh(user)
    audit.record(session, actor, "create", "user", user.username, after=public(user))
    return user


def verify_password(session: Session, username: str, password: str) -> User:
    """The active account with this username and password; Unauthorized otherwise."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        password_matches(password, _dummy_hash())
        raise Unauthorized("Wrong username or password.")
    if not password_matches(password, user.password_hash) or not user.is_active:
        raise Unauthorized("Wrong username or password.")
    return user


def issue_token(user: User, secret: str, minutes: int) -> tuple[str, int]:
    """A signed access token for the account and its lifetime in seconds."""
    now = datetime.now(UTC)
    claims = {"sub": user.username, "tv": user.token_version, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def principal_for(user: User | Row) -> Principal:
    """The caller an account (a User or a row with its columns) acts as. A partner *account* has no API-key
    scopes: it reads public data only."""
    roles = frozenset(Role(r) for r in user.roles if r in Role._value2member_map_)
    return Principal(
        user.username,
        roles,
        display_name=user.display_name,
        scopes=frozenset() if Role.partner in roles else None,
        provinces=scope_of(list(user.roles), list(user.provinces or [])),
    )


def token_claims(token: str, secret: str) -> dict:
    """The claims of a valid, unexpired token; Unauthorized otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Your sign-in has expired; sign in again.", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("The token is not valid or has expired.") from None
    if not isinstance(claims.get("tv"), int) or not isinstance(claims["sub"], str):
        raise Unauthorized("The token is not valid or has expired.")  # e.g. issued before tokens were revocable
    return claims


def principal_from_token(conn: Session | Connection, token: str, secret: str) -> Principal:
    """The account behind a token, as it is now: refused when deactivated or signed out since.
    One indexed read of six columns per request (a Connection is enough)."""
    claims = token_claims(token, secret)
    user = conn.execute(
        select(User.username, User.display_name, User.roles, User.provinces, User.is_active, User.token_version).where(
            User.username == claims["sub"]
        )
    ).first()
    if user is None or not user.is_active or claims["tv"] != user.token_version:
        raise Unauthorized(
            "This sign-in was ended (signed out, or the account was changed or deactivated); sign in again.",
            code="token_revoked",
        )
    return principal_for(user)


def _get(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()).with_for_update())
    if user is None:
        raise NotFound(f"No user named '{username}'.")
    return user


def revoke_tokens(
    session: Session, username: str, actor: str, reason: str = "sign_out", only_version: int | None = None
) -> None:
    """End every sign-in of an account (all devices); with ``only_version``, only if still at that version
    (a token revoked already cannot sign its account out again)."""
    where = [User.username == username]
    if only_version is not None:
        where.append(User.token_version == only_version)
    done = session.execute(
        update(User).where(*where).values(token_version=User.token_version + 1).returning(User.id)
    ).scalar()
    if done is not None:
        audit.record(session, actor, "revoke_tokens", "user", username, after={"reason": reason})


def list_users(session: Session) -> list[dict]:
    """Every account, by username."""
    return [public(u) for u in session.scalars(select(User).order_by(User.username))]


def update_user(
    session: Session,
    username: str,
    actor: str,
    *,
    roles: list[str] | None = None,
    display_name: str | None = None,
    is_active: bool | None = None,
    provinces: list[str] | None = None,
) -> dict:
    """Change roles, provinces, name or the active flag; a change of roles or provinces (what the account may
    see) or a deactivation ends the account's sign-ins."""
    user = _get(session, username)
    before = public(user)
    if user.username == actor and (is_active is False or (roles is not None and "administrator" not in roles)):
        raise Conflict(
            "Administrators cannot deactivate or demote their own account; ask another administrator.",
            code="own_account",
        )
    revoke = False
    if roles is not None and _roles(roles) != sorted(user.roles):
        user.roles, revoke = _roles(roles), True
    if provinces is not None or roles is not None:
        # the roles decide whether provinces are needed; unchanged provinces are checked against new roles
        wanted = provinces if provinces is not None else (list(user.provinces or []) or None)
        if roles is not None and is_national(list(user.roles)) and provinces is None:
            wanted = None
        codes = check_provinces(session, list(user.roles), wanted)
        if codes != sorted(user.provinces or []):
            user.provinces, revoke = codes, True
    if display_name is not None:
        user.display_name = display_name
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        revoke = revoke or not is_active
    if revoke:
        user.token_version = User.token_version + 1
    if public(user) != before or revoke:
        user.updated_at = func.now()
        session.flush()
        session.refresh(user)
        after = public(user)
        action = (
            "update"
            if is_active is None or before["is_active"] == after["is_active"]
            else ("reactivate" if is_active else "deactivate")
        )
        audit.record(session, actor, action, "user", user.username, before=before, after=after)
    return public(user)


# --- for cases.service ---
def active_with_roles(
    session: Session, usernames: list[str], roles: list[str], province: str | None = None
) -> set[str]:
    """Which of these accounts are active and hold at least one of ``roles``; with ``province``, only those
    whose scope covers it (national accounts, or accounts working in that province)."""
    if not usernames:
        return set()
    query = select(User.username).where(User.username.in_(usernames), User.is_active, User.roles.overlap(roles))
    if province is not None:
        national = [r.value for r in NATIONAL_ROLES]
        query = query.where(or_(User.roles.overlap(national), User.provinces.contains([province])))
    return set(session.scalars(query))


def principals_for(session: Session, usernames: list[str]) -> dict[str, Principal]:
    """The principals of these accounts, active ones only (alerts check what each recipient may see)."""
    if not usernames:
        return {}
    rows = session.scalars(select(User).where(User.username.in_(list(usernames)), User.is_active))
    return {u.username: principal_for(u) for u in rows}
