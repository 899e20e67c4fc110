"""Start-up steps on the database shared by the web application (``main``) and the command line
(``cli_support.prepare_database``), each in a transaction of its own."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from geo_service.db.engine import transaction
from geo_service.hotspots.area import apply_area_of_interest
from geo_service.hotspots.partitions import ensure_ahead
from geo_service.settings import Settings


def apply_configured_area_of_interest(factory: sessionmaker[Session], settings: Settings) -> int:
    """Store the configured area of interest (GEO_SERVICE_AOI_PROVINCES, GEO_SERVICE_AOI_BUFFER_M) and re-mark
    the stored detections if it changed; returns how many were re-marked."""
    with transaction(factory) as session:
        return apply_area_of_interest(session, settings.area.aoi_provinces, settings.area.aoi_buffer_m)


def ensure_partitions(factory: sessionmaker[Session], settings: Settings) -> list[str]:
    """Create the detections' partitions of this year and ``partitions.ahead_years`` after it (migration 0020)
    when the settings ask for it at start-up; returns the partitions created."""
    if not settings.partitions.ensure_at_startup:
        return []
    with transaction(factory) as session:
        return ensure_ahead(session, settings.partitions.ahead_years)
