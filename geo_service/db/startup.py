"""Start-up steps on the database shared by the web application (``main``) and the command line
(``cli_support.prepare_database``), each in a transaction of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from geo_service.db.engine import transaction
from geo_service.forest_loss import store as forest_loss_store
from geo_service.hotspots.area import mark_hotspots
from geo_service.hotspots.partitions import ensure_ahead
from geo_service.layers import aoi
from geo_service.settings import Settings


def apply_area_of_interest(session: Session, provinces: list[str] | None, buffer_m: float = 0.0) -> int:
    """Store the area of interest (in the caller's transaction) and, only when it changed, re-mark the stored
    detections and the clearing patches against it (the same area again touches neither); returns how many
    detections were re-marked."""
    if not aoi.configure(session, provinces, buffer_m):
        return 0
    n = mark_hotspots(session)
    forest_loss_store.mark_in_area_of_interest(session)  # only the patches whose flag differs are written
    return n


def apply_configured_area_of_interest(factory: sessionmaker[Session], settings: Settings) -> int:
    """:func:`apply_area_of_interest` with the configured area (GEO_SERVICE_AOI_PROVINCES, GEO_SERVICE_AOI_BUFFER_M),
    in its own transaction."""
    with transaction(factory) as session:
        return apply_area_of_interest(session, settings.area.aoi_provinces, settings.area.aoi_buffer_m)


# pg_advisory_lock key of the start-up steps ("geo_star"): several API processes or containers started at once
# must not migrate, or load the bundled layers, side by side.
STARTUP_LOCK = 0x67656F5F73746172


@contextmanager
def startup_lock(url: URL | str) -> Iterator[None]:
    """Hold the database's start-up lock for the ``with`` block: the first process migrates (and loads the bundled
    layers into an empty database), the others wait and then find the work done. A session-level advisory lock on
    a connection of its own, so the steps inside keep their own transactions; it ends with the connection if the
    process dies."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def ensure_partitions(factory: sessionmaker[Session], settings: Settings) -> list[str]:
    """Create the detections' partitions of this year and ``partitions.ahead_years`` after it (migration 0021)
    when the settings ask for it at start-up; returns the partitions created."""
    if not settings.partitions.ensure_at_startup:
        return []
    with transaction(factory) as session:
        return ensure_ahead(session, settings.partitions.ahead_years)
