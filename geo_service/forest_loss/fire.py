"""The "cleared by fire" mark of clearing patches (issue 14): a patch burned when detections or fire events came
near it in the days around its alerts (the rule and its figures: hotspots/near.py, README *Cleared by fire*).

Two moments mark a patch: its own ingest (``forest_loss.ingest`` asks :func:`fire_evidence` for the patches it
creates or extends and writes the mark with their rows) and every later hotspot ingest (:func:`after_hotspots_ingested`, registered in ``wiring``): fires
come after the clearing too (``FIRE_DAYS_AFTER``), and NRT detections are replaced by science-quality ones, so a
mark made at the patch's ingest is re-made when detections arrive that can change it. Only the marks that change
are written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from geo_service.coords import widen_boxes
from geo_service.forest_loss import store
from geo_service.hotspots import store as hotspots_store
from geo_service.hotspots.event_summary import HALF_PIXEL_M
from geo_service.hotspots.ingest import IngestReport
from geo_service.hotspots.near import UTM_MIN_SCALE, FiresNear, areas_reached, fires_near, sensor_names
from geo_service.settings import ForestLossSettings, settings_of
from geo_service.thai import BANGKOK

# An SP detection replaces the NRT one of the same key (hotspots/ingest.py), whose positions are rounded to 1e-4
# degree: the replaced position, gone from the table, lay up to 1e-4 degree (11.1 m) off on each axis, under 16 m.
KEY_SHIFT_M = 16.0
# The batch's detections and events are grouped by cells of this size (about 5.5 km), each with its own box and
# days: a daily file with fires spread over the north reaches the patches near its fires, not every patch in one
# box around them all (bench/fire_listener.py)
REACH_CELL_DEG = 0.05


_ORDINAL_1970 = date(1970, 1, 1).toordinal()


def _days(dates: Sequence[date]) -> np.ndarray:
    """Dates as datetime64[D], by their ordinals: NumPy parses date objects ten times slower."""
    return (np.fromiter((d.toordinal() for d in dates), np.int64, len(dates)) - _ORDINAL_1970).astype("datetime64[D]")


def _rule(settings: ForestLossSettings) -> dict:
    return {
        "distance_m": settings.fire_distance_m,
        "days_before": settings.fire_days_before,
        "days_after": settings.fire_days_after,
        "half_pixel_m": dict(HALF_PIXEL_M),
    }


def _near(session: Session, ids, geoms, first, last, settings: ForestLossSettings) -> FiresNear:
    return fires_near(
        session,
        np.asarray(ids, dtype=np.int64),
        geoms,
        np.asarray(first, dtype="datetime64[D]").astype(np.int64),
        np.asarray(last, dtype="datetime64[D]").astype(np.int64),
        distance_m=settings.fire_distance_m,
        days_before=settings.fire_days_before,
        days_after=settings.fire_days_after,
    )


def _evidence(f: FiresNear, rule: dict) -> list[dict]:
    """The evidence of each area ``f`` found, in its order (see :func:`fire_evidence`)."""
    burned = f.hotspots > 0
    days = np.datetime_as_string(np.where(burned, f.first_day, 0).astype("datetime64[D]")).tolist()
    last_days = np.datetime_as_string(np.where(burned, f.last_day, 0).astype("datetime64[D]")).tolist()
    out = []
    for c, hn, d0, d1, ev, en, bits in zip(
        f.hotspots.tolist(), f.hotspot_nearest_m.tolist(), days, last_days, f.events, f.event_nearest_m.tolist(),
        f.sensors.tolist(), strict=True,
    ):  # fmt: skip
        h_near = hn if c else None
        e_near = en if ev else None
        nearest = [v for v in (h_near, e_near) if v is not None]
        out.append(
            {
                "hotspots": c,
                "hotspot_days": [d0, d1] if c else None,
                "hotspot_sensors": sensor_names(bits) if c else None,  # instruments counted (since 2026-12)
                "events": ev or [],
                "nearest_m": round(min(nearest), 1) if nearest else None,  # the nearer of the two below
                # to the nearest counted detection's published position (a counted one lies up to the distance +
                # half its pixel away), and to the nearest counted event's footprint: said apart
                # (forest_loss/fire_words.py)
                "hotspot_nearest_m": round(h_near, 1) if h_near is not None else None,
                "event_nearest_m": round(e_near, 1) if e_near is not None else None,
                "rule": rule,
            }
        )
    return out


def fire_evidence(
    session: Session, patches: Sequence[tuple[int, bytes, date, date]], settings: ForestLossSettings
) -> dict[int, dict]:
    """The "cleared by fire" evidence of patches given as (id, WKB in EPSG:4326, first date, last date), by id,
    for those that burned: the hotspots count and local days, the events, the nearest
    distance (0.1 m) and the rule, as the database returns it (JSON: days as ISO strings). :func:`mark_fire` for
    stored patches; the ingest writes :func:`fire_evidence_texts` with the rows (one version of each row)."""
    if not patches:
        return {}
    ids = np.fromiter((p[0] for p in patches), np.int64, len(patches))
    f = _near(
        session,
        ids,
        shapely.from_wkb([p[1] for p in patches]),
        _days([p[2] for p in patches]),
        _days([p[3] for p in patches]),
        settings,
    )
    return dict(zip(ids[f.index].tolist(), _evidence(f, _rule(settings)), strict=True))


def fire_evidence_texts(session: Session, batch: store.PatchBatch, settings: ForestLossSettings) -> list[str | None]:
    """:func:`fire_evidence` of a batch of patches as the ingest writes it: per patch, in the batch's order, the
    evidence as JSON text (None: not burned), the same document as ``json.dumps`` of :func:`fire_evidence`'s
    (tests/test_forest_loss_patch_path.py), written from a template: the rule serialised once, numbers as
    ``json`` writes them (``repr``), no dict per patch."""
    texts: list[str | None] = [None] * len(batch)
    if not len(batch):
        return texts
    f = _near(session, batch.ids, batch.geoms, batch.first, batch.last, settings)
    rule = json.dumps(_rule(settings))
    burned = f.hotspots > 0
    firsts = np.datetime_as_string(np.where(burned, f.first_day, 0).astype("datetime64[D]")).tolist()
    lasts = np.datetime_as_string(np.where(burned, f.last_day, 0).astype("datetime64[D]")).tolist()
    for k, c, hn, d0, d1, ev, en, bits in zip(
        f.index.tolist(), f.hotspots.tolist(), f.hotspot_nearest_m.tolist(), firsts, lasts, f.events,
        f.event_nearest_m.tolist(), f.sensors.tolist(), strict=True,
    ):  # fmt: skip
        h_near = hn if c else None
        e_near = en if ev else None
        nearest = min(v for v in (h_near, e_near) if v is not None)  # found: a detection or an event counted
        days = f'["{d0}", "{d1}"]' if c else "null"
        sensors = json.dumps(sensor_names(bits)) if c else "null"
        texts[k] = (
            f'{{"hotspots": {c}, "hotspot_days": {days}, "hotspot_sensors": {sensors}, '
            f'"events": [{", ".join(map(str, ev or []))}], "nearest_m": {round(nearest, 1)!r}, '
            f'"hotspot_nearest_m": {"null" if h_near is None else repr(round(h_near, 1))}, '
            f'"event_nearest_m": {"null" if e_near is None else repr(round(e_near, 1))}, "rule": {rule}}}'
        )
    return texts


def mark_fire(session: Session, ids: Sequence[int], settings: ForestLossSettings) -> int:
    """Mark stored patches cleared by fire or not, by :func:`fire_evidence`; returns how many burned. Only the
    marks that change are written: a re-run over unchanged fires writes nothing."""
    return mark_stored(session, store.patch_fire_inputs(session, ids), settings)


def mark_stored(session: Session, stored: Sequence[tuple], settings: ForestLossSettings) -> int:
    """:func:`mark_fire` of patches already read (rows of ``store.patch_fire_inputs``)."""
    evidence = fire_evidence(session, [r[:4] for r in stored], settings)
    changed = [i for i, *_, was, was_evidence in stored if (was, was_evidence) != (i in evidence, evidence.get(i))]
    store.set_fire(session, changed, {i: evidence[i] for i in changed if i in evidence})
    return len(evidence)


def after_hotspots_ingested(session: Session, report: IngestReport) -> int:
    """Listener of a hotspot ingest (``wiring``): mark again the live patches whose mark the batch can change: of
    those within reach of its cells (:func:`patches_reached`), the ones its new or changed detections or
    re-clustered events can count for, or whose evidence names a re-clustered or removed event
    (:func:`patches_changed`). Returns how many of those burned. Settings: those of the ingest's edge
    (``settings_of``)."""
    settings = settings_of(session).forest_loss
    ids = patches_reached(session, report, settings)
    if not ids:
        return 0
    stored = store.patch_fire_inputs(session, ids)
    detections = None
    if report.batch_id is not None and report.first_acq and report.last_acq:
        detections = hotspots_store.batch_detections(
            session, report.batch_id, datetime.fromisoformat(report.first_acq), datetime.fromisoformat(report.last_acq)
        )
    return _mark_changed(session, stored, detections, report.event_ids, settings)


def patches_changed(
    session: Session,
    stored: Sequence[tuple],
    detections: pd.DataFrame | None,
    event_ids: Sequence[int],
    settings: ForestLossSettings,
) -> list[tuple]:
    """Of stored patches (rows of ``store.patch_fire_inputs``), those whose "cleared by fire" mark these new or
    changed ``detections`` (``hotspots.store.batch_detections``; None: none) and these re-clustered events can
    change, the others keeping theirs as it is:

    * a detection that can count for the patch (within the distance + half its pixel, on a day of its window;
      widened by ``KEY_SHIFT_M`` + 1 m for the NRT position an SP row replaced) changes its count, days or nearest;
    * a re-clustered event whose footprint and span can count for it (the same widening) may now count;
    * a patch whose evidence names a re-clustered event, or an event the re-clustering removed, may lose it.

    A detection or event that is none of these is as it was, and so is what it counted for: re-marking only these
    patches gives the marks of re-marking every one (tests/test_forest_loss_patch_path.py)."""
    if not stored:
        return []
    touched = {int(e) for e in event_ids}
    named = {int(e) for r in stored if r[5] for e in (r[5].get("events") or [])}
    existing = {int(e) for e in hotspots_store.existing_fire_event_ids(session, [str(e) for e in named])}
    stale = (named & touched) | (named - existing)
    _, ev_wkb, ev_first, ev_last = hotspots_store.events_by_id(session, sorted(touched))
    none = pd.DataFrame(
        {"lon": np.empty(0), "lat": np.empty(0), "day": np.empty(0, np.int64), "instrument": np.empty(0, object)}
    )
    reached = areas_reached(
        shapely.from_wkb([r[1] for r in stored]),
        _days([r[2] for r in stored]).astype(np.int64),
        _days([r[3] for r in stored]).astype(np.int64),
        none if detections is None else detections,
        (ev_wkb, ev_first, ev_last),
        distance_m=settings.fire_distance_m,
        days_before=settings.fire_days_before,
        days_after=settings.fire_days_after,
        margin_m=KEY_SHIFT_M + 1.0,
    )
    return [
        r for r, hit in zip(stored, reached.tolist(), strict=True)
        if hit or (r[5] and stale.intersection(r[5].get("events") or []))
    ]  # fmt: skip


def _mark_changed(
    session: Session,
    stored: Sequence[tuple],
    detections: pd.DataFrame | None,
    event_ids: Sequence[int],
    settings: ForestLossSettings,
) -> int:
    """Re-mark the patches of ``stored`` that :func:`patches_changed` picks; how many of those burned."""
    changed = patches_changed(session, stored, detections, event_ids, settings)
    return mark_stored(session, changed, settings) if changed else 0


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
    ``wiring``): mark again the live patches the touched events can change (:func:`patches_changed`: within
    reach of their footprints and spans, or naming one of them or a removed event; a patch's evidence names
    events, and an event's footprint may reach a patch its detections alone do not). Returns how many of those
    burned."""
    settings = settings_of(session).forest_loss
    ids = _patches_near_cells(session, hotspots_store.events_reach(session, event_ids, REACH_CELL_DEG), settings)
    if not ids:
        return 0
    return _mark_changed(session, store.patch_fire_inputs(session, ids), None, event_ids, settings)


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
