"""How the domains are connected at start-up: the one module above them that knows who listens to whom.

The reference layers do not know which capabilities keep an attribution of their own; the application tells
them here, once, before anything is loaded (``main.create_app``, the command line's entry, the test harness).
"""

from __future__ import annotations

from geo_service.alerts import service as alerts
from geo_service.cases import service as cases
from geo_service.hotspots import service as hotspots
from geo_service.hotspots.attribution import reattribute_hotspots
from geo_service.incidents.service import reattribute_incidents
from geo_service.layers import store as layers_store


def wire() -> None:
    """Register the listeners of a boundary change: incidents, then hotspots, are re-attributed in the load's
    transaction. Idempotent: calling it again registers nothing twice."""
    layers_store.on_layers_changed(reattribute_incidents)
    layers_store.on_layers_changed(reattribute_hotspots)
    # alerts are matched in the transaction that found the event (an ingest, a case change)
    hotspots.on_ingested(alerts.hotspots_ingested)
    cases.on_case_changed(alerts.case_changed)
