"""Row-level security: each case transaction runs as the restricted database role, told who is asking.

``act_as`` switches the transaction to the ``geo_service_app`` role (SET LOCAL ROLE; superusers and the
table owner would otherwise bypass row-level security) and records the user, roles and province scope
in transaction settings that the policies of migrations 0004 and 0019 read (a case outside the caller's
provinces does not exist for it). Both end with the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal, Role
from geo_service.errors import Forbidden, NotFound

APP_ROLE = "geo_service_app"


def act_as(session: Session, principal: Principal) -> None:
    """Switch the transaction to the restricted role, acting for ``principal`` (row-level security applies)."""
    session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
    session.execute(
        text(
            "SELECT set_config('geo_service.user', :user, true), set_config('geo_service.roles', :roles, true), "
            "set_config('geo_service.provinces', :provinces, true)"
        ),
        {
            "user": principal.name,
            "roles": ",".join(sorted(r.value for r in principal.roles)),
            "provinces": provinces_setting(principal),
        },
    )


def provinces_setting(principal: Principal) -> str:
    """The province scope as the policies of migration 0019 read it: ``*`` for a national principal, else its
    codes comma-separated (empty: no province)."""
    if principal.provinces is None:
        return "*"
    return ",".join(sorted(principal.provinces))


def assigned_investigators(session: Session, case_id: int) -> list[str]:
    """The usernames of the investigators assigned to a case, sorted."""
    return list(
        session.execute(
            text("SELECT username FROM case_assignments WHERE case_id = :id ORDER BY username"), {"id": case_id}
        ).scalars()
    )


def is_insider(session: Session, principal: Principal, case_id: int, assigned: list[str] | None = None) -> bool:
    """Administrators, and the investigators assigned (``assigned``: the list when the caller has it)."""
    if principal.has(Role.administrator):
        return True
    return principal.has(Role.investigator) and principal.name in (
        assigned if assigned is not None else assigned_investigators(session, case_id)
    )


def require_insider(session: Session, principal: Principal, case_id: int) -> None:
    """The access rule of a case's evidence, files, links and maps: the case exists for the caller (row-level
    security decides) and the caller is an administrator or one of its assigned investigators."""
    if session.execute(text("SELECT 1 FROM cases WHERE id = :id"), {"id": case_id}).first() is None:
        raise NotFound("No case with this number, or you may not see it.")  # absent or invisible: one answer
    if not is_insider(session, principal, case_id):
        raise Forbidden("Only the investigators assigned to this case (and administrators) may do this.")


@contextmanager
def seen_by(session: Session, principal: Principal) -> Iterator[None]:
    """Run the enclosed reads as ``principal`` (row-level security applies), inside a savepoint that is rolled
    back afterwards, so the caller's transaction goes on with its own role and settings (a brief's figures
    are read as its audience, then the brief is stored as the service)."""
    savepoint = session.begin_nested()
    try:
        act_as(session, principal)
        yield
    finally:
        savepoint.rollback()


def can_see(session: Session, principal: Principal, case_id: int) -> bool:
    """Whether the case exists for ``principal`` (row-level security decides, as for the principal's own reads);
    the caller's transaction goes on unchanged (``seen_by``)."""
    with seen_by(session, principal):
        return session.execute(text("SELECT 1 FROM cases WHERE id = :id"), {"id": case_id}).first() is not None
