"""Fire-event clustering of a national archive in space-time blocks with overlapping halos, merged exactly.

The single-process clustering (``hotspots.events.cluster``) links two detections closer than their linking
distance (at most ``reach`` metres: the larger of the VIIRS and MODIS distances) and ``gap_days`` apart, and
takes connected components. Here the detections are cut into blocks of ``block_deg`` degrees x ``block_days``
days. Each Dask task clusters one block's detections together with a halo around it: every detection within
``reach`` (with a 10 % margin, converted to degrees at the block's far latitude) and ``gap_days`` of the
block. Every link of the whole graph then lies inside at least one task (the block of either end sees the
other end in its halo), and every link a task finds is a link of the whole graph, so the events are the
connected components of the union of the tasks' components: each task returns (detection, block component)
pairs, and one connected-components pass over detections and block components (scipy, the same engine the
single process uses) joins components that share a detection, across however many block edges a chain
crosses. The result is the same partition of detections as ``cluster`` over everything.

A detection's id is ``file number << 32 | row`` (its row among the valid rows of its sorted GeoParquet file).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo_service.batch.partitions import read_part
from geo_service.hotspots.events import EventParams, cluster

DAY_S = 86400
M_PER_DEG_LAT = 110_000.0  # fewer than the shortest degree of latitude (110.57 km): a wider halo, never narrower
M_PER_DEG_LON_EQUATOR = 111_000.0  # likewise, times cos(latitude)
HALO_MARGIN = 1.1


@dataclass(frozen=True)
class Blocking:
    """The size of a space-time block: degrees of longitude and latitude, and days."""

    block_deg: float = 1.0
    block_days: float = 30.0


@dataclass(frozen=True)
class PartMeta:
    """What the scan learnt about one file: its number, path, time range and the blocks it has detections in."""

    number: int
    path: str
    t_min: int  # epoch seconds
    t_max: int
    blocks: dict  # block key -> detections


def block_key(ix: int, iy: int, it: int) -> str:
    """A block's name in the job record (sorts by time, then space)."""
    return f"t{it:+06d}_y{iy:+04d}_x{ix:+05d}"


def parse_block(key: str) -> tuple[int, int, int]:
    """(ix, iy, it) of a block name."""
    t, y, x = key.split("_")
    return int(x[1:]), int(y[1:]), int(t[1:])


def detections(path: str, number: int) -> pd.DataFrame:
    """A file's valid detections for clustering: id, lon, lat, epoch, instrument."""
    frame = read_part(path).frame
    return pd.DataFrame(
        {
            "id": (np.int64(number) << 32) + np.arange(len(frame), dtype=np.int64),
            "lon": frame["longitude"].to_numpy(dtype="float64"),
            "lat": frame["latitude"].to_numpy(dtype="float64"),
            "epoch": frame["acq_epoch"].to_numpy(np.int64),
            "instrument": frame["instrument"].to_numpy(dtype=object),
        }
    )


def _cells(frame: pd.DataFrame, blocking: Blocking) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ix = np.floor(frame["lon"].to_numpy() / blocking.block_deg).astype(np.int64)
    iy = np.floor(frame["lat"].to_numpy() / blocking.block_deg).astype(np.int64)
    it = np.floor(frame["epoch"].to_numpy() / (blocking.block_days * DAY_S)).astype(np.int64)
    return ix, iy, it


def scan_part(path: str, number: int, blocking: Blocking) -> PartMeta:
    """One file's time range and how many detections it has in each block (a Dask task of the first pass)."""
    frame = detections(path, number)
    if frame.empty:
        return PartMeta(number, path, 0, -1, {})
    ix, iy, it = _cells(frame, blocking)
    cells = pd.DataFrame({"x": ix, "y": iy, "t": it}).value_counts()
    blocks = {block_key(int(x), int(y), int(t)): int(n) for (x, y, t), n in cells.items()}
    return PartMeta(number, path, int(frame["epoch"].min()), int(frame["epoch"].max()), blocks)


def halo(block: str, blocking: Blocking, params: EventParams) -> tuple[float, float, float, float, float, float]:
    """The block with its halo: lon, lat (degrees) and epoch (seconds) ranges, each inclusive."""
    ix, iy, it = parse_block(block)
    reach = max(params.distance_m, params.modis_distance_m) * HALO_MARGIN
    d = blocking.block_deg
    hy = reach / M_PER_DEG_LAT
    y0, y1 = iy * d - hy, (iy + 1) * d + hy
    far = min(max(abs(y0), abs(y1)), 89.0)
    hx = reach / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(far)))
    span = blocking.block_days * DAY_S
    ht = params.gap_days * DAY_S + 1
    return ix * d - hx, (ix + 1) * d + hx, y0, y1, it * span - ht, (it + 1) * span + ht


@dataclass
class BlockLinks:
    """A block's detections (core and halo) and their component within the block."""

    detection: np.ndarray
    component: np.ndarray
    seconds: float
    cpu_seconds: float


def block_links(block: str, parts: list[PartMeta], blocking: Blocking, params: EventParams) -> BlockLinks:
    """Cluster one block with its halo (what one Dask task runs): its files are read and cut to the box."""
    started, cpu = time.perf_counter(), time.thread_time()
    x0, x1, y0, y1, t0, t1 = halo(block, blocking, params)
    frames = []
    for meta in parts:
        if meta.t_max < t0 or meta.t_min > t1:
            continue
        f = detections(meta.path, meta.number)
        inside = ((f["lon"] >= x0) & (f["lon"] <= x1) & (f["lat"] >= y0) & (f["lat"] <= y1) & (f["epoch"] >= t0)) & (
            f["epoch"] <= t1
        )
        frames.append(f[inside.to_numpy()])
    frame = pd.concat(frames, ignore_index=True) if frames else detections_empty()
    labels = cluster(
        frame["lon"].to_numpy(),
        frame["lat"].to_numpy(),
        frame["epoch"].to_numpy() / float(DAY_S),
        params,
        params.link_m(frame["instrument"].to_numpy(dtype=object)),
    )
    return BlockLinks(
        frame["id"].to_numpy(np.int64),
        labels.astype(np.int64),
        time.perf_counter() - started,
        time.thread_time() - cpu,
    )


def detections_empty() -> pd.DataFrame:
    """No detections (the columns of ``detections``)."""
    return pd.DataFrame(
        {"id": np.empty(0, np.int64), "lon": [], "lat": [], "epoch": np.empty(0, np.int64), "instrument": []}
    )


def merge_links(detection: np.ndarray, component: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Join block components that share a detection: (detections, event of each).

    An event is numbered by the smallest detection id in it, so the answer does not depend on the order
    in which blocks were processed.
    """
    if not len(detection):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    dets, d_idx = np.unique(np.asarray(detection, np.int64), return_inverse=True)
    comps, c_idx = np.unique(np.asarray(component, np.int64), return_inverse=True)
    n = len(dets) + len(comps)
    graph = coo_matrix((np.ones(len(d_idx), dtype=np.int8), (d_idx, len(dets) + c_idx)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    det_labels = labels[: len(dets)]
    smallest = np.full(labels.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, det_labels, dets)
    return dets, smallest[det_labels]


def params_doc(params: EventParams, blocking: Blocking) -> dict:
    """The clustering's parameters as recorded with the job."""
    return {"event": asdict(params), "blocking": asdict(blocking)}
