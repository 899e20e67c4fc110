"""Case request models, and the shapes of the answers (so the OpenAPI document describes them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from geo_service.db.models import CaseCategory, CaseStage, Confidentiality, LinkTarget, PartyRole


class CaseCreate(BaseModel):
    """A new case (the reference is assigned by the service)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=300)
    summary: str = Field(default="", max_length=20_000)
    category: CaseCategory
    confidentiality: Confidentiality = Confidentiality.internal
    received_on: date | None = None
    period_from: date | None = None
    period_to: date | None = None
    assigned: list[str] = Field(default_factory=list, max_length=20)
    province_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9_-]+$",
        description='The province (office) the case belongs to, e.g. "54"; default: the creator\'s province when '
        "they have exactly one",
    )

    @model_validator(mode="after")
    def _period(self):
        if self.period_from and self.period_to and self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self


class CaseUpdate(BaseModel):
    """Fields of a case to change (only those sent change)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=3, max_length=300)
    summary: str | None = Field(default=None, max_length=20_000)
    category: CaseCategory | None = None
    confidentiality: Confidentiality | None = None
    period_from: date | None = None
    period_to: date | None = None


class Transition(BaseModel):
    """A move to another stage, with its reason."""

    model_config = ConfigDict(extra="forbid")

    to_stage: CaseStage
    reason: str = Field(min_length=5, max_length=5000)


class PartyIn(BaseModel):
    """An agency or official concerned by a case."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    position: str | None = Field(default=None, max_length=300)
    agency: str | None = Field(default=None, max_length=300)
    party_role: PartyRole
    note: str | None = Field(default=None, max_length=5000)


class NoteIn(BaseModel):
    """A note on a case."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=20_000)
    confidential: bool = True


class LinkIn(BaseModel):
    """A piece of evidence to link to a case, and why."""

    model_config = ConfigDict(extra="forbid")

    target_type: LinkTarget
    target_id: str = Field(min_length=1, max_length=80)
    reason: str = Field(min_length=3, max_length=2000)


class AssignIn(BaseModel):
    """The investigator to assign."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=80)


# --- answers --------------------------------------------------------------------------------------------------
def _timestamp(**kw: Any) -> Any:
    """Timestamps are sent as the service writes them (ISO 8601 with the offset), hence ``str`` with a format."""
    return Field(json_schema_extra={"format": "date-time"}, **kw)


class EvidenceCounts(BaseModel):
    """How many pieces of evidence of each kind the case links."""

    incident: int
    hotspot: int
    fire_event: int
    protected_area: int
    district: int
    raster_stat: int
    clearing_patch: int
    red_flag: int
    contract: int
    parcel: int


class HiddenNote(BaseModel):
    """What an output says when evidence outside the reader's provinces is not shown."""

    th: str = Field(examples=["หลักฐาน 2 รายการอยู่นอกจังหวัดที่ท่านรับผิดชอบ จึงไม่แสดง"])
    en: str = Field(examples=["2 items of evidence outside your province are not shown"])


class CaseLinkOut(BaseModel):
    """A piece of evidence linked to the case."""

    id: int
    target_type: LinkTarget
    target_id: str
    reason: str
    created_by: str
    created_at: str = _timestamp()


class TransitionOut(BaseModel):
    """A step of the case's stage history (the first has no ``from_stage``)."""

    from_stage: CaseStage | None
    to_stage: CaseStage
    reason: str
    created_by: str
    created_at: str = _timestamp()


class NoteOut(BaseModel):
    """A note the caller may read."""

    id: int
    body: str
    confidential: bool
    created_by: str
    created_at: str = _timestamp()


class PartyOut(BaseModel):
    """An agency or official concerned (the case's insiders only)."""

    id: int
    name: str
    position: str | None
    agency: str | None
    party_role: PartyRole
    note: str | None


class AttachmentOut(BaseModel):
    """A file kept with the case (the case's insiders only); ``url`` downloads it."""

    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    description: str | None
    created_by: str
    created_at: str = _timestamp()
    url: str


class CaseOut(BaseModel):
    """A case as the caller's role may see it. The committee gets the first group of fields only (where and at
    which stage); investigators also what is alleged and by whom; ``parties`` and ``attachments`` only the
    investigators assigned and administrators. Fields a role may not see are absent, not null."""

    id: int
    reference: str = Field(examples=["NACC-PR-2568-0001"])
    category: CaseCategory
    stage: CaseStage
    category_th: str
    category_en: str
    stage_th: str
    stage_en: str
    confidentiality: Confidentiality
    received_on: date
    fiscal_year_be: int
    province_code: str | None = Field(description="The province (office) the case belongs to")
    period_from: date | None
    period_to: date | None
    closed_on: date | None
    version: int = Field(description='For If-Match (the ETag is W/"<version>")')
    evidence_counts: EvidenceCounts = Field(description="Of the evidence within the caller's provinces")
    districts: list[str]
    protected_areas: list[str]
    evidence_hidden: int = Field(
        0,
        description="Linked evidence outside the caller's provinces (linked by a national colleague): counted, never "
        "listed (README: Anti-corruption cases, the province rule of evidence)",
    )
    evidence_hidden_note: HiddenNote | None = Field(None, description="Present when evidence_hidden > 0")
    title: str | None = None
    summary: str | None = None
    assigned: list[str] | None = None
    links: list[CaseLinkOut] | None = None
    created_by: str | None = None
    created_at: str | None = _timestamp(default=None)
    updated_by: str | None = None
    updated_at: str | None = _timestamp(default=None)
    transitions: list[TransitionOut] | None = None
    notes: list[NoteOut] | None = None
    parties: list[PartyOut] | None = None
    attachments: list[AttachmentOut] | None = None


class CaseList(BaseModel):
    """One page of the cases the caller may see, newest first, and how many there are."""

    items: list[CaseOut]
    total: int
    limit: int
    offset: int


class Suggestion(BaseModel):
    """A detection or fire event that may be evidence for the case, with its score and the reason."""

    target_type: LinkTarget
    target_id: str
    seen: str = _timestamp()
    sensor: str | None
    confidence: int | None
    frp: float | None
    reserve_code: str | None
    district_code: str | None
    score: float
    distance_m: int | float
    days_apart: float | None
    incident_id: int | None = Field(description="The nearest linked incident (None for a match inside a reserve)")
    reason: str
    # clearing patches (issue 14): the reason in Thai too, and the patch's figures
    reason_th: str | None = None
    area_ha: float | None = None
    area_rai: float | None = None
    first_date: date | None = None
    last_date: date | None = None
    sources: list[str] | None = None
    cleared_by_fire: bool | None = None


class Suggestions(BaseModel):
    """Ranked suggestions (best first) for a case, and the search radius and window used."""

    case_id: int
    distance_m: float
    days: int
    patch_days: int | None = None
    suggestions: list[Suggestion]


class AuditEntryOut(BaseModel):
    """An entry of the audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    before: Any = None
    after: Any = None

    @field_serializer("at")
    def _at(self, at: datetime) -> str:
        return at.isoformat()
