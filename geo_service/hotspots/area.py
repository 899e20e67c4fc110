"""Detections and the area of interest: each stored detection is marked in or out of it (``hotspots.in_aoi``).

At ingest and on a boundary change the Gazetteer marks detections (``places.Gazetteer.attribute(...).in_aoi``);
when the configuration changes (``GEO_SERVICE_AOI_PROVINCES``, ``GEO_SERVICE_AOI_BUFFER_M``) every stored
detection is re-marked here in one set-based UPDATE with the SQL definition, ``in_area_of_interest(geom)``.
Both test the same stored geometry (``layers.aoi``); ``tests/test_area_of_interest.py`` checks they agree.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from geo_service.hotspots import store


def mark_hotspots(session: Session) -> int:
    """Recompute ``in_aoi`` of every stored detection in PostGIS; returns the number of rows that changed."""
    return store.mark_in_area_of_interest(session)
