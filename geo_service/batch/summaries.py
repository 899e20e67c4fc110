"""What one Dask task does to one GeoParquet partition: attribute its detections and summarise them.

Attribution is the online ingest's own: ``places.Gazetteer.attribute`` (the same boundaries, the same rule
for points on shared boundaries, protected areas in force on each local date). The summaries are the ones
the service reports (``hotspots.summaries``): detections, FRP sum and maximum, first and last local date, by
province, district and subdistrict (the code, '' for none) x inside or outside the area of interest x day
(``YYYY-MM-DD``), month (``YYYY-MM``) and Thai fiscal year (BE, October-September) of the local date.

Partial figures of different parts add up exactly: counts are integers and FRP is summed in integer
thousandths of a MW (FIRMS gives at most two decimals), so the order in which parts are added changes
nothing and the job's figures equal the single-process ones to the last digit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo_service.batch.partitions import read_part
from geo_service.places import Attribution, Gazetteer
from geo_service.thai import BE_OFFSET

LEVELS = ("province", "district", "subdistrict")
PERIOD_KINDS = ("day", "month", "fiscal_year")
SUMMARY_COLUMNS = [
    "level",
    "code",
    "in_aoi",
    "period_kind",
    "period",
    "detections",
    "frp_sum_mw_e3",
    "frp_max_mw",
    "first_date",
    "last_date",
]


@dataclass
class PartSummary:
    """A part's summary rows (``SUMMARY_COLUMNS``), rows read, rows refused and seconds of work."""

    frame: pd.DataFrame
    rows: int
    refused: int
    seconds: float


def prepare_gazetteer(gaz: Gazetteer) -> Gazetteer:
    """Prepare the Gazetteer's geometries again after it crossed to a worker (pickling drops GEOS's prepared
    state; ``shapely.prepare`` skips geometries that are prepared already, so a second call costs nothing)."""
    for areas in (gaz.provinces, gaz.districts, gaz.subdistricts, gaz.protected):
        if len(areas.geoms):
            shapely.prepare(areas.geoms)
    if gaz.aoi is not None:
        shapely.prepare(gaz.aoi)
    return gaz


def _codes(values: np.ndarray) -> np.ndarray:
    """Area codes with '' for "in no area" (the service's ``coalesce(code, '')``)."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = ""
    return out


def fiscal_year_be(days: np.ndarray) -> np.ndarray:
    """Thai fiscal year (BE) of local dates, vectorised (``thai.fiscal_year_be``): 2023-10-01 -> 2567."""
    months = days.astype("datetime64[M]").astype(np.int64)
    year, month = months // 12 + 1970, months % 12 + 1
    return year + (month >= 10) + BE_OFFSET


def summary_rows(frame: pd.DataFrame, attr: Attribution) -> pd.DataFrame:
    """Summary rows (``SUMMARY_COLUMNS``) of normalised detections and their attribution.

    One groupby by (province, district, subdistrict, in AOI, day) over the detections; the months, fiscal
    years and levels are then aggregated from those (few) groups.
    """
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frp = frame["frp"].to_numpy(dtype="float64")
    base = pd.DataFrame(
        {
            "province": _codes(attr.province),
            "district": _codes(attr.district),
            "subdistrict": _codes(attr.subdistrict),
            "in_aoi": np.asarray(attr.in_aoi, dtype=bool),
            "day": frame["acq_date_local"].to_numpy().astype("datetime64[D]"),
            "frp_e3": np.where(np.isnan(frp), 0, np.rint(frp * 1000)).astype(np.int64),
            "frp": frp,
        }
    )
    keys = ["province", "district", "subdistrict", "in_aoi", "day"]
    g = (
        base.groupby(keys, sort=False)
        .agg(detections=("frp_e3", "size"), frp_sum_mw_e3=("frp_e3", "sum"), frp_max_mw=("frp", "max"))
        .reset_index()
    )
    days = g["day"].to_numpy().astype("datetime64[D]")
    g["first_date"] = g["last_date"] = days
    periods = {
        "day": days.astype(str),
        "month": days.astype("datetime64[M]").astype(str),
        "fiscal_year": fiscal_year_be(days).astype(str),
    }
    out = []
    for level in LEVELS:
        for kind in PERIOD_KINDS:
            rows = (
                g.assign(period=periods[kind])
                .groupby([level, "in_aoi", "period"], sort=False)
                .agg(
                    detections=("detections", "sum"),
                    frp_sum_mw_e3=("frp_sum_mw_e3", "sum"),
                    frp_max_mw=("frp_max_mw", "max"),
                    first_date=("first_date", "min"),
                    last_date=("last_date", "max"),
                )
                .reset_index()
                .rename(columns={level: "code"})
            )
            rows["level"], rows["period_kind"] = level, kind
            out.append(rows[SUMMARY_COLUMNS])
    return pd.concat(out, ignore_index=True)


def attribute_part(path: str, gaz: Gazetteer) -> PartSummary:
    """Read, attribute and summarise one GeoParquet partition (what one Dask task runs)."""
    started = time.perf_counter()
    chunk = read_part(path)
    frame = chunk.frame
    prepare_gazetteer(gaz)
    attr = gaz.attribute(
        frame["longitude"].to_numpy(), frame["latitude"].to_numpy(), frame["acq_date_local"].to_numpy()
    )
    rows = summary_rows(frame, attr)
    return PartSummary(rows, chunk.rows_read, chunk.refused, time.perf_counter() - started)
