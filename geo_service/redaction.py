"""Which confidential incident properties a caller may read: the one policy every route applies.

Reporter and account names can identify an informant: only investigators and administrators read them,
and the author of an incident reads them on their own record. Descriptions and tags are for staff (every
signed-in role but partners). The incident routes, the exports and OGC API (exports/collections.py) and
the maps all ask this module; none keeps a list of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from geo_service.auth import Principal, Role

INSIDERS = frozenset({Role.administrator, Role.investigator})
STAFF = frozenset({Role.administrator, Role.investigator, Role.field_officer, Role.committee_member})
NAMES = ("reporter", "created_by", "updated_by")  # properties that name people

# Incident property -> the roles that may read it (on every incident, not only their own).
INCIDENT_CONFIDENTIAL: dict[str, frozenset[Role]] = {
    "description": STAFF,
    "tags": STAFF,
    **{name: INSIDERS for name in NAMES},
}


def may_read(principal: Principal | None, prop: str, author: str | None = None) -> bool:
    """Whether the caller may read ``prop`` of an incident written by ``author`` (None: of any incident)."""
    roles = INCIDENT_CONFIDENTIAL.get(prop)
    if roles is None:
        return True
    if principal is None:
        return False
    if principal.has(*roles):
        return True
    return prop in NAMES and author is not None and author == principal.name and principal.has(*STAFF)


def withheld(principal: Principal | None, author: str | None = None) -> list[str]:
    """The incident properties the caller may not read."""
    return [p for p in INCIDENT_CONFIDENTIAL if not may_read(principal, p, author)]


def incident(record: dict, principal: Principal | None) -> dict:
    """A copy of an incident (API shape) with what the caller may not read set to None (tags: [])."""
    hidden = withheld(principal, record.get("created_by"))
    if not hidden:
        return record
    return {k: (([] if k == "tags" else None) if k in hidden else v) for k, v in record.items()}


def incidents(records: Iterable[dict], principal: Principal | None) -> list[dict]:
    """Each incident with what the caller may not read withheld."""
    return [incident(r, principal) for r in records]
