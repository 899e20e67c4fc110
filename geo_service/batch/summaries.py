"""What one Dask task does to one GeoParquet partition: attribute its detections and summarise them.

Attribution is the online ingest's own: ``places.Gazetteer.attribute`` (the same boundaries, the same rule
for points on shared boundaries, protected areas in force on each local date). The summaries are the ones
the service reports (``hotspots.summaries``): detections, FRP sum and maximum, first and last local date, by
province, district and subdistrict (the code, '' for none) x inside or outside the area of interest x day
(``YYYY-MM-DD``), month (``YYYY-MM``) and Thai fiscal year (BE, October-September) of the local date. A task
returns the finest grain (one row per subdistrict, district, province, in AOI and local day: no more rows
than detections, far fewer for real fires); months, fiscal years and coarser levels are sums of those rows
(``batch.store.job_summaries``).

Partial figures of different parts add up exactly: counts are integers and FRP is summed in integer
thousandths of a MW (FIRMS gives at most two decimals), so the order in which parts are added changes
nothing and the job's figures equal the single-process ones to the last digit.
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo_service.batch.partitions import read_part
from geo_service.places import Attribution, Gazetteer

LEVELS = ("province", "district", "subdistrict")
PERIOD_KINDS = ("day", "month", "fiscal_year")
SUMMARY_COLUMNS = [
    "province_code",
    "district_code",
    "subdistrict_code",
    "in_aoi",
    "day",
    "detections",
    "frp_sum_mw_e3",
    "frp_max_mw",
]


@dataclass
class PartSummary:
    """A part's summary rows (``SUMMARY_COLUMNS``), rows read, rows refused, wall and CPU seconds of work."""

    frame: pd.DataFrame
    rows: int
    refused: int
    seconds: float
    cpu_seconds: float


_local = threading.local()


def prepare_gazetteer(gaz: Gazetteer) -> Gazetteer:
    """This thread's own prepared copy of a Gazetteer that was broadcast to the workers.

    Pickling drops GEOS's prepared state, and a prepared geometry builds its indexes lazily on first use, so
    two threads of one worker (``--threads``, the tests) must not share one: each thread gets a copy (once,
    tens of milliseconds), prepared. In a worker process with one thread that is a single copy.
    """
    cache = getattr(_local, "gazetteers", None)
    if cache is None:
        cache = _local.gazetteers = {}
    own = cache.get(id(gaz))
    if own is None or own[0] is not gaz:
        copy = pickle.loads(pickle.dumps(gaz))
        for areas in (copy.provinces, copy.districts, copy.subdistricts, copy.protected):
            if len(areas.geoms):
                shapely.prepare(areas.geoms)
        if copy.aoi is not None:
            shapely.prepare(copy.aoi)
        own = cache[id(gaz)] = (gaz, copy)
    return own[1]


def _codes(values: np.ndarray) -> np.ndarray:
    """Area codes with '' for "in no area" (the service's ``coalesce(code, '')``)."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = ""
    return out


def summary_rows(frame: pd.DataFrame, attr: Attribution) -> pd.DataFrame:
    """Summary rows (``SUMMARY_COLUMNS``) of normalised detections and their attribution: one per
    (province, district, subdistrict, in AOI, local day), the finest grain the service reports.

    Vectorised on integers: area codes are factorised once, each group is one int64 key, grouped by
    ``np.unique`` and summed by ``np.bincount`` (string keys in a pandas groupby cost more than the
    attribution itself); strings are made only for the groups.
    """
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frp = frame["frp"].to_numpy(dtype="float64")
    has_frp = ~np.isnan(frp)
    frp_e3 = np.rint(np.where(has_frp, frp, 0) * 1000).astype(np.int64)
    day_n = frame["acq_date_local"].to_numpy().astype("datetime64[D]").astype(np.int64)
    key = np.zeros(len(frame), dtype=np.int64)
    uniques = {}
    for level in LEVELS:
        ids, uniques[level] = pd.factorize(_codes(getattr(attr, level)))
        key = key * (len(uniques[level]) + 1) + ids
    d0 = day_n.min()
    span = int(day_n.max() - d0) + 1
    key = (key * 2 + np.asarray(attr.in_aoi, dtype=np.int64)) * span + (day_n - d0)
    groups, inv = np.unique(key, return_inverse=True)
    k = len(groups)
    frp_max = np.full(k, -np.inf)
    np.maximum.at(frp_max, inv, np.where(has_frp, frp, -np.inf))
    sums = np.zeros(k, dtype=np.int64)
    np.add.at(sums, inv, frp_e3)
    out = {
        "day": (groups % span + d0).astype("datetime64[D]"),
        "in_aoi": (groups // span) % 2 == 1,
    }
    rest = groups // span // 2
    for level in reversed(LEVELS):
        n = len(uniques[level]) + 1
        out[f"{level}_code"] = np.asarray(uniques[level], dtype=object)[rest % n]
        rest //= n
    out.update(
        detections=np.bincount(inv, minlength=k).astype(np.int64),
        frp_sum_mw_e3=sums,
        frp_max_mw=np.where(np.isinf(frp_max), np.nan, frp_max),
    )
    return pd.DataFrame(out)[SUMMARY_COLUMNS]


def attribute_part(path: str, gaz: Gazetteer) -> PartSummary:
    """Read, attribute and summarise one GeoParquet partition (what one Dask task runs)."""
    started, cpu = time.perf_counter(), time.thread_time()
    chunk = read_part(path)
    frame = chunk.frame
    attr = prepare_gazetteer(gaz).attribute(
        frame["longitude"].to_numpy(), frame["latitude"].to_numpy(), frame["acq_date_local"].to_numpy()
    )
    rows = summary_rows(frame, attr)
    return PartSummary(rows, chunk.rows_read, chunk.refused, time.perf_counter() - started, time.thread_time() - cpu)
