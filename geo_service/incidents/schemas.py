"""Incident request and response models (pydantic): what a client may send and what it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geo_service.db.models import IncidentKind, IncidentStatus, Severity


class LocationIn(BaseModel):
    """Where: typed text in any supported format, or latitude and longitude numbers."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        default=None, max_length=120, description="18.1452, 100.1417 | 18°08'42.5\"N 100°08'30\"E | 47Q 537172 1958350"
    )
    lat: float | None = Field(default=None, allow_inf_nan=False)
    lon: float | None = Field(default=None, allow_inf_nan=False)
    datum: str = Field(default="WGS84", max_length=20, description="WGS84 or Indian1975")
    accuracy_m: float | None = Field(
        default=None, ge=0, le=100_000, allow_inf_nan=False, description="GPS accuracy reported by the device, metres"
    )
    confirm_outside_province: bool = Field(default=False, description="The point is outside the province on purpose")

    @model_validator(mode="after")
    def _one_form(self):
        if self.text is None and (self.lat is None or self.lon is None):
            raise ValueError("give either text, or both lat and lon")
        return self


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IncidentKind
    location: LocationIn
    observed_at: datetime | None = Field(default=None, description="Default: now. Without a time zone: Asia/Bangkok")
    description: str = Field(default="", max_length=5000)
    reporter: str | None = Field(default=None, max_length=200)
    severity: Severity = Severity.medium
    tags: list[str] = Field(default_factory=list, max_length=20)
    area: dict[str, Any] | None = Field(default=None, description="Affected area: a GeoJSON Polygon or MultiPolygon")

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = []
        for t in v:
            t = t.strip()
            if not t or len(t) > 40:
                raise ValueError("each tag is 1 to 40 characters")
            if t not in out:
                out.append(t)
        return out


class IncidentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IncidentKind | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    observed_at: datetime | None = None
    description: str | None = Field(default=None, max_length=5000)
    reporter: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=20)
    location: LocationIn | None = None
    area: dict[str, Any] | None = None

    _tags = field_validator("tags")(lambda cls, v: IncidentCreate._tags(v) if v is not None else v)
