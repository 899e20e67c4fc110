"""The figures of each fire event, computed from its detections in memory: times, counts, FRP, sensors, the
district and reserve most of its detections are in, and its footprint.

Footprint: the convex hull of the detections' pixels - each a disc of half its sensor's pixel (VIIRS 375 m,
MODIS 1 km: ``HALF_PIXEL_M``) - in the UTM zone of the event's mean position, area in that zone, vertices
back in EPSG:4326. Where all of an event's detections come from one sensor this is the hull of the points
buffered by that half pixel. It is the same GEOS work PostGIS did
per event (collect, transform, hull, buffer, transform), done here for all events at once with Shapely 2
and pyproj: 48,027 events of a 1M-detection season took 4.0 s as one SQL aggregate (README, *Speed*).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import Transformer

from geo_service.hotspots.rows import text_array

# Half the nominal pixel (at nadir) of each instrument: a detection stands for a fire somewhere in its pixel.
HALF_PIXEL_M = {"VIIRS": 187.5, "MODIS": 500.0}


def half_pixel_m(instrument: np.ndarray) -> np.ndarray:
    """Half the pixel of each detection's instrument (VIIRS for any other name)."""
    return np.where(np.asarray(instrument, dtype=object) == "MODIS", HALF_PIXEL_M["MODIS"], HALF_PIXEL_M["VIIRS"])


EVENT_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("detections", pa.int32()),
        ("max_frp", pa.float64()),
        ("sensors", pa.list_(pa.string())),
        ("district_code", pa.string()),
        ("reserve_code", pa.string()),
        ("area_m2", pa.float64()),
        ("footprint", pa.binary()),
    ]
)


@lru_cache(maxsize=16)
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    return (Transformer.from_crs(4326, epsg, always_xy=True), Transformer.from_crs(epsg, 4326, always_xy=True))


