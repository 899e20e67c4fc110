"""Request and response models of the red-flag routes."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from geo_service.db.models import CaseCategory, Confidentiality


class ContractEdit(BaseModel):
    """Fields of a contract to change (only those sent change); geometry as GeoJSON (polygon or line)."""

    model_config = ConfigDict(extra="forbid")

    project_name: str | None = Field(default=None, min_length=1, max_length=500)
    agency: str | None = Field(default=None, min_length=1, max_length=300)
    contractor: str | None = Field(default=None, max_length=300)
    work_type: str | None = Field(default=None, max_length=40)
    budget_thb: float | None = Field(default=None, ge=0, le=1e13)
    paid_thb: float | None = Field(default=None, ge=0, le=1e13)
    fiscal_year_be: int | None = Field(default=None, ge=2400, le=2700)
    start_date: date | None = None
    end_date: date | None = None
    delivery_date: date | None = None
    quantities: dict[str, float | str] | None = None
    named_district_code: str | None = Field(default=None, max_length=20)
    named_reserve_code: str | None = Field(default=None, max_length=40)
    width_m: float | None = Field(default=None, gt=0, le=10_000)
    geometry: dict[str, Any] | None = None


class ParcelEdit(BaseModel):
    """Fields of a parcel to change (only those sent change); polygon as GeoJSON."""

    model_config = ConfigDict(extra="forbid")

    issue_date: date | None = None
    issuing_office: str | None = Field(default=None, max_length=300)
    confidential: bool | None = None
    geometry: dict[str, Any] | None = None


class Dismissal(BaseModel):
    """Why a flag is dismissed (kept in its history and the audit trail)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=5, max_length=2000)


class OpenCase(BaseModel):
    """A case to open from a flag (the flag, its contracts or parcels and its protected area are linked)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=3, max_length=300)
    category: CaseCategory | None = None
    confidentiality: Confidentiality = Confidentiality.confidential
    province_code: str | None = Field(default=None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")


class LinkToCase(BaseModel):
    """The case to link a flag to."""

    model_config = ConfigDict(extra="forbid")

    case_id: int = Field(ge=1, le=2**31 - 1)


class RunRequest(BaseModel):
    """Which rules to run now (default: every enabled rule)."""

    model_config = ConfigDict(extra="forbid")

    rules: list[str] | None = Field(default=None, max_length=20)


class RuleRunOut(BaseModel):
    """What one rule did."""

    rule: str
    found: int
    new: int
    changed: int
    gone: int
    seconds: float


class RunOut(BaseModel):
    """What a run did, rule by rule."""

    rules: list[RuleRunOut]


class LoadOut(BaseModel):
    """What a contract or parcel load stored."""

    kind: str
    features: int
    inserted: int
    updated: int
    unchanged: int
    driver: str
    source_crs: str
    rules: list[RuleRunOut]


class PlotChangeOut(BaseModel):
    """One reforestation plot's measured mean index before, after and change, over ``pixels`` pixels."""

    contract_id: int
    before_mean: float
    after_mean: float
    change: float
    pixels: int


class VegetationOut(BaseModel):
    """What a vegetation measurement found: plots measured, not covered, with no gain; the rule's re-run."""

    index: str
    plots: int
    measured: int
    not_covered: int
    no_gain: int
    min_gain: float
    source: dict[str, Any]
    results: list[PlotChangeOut]
    rules: list[RuleRunOut]


class FlagOut(BaseModel):
    """A red flag: the rule, severity, reasons in Thai and English, figures, evidence, status."""

    id: int
    flag_key: str
    rule: str
    rule_th: str
    rule_en: str
    severity: str
    subject_type: str
    subject_id: str
    contract_ids: list[int]
    parcel_ids: list[int]
    reason_th: str
    reason_en: str
    figures: dict[str, Any]
    evidence: list[dict[str, Any]]
    district_code: str | None
    province_code: str | None = Field(default=None, description="The province it lies in (None: outside every one)")
    reserve_code: str | None
    agency: str | None
    contractor: str | None
    fiscal_year_be: int | None
    status: str
    current: bool
    dismissed_reason: str | None
    dismissed_by: str | None
    dismissed_at: str | None
    case_id: int | None
    version: int
    first_found_at: str
    last_found_at: str
    updated_at: str
    history: list[dict[str, Any]] | None = None


class FlagList(BaseModel):
    """A page of flags."""

    total: int
    items: list[FlagOut]


class ContractOut(BaseModel):
    """A contract, with its stated geometry and the area the rules use (GeoJSON)."""

    model_config = ConfigDict(extra="allow")

    id: int
    contract_number: str
    project_name: str
    agency: str
    contractor: str | None
    work_type: str
    province_code: str | None = Field(default=None, description="Province of its area (None: outside every one)")
    version: int
    area: dict[str, Any]
    geometry: dict[str, Any]


class ContractList(BaseModel):
    """A page of contracts."""

    total: int
    items: list[ContractOut]


class ParcelOut(BaseModel):
    """A land document's parcel (confidential: investigators and administrators only)."""

    model_config = ConfigDict(extra="allow")

    id: int
    doc_type: str
    doc_number: str
    issue_date: str | None
    issuing_office: str | None
    confidential: bool
    province_code: str | None = Field(default=None, description="Province of its polygon (None: outside every one)")
    version: int
    area: dict[str, Any]
    geometry: dict[str, Any]


class ParcelList(BaseModel):
    """A page of parcels."""

    total: int
    items: list[ParcelOut]


class ContractorOut(BaseModel):
    """A contractor's contracts and every flag across them."""

    contractor: str
    contracts: int
    budget_thb: float
    paid_thb: float
    contract_ids: list[int]
    flags: list[FlagOut]
    by_rule: dict[str, int]
