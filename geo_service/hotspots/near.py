"""Fires near areas: the detections and fire events that came near each of many areas (polygons) in the days
around them. Forest-loss patches ask it whether they burned ("cleared by fire", issue 14).

The rule, measured in the area's UTM zone (the zone of its bounding box's centre; the patches' areas are measured
in UTM too):

* a **detection** counts when its pixel comes within ``distance_m`` of the area and its local day lies between the
  area's first day - ``days_before`` and its last day + ``days_after``. The pixel is the disc of half the
  instrument's pixel around the published position (VIIRS 187.5 m, MODIS 500 m: ``event_summary.HALF_PIXEL_M``,
  the discs the fire events' footprints are drawn from), so a VIIRS position counts up to ``distance_m`` + 187.5 m
  from the area and a MODIS one up to ``distance_m`` + 500 m: the fire may have burned anywhere in the pixel, and a
  coarse sensor's position says less about where;
* a **fire event** counts when its footprint (the hull of its detections' pixel discs) comes within ``distance_m``
  and its time span meets that period (Asia/Bangkok days).

``hotspot_nearest_m`` is the distance from the area to the nearest counted detection's published position (0
inside), ``event_nearest_m`` to the nearest counted event's footprint.

Why UTM and not the geodesic: UTM's scale error here is at most about 0.1 % (0.9996 on the central meridian, about
1.001 near the zone's edge in Thailand), half a metre at 500 m, far below a 375 m pixel; and in UTM every pair is
decided in memory, vectorised. How: the areas are grouped by :data:`CELL_DEG` cells of their centre (a cell lies in
one zone and one hemisphere, and bounds what is read at once, however large the batch); for each cell the hotspots
store reads the detections and events in the cell's box widened by the reach, and in its period; pyproj projects
them; a Shapely STRtree of the areas gives the candidate pairs by box; the days are compared in NumPy; bounds in
NumPy (the distance to the area's box, to its first vertex) decide the pairs they can, and the exact planar
distance (``shapely.distance``) the rest (:func:`fires_near`). The join is hand-written because no library joins points and
polygons in space and time at once; its parts (STRtree, GEOS distance, PROJ) are the libraries'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from geo_service.coords import from_wgs84, project_from_wgs84, widen_box
from geo_service.gc_pause import no_cyclic_gc
from geo_service.hotspots import store
from geo_service.hotspots.event_summary import HALF_PIXEL_M, half_pixel_m, utm_epsg

CELL_DEG = 0.5  # a divisor of the 6-degree UTM zones: a cell never straddles a zone line (nor the equator)
_ORDINAL_1970 = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000
_BANGKOK_US = 7 * 3_600_000_000  # Asia/Bangkok has been UTC+7 without daylight saving since 1920
SENSOR_BITS = {"MODIS": 1, "VIIRS": 2}  # in the order the evidence names them
UTM_MIN_SCALE = 0.9996  # a UTM distance is at least this times the ground's: the box is widened by its inverse


@dataclass
class FiresNear:
    """The answer of :func:`fires_near` for the areas with any detection or event counted, in the order of their
    ids: ``index`` (into the areas given), ``hotspots`` (count), ``hotspot_nearest_m`` (inf: none), the first and
    last local day of the counted detections (days since 1970), ``events`` (per area, its event ids ascending, or
    None), ``event_nearest_m`` (inf: none) and ``sensors`` (a bit per instrument of the counted detections,
    :data:`SENSOR_BITS`; :func:`sensor_names` reads it)."""

    index: np.ndarray
    hotspots: np.ndarray
    hotspot_nearest_m: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    events: list[list[int] | None]
    event_nearest_m: np.ndarray
    sensors: np.ndarray


def sensor_names(bits: int) -> list[str]:
    """The instruments a :attr:`FiresNear.sensors` bit set names, e.g. ["MODIS", "VIIRS"]."""
    return [name for name, bit in SENSOR_BITS.items() if bits & bit]


@no_cyclic_gc()
def fire_near_areas(
    session: Session,
    areas: Sequence[tuple[int, bytes, date, date]],
    *,
    distance_m: float,
    days_before: int,
    days_after: int,
) -> list[dict[str, Any]]:
    """Detections and fire events near areas in space and time, by the rule above.

    ``areas``: (id, WKB or EWKB geometry in EPSG:4326, first day, last day). One row per area with any, by id:
    area_id, hotspots (count), hotspot_nearest_m, hotspot_first_day, hotspot_last_day, hotspot_sensors (the
    instruments of the counted detections, e.g. ["MODIS", "VIIRS"]), events (ids, ascending), event_nearest_m.
    (:func:`fires_near` answers the same for columns.)"""
    if not areas:
        return []
    n = len(areas)
    ids = np.fromiter((a[0] for a in areas), np.int64, n)
    # days since 1970 (``date.toordinal`` is 719,163 on 1970-01-01): ten times quicker than numpy parsing dates
    first = np.fromiter((a[2].toordinal() for a in areas), np.int64, n) - _ORDINAL_1970
    last = np.fromiter((a[3].toordinal() for a in areas), np.int64, n) - _ORDINAL_1970
    f = fires_near(
        session,
        ids,
        shapely.from_wkb([a[1] for a in areas]),
        first,
        last,
        distance_m=distance_m,
        days_before=days_before,
        days_after=days_after,
    )
    burned = f.hotspots > 0
    first_day = np.where(burned, f.first_day, 0).astype("datetime64[D]").tolist()
    last_day = np.where(burned, f.last_day, 0).astype("datetime64[D]").tolist()
    return [
        {
            "area_id": a,
            "hotspots": c,
            "hotspot_nearest_m": d if c else None,
            "hotspot_first_day": fd if c else None,
            "hotspot_last_day": ld if c else None,
            "hotspot_sensors": sensor_names(bits) if c else None,
            "events": ev,
            "event_nearest_m": en if ev else None,
        }
        for a, c, d, fd, ld, ev, en, bits in zip(
            ids[f.index].tolist(),
            f.hotspots.tolist(),
            f.hotspot_nearest_m.tolist(),
            first_day,
            last_day,
            f.events,
            f.event_nearest_m.tolist(),
            f.sensors.tolist(),
            strict=True,
        )
    ]


def _boxes_and_first(xy: np.ndarray, of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per geometry (its coordinates ``xy`` in order, ``of`` their geometry 0..n-1): its box (minx, miny, maxx,
    maxy; NaN for one without coordinates, as ``shapely.bounds`` gives) and its first vertex (NaN: none)."""
    box = np.full((n, 4), np.nan)
    first = np.full((n, 2), np.nan)
    if len(of):
        start = np.r_[0, np.flatnonzero(np.diff(of)) + 1]
        has = of[start]
        box[has, 0] = np.minimum.reduceat(xy[:, 0], start)
        box[has, 1] = np.minimum.reduceat(xy[:, 1], start)
        box[has, 2] = np.maximum.reduceat(xy[:, 0], start)
        box[has, 3] = np.maximum.reduceat(xy[:, 1], start)
        first[has] = xy[start]
    return box, first


