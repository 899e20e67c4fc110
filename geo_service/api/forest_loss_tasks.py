"""Routes of the field verification loop of clearing patches (issue 14): send a patch to the field, the open
tasks near an officer (with the patch outline), a visit's outcome, and the verification shares per source."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from geo_service.api.deps import ReadSessionDep, SessionDep, require_roles
from geo_service.api.geojson import Geometry
from geo_service.auth import Principal, Role
from geo_service.forest_loss import tasks

router = APIRouter(prefix="/api/v1/forest-loss", tags=["forest-loss"])
Dispatcher = Annotated[Principal, Depends(require_roles(Role.investigator, Role.administrator))]
FieldWorker = Annotated[Principal, Depends(require_roles(Role.field_officer, Role.investigator, Role.administrator))]
ShareReader = Annotated[
    Principal,
    Depends(require_roles(Role.administrator, Role.investigator, Role.committee_member, Role.national_viewer)),
]


class TaskIn(BaseModel):
    """Send a patch to the field: optionally to one officer (username), with a note for them."""

    model_config = ConfigDict(extra="forbid")
    assigned_to: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=2000)


class OutcomeIn(BaseModel):
    """What the visit found, a note, and the incident logged there (its number), if any."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["verified", "false_alarm", "already_known"]
    note: str | None = Field(default=None, max_length=2000)
    incident_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class TaskOut(BaseModel):
    """A field task with its title (Thai, English), where the patch is and the patch's figures."""

    id: int
    patch_id: int
    status: str
    outcome: str | None
    note: str | None
    assigned_to: str | None
    created_by: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    done_at: str | None = Field(json_schema_extra={"format": "date-time"})
    done_by: str | None
    incident_id: int | None = Field(description="The incident the visit produced: its link back to the patch")
    title_th: str
    title_en: str
    where_th: str
    where_en: str
    fire_th: str | None = Field(
        default=None, description="What burned near the patch, in Thai (None: no fire found near it)"
    )
    fire_en: str | None = Field(
        default=None,
        description="What burned near the patch, e.g. 'cleared by fire: 1 VIIRS fire detection 120 m from the patch, "
        "on 27 Feb 2569 BE, 3 days before the first alert' (None: no fire found near it)",
    )
    lat: float = Field(description="A point inside the patch (WGS 84)")
    lon: float
    patch: dict[str, Any] = Field(description="Area (m2, ha, rai), alert dates, sources, confidence, fire evidence")
    distance_m: float | None = Field(default=None, description="From the officer to the patch's outline (0 inside)")
    outline: Geometry | None = Field(default=None, description="The patch's outline (GeoJSON, WGS 84)")


class TasksOut(BaseModel):
    """Open tasks near a position, nearest first."""

    near: list[float]
    radius_m: float
    tasks: list[TaskOut]


class SourceShare(BaseModel):
    """Field outcomes of one alert system's patches."""

    source: str
    patches: int
    checked: int
    verified: int
    false_alarm: int
    already_known: int
    unverified: int
    verified_share: float | None
    false_alarm_share: float | None
    already_known_share: float | None


class SharesOut(BaseModel):
    """Per alert source, how its patches fared in the field (which system is trustworthy here)."""

    definition: str
    sources: list[SourceShare]


@router.post(
    "/patches/{patch_id}/tasks",
    response_model=TaskOut,
    status_code=201,
    summary='Send a clearing patch to the field ("verify clearing at ...")',
)
def send_to_field(patch_id: int, body: TaskIn, session: SessionDep, principal: Dispatcher) -> dict:
    """Create the open field task of a patch (one open task per patch)."""
    with session.begin():
        return tasks.create_task(session, patch_id, principal, assigned_to=body.assigned_to, note=body.note)


@router.get("/tasks", response_model=TasksOut, summary="Open field tasks near a position, with the patch outlines")
def tasks_near(
    session: ReadSessionDep,
    principal: FieldWorker,
    near: Annotated[str, Query(description="longitude,latitude (WGS 84), e.g. 100.15,18.15", max_length=60)],
    radius_m: Annotated[float, Query(gt=0, le=tasks.MAX_NEAR_RADIUS_M)] = 10_000,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    """Open tasks whose patch lies within ``radius_m`` of ``near``, nearest first."""
    lon, lat = tasks.parse_near(near)
    with session.begin():
        found = tasks.open_tasks_near(session, lon, lat, radius_m, principal, limit=limit)
    return {"near": [lon, lat], "radius_m": radius_m, "tasks": found}


@router.post("/tasks/{task_id}/outcome", response_model=TaskOut, summary="Record what a field visit found")
def outcome(task_id: int, body: OutcomeIn, session: SessionDep, principal: FieldWorker) -> dict:
    """Close a task: verified / false alarm / already known, a note, and the incident logged (links back)."""
    with session.begin():
        return tasks.record_outcome(
            session, task_id, principal, outcome=body.outcome, note=body.note, incident_id=body.incident_id
        )


@router.get(
    "/verification", response_model=SharesOut, summary="Share of verified / false-alarm / known patches per source"
)
def verification(session: ReadSessionDep, principal: ShareReader) -> dict:
    """How the patches of each alert source fared in the field."""
    with session.begin():
        return tasks.verification_shares(session, principal)
