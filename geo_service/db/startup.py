"""Start-up steps on the database shared by the web application (``main``) and the command line
(``cli_support.prepare_database``), each in a transaction of its own."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from geo_service.db.engine import transaction
from geo_service.hotspots.area import apply_area_of_interest
from geo_service.settings import Settings


def apply_configured_area_of_interest(factory: sessionmaker[Session], settings: Settings) -> int:
    """Store the configured area of interest (GEO_SERVICE_AOI_PROVINCES, GEO_SERVICE_AOI_BUFFER_M) and re-mark
    the stored detections if it changed; returns how many were re-marked."""
    with transaction(factory) as session:
        return apply_area_of_interest(session, settings.area.aoi_provinces, settings.area.aoi_buffer_m)
