"""How the domains are connected at start-up: the one module above them that knows who listens to whom.

The reference layers do not know which capabilities keep an attribution of their own; the application tells
them here, once, before anything is loaded (``main.create_app``, the command line's entry, the test harness).
"""

from __future__ import annotations

from geo_service.alerts import service as alerts
from geo_service.alerts.sender import send_pending
from geo_service.cases import service as cases
from geo_service.forest_loss import fire as forest_loss_fire
from geo_service.forest_loss import ingest as forest_loss_ingest
from geo_service.forest_loss.pull import pull_folder
from geo_service.hotspots import service as hotspots
from geo_service.hotspots.attribution import reattribute_hotspots
from geo_service.incidents.service import reattribute_incidents
from geo_service.layers import store as layers_store
from geo_service.redflags import service as redflags
from geo_service.settings import Settings
from geo_service.worker.catalogue import build_registry
from geo_service.worker.registry import JobContext, Registry


def wire() -> None:
    """Register the listeners of a boundary change: incidents, hotspots, then clearing patches are re-attributed in
    the load's transaction, then the red-flag rules that read boundaries re-run; and of a hotspot ingest: the clearing
    patches its detections can reach are marked "cleared by fire" again, then the red-flag rules that read detections
    re-run, in the ingest's transaction; of a re-clustering outside an ingest: the patches its events reach are marked again and the red-flag rules that read detections re-run over what they reach; the flags any rule run raises are matched against the
    alert subscriptions in the same transaction. Idempotent: calling it again registers nothing twice."""
    layers_store.on_layers_changed(reattribute_incidents)
    layers_store.on_layers_changed(reattribute_hotspots)
    layers_store.on_layers_changed(forest_loss_ingest.reattribute_patches)
    layers_store.on_layers_changed(redflags.after_layers_changed)
    # red flags re-run, then alerts are matched, in the transaction that found the event (an ingest, a case change)
    hotspots.on_ingested(forest_loss_fire.after_hotspots_ingested)
    hotspots.on_events_reclustered(forest_loss_fire.after_events_reclustered)
    hotspots.on_events_reclustered(redflags.after_events_reclustered)
    hotspots.on_ingested(redflags.after_ingest)
    hotspots.on_ingested(alerts.hotspots_ingested)
    cases.on_case_changed(alerts.case_changed)
    forest_loss_ingest.on_patches_found(redflags.after_patches_found)
    forest_loss_ingest.on_patches_found(alerts.clearing_patches_found)
    # the flags a rule run raises (after an ingest, a boundary or contract change, "run now") alert in its transaction
    redflags.on_flags_raised(alerts.red_flags_raised)


def send_alerts(ctx: JobContext) -> int:
    """The worker's alert sender: every due outbox row, each step its own short transaction (``alerts.sender``)."""
    if ctx.sessions is None:
        raise RuntimeError("the alert sender needs the worker's sessions")
    return send_pending(ctx.sessions, ctx.settings, ctx.now)


def worker_registry(settings: Settings) -> Registry:
    """The worker's jobs (``worker.catalogue``) with the functions other domains provide passed in: the
    forest-loss ingest's pull of published alert tiles from a folder (``forest_loss.pull``), and the alert sender (``alerts_send``, every ``GEO_SERVICE_ALERTS_SEND_INTERVAL_S``)."""
    registry = build_registry(
        settings,
        forest_loss_pull=lambda session, location, first, last: pull_folder(
            session,
            location,
            first,
            last,
            settings=settings.forest_loss,
            glad_l_year=settings.worker.forest_loss_glad_l_year,
        ),
    )
    registry.register_job(
        "alerts_send",
        send_alerts,
        settings.alerts.send_interval_s,
        description="Send the alerts waiting in the outbox (e-mail, webhook, LINE; in-app needs no sending)",
    )
    return registry
