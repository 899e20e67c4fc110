"""How the domains are connected at start-up: the one module above them that knows who listens to whom.

The reference layers do not know which capabilities keep an attribution of their own; the application tells
them here, once, before anything is loaded (``main.create_app``, the command line's entry, the test harness).
"""

from __future__ import annotations

from geo_service.hotspots.attribution import reattribute_hotspots
from geo_service.incidents.service import reattribute_incidents
from geo_service.layers import store as layers_store
from geo_service.settings import Settings
from geo_service.worker.catalogue import build_registry
from geo_service.worker.registry import Registry


def wire() -> None:
    """Register the listeners of a boundary change: incidents, then hotspots, are re-attributed in the load's
    transaction. Idempotent: calling it again registers nothing twice."""
    layers_store.on_layers_changed(reattribute_incidents)
    layers_store.on_layers_changed(reattribute_hotspots)


def worker_registry(settings: Settings) -> Registry:
    """The worker's jobs (``worker.catalogue``) with the functions other domains provide passed in: the
    forest-loss ingest's pull of published alert tiles (``forest_loss_pull``; none yet: its job is declared
    disabled). The alert sender is registered here too, ``registry.register_job("alerts_send", ...)``."""
    return build_registry(settings, forest_loss_pull=None)