def utm_epsg(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """EPSG code of the WGS 84 / UTM zone of each position (326zz north, 327zz south)."""
    zone = np.clip(np.floor((np.asarray(lon) + 180) / 6).astype(int) + 1, 1, 60)
    return np.where(np.asarray(lat) >= 0, 32600, 32700) + zone


def footprints(
    lon: np.ndarray, lat: np.ndarray, event: np.ndarray, radius: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Footprint per event (detections given as positions and an event index 0..k-1, every index present,
    and the radius of each detection's pixel disc, default half a VIIRS pixel).

    Returns
    -------
    (numpy.ndarray of shapely geometries in EPSG:4326, numpy.ndarray of areas in m2), indexed by event.
    """
    k = int(event.max()) + 1 if len(event) else 0
    counts = np.bincount(event, minlength=k)
    mean_lon = np.bincount(event, weights=lon, minlength=k) / counts
    mean_lat = np.bincount(event, weights=lat, minlength=k) / counts
    zone_of_event = utm_epsg(mean_lon, mean_lat)
    radius = np.full(len(event), HALF_PIXEL_M["VIIRS"]) if radius is None else np.asarray(radius, dtype=float)
    r_max, r_min = np.zeros(k), np.full(k, np.inf)
    np.maximum.at(r_max, event, radius)
    np.minimum.at(r_min, event, radius)
    mixed_event = r_max != r_min  # detections of sensors with different pixels
    zone = zone_of_event[event]
    geoms = np.empty(k, dtype=object)
    areas = np.zeros(k)
    for epsg in np.unique(zone_of_event):
        rows = np.flatnonzero(zone == epsg)
        events_here = np.flatnonzero(zone_of_event == epsg)
        forward, back = _transformers(int(epsg))
        x, y = forward.transform(lon[rows], lat[rows])
        local = np.searchsorted(events_here, event[rows])  # 0..len(events_here)-1
        order = np.argsort(local, kind="stable")
        local, xy = local[order], np.column_stack([np.asarray(x)[order], np.asarray(y)[order]])
        hulls = np.empty(len(events_here), dtype=object)
        n = np.bincount(local, minlength=len(events_here))
        single = n[local] == 1
        hulls[local[single]] = shapely.points(xy[single])
        # an event's detections as one line (coordinates straight from the array: creating a million point
        # objects for multipoints() took longer than the hulls) - its convex hull is the points' hull
        many = np.flatnonzero(n > 1)
        if len(many):
            dense = np.searchsorted(many, local[~single])
            hulls[many] = shapely.convex_hull(shapely.linestrings(xy[~single], indices=dense))
        shapes = shapely.buffer(hulls, r_max[events_here])
        mixed = np.flatnonzero(mixed_event[events_here])
        if len(mixed):  # the hull of each detection's own disc
            rows_mixed = np.isin(local, mixed)
            discs = shapely.buffer(shapely.points(xy[rows_mixed]), radius[rows][order][rows_mixed])
            shapes[mixed] = shapely.convex_hull(
                shapely.multipolygons(discs, indices=np.searchsorted(mixed, local[rows_mixed]))
            )
        areas[events_here] = shapely.area(shapes)
        geoms[events_here] = shapely.transform(shapes, lambda c, t=back: np.column_stack(t.transform(c[:, 0], c[:, 1])))
    return geoms, areas


def _mode(frame: pd.DataFrame, column: str, k: int) -> np.ndarray:
    """Most frequent non-null value of ``column`` per event (the smallest on a tie), None where all are null."""
    out = np.full(k, None, dtype=object)
    counts = frame.dropna(subset=[column]).groupby(["e", column], sort=False).size().rename("n").reset_index()
    if len(counts):
        best = counts.sort_values(["e", "n", column], ascending=[True, False, True]).drop_duplicates("e")
        out[best["e"].to_numpy()] = best[column].to_numpy(dtype=object)
    return out


def event_rows(frame: pd.DataFrame, event_ids: np.ndarray) -> pa.RecordBatch:
    """The ``fire_events`` rows of the events of ``frame``.

    Parameters
    ----------
    frame : DataFrame
        Detections: ``lon``, ``lat``, ``epoch`` (acquisition, s), ``frp``, ``satellite``, ``instrument``
        (MODIS or VIIRS: the footprint's pixel), ``district_code``, ``reserve_code`` and ``e``, the index of their event in ``event_ids`` (every index present).
    event_ids : array
        The stored id of each event.
    """
    k = len(event_ids)
    e = frame["e"].to_numpy(np.int64)
    grouped = frame.groupby("e", sort=True)
    first, last = grouped["epoch"].min().to_numpy(np.int64), grouped["epoch"].max().to_numpy(np.int64)
    max_frp = grouped["frp"].max().to_numpy(dtype="float64")  # NaN (-> null) when no detection has FRP
    pairs = frame[["e", "satellite"]].drop_duplicates().sort_values(["e", "satellite"])
    offsets = np.zeros(k + 1, dtype=np.int32)
    np.cumsum(np.bincount(pairs["e"].to_numpy(np.int64), minlength=k), out=offsets[1:])
    radius = half_pixel_m(frame["instrument"].to_numpy(dtype=object)) if "instrument" in frame else None
    geoms, areas = footprints(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), e, radius)
    stamp = EVENT_SCHEMA.field("first_seen").type
    columns = [
        pa.array(np.asarray(event_ids, dtype=np.int64)),
        pa.array(first * 1_000_000).cast(stamp),
        pa.array(last * 1_000_000).cast(stamp),
        pa.array(np.bincount(e, minlength=k).astype(np.int32)),
        pa.array(max_frp, pa.float64(), from_pandas=True),
        pa.ListArray.from_arrays(pa.array(offsets), text_array(pairs["satellite"].to_numpy(dtype=object))),
        text_array(_mode(frame, "district_code", k)),
        text_array(_mode(frame, "reserve_code", k)),
        pa.array(areas),
        pa.array(shapely.to_wkb(shapely.set_srid(geoms, 4326), include_srid=True), pa.binary()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)
