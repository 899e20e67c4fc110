"""The "cleared by fire" mark of clearing patches (issue 14): a patch burned when detections or fire events came
near it in the days around its alerts (the rule and its figures: hotspots/near.py, README *Cleared by fire*).

Two moments mark a patch: its own ingest (``forest_loss.ingest`` asks :func:`fire_evidence` for the patches it
creates or extends and writes the mark with their rows) and every later hotspot ingest (:func:`after_hotspots_ingested`, registered in ``wiring``): fires
come after the clearing too (``FIRE_DAYS_AFTER``), and NRT detections are replaced by science-quality ones, so a
mark made at the patch's ingest is re-made when detections arrive that can change it. Only the marks that change
are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from geo_service.coords import widen_boxes
from geo_service.forest_loss import store
from geo_service.hotspots import store as hotspots_store
from geo_service.hotspots.event_summary import HALF_PIXEL_M
from geo_service.hotspots.ingest import IngestReport
from geo_service.hotspots.near import UTM_MIN_SCALE, fire_near_areas
from geo_service.settings import ForestLossSettings, settings_of
from geo_service.thai import BANGKOK

# An SP detection replaces the NRT one of the same key (hotspots/ingest.py), whose positions are rounded to 1e-4
# degree: the replaced position, gone from the table, lay up to 1e-4 degree (11.1 m) off on each axis, under 16 m.
KEY_SHIFT_M = 16.0
# The batch's detections and events are grouped by cells of this size (about 5.5 km), each with its own box and
# days: a daily file with fires spread over the north reaches the patches near its fires, not every patch in one
# box around them all (bench/fire_listener.py)
REACH_CELL_DEG = 0.05


def fire_evidence(
    session: Session, patches: Sequence[tuple[int, bytes, date, date]], settings: ForestLossSettings
) -> dict[int, dict]:
    """The "cleared by fire" evidence of patches given as (id, WKB in EPSG:4326, first date, last date), by id,
    for those that burned: the hotspots count and local days, the events, the nearest
    distance (0.1 m) and the rule, as the database returns it (JSON: days as ISO strings). The ingest writes it
    with the rows (one version of each row); :func:`mark_fire` for stored patches."""
    rule = {
        "distance_m": settings.fire_distance_m,
        "days_before": settings.fire_days_before,
        "days_after": settings.fire_days_after,
        "half_pixel_m": dict(HALF_PIXEL_M),
    }
    rows = fire_near_areas(
        session,
        patches,
        distance_m=settings.fire_distance_m,
        days_before=settings.fire_days_before,
        days_after=settings.fire_days_after,
    )
    evidence = {}
    for r in rows:
        nearest = [v for v in (r["hotspot_nearest_m"], r["event_nearest_m"]) if v is not None]
        evidence[int(r["area_id"])] = {
            "hotspots": int(r["hotspots"]),
            "hotspot_days": [r["hotspot_first_day"].isoformat(), r["hotspot_last_day"].isoformat()]
            if r["hotspots"]
            else None,
            "hotspot_sensors": r.get("hotspot_sensors"),  # instruments of the counted detections (since 2026-12)
            "events": r["events"] or [],
            "nearest_m": round(min(nearest), 1) if nearest else None,  # the nearer of the two below
            # to the nearest counted detection's published position (a counted one lies up to the distance + half
            # its pixel away), and to the nearest counted event's footprint: said apart (forest_loss/fire_words.py)
            "hotspot_nearest_m": round(r["hotspot_nearest_m"], 1) if r["hotspot_nearest_m"] is not None else None,
            "event_nearest_m": round(r["event_nearest_m"], 1) if r["event_nearest_m"] is not None else None,
            "rule": rule,
        }
    return evidence


def mark_fire(session: Session, ids: Sequence[int], settings: ForestLossSettings) -> int:
    """Mark stored patches cleared by fire or not, by :func:`fire_evidence`; returns how many burned. Only the
    marks that change are written: a re-run over unchanged fires writes nothing."""
    stored = store.patch_fire_inputs(session, ids)
    evidence = fire_evidence(session, [r[:4] for r in stored], settings)
    changed = [i for i, *_, was, was_evidence in stored if (was, was_evidence) != (i in evidence, evidence.get(i))]
    store.set_fire(session, changed, {i: evidence[i] for i in changed if i in evidence})
    return len(evidence)


def after_hotspots_ingested(session: Session, report: IngestReport) -> int:
    """Listener of a hotspot ingest (``wiring``): mark again the live patches that the batch's new or changed
    detections, or the fire events it re-clustered, can reach (:func:`patches_reached`). Returns how many of those
    burned. Settings: those of the ingest's edge (``settings_of``)."""
    settings = settings_of(session).forest_loss
    ids = patches_reached(session, report, settings)
    return mark_fire(session, ids, settings) if ids else 0


def patches_reached(session: Session, report: IngestReport, settings: ForestLossSettings) -> list[int]:
    """The live patches a hotspot ingest can re-mark (the listener's candidates): within the distance plus the
    widest pixel (as UTM measures it: its scale is at least ``UTM_MIN_SCALE``) of the box of the batch's new or
    changed detections and re-clustered events, widened again by ``KEY_SHIFT_M`` for the positions its SP rows
    replaced, with a window (``FIRE_DAYS_BEFORE``/``_AFTER`` around the patch's alerts) that meets their days."""
    if report.batch_id is None or not report.first_acq or not report.last_acq:
        return []
    cells = hotspots_store.batch_reach(
        session,
        report.batch_id,
        datetime.fromisoformat(report.first_acq),
        datetime.fromisoformat(report.last_acq),
        report.event_ids,
        REACH_CELL_DEG,
    )
    return _patches_near_cells(session, cells, settings)


def after_events_reclustered(session: Session, event_ids: list[int]) -> int:
    """Listener of a re-clustering of fire events outside an ingest (``hotspots events``, the worker's job;
    ``wiring``): mark again the live patches the touched events can reach (their footprints and spans, a patch's
    evidence names events, and an event's footprint may reach a patch its detections alone do not). Returns how
    many of those burned."""
    settings = settings_of(session).forest_loss
    ids = _patches_near_cells(session, hotspots_store.events_reach(session, event_ids, REACH_CELL_DEG), settings)
    return mark_fire(session, ids, settings) if ids else 0


def _patches_near_cells(session: Session, cells: list, settings: ForestLossSettings) -> list[int]:
    """The live patches within reach of these cells' boxes whose window meets the cells' spans."""
    if not cells:
        return []
    boxes = widen_boxes(
        np.array([c[:4] for c in cells], dtype=float),
        (settings.fire_distance_m + max(HALF_PIXEL_M.values())) / UTM_MIN_SCALE + KEY_SHIFT_M,
    )
    after, before = timedelta(days=settings.fire_days_after), timedelta(days=settings.fire_days_before)
    return store.patches_for_fire(
        session,
        boxes,
        [c[4].astimezone(BANGKOK).date() - after for c in cells],
        [c[5].astimezone(BANGKOK).date() + before for c in cells],
    )