class _Local:
    """Areas projected on demand: the projected geometry of an area is made (from coordinates already projected)
    the first time a pair of it needs GEOS, and kept for the cell."""

    def __init__(self, geoms: np.ndarray, xy: np.ndarray, of: np.ndarray) -> None:
        self.geoms, self.xy, self.of = geoms, xy, of
        self.made = np.full(len(geoms), None, dtype=object)

    def take(self, k: np.ndarray) -> np.ndarray:
        """The projected geometries of the areas ``k`` (repeats allowed)."""
        missing = np.unique(k[shapely.is_missing(self.made[k])]) if len(k) else np.empty(0, dtype=np.int64)
        if len(missing):
            sel = np.isin(self.of, missing)  # their coordinates, in order
            self.made[missing] = shapely.set_coordinates(self.geoms[missing].copy(), self.xy[sel])
        return self.made[k]


# A bound computed in NumPy decides a pair without GEOS only when it clears the reach by this much: far above the
# rounding of UTM coordinates (about 1e-10 m), far below any distance the rule tells apart.
BOUND_SLACK_M = 1e-6


@no_cyclic_gc()
def fires_near(
    session: Session,
    ids: np.ndarray,
    geoms: np.ndarray,
    first_days: np.ndarray,
    last_days: np.ndarray,
    *,
    distance_m: float,
    days_before: int,
    days_after: int,
) -> FiresNear:
    """:func:`fire_near_areas` for columns: area ids, Shapely geometries (EPSG:4326), first and last days (days
    since 1970, int), without a Python object per area.

    Each candidate pair (a detection in an area's box widened by its reach, on a day of the area's window) is first
    bounded in NumPy: the distance from the point to the area's box (in UTM) is at most the exact distance, the
    distance to the area's first vertex at least it. A pair whose lower bound is beyond the reach is out, one whose
    upper bound is within it is in; GEOS measures the exact distance only for the pairs the bounds leave open and,
    for the nearest, the pairs of an area whose lower bound does not exceed the least upper bound of its sure ones
    (no other pair can be its nearest). The answers are those of measuring every pair (tests/test_forest_loss_fire.py
    against the PostGIS rule)."""
    n = len(ids)
    ids = np.asarray(ids, dtype=np.int64)
    lo = np.asarray(first_days, dtype=np.int64) - int(days_before)
    hi = np.asarray(last_days, dtype=np.int64) + int(days_after)
    utc_lo, utc_hi = lo * _DAY_US - _BANGKOK_US, (hi + 1) * _DAY_US - _BANGKOK_US  # microseconds since 1970, UTC
    count = np.zeros(n, np.int64)
    nearest = np.full(n, np.inf)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    sensors = np.zeros(n, np.int64)  # a bit per instrument (SENSOR_BITS) of the counted detections
    event_pairs: list[tuple[np.ndarray, np.ndarray]] = []  # (area, event id) of every counted pair
    event_nearest = np.full(n, np.inf)
    distance = float(distance_m)
    reach = distance + max(HALF_PIXEL_M.values())  # the farthest a counted detection lies
    if n:
        bounds = shapely.bounds(geoms)
        cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
        epsg = utm_epsg(cx, cy)
        _, cell = np.unique(
            np.floor(cx / CELL_DEG).astype(np.int64) * 1_000_003 + np.floor(cy / CELL_DEG).astype(np.int64),
            return_inverse=True,
        )
        order = np.argsort(cell, kind="stable")
        cells = np.split(order, np.flatnonzero(np.diff(cell[order])) + 1)
    else:
        cells = []
    for members in cells:
        zone = int(epsg[members[0]])
        b = bounds[members]
        box = widen_box((b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()), reach / UTM_MIN_SCALE + 1.0)
        # the members' coordinates in UTM, once: their boxes and first vertices from the arrays, a projected
        # geometry only for the areas GEOS is asked about (set_coordinates on a copy of every area cost more)
        wgs_xy, of = shapely.get_coordinates(geoms[members], return_index=True)
        utm_x, utm_y = from_wgs84(zone).transform(wgs_xy[:, 0], wgs_xy[:, 1])
        xy = np.column_stack([utm_x, utm_y])
        lb, vertex = _boxes_and_first(xy, of, len(members))
        local = _Local(geoms[members], xy, of)
        det = store.detections_in(session, box, int(lo[members].min()), int(hi[members].max()))
        if len(det):
            x, y = from_wgs84(zone).transform(det["lon"].to_numpy(), det["lat"].to_numpy())
            x, y = np.asarray(x), np.asarray(y)
            day = det["day"].to_numpy(np.int64)
            instrument = det["instrument"].to_numpy(dtype=object)
            within = distance + half_pixel_m(instrument)
            bit_of = np.zeros(len(det), np.int64)  # once per detection, not per pair: string compares are the cost
            for name, bit in SENSOR_BITS.items():
                bit_of[instrument == name] = bit
            # candidates: the points in an area's box widened by their own reach (one tree per sensor's reach)
            points = shapely.points(x, y)
            pairs = []
            for r in np.unique(within):
                of_r = np.flatnonzero(within == r)
                tree = shapely.STRtree(shapely.box(lb[:, 0] - r, lb[:, 1] - r, lb[:, 2] + r, lb[:, 3] + r))
                p_i, p_a = tree.query(points[of_r])
                pairs.append((of_r[p_i], p_a))
            d_i = np.concatenate([p[0] for p in pairs])
            a_i = np.concatenate([p[1] for p in pairs])
            a_g = members[a_i]
            keep = (day[d_i] >= lo[a_g]) & (day[d_i] <= hi[a_g])
            d_i, a_i = d_i[keep], a_i[keep]
            # the bounds (hand-written: GEOS has no vectorised box distance); see the docstring
            px, py, w = x[d_i], y[d_i], within[d_i]
            ab = lb[a_i]
            lower = np.hypot(
                np.maximum(np.maximum(ab[:, 0] - px, px - ab[:, 2]), 0.0),
                np.maximum(np.maximum(ab[:, 1] - py, py - ab[:, 3]), 0.0),
            )
            keep = lower <= w + BOUND_SLACK_M
            d_i, a_i, px, py, w, lower = d_i[keep], a_i[keep], px[keep], py[keep], w[keep], lower[keep]
            upper = np.hypot(px - vertex[a_i, 0], py - vertex[a_i, 1])
            sure = upper <= w - BOUND_SLACK_M
            best = np.full(len(members), np.inf)
            np.minimum.at(best, a_i[sure], upper[sure])
            exact = np.flatnonzero(~sure | (lower <= best[a_i] + BOUND_SLACK_M))
            dist = np.full(len(d_i), np.inf)  # a sure pair left unmeasured cannot be its area's nearest
            dist[exact] = shapely.distance(points[d_i[exact]], local.take(a_i[exact]))
            counted = sure | (dist <= w)
            d_i, a_g, dist = d_i[counted], members[a_i[counted]], dist[counted]
            count += np.bincount(a_g, minlength=n)
            np.minimum.at(nearest, a_g, dist)
            np.minimum.at(first, a_g, day[d_i])
            np.maximum.at(last, a_g, day[d_i])
            np.bitwise_or.at(sensors, a_g, bit_of[d_i])
        ev_ids, ev_wkb, ev_first, ev_last = store.events_in(
            session, box, int(utc_lo[members].min()), int(utc_hi[members].max())
        )
        if len(ev_ids):
            footprints = project_from_wgs84(shapely.from_wkb(ev_wkb), zone)
            tree = shapely.STRtree(
                shapely.box(lb[:, 0] - distance, lb[:, 1] - distance, lb[:, 2] + distance, lb[:, 3] + distance)
            )
            e_i, a_i = tree.query(footprints)
            a_g = members[a_i]
            keep = (ev_first[e_i] < utc_hi[a_g]) & (ev_last[e_i] >= utc_lo[a_g])
            e_i, a_i, a_g = e_i[keep], a_i[keep], a_g[keep]
            dist = shapely.distance(footprints[e_i], local.take(a_i))
            keep = dist <= distance
            e_i, a_g, dist = e_i[keep], a_g[keep], dist[keep]
            np.minimum.at(event_nearest, a_g, dist)
            if len(a_g):  # a cell whose events all stay out of reach adds no pair (nor an empty group below)
                event_pairs.append((a_g, ev_ids[e_i]))
    events: dict[int, list[int]] = {}
    if event_pairs:
        a_g = np.concatenate([p[0] for p in event_pairs])
        e_id = np.concatenate([p[1] for p in event_pairs])
        o = np.lexsort((e_id, a_g))
        a_g, e_id = a_g[o], e_id[o]
        cuts = np.flatnonzero(np.diff(a_g)) + 1
        events = dict(zip(a_g[np.r_[0, cuts]].tolist(), (g.tolist() for g in np.split(e_id, cuts)), strict=True))
    has_event = np.zeros(n, dtype=bool)
    has_event[list(events)] = True
    found = np.flatnonzero((count > 0) | has_event)
    found = found[np.argsort(ids[found], kind="stable")]
    return FiresNear(
        index=found,
        hotspots=count[found],
        hotspot_nearest_m=nearest[found],
        first_day=first[found],
        last_day=last[found],
        events=[events.get(k) for k in found.tolist()],
        event_nearest_m=event_nearest[found],
        sensors=sensors[found],
    )


