"""Row-level security: each case transaction runs as the restricted database role, told who is asking.

``act_as`` switches the transaction to the ``geo_service_app`` role (SET LOCAL ROLE; superusers and the
table owner would otherwise bypass row-level security) and records the user and roles in transaction
settings that the policies of migration 0004 read. Both end with the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal, Role

APP_ROLE = "geo_service_app"


def act_as(session: Session, principal: Principal) -> None:
    session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
    session.execute(text("SELECT set_config('geo_service.user', :user, true), "
                         "set_config('geo_service.roles', :roles, true)"),
                    {"user": principal.name, "roles": ",".join(sorted(r.value for r in principal.roles))})


def is_insider_role(principal: Principal) -> bool:
    return principal.has(Role.administrator, Role.investigator)


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
