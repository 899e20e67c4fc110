"""What the API and the CLI call: an ingest (detections, batch, events), a raster registration, the listings.

Each runs in the caller's transaction (the router or CLI command opens it and commits or rolls back), so an
ingest's detections, batch, events and audit entry are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.hotspots import rasters as raster_store
from geo_service.hotspots import store
from geo_service.hotspots.events import EventParams, update_events
from geo_service.hotspots.ingest import IngestReport, ingest_file
from geo_service.hotspots.rasters import RasterReport, register_raster
from geo_service.places import gazetteer
from geo_service.settings import HotspotSettings, settings_of

IngestListener = Callable[[Session, IngestReport], object]  # what it returns is not used
_INGEST_LISTENERS: list[IngestListener] = []
EventsListener = Callable[[Session, list[int]], object]  # ids of the events created or changed; return unused
_EVENTS_LISTENERS: list[EventsListener] = []


def on_ingested(listener: IngestListener) -> IngestListener:
    """Register a listener called in the ingest's transaction once its detections and events are stored (red flags,
    alerts: registered by wiring.py, in that order; idempotent)."""
    if listener not in _INGEST_LISTENERS:
        _INGEST_LISTENERS.append(listener)
    return listener


def on_events_reclustered(listener: EventsListener) -> EventsListener:
    """Register a listener called in the transaction of a re-clustering made outside an ingest (the ``hotspots
    events`` command, the worker's ``recluster_events`` job) with the ids of the events it created or changed (not
    those merged away: ``update_events``; registered by wiring.py; idempotent). An ingest's own re-clustering reaches the ingest listeners, with its report."""
    if listener not in _EVENTS_LISTENERS:
        _EVENTS_LISTENERS.append(listener)
    return listener


def recluster_events(session: Session, since=None, until=None, params: EventParams | None = None) -> dict:
    """Recluster the detections around a period into fire events (``events.update_events``, same answer) and
    call the listeners with the events created or changed (none when nothing changed), in the caller's
    transaction."""
    result = update_events(session, since, until, params)
    if result["events"]:
        for listener in _EVENTS_LISTENERS:
            listener(session, result["events"])
    return result


def ingest_path(
    session: Session,
    path: Path,
    *,
    settings: HotspotSettings | None = None,
    country_bbox: tuple[float, float, float, float] | None = None,
    source: str | None = None,
    loaded_by: str | None = None,
    processing: str | None = None,
    skip_invalid: bool = False,
    original_name: str | None = None,
    events: bool = True,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest a FIRMS CSV and update the fire events it touches, in the caller's transaction.

    Parameters
    ----------
    session : Session
        The caller's transaction (it commits the ingest, events and audit entry together).
    path : Path
    events : bool
        Recluster the events around the ingested period (default true).

    Returns
    -------
    IngestReport
        With ``event_ids`` of the events created or changed.
    """
    settings = settings or settings_of(session).hotspots
    report = ingest_file(
        session,
        path,
        gazetteer(session),
        source=source,
        loaded_by=loaded_by,
        processing=processing,
        skip_invalid=skip_invalid,
        country_bbox=country_bbox,
        original_name=original_name,
        progress=progress,
    )
    if events and report.first_acq and (report.rows_new or report.rows_updated):
        result = update_events(
            session,
            report.first_acq,
            report.last_acq,
            EventParams.from_settings(settings),
        )
        report.event_ids = result["events"]
    if report.batch_id is not None and (report.rows_new or report.rows_updated):
        for listener in _INGEST_LISTENERS:
            listener(session, report)
    summary = {k: v for k, v in report.as_dict().items() if k not in ("event_ids", "refusals", "errors")}
    audit.record(session, loaded_by or "system", "ingest", "hotspot_batch", report.batch_id, after=summary)
    return report


def register_raster_file(
    session: Session,
    path: Path,
    product: str,
    acq_date: date,
    *,
    data_dir: Path,
    settings: HotspotSettings | None = None,
    name: str | None = None,
    uploaded_by: str | None = None,
    threshold: float | None = None,
    threshold_op: str | None = None,
    threshold_label: str | None = None,
) -> RasterReport:
    """Check, store and register a raster with its zonal statistics, in the caller's transaction.

    The same file again returns the raster it already is (nothing written); a changed file of the same name,
    product and date becomes its next version.
    """
    settings = settings or settings_of(session).hotspots
    report = register_raster(
        session,
        path,
        product,
        acq_date,
        store_dir=settings.raster_store(data_dir),
        name=name,
        max_pixels=settings.raster_max_pixels,
        uploaded_by=uploaded_by,
        threshold=threshold,
        threshold_op=threshold_op,
        threshold_label=threshold_label,
    )
    if report.status != "already_registered":
        audit.record(
            session,
            uploaded_by or "system",
            "ingest",
            "hotspot_raster",
            report.raster_id,
            after={
                "product": product,
                "acq_date": acq_date,
                "file_sha256": report.file_sha256,
                "crs": report.crs,
                "width": report.width,
                "height": report.height,
                "zones": report.zones,
                "version": report.version,
                "supersedes": report.supersedes,
                "threshold": report.meaning.get("threshold"),
            },
        )
    return report


def batches(session: Session, limit: int = 100) -> list[dict]:
    """The latest ingest batches (newest first)."""
    return store.latest_batches(session, limit)


def rasters(session: Session) -> list[dict]:
    """Registered rasters (newest first), every version (``superseded_by`` set on the older ones)."""
    return raster_store.list_rasters(session)