@no_cyclic_gc()
def areas_reached(
    geoms: np.ndarray,
    first_days: np.ndarray,
    last_days: np.ndarray,
    detections: pd.DataFrame,
    events: tuple[list[bytes], np.ndarray, np.ndarray],
    *,
    distance_m: float,
    days_before: int,
    days_after: int,
    margin_m: float,
) -> np.ndarray:
    """Which areas (Shapely, EPSG:4326, with first and last days since 1970) some of these detections or events
    can count for by the rule above, widened by ``margin_m``: a detection (``lon``, ``lat``, ``day``,
    ``instrument``, as ``store.detections_in`` gives them) within the distance + half its pixel + the margin on a
    day of the area's window, or an event (footprints as EWKB, first and last seen in microseconds, UTC) within
    the distance + the margin in a span that meets it; measured in the area's UTM zone as :func:`fires_near` does.
    A hotspot ingest asks it which patches its new or changed detections and events can re-mark."""
    n = len(geoms)
    out = np.zeros(n, dtype=bool)
    if not n:
        return out
    lo = np.asarray(first_days, dtype=np.int64) - int(days_before)
    hi = np.asarray(last_days, dtype=np.int64) + int(days_after)
    utc_lo, utc_hi = lo * _DAY_US - _BANGKOK_US, (hi + 1) * _DAY_US - _BANGKOK_US
    bounds = shapely.bounds(geoms)
    epsg = utm_epsg((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2)
    det_within = float(distance_m) + margin_m + half_pixel_m(detections["instrument"].to_numpy(dtype=object))
    det_day = detections["day"].to_numpy(np.int64)
    ev_wkb, ev_first, ev_last = events
    footprints = shapely.from_wkb(ev_wkb) if len(ev_wkb) else np.empty(0, dtype=object)
    for zone in np.unique(epsg).tolist():
        members = np.flatnonzero(epsg == zone)
        local = project_from_wgs84(geoms[members], zone)
        lb = shapely.bounds(local)
        if len(det_day):
            x, y = from_wgs84(zone).transform(detections["lon"].to_numpy(), detections["lat"].to_numpy())
            points = shapely.points(np.asarray(x), np.asarray(y))
            r = float(det_within.max())
            tree = shapely.STRtree(shapely.box(lb[:, 0] - r, lb[:, 1] - r, lb[:, 2] + r, lb[:, 3] + r))
            d_i, a_i = tree.query(points)
            a_g = members[a_i]
            keep = (det_day[d_i] >= lo[a_g]) & (det_day[d_i] <= hi[a_g]) & ~out[a_g]
            d_i, a_i = d_i[keep], a_i[keep]
            # decided by the box (out) or the first vertex (in) where they tell, GEOS for the rest (fires_near)
            px, py, w = np.asarray(x)[d_i], np.asarray(y)[d_i], det_within[d_i]
            ab = lb[a_i]
            lower = np.hypot(
                np.maximum(np.maximum(ab[:, 0] - px, px - ab[:, 2]), 0.0),
                np.maximum(np.maximum(ab[:, 1] - py, py - ab[:, 3]), 0.0),
            )
            keep = lower <= w + BOUND_SLACK_M
            d_i, a_i, px, py, w = d_i[keep], a_i[keep], px[keep], py[keep], w[keep]
            vertex = shapely.get_point(shapely.get_exterior_ring(local), 0)  # None: a multipolygon or empty
            has = ~shapely.is_missing(vertex)
            first = np.full((len(members), 2), np.nan)
            first[has] = shapely.get_coordinates(vertex[has])
            sure = np.hypot(px - first[a_i, 0], py - first[a_i, 1]) <= w - BOUND_SLACK_M
            out[members[a_i[sure]]] = True
            rest = np.flatnonzero(~sure & ~out[members[a_i]])
            near = shapely.dwithin(points[d_i[rest]], local[a_i[rest]], w[rest])
            out[members[a_i[rest[near]]]] = True
        if len(footprints):
            fp = project_from_wgs84(footprints, zone)
            r = float(distance_m) + margin_m
            tree = shapely.STRtree(shapely.box(lb[:, 0] - r, lb[:, 1] - r, lb[:, 2] + r, lb[:, 3] + r))
            e_i, a_i = tree.query(fp)
            a_g = members[a_i]
            keep = (ev_first[e_i] < utc_hi[a_g]) & (ev_last[e_i] >= utc_lo[a_g]) & ~out[a_g]
            e_i, a_i = e_i[keep], a_i[keep]
            near = shapely.dwithin(fp[e_i], local[a_i], r)
            out[members[a_i[near]]] = True
    return out
