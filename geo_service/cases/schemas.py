"""Case request models."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geo_service.db.models import CaseCategory, CaseStage, Confidentiality, LinkTarget, PartyRole


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=300)
    summary: str = Field(default="", max_length=20_000)
    category: CaseCategory
    confidentiality: Confidentiality = Confidentiality.internal
    received_on: date | None = None
    period_from: date | None = None
    period_to: date | None = None
    assigned: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _period(self):
        if self.period_from and self.period_to and self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self


class CaseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=3, max_length=300)
    summary: str | None = Field(default=None, max_length=20_000)
    category: CaseCategory | None = None
    confidentiality: Confidentiality | None = None
    period_from: date | None = None
    period_to: date | None = None


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_stage: CaseStage
    reason: str = Field(min_length=5, max_length=5000)


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    position: str | None = Field(default=None, max_length=300)
    agency: str | None = Field(default=None, max_length=300)
    party_role: PartyRole
    note: str | None = Field(default=None, max_length=5000)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=20_000)
    confidential: bool = True


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: LinkTarget
    target_id: str = Field(min_length=1, max_length=80)
    reason: str = Field(min_length=3, max_length=2000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=80)
