"""What the public and the staff send and get back (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from geo_service.incidents.schemas import LocationIn

Kind = Literal["encroachment", "logging", "burning", "project_misuse"]
Status = Literal["received", "accepted", "merged", "rejected"]


class ContactIn(BaseModel):
    """Optional ways to reach the reporter: sealed at once, never stored or logged in clear."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=200)
    line_id: str = Field(default="", max_length=80)
    note: str = Field(default="", max_length=1000, description="When and how to reach them safely")

    def given(self) -> bool:
        """Whether anything was filled in."""
        return any(v.strip() for v in self.model_dump().values())


class ReportIn(BaseModel):
    """A report as the public form sends it (the ``report`` part of the multipart request, JSON)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    location: LocationIn
    observed_at: datetime | None = Field(default=None, description="Without a time zone: Asia/Bangkok")
    description: str = Field(default="", max_length=5000)
    contact: ContactIn | None = None
    website: str = Field(default="", max_length=500, description="Leave empty (a field people do not see)")


class ReceiptOut(BaseModel):
    """What the reporter gets: the receipt code (the only way to follow the report) and the status."""

    receipt: str
    status: Status
    submitted_at: datetime
    photos: int


class FollowUpOut(BaseModel):
    """A report's state as the receipt's holder sees it (no staff names, no incident, no position)."""

    status: Status
    status_th: str
    status_en: str
    reason: str | None
    submitted_at: datetime
    updated_at: datetime
    photos: int
    additions: int


class PhotoMetaOut(BaseModel):
    """A report photo's metadata; the image itself at ``url`` (EXIF/GPS stripped)."""

    id: int
    sha256: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    from_addition: bool
    added_at: datetime
    url: str


class AdditionOut(BaseModel):
    """Information the reporter added later."""

    id: int
    text: str
    added_at: datetime


class ReportOut(BaseModel):
    """A report as the triage officers see it (the contact details only through the audited opening)."""

    id: int
    reference: str
    source: Literal["public", "member"]
    kind: Kind
    description: str
    observed_at: datetime | None
    lon: float
    lat: float
    location_text: str | None
    province_code: str | None
    district_code: str | None
    subdistrict_code: str | None
    reserve_code: str | None
    protected_area_codes: list[str]
    status: Status
    reason: str | None
    duplicate_of: int | None
    merged_into: int | None
    incident_id: int | None
    assigned_to: str | None
    triaged_by: str | None
    triaged_at: datetime | None
    has_contact: bool
    photos: int
    additions: int
    submitted_at: datetime
    updated_at: datetime


class ReportDetailOut(ReportOut):
    """One report with its photos and additions."""

    photo_list: list[PhotoMetaOut]
    addition_list: list[AdditionOut]


class ReportPage(BaseModel):
    """A page of the triage queue."""

    total: int
    items: list[ReportOut]


class AssignIn(BaseModel):
    """The investigator who may open the contact details."""

    model_config = ConfigDict(extra="forbid")

    investigator: str = Field(min_length=1, max_length=80)


class RejectIn(BaseModel):
    """Why a report is refused (the reporter sees it with the receipt: no names)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=1000)


class MergeIn(BaseModel):
    """The report this one repeats."""

    model_config = ConfigDict(extra="forbid")

    into: int = Field(ge=1, lt=2**63)
    reason: str = Field(default="", max_length=1000)


class OpenContactIn(BaseModel):
    """Why the investigator opens the contact details (written to the audit trail)."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=3, max_length=500)


class ContactOut(BaseModel):
    """The opened contact details; ``member`` when a network member sent the report."""

    report_id: int
    contact: ContactIn | None
    member: str | None
    opened_by: str


class MemberIn(BaseModel):
    """A new volunteer account of the network."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=10, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)
    district_code: str = Field(min_length=1, max_length=20)


class MemberOut(BaseModel):
    """A network member: account, district and whether the account is active."""

    username: str
    district_code: str
    province_code: str
    joined_at: datetime
    active: bool


class DistrictCountOut(BaseModel):
    """One district's network members and reports."""

    district_code: str
    province_code: str
    name_th: str
    name_en: str
    active_members: int
    members: int
    public_reports: int
    member_reports: int
    accepted_reports: int


class NetworkCountsOut(BaseModel):
    """Members and reports per district, for the programme's own reporting."""

    fiscal_year_be: int | None
    districts: list[DistrictCountOut]
    total_active_members: int
    total_reports: int
