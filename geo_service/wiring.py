"""How the domains are connected at start-up: the one module above them that knows who listens to whom.

The reference layers do not know which capabilities keep an attribution of their own; the application tells
them here, once, before anything is loaded (``main.create_app``, the command line's entry, the test harness).
"""

from __future__ import annotations

from geo_service.hotspots import service as hotspots_service
from geo_service.hotspots.attribution import reattribute_hotspots
from geo_service.incidents.service import reattribute_incidents
from geo_service.layers import store as layers_store
from geo_service.redflags import service as redflags


def wire() -> None:
    """Register the listeners of a boundary change: incidents, then hotspots, are re-attributed in the load's
    transaction, then the red-flag rules that read boundaries re-run; and of a hotspot ingest: the red-flag rules
    that read detections re-run in the ingest's transaction. Idempotent: calling it again registers nothing twice."""
    layers_store.on_layers_changed(reattribute_incidents)
    layers_store.on_layers_changed(reattribute_hotspots)
    layers_store.on_layers_changed(redflags.after_layers_changed)
    hotspots_service.on_ingested(redflags.after_ingest)
