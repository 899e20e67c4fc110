"""Who is calling and what their role allows: the roles of the programme and the principal a request acts as.

Roles follow the programme: administrator, investigator, field officer, committee member and partner
agency, plus the national viewer (aggregates across provinces). A principal also carries its province scope:
the province codes whose cases and incidents it works on (None for national roles: every province).

How a request becomes a principal is the HTTP layer's business (``api.deps.authenticate``): a signed access token from /api/v1/auth/token (users.py; checked against the account on every request, so
sign-out, deactivation and role changes apply at once), the bootstrap administrator's token
(GEO_SERVICE_ADMIN_TOKEN, or the one generated into the data folder), or a partner system's API key
(api_keys.py), which acts with the partner role, limited to the key's scopes. This module depends on no other
of the service's, so every domain can name a principal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Role(str, enum.Enum):
    """A role of the programme; a principal holds one or more."""

    administrator = "administrator"
    investigator = "investigator"
    field_officer = "field_officer"
    committee_member = "committee_member"
    partner = "partner"
    national_viewer = "national_viewer"
    network_member = "network_member"  # a volunteer of the public network (issue 17): reports, nothing else


# Thai and English names of the roles (user lists, the README's matrix).
ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.administrator: ("ผู้ดูแลระบบ", "Administrator"),
    Role.investigator: ("พนักงานไต่สวน", "Investigator"),
    Role.field_officer: ("เจ้าหน้าที่ภาคสนาม", "Field officer"),
    Role.committee_member: ("กรรมการ/อนุกรรมการ", "Committee member"),
    Role.partner: ("หน่วยงานภาคี", "Partner agency"),
    Role.national_viewer: ("ผู้ดูภาพรวมระดับประเทศ", "National viewer"),
    Role.network_member: ("สมาชิกเครือข่ายภาคประชาชน", "Network member"),
}


def role_label(value: str) -> str:
    """A role as people read it: its code with the Thai name, e.g. ``national_viewer (ผู้ดูภาพรวมระดับประเทศ)``."""
    labels = {r.value: th for r, (th, _en) in ROLE_LABELS.items()}
    return f"{value} ({labels[value]})" if value in labels else value


# Roles whose holders answer for every province (no province list); every other role works in its province(s).
NATIONAL_ROLES = frozenset({Role.administrator, Role.national_viewer})
# Roles that need at least one province when the account holds no national role.
PROVINCIAL_ROLES = frozenset({Role.investigator, Role.field_officer, Role.committee_member})


@dataclass(frozen=True)
class Principal:
    """Who a request (or a command) acts as: a name, roles and, for an API key, what it may read."""

    name: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    display_name: str | None = None
    scopes: frozenset[str] | None = None  # API keys: the collections it may read (None: no limit)
    fields: tuple[tuple[str, frozenset[str]], ...] = ()  # API keys: collection -> the only properties it may read
    # The province codes whose cases and incidents this principal works on; None: every province (national
    # roles, the bootstrap administrator, partner API keys). An empty set sees no province's records.
    provinces: frozenset[str] | None = None

    def fields_for(self, collection: str) -> frozenset[str] | None:
        """The only properties of ``collection`` this principal may read (None: no such limit)."""
        return dict(self.fields).get(collection)

    def has(self, *roles: Role) -> bool:
        """Whether the principal holds one of ``roles``."""
        return bool(self.roles & set(roles))

    @property
    def national(self) -> bool:
        """Whether this principal answers for every province (no province scope)."""
        return self.provinces is None

    def sees_province(self, code: str | None) -> bool:
        """Whether records of province ``code`` are within this principal's scope (None: no province, national
        principals only)."""
        return self.provinces is None or (code is not None and code in self.provinces)
