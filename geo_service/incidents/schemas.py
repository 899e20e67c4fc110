"""Incident request and response models (pydantic): what a client may send and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geo_service.auth import Principal
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
    """A new incident as a client sends it: what, where, when, and optionally the affected area."""

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
    """A change to an incident: only the fields sent are changed (``area: null`` removes the area)."""

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


@dataclass
class IncidentFilter:
    """Which incidents a list asks for; every criterion given must hold (dates are days in Asia/Bangkok)."""

    district: str | None = None
    subdistrict: str | None = None
    protected_area: str | None = None
    in_reserve: bool | None = None
    kinds: list[str] | None = None
    statuses: list[str] | None = None
    start: date | None = None
    end: date | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None
    q_names: bool = True  # whether q also searches reporter names (only for callers who may read them)
    viewer: Principal | None = None  # whose province scope limits the list (None: every incident)


# --- what the API returns (response models: they describe the JSON in /openapi.json) ----------------------
class _Out(BaseModel):
    """A response shape: every key listed (a key the model does not list is an error in the tests)."""

    model_config = ConfigDict(extra="forbid")


class NamedPlaceOut(_Out):
    """A district or subdistrict: its code and names."""

    code: str
    name_th: str | None = None
    name_en: str | None = None


class NearestDistrictOut(NamedPlaceOut):
    """The nearest district and the metres to it (0 inside it)."""

    distance_m: float


class ProtectedAreaNameOut(_Out):
    """A protected area an incident falls in (the names of its newest version)."""

    code: str
    name_th: str | None = None
    name_en: str | None = None
    kind: str
    illustrative: bool


class PlaceOut(_Out):
    """Where an incident falls: province, district, subdistrict, protected areas, the reserve it is in (if any)
    and the metres to the nearest reserve boundary."""

    province_code: str | None
    district: NamedPlaceOut | None
    subdistrict: NamedPlaceOut | None
    protected_areas: list[ProtectedAreaNameOut]
    in_reserve: bool
    reserve_code: str | None
    reserve_distance_m: float | None
    outside_province: bool


class LocatedPlaceOut(PlaceOut):
    """A place before saving: also the metres to the province and the nearest district (0 inside)."""

    province_distance_m: float | None
    nearest_district: NearestDistrictOut | None


class LocationOut(_Out):
    """An incident's position in WGS 84 and the text it was entered as."""

    lon: float
    lat: float
    text: str
    format: str
    datum: str
    accuracy_m: float | None


class NotationNameOut(_Out):
    """The name of a coordinate notation, in Thai and English."""

    th: str
    en: str


class PositionOut(_Out):
    """A position as read: WGS 84 longitude/latitude, the notation and datum read, and notes on the reading."""

    lon: float
    lat: float
    text: str
    format: str
    format_name: NotationNameOut
    read_as: str
    datum: str
    source_crs: str
    notes: list[str]


class LocateOut(_Out):
    """Where a position falls, without saving an incident."""

    position: PositionOut
    accuracy_m: float | None
    place: LocatedPlaceOut


class AreaOut(_Out):
    """The affected area in square metres, hectares, km², rai and rai-ngan-wa, and its outline."""

    m2: float
    ha: float
    km2: float
    rai: float
    rai_ngan_wa: list[float] = Field(description="[rai, ngan, square wa]")
    geometry: dict[str, Any] = Field(description="GeoJSON MultiPolygon, WGS 84")


class IncidentPhotoOut(_Out):
    """A photo as an incident lists it (the bytes are at ``url`` and ``thumbnail_url``)."""

    id: int
    sha256: str
    filename: str | None
    content_type: str
    size_bytes: int
    width: int
    height: int
    flags: list[str] = Field(description="far_from_incident, taken_too_early, taken_too_late, no_position, no_time")
    exif_lat: float | None
    exif_lon: float | None
    exif_taken_at: str | None
    distance_m: float | None
    time_offset_s: float | None
    url: str
    thumbnail_url: str


class PhotoOut(_Out):
    """A stored photo: what it says about itself, how it compares with its incident, who uploaded it."""

    id: int
    sha256: str
    filename: str | None
    content_type: str
    size_bytes: int
    width: int
    height: int
    exif_lon: float | None
    exif_lat: float | None
    exif_taken_at: str | None = Field(description="Local time (Asia/Bangkok), ISO 8601")
    distance_m: float | None
    time_offset_s: float | None
    flags: list[str]
    uploaded_by: str | None
    uploaded_at: str | None = Field(description="Local time (Asia/Bangkok), ISO 8601")
    url: str
    thumbnail_url: str


class IncidentOut(_Out):
    """An incident. Confidential properties the caller may not read are null (tags: empty)."""

    id: int
    reference: str = Field(description="INC-000123")
    kind: IncidentKind
    kind_th: str
    kind_en: str
    status: IncidentStatus
    severity: Severity
    observed_at: str = Field(description="Local time (Asia/Bangkok), ISO 8601")
    observed_at_utc: str
    fiscal_year_be: int = Field(description="Thai fiscal year (October to September), Buddhist Era")
    description: str | None
    reporter: str | None
    tags: list[str]
    location: LocationOut
    area: AreaOut | None
    place: PlaceOut
    photos: list[IncidentPhotoOut]
    version: int = Field(description='Send it back in If-Match (as the ETag W/"n") to change the incident')
    created_by: str | None
    created_at: str
    updated_by: str | None
    updated_at: str


class IncidentPage(_Out):
    """A page of incidents, newest first; ``next_offset`` only when there are more."""

    items: list[IncidentOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None


class ImportRowOut(_Out):
    """One row of an import: ok, refused (with the reason) or duplicate, and where it falls."""

    row: int
    status: str = Field(description="ok | refused | duplicate")
    reason: str | None
    lat: float | None
    lon: float | None
    district: str | None
    reserve: str | None
    incident_id: int | None


class ImportCountsOut(_Out):
    """Rows per status."""

    ok: int
    refused: int
    duplicate: int


class ImportReportOut(_Out):
    """The report of an import or a dry run, row by row."""

    format: str = Field(description="csv | gpx | kml")
    encoding: str | None
    sha256: str
    dry_run: bool
    stored: bool
    counts: ImportCountsOut
    rows: list[ImportRowOut]
