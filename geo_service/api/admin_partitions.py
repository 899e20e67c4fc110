"""Administration of the detections' yearly partitions (read-only here; detach and attach are CLI steps)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from geo_service.api.deps import AdminDep, SessionDep
from geo_service.hotspots import partitions

router = APIRouter(prefix="/api/v1/admin", tags=["administration"])


class PartitionOut(BaseModel):
    """One partition of the detections: its local year and bounds (UTC), exact rows and size on disk."""

    name: str
    year: int | None = Field(description="Asia/Bangkok calendar year; null for the DEFAULT partition")
    lower: datetime | None = Field(description="First instant (included); null for DEFAULT")
    upper: datetime | None = Field(description="Last instant (excluded); null for DEFAULT")
    rows: int
    bytes: int
    is_default: bool


@router.get("/hotspots/partitions", summary="Partitions of the detections with bounds and row counts")
def list_partitions(session: SessionDep, principal: AdminDep) -> list[PartitionOut]:
    """Every partition of ``hotspots``, oldest year first and DEFAULT (normally empty) last."""
    return [PartitionOut(**vars(p)) for p in partitions.list_partitions(session)]
