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
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from geo_service.coords import widen_box
from geo_service.forest_loss import store
from geo_service.hotspots import store as hotspots_store
from geo_service.hotspots.event_summary import HALF_PIXEL_M
from geo_service.hotspots.ingest import IngestReport
from geo_service.hotspots.near import fire_near_areas
from geo_service.settings import ForestLossSettings, settings_of
from geo_service.thai import BANGKOK


def fire_evidence(session: Session, patches: Sequence[dict], settings: ForestLossSettings) -> dict[int, dict]:
    """The "cleared by fire" evidence of patches given as rows (``id``, ``wkb`` in EPSG:4326, ``first_date``,
    ``last_date``), by id, for those that burned: the hotspots count and local days, the events, the nearest
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
        [(int(p["id"]), bytes(p["wkb"]), p["first_date"], p["last_date"]) for p in patches],
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
            "events": r["events"] or [],
            "nearest_m": round(min(nearest), 1) if nearest else None,
            "rule": rule,
        }
    return evidence


def mark_fire(session: Session, ids: Sequence[int], settings: ForestLossSettings) -> int:
    """Mark stored patches cleared by fire or not, by :func:`fire_evidence`; returns how many burned. Only the
    marks that change are written: a re-run over unchanged fires writes nothing."""
    stored = store.patch_fire_inputs(session, ids)
    evidence = fire_evidence(
        session, [{"id": r[0], "wkb": r[1], "first_date": r[2], "last_date": r[3]} for r in stored], settings
    )
    changed = [i for i, *_, was, was_evidence in stored if (was, was_evidence) != (i in evidence, evidence.get(i))]
    store.set_fire(session, changed, {i: evidence[i] for i in changed if i in evidence})
    return len(evidence)


def after_hotspots_ingested(session: Session, report: IngestReport) -> int:
    """Listener of a hotspot ingest (``wiring``): mark again the live patches that the batch's new or changed
    detections, or the fire events it re-clustered, can reach: within the distance plus the widest pixel of their
    box, with a window (``FIRE_DAYS_BEFORE``/``_AFTER`` around the patch's alerts) that meets their days. Returns
    how many of those burned. Settings: those of the ingest's edge (``settings_of``)."""
    if report.batch_id is None or not report.first_acq or not report.last_acq:
        return 0
    settings = settings_of(session).forest_loss
    reach = hotspots_store.batch_reach(
        session,
        report.batch_id,
        datetime.fromisoformat(report.first_acq),
        datetime.fromisoformat(report.last_acq),
        report.event_ids,
    )
    if reach is None:
        return 0
    box, first_utc, last_utc = reach
    ids = store.patches_for_fire(
        session,
        widen_box(box, settings.fire_distance_m + max(HALF_PIXEL_M.values()) + 1.0),
        first_utc.astimezone(BANGKOK).date() - timedelta(days=settings.fire_days_after),
        last_utc.astimezone(BANGKOK).date() + timedelta(days=settings.fire_days_before),
    )
    return mark_fire(session, ids, settings) if ids else 0
