"""What the alerts API takes and returns."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, Field

from geo_service.auth import Role

SubjectType = Literal["district", "subdistrict", "protected_area", "contract_area", "case", "polygon"]
Kind = Literal["hotspot", "fire_event", "clearing_patch", "red_flag", "case_change"]
Channel = Literal["email", "line", "webhook"]
Confidence = Literal["low", "nominal", "high"]
CONFIDENCE_LEVEL = {"low": 1, "nominal": 2, "high": 3}
CONFIDENCE_NAME = {v: k for k, v in CONFIDENCE_LEVEL.items()}
CODE_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class SubscriptionSettings(BaseModel):
    """How and when a subscription tells its people."""

    kinds: list[Kind] | None = Field(
        default=None, min_length=1, max_length=5, description="What to be told about (case subjects: case_change)"
    )
    min_confidence: Confidence | None = Field(default=None, description="Hotspots: the lowest FIRMS confidence")
    sensors: list[Literal["MODIS", "VIIRS"]] | None = Field(default=None, description="Hotspots: only these sensors")
    daynight: Literal["D", "N"] | None = Field(default=None, description="Hotspots: only day (D) or night (N) passes")
    delivery: Literal["immediate", "digest"] | None = Field(default=None, description="Now, or once a day")
    digest_time: time | None = Field(default=None, description="Local time (Asia/Bangkok) of the daily digest")
    quiet_start: time | None = Field(default=None, description="Quiet hours start (local); immediate alerts wait")
    quiet_end: time | None = Field(default=None, description="Quiet hours end (local)")
    language: Literal["th", "en"] | None = None
    channels: list[Channel] | None = Field(
        default=None, max_length=3, description="Besides the in-app list (always): email, line, webhook"
    )
    active: bool | None = None


class SubscriptionIn(SubscriptionSettings):
    """A new subscription: to what, for whom (administrators may subscribe a user or a role), and how."""

    subject_type: SubjectType
    subject_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        pattern=CODE_PATTERN,
        description="District or subdistrict code, protected-area code, case number; none for a polygon",
    )
    polygon: dict[str, Any] | None = Field(default=None, description="A drawn area: GeoJSON Polygon or MultiPolygon")
    kinds: list[Kind] = Field(min_length=1, max_length=5)
    username: str | None = Field(
        default=None, min_length=1, max_length=80, description="Administrators: subscribe this user (default: you)"
    )
    recipient_role: Role | None = Field(default=None, description="Administrators: every active account of a role")
    recipient_province: str | None = Field(
        default=None, min_length=1, max_length=20, pattern=CODE_PATTERN, description="With recipient_role: one province"
    )


class SubscriptionOut(BaseModel):
    """A stored subscription."""

    id: int
    created_by: str
    username: str | None
    recipient_role: str | None
    recipient_province: str | None
    subject_type: str
    subject_code: str | None
    polygon: dict[str, Any] | None
    kinds: list[str]
    min_confidence: str
    sensors: list[str] | None
    daynight: str | None
    delivery: str
    digest_time: time
    quiet_start: time | None
    quiet_end: time | None
    language: str
    channels: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class ContactsIn(BaseModel):
    """Where you receive alerts."""

    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    line_user_id: str | None = Field(default=None, max_length=64, pattern=r"^U[0-9a-f]{32}$")
    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s<>]+$")


class ContactsOut(BaseModel):
    """Where you receive alerts (null: that channel is skipped)."""

    email: str | None
    line_user_id: str | None
    webhook_url: str | None


class RecentAlert(BaseModel):
    """An alert in the in-app list."""

    id: int
    subscription_id: int
    kind: str
    title: str = Field(description="What, in the subscription's language")
    where: str
    when: str = Field(description="Buddhist Era date and local time")
    link: str
    lon: float | None
    lat: float | None
    created_at: datetime


class UnsubscribeOut(BaseModel):
    """The result of an unsubscribe link."""

    subscription_id: int
    username: str
    unsubscribed: bool
