"""A seeded national archive of FIRMS fire detections (MODIS and VIIRS) with Thailand's fire seasons.

What is simulated, vectorised with numpy (no Python loop per row), one chunk of at most ``chunk_rows`` rows at a
time so memory stays bounded for any total:

* **Years and satellites.** MODIS on Terra and Aqua all along; VIIRS on S-NPP from 2012-01-20, NOAA-20 from
  2018-01-05 and NOAA-21 from 2023-02-10 (first days of their FIRMS data, approximately). A VIIRS pass detects
  about four times as many fire pixels as a MODIS pass (375 m against 1 km pixels), so later years, with three
  VIIRS satellites, have more rows; a seeded factor per year makes bad and mild fire years.
* **Seasons by region.** Fires start from five regions with their own month weights: the north and the west
  peak February to April (March highest), the north-east and the central plain January to March, the south
  twice, January to March and July to September (the south-west monsoon's dry spells, peat fires).
* **Fire events.** Detections come in events (lognormal sizes, about eight detections on average): an origin
  on land, a start day drawn from its region's season, a duration of one to fourteen days, and a front moving
  in one direction at its own speed, so an event is a chain of detections along a front over days.
* **Instruments.** Overpass times from each satellite's local solar time (Terra 10:30/22:30, Aqua and S-NPP
  13:30/01:30, NOAA-20 and NOAA-21 a little earlier), shifted by the orbit's daily drift and by longitude;
  mostly day detections; instrument-typical FRP (VIIRS median about 3 MW, MODIS about 15 MW), brightness
  temperatures (VIIRS I4 saturating at 367 K), scan/track growing towards the swath edge (VIIRS 0.32-0.80 km,
  MODIS 1.0-4.8 km) and confidence (VIIRS l/n/h, MODIS 0-100 %), and a few static industrial sources (type 2).

Rows have the FIRMS CSV columns (``FIRMS_COLUMNS`` is the union of ``MODIS_COLUMNS`` and ``VIIRS_COLUMNS``;
``firms_frames`` splits a chunk into the exact per-product files). ``write_csv`` writes FIRMS country-year
files that ``geo-service hotspots ingest`` reads; ``write_parquet`` writes GeoParquet partitions
``year=YYYY/month=MM/part-*.parquet`` (FIRMS columns, ``acq_utc`` and a point geometry) for Dask.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import shapely

from geo_service.simulation.boundaries import thailand_outline

MODIS_COLUMNS = [
    "latitude",
    "longitude",
    "brightness",
    "scan",
    "track",
    "acq_date",
    "acq_time",
    "satellite",
    "instrument",
    "confidence",
    "version",
    "bright_t31",
    "frp",
    "daynight",
    "type",
]
VIIRS_COLUMNS = [
    "latitude",
    "longitude",
    "bright_ti4",
    "scan",
    "track",
    "acq_date",
    "acq_time",
    "satellite",
    "instrument",
    "confidence",
    "version",
    "bright_ti5",
    "frp",
    "daynight",
    "type",
]
FIRMS_COLUMNS = [
    "latitude",
    "longitude",
    "brightness",
    "bright_ti4",
    "scan",
    "track",
    "acq_date",
    "acq_time",
    "satellite",
    "instrument",
    "confidence",
    "version",
    "bright_t31",
    "bright_ti5",
    "frp",
    "daynight",
    "type",
]


@dataclass(frozen=True)
class Satellite:
    """One platform as FIRMS writes it, with its first day of data and overpass local solar times."""

    code: str  # the FIRMS CSV ``satellite`` value
    instrument: str
    product: str  # FIRMS country-year file name: modis_2020_Thailand.csv, viirs-snpp_2020_Thailand.csv
    first_day: date
    weight: float  # fire pixels per pass relative to MODIS
    day_hour: float  # local solar time of the daytime pass
    night_hour: float
    night_share: float


SATELLITES = (
    Satellite("Terra", "MODIS", "modis", date(2000, 2, 24), 1.0, 10.5, 22.5, 0.10),
    Satellite("Aqua", "MODIS", "modis", date(2002, 7, 4), 1.0, 13.5, 1.5, 0.10),
    Satellite("N", "VIIRS", "viirs-snpp", date(2012, 1, 20), 4.0, 13.5, 1.5, 0.15),
    Satellite("N20", "VIIRS", "viirs-jpss1", date(2018, 1, 5), 4.0, 12.7, 0.7, 0.15),
    Satellite("N21", "VIIRS", "viirs-jpss2", date(2023, 2, 10), 4.0, 13.1, 1.1, 0.15),
)
FIRST_YEAR = 2001  # the first whole year with a satellite in every day (Terra from 2000-02-24)
VERSIONS = {("MODIS", "SP"): "6.1", ("MODIS", "NRT"): "6.1NRT", ("VIIRS", "SP"): "2", ("VIIRS", "NRT"): "2.0NRT"}


@dataclass(frozen=True)
class Region:
    """Where fires of one season start: Gaussian spots around towns, and the weight of each month."""

    name: str
    share: float
    spots: tuple[tuple[float, float], ...]  # lon, lat
    spread: float  # degrees
    months: tuple[float, ...]  # Jan..Dec, relative


REGIONS = (
    Region(
        "north",
        0.42,
        ((98.9, 18.8), (99.8, 19.6), (100.8, 19.0), (100.2, 18.2), (98.3, 17.7), (100.9, 18.0)),
        0.40,
        (4, 14, 40, 30, 4, 0.5, 0.5, 0.5, 0.5, 1, 1.5, 2.5),
    ),
    Region(
        "northeast",
        0.25,
        ((102.8, 16.4), (103.5, 17.0), (104.5, 15.5), (102.1, 15.0), (103.8, 16.0), (101.8, 16.6)),
        0.50,
        (18, 30, 25, 8, 2, 0.5, 0.5, 0.5, 1, 2, 5, 8),
    ),
    Region(
        "central",
        0.13,
        ((100.1, 15.7), (99.9, 14.5), (101.3, 14.0), (100.5, 16.3)),
        0.40,
        (20, 25, 20, 8, 3, 1, 1, 1, 1, 3, 7, 11),
    ),
    Region("west", 0.10, ((98.9, 14.9), (99.2, 13.4)), 0.35, (8, 22, 33, 25, 4, 0.5, 0.5, 0.5, 0.5, 1, 2, 3)),
    Region(
        "south",
        0.10,
        ((99.3, 9.1), (100.0, 8.0), (101.4, 6.3), (99.2, 10.4), (98.6, 8.3)),
        0.30,
        (12, 16, 13, 6, 4, 5, 12, 14, 10, 3, 2, 3),
    ),
)
MEAN_EVENT_SIZE = 8.0  # detections per event on average
STATIC_SHARE = 0.004  # share of rows from static industrial sources (FIRMS type 2)
STATIC_SOURCES = 40
GRID_DEG = 0.01  # land mask cell (about 1.1 km)
KM_PER_DEG = 111.32


@dataclass(frozen=True)
class LandMask:
    """Thailand's outline as a boolean grid: a vectorised on-land test for millions of points."""

    minx: float
    miny: float
    cell: float
    grid: np.ndarray  # [row (lat), col (lon)]

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Whether each point falls in a land cell (cells whose centre is inside the outline)."""
        col = np.floor((lon - self.minx) / self.cell).astype(np.int64)
        row = np.floor((lat - self.miny) / self.cell).astype(np.int64)
        ok = (row >= 0) & (row < self.grid.shape[0]) & (col >= 0) & (col < self.grid.shape[1])
        out = np.zeros(len(lon), dtype=bool)
        out[ok] = self.grid[row[ok], col[ok]]
        return out


@lru_cache(maxsize=2)
def land_mask(cell: float = GRID_DEG) -> LandMask:
    """The land mask of Thailand's outline (computed once per process, about a second)."""
    outline = thailand_outline()
    minx, miny, maxx, maxy = outline.bounds
    nx, ny = int(np.ceil((maxx - minx) / cell)), int(np.ceil((maxy - miny) / cell))
    xs = minx + (np.arange(nx) + 0.5) * cell
    ys = miny + (np.arange(ny) + 0.5) * cell
    shapely.prepare(outline)
    gx, gy = np.meshgrid(xs, ys)
    grid = shapely.contains_xy(outline, gx.ravel(), gy.ravel()).reshape(ny, nx)
    return LandMask(minx, miny, cell, grid)


def _on_land(rng: np.random.Generator, centre: np.ndarray, spread: np.ndarray, mask: LandMask) -> np.ndarray:
    """One point per row of ``centre`` (lon, lat), Gaussian by ``spread`` degrees, redrawn until on land."""
    out = centre.copy()
    todo = np.arange(len(centre))
    for _ in range(60):
        if not len(todo):
            break
        pts = centre[todo] + rng.standard_normal((len(todo), 2)) * spread[todo, None]
        ok = mask.contains(pts[:, 0], pts[:, 1])
        out[todo[ok]] = pts[ok]
        todo = todo[~ok]
    return out  # the few never on land (none in practice) keep their centre, which is on land


def rows_per_year(rows: int, years: tuple[int, int], seed: int = 0) -> dict[int, int]:
    """How many of ``rows`` fall in each year: by satellite passes (VIIRS weighs more) and a seeded fire-year factor.

    Exact: the counts add up to ``rows``.
    """
    first, last = years
    if first > last:
        raise ValueError(f"the first year {first} is after the last {last}")
    if first < FIRST_YEAR:
        raise ValueError(f"the archive starts in {FIRST_YEAR} (Terra's first full year of FIRMS data), not {first}")
    weights = []
    for y in range(first, last + 1):
        start, end = np.datetime64(f"{y}-01-01"), np.datetime64(f"{y + 1}-01-01")
        w = 0.0
        for s in SATELLITES:
            days = (end - max(start, np.datetime64(s.first_day))).astype(int)
            w += s.weight * max(int(days), 0)
        factor = np.random.default_rng([seed, y, 0xFA]).lognormal(0.0, 0.3)
        weights.append(w * factor)
    p = np.array(weights) / sum(weights)
    counts = np.random.default_rng([seed, first, last, 0xA1]).multinomial(rows, p)
    return {y: int(c) for y, c in zip(range(first, last + 1), counts, strict=True)}


def _static_sources(seed: int) -> np.ndarray:
    """Fixed positions of static industrial heat sources (the same every year of a seed)."""
    rng = np.random.default_rng([seed, 0x57A7])
    spots = np.array([s for r in REGIONS for s in r.spots])
    centre = spots[rng.integers(0, len(spots), STATIC_SOURCES)]
    return _on_land(rng, centre, np.full(STATIC_SOURCES, 0.5), land_mask())


def _dictionary(values: np.ndarray, labels: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(values, categories=labels)


def generate_chunk(
    rng: np.random.Generator, rows: int, year: int, *, seed: int = 0, processing: str = "SP"
) -> pd.DataFrame:
    """``rows`` detections of ``year`` (FIRMS_COLUMNS, categorical text columns), from independent events.

    Everything is drawn per event (a few per cent of the rows) or per row with numpy; nothing loops per row.
    """
    mask = land_mask()
    n_static = int(rng.binomial(rows, STATIC_SHARE)) if rows > 1000 else 0
    n_fire = rows - n_static
    y0 = np.datetime64(f"{year}-01-01", "D")
    ndays = int((np.datetime64(f"{year + 1}-01-01", "D") - y0).astype(int))

    # --- events ----------------------------------------------------------------------------------------------
    n_ev = max(1, round(n_fire / MEAN_EVENT_SIZE))
    sizes = rng.lognormal(0.0, 1.0, n_ev)
    counts = rng.multinomial(n_fire, sizes / sizes.sum())
    shares = np.array([r.share for r in REGIONS])
    region = rng.choice(len(REGIONS), n_ev, p=shares / shares.sum())
    centre = np.empty((n_ev, 2))
    spread = np.empty(n_ev)
    month = np.empty(n_ev, dtype=np.int64)
    for k, reg in enumerate(REGIONS):  # five regions, not one iteration per event
        idx = np.flatnonzero(region == k)
        spots = np.array(reg.spots)
        centre[idx] = spots[rng.integers(0, len(spots), len(idx))]
        spread[idx] = reg.spread
        mw = np.array(reg.months)
        month[idx] = rng.choice(12, len(idx), p=mw / mw.sum())
    origin = _on_land(rng, centre, spread, mask)
    month_start = np.array([(np.datetime64(f"{year}-{m:02d}-01", "D") - y0).astype(int) for m in range(1, 13)])
    month_len = np.diff(np.append(month_start, ndays))
    start = month_start[month] + np.floor(rng.random(n_ev) * month_len[month]).astype(np.int64)
    duration = np.minimum(rng.geometric(0.3, n_ev), 14)
    heading = rng.uniform(0, 2 * np.pi, n_ev)
    speed_km = rng.lognormal(np.log(1.5), 0.6, n_ev)  # front advance per day
    width_km = rng.lognormal(np.log(1.0), 0.5, n_ev)  # front width
    intensity = rng.lognormal(0.0, 0.7, n_ev)

    # --- detections of the events ----------------------------------------------------------------------------
    ev = np.repeat(np.arange(n_ev), counts)
    offset = np.floor(rng.random(n_fire) * duration[ev]).astype(np.int64)
    along = speed_km[ev] * (offset + rng.random(n_fire) * 0.5)
    across = (rng.random(n_fire) - 0.5) * width_km[ev]
    ch, sh = np.cos(heading[ev]), np.sin(heading[ev])
    dx_km, dy_km = along * ch - across * sh, along * sh + across * ch
    lat = origin[ev, 1] + dy_km / KM_PER_DEG
    lon = origin[ev, 0] + dx_km / (KM_PER_DEG * np.cos(np.radians(lat)))
    off = ~mask.contains(lon, lat)  # a front that ran out of the country stops at its origin
    lon[off], lat[off] = origin[ev[off], 0], origin[ev[off], 1]
    day = np.minimum(start[ev] + offset, ndays - 1)
    fire_type = np.zeros(n_fire, dtype=np.int8)
    strength = intensity[ev]

    if n_static:
        sources = _static_sources(seed)
        pick = rng.integers(0, len(sources), n_static)
        lon = np.concatenate((lon, sources[pick, 0]))
        lat = np.concatenate((lat, sources[pick, 1]))
        day = np.concatenate((day, rng.integers(0, ndays, n_static)))
        fire_type = np.concatenate((fire_type, np.full(n_static, 2, dtype=np.int8)))
        strength = np.concatenate((strength, rng.lognormal(0.5, 0.3, n_static)))

    # --- satellite, pass time, day/night ---------------------------------------------------------------------
    n = rows
    first = np.array([(np.datetime64(s.first_day, "D") - y0).astype(int) for s in SATELLITES])
    weight = np.array([s.weight for s in SATELLITES])
    # cumulative weights of the satellites flying on each day of the year (a days x satellites table)
    cum = np.cumsum(np.where(np.arange(ndays)[:, None] >= first[None, :], weight[None, :], 0.0), axis=1)
    pick = rng.random(n) * cum[day, -1]
    sat = np.zeros(n, dtype=np.int64)
    for k in range(len(SATELLITES) - 1):  # five satellites, not one iteration per row
        sat += pick >= cum[day, k]
    night = rng.random(n) < np.array([s.night_share for s in SATELLITES])[sat]
    night_hour = np.array([s.night_hour for s in SATELLITES])
    day_hour = np.array([s.day_hour for s in SATELLITES])
    solar_h = np.where(night, night_hour[sat], day_hour[sat])
    drift_min = (((day + year) * 7 + sat * 3) % 16 - 7.5) * 6.0  # the orbit's 16-day repeat cycle, +-45 min
    day_epoch = (y0.astype("datetime64[s]").astype(np.int64) + day * 86400).astype(np.int64)
    utc = day_epoch + np.round(solar_h * 3600 + drift_min * 60 - lon * 240).astype(np.int64)
    utc -= utc % 60
    modis = sat < 2

    # --- instrument values -----------------------------------------------------------------------------------
    edge = rng.random(n) ** 2  # 0 at nadir, 1 at the swath edge
    scan = np.where(modis, 1.0 + 3.8 * edge, 0.32 + 0.48 * edge)
    track = np.where(modis, 1.0 + 1.0 * edge, 0.36 + 0.42 * edge)
    pixel_km2 = scan * track / np.where(modis, 1.0, 0.1152)  # pixel area relative to nadir
    median_mw = np.where(modis, 15.0, 3.0) * np.where(night, 0.5, 1.0)  # larger pixels sum more fire
    frp = np.minimum(median_mw * np.sqrt(pixel_km2) * strength * rng.lognormal(0.0, 0.9, n), 9000.0)
    lf = np.log1p(frp)
    t4 = np.where(night, 296.0, 318.0) + np.where(modis, 9.0, 7.0) * lf + rng.normal(0.0, 4.0, n)
    bright_main = np.where(modis, np.clip(t4, 300.0, 500.0), np.clip(t4, 295.0, 367.0))
    bright_2 = np.where(night, 284.0, 296.0) + 2.5 * lf + rng.normal(0.0, 2.5, n)
    score = lf + rng.normal(0.0, 0.8, n) - np.where(night, 0.6, 0.0)
    pct = np.clip(np.round(30.0 + 12.0 * score), 0, 100).astype(np.int64)
    viirs_class = np.where(score < 0.6, 0, np.where(score < 3.6, 1, 2))  # l / n / h

    # --- columns ---------------------------------------------------------------------------------------------
    lat_r = np.where(modis, np.round(lat, 4), np.round(lat, 5))
    lon_r = np.where(modis, np.round(lon, 4), np.round(lon, 5))
    utc_day = utc // 86400
    d0 = int(utc_day.min())
    day_labels = [str(np.datetime64(d0 + k, "D")) for k in range(int(utc_day.max()) - d0 + 1)]
    minute = (utc % 86400) // 60
    time_labels = [f"{m // 60:02d}{m % 60:02d}" for m in range(1440)]
    conf_labels = ["l", "n", "h"] + [str(k) for k in range(101)]
    conf_code = np.where(modis, 3 + pct, viirs_class)
    versions = [VERSIONS[("MODIS", processing)], VERSIONS[("VIIRS", processing)]]
    nan = np.nan
    frame = pd.DataFrame(
        {
            "latitude": lat_r,
            "longitude": lon_r,
            "brightness": np.where(modis, np.round(bright_main, 1), nan),
            "bright_ti4": np.where(modis, nan, np.round(bright_main, 2)),
            "scan": np.where(modis, np.round(scan, 1), np.round(scan, 2)),
            "track": np.where(modis, np.round(track, 1), np.round(track, 2)),
            "acq_date": _dictionary(utc_day - d0, day_labels),
            "acq_time": _dictionary(minute, time_labels),
            "satellite": _dictionary(sat, [s.code for s in SATELLITES]),
            "instrument": _dictionary((~modis).astype(np.int64), ["MODIS", "VIIRS"]),
            "confidence": _dictionary(conf_code, conf_labels),
            "version": _dictionary((~modis).astype(np.int64), versions),
            "bright_t31": np.where(modis, np.round(bright_2, 1), nan),
            "bright_ti5": np.where(modis, nan, np.round(bright_2, 2)),
            "frp": np.where(modis, np.round(frp, 1), np.round(frp, 2)),
            "daynight": _dictionary(night.astype(np.int64), ["D", "N"]),
            "type": fire_type,
        }
    )
    frame["acq_utc"] = pd.to_datetime(utc, unit="s", utc=True)
    return frame


def simulate_detections(
    rows: int,
    years: tuple[int, int] = (2012, 2026),
    *,
    seed: int = 0,
    chunk_rows: int = 1_000_000,
    processing: str = "SP",
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """Yield (year, part, frame) chunks of a ``rows``-row archive over ``years`` (inclusive), in year order.

    Each chunk has at most ``chunk_rows`` rows and its own random stream (seed, year, part): the output is the
    same for the same arguments, and memory is bounded by ``chunk_rows`` (about 500 bytes a row while a chunk
    is built, plus about 230 MB of imports).
    Frames have ``FIRMS_COLUMNS`` plus ``acq_utc``; ``processing`` SP or NRT sets the FIRMS ``version``.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if processing not in ("SP", "NRT"):
        raise ValueError(f"processing must be SP or NRT, not {processing!r}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    for year, n in rows_per_year(rows, years, seed).items():
        parts = -(-n // chunk_rows)
        for part in range(parts):
            m = n // parts + (1 if part < n % parts else 0)
            rng = np.random.default_rng([seed, year, part, 0xDE7])
            yield year, part, generate_chunk(rng, m, year, seed=seed, processing=processing)


def detections_frame(rows: int, years: tuple[int, int] = (2012, 2026), *, seed: int = 0, **kw) -> pd.DataFrame:
    """The whole archive as one DataFrame (for tests and small runs; use ``simulate_detections`` at scale)."""
    frames = [f for _, _, f in simulate_detections(rows, years, seed=seed, **kw)]
    if not frames:
        return pd.DataFrame(columns=[*FIRMS_COLUMNS, "acq_utc"])
    return pd.concat(frames, ignore_index=True)


def firms_frames(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a chunk into FIRMS products (``modis``, ``viirs-snpp``, ``viirs-jpss1``, ``viirs-jpss2``), each
    with exactly the columns of its FIRMS archive CSV (``MODIS_COLUMNS`` or ``VIIRS_COLUMNS``)."""
    out = {}
    sat = frame["satellite"].astype(str).to_numpy()
    for product in dict.fromkeys(s.product for s in SATELLITES):
        codes = [s.code for s in SATELLITES if s.product == product]
        sel = np.isin(sat, codes)
        if sel.any():
            cols = MODIS_COLUMNS if product == "modis" else VIIRS_COLUMNS
            out[product] = frame.loc[sel, cols].reset_index(drop=True)
    return out


def _arrow_csv_table(df: pd.DataFrame):
    """An Arrow table with plain text columns (the CSV writer does not take dictionaries)."""
    import pyarrow as pa

    arrays = []
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            arrays.append(pa.array(s.cat.categories.to_numpy(dtype=object)).take(pa.array(s.cat.codes.to_numpy())))
        else:
            arrays.append(pa.array(s.to_numpy()))
    return pa.Table.from_arrays(arrays, names=list(df.columns))


def write_csv(chunks: Iterable[tuple[int, int, pd.DataFrame]], out_dir: Path | str) -> list[Path]:
    """Write FIRMS country-year CSV files (``modis_2020_Thailand.csv``, ``viirs-snpp_2020_Thailand.csv`` ...).

    Each file has its product's exact FIRMS columns, unquoted, and is ingestible with
    ``geo-service hotspots ingest``. Returns the files written.
    """
    import pyarrow.csv as pacsv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[Path, tuple[pacsv.CSVWriter, BinaryIO]] = {}
    written: set[Path] = set()
    current_year = None

    def close_all() -> None:
        for writer, fh in writers.values():
            writer.close()
            fh.close()
        writers.clear()

    try:
        for year, _, frame in chunks:
            if year != current_year:  # chunks come in year order: close the previous year's files
                close_all()
                current_year = year
            for product, df in firms_frames(frame).items():
                path = out / f"{product}_{year}_Thailand.csv"
                table = _arrow_csv_table(df)
                if path not in writers:  # FIRMS writes a bare header line: so do we, then unquoted rows
                    fh = path.open("wb")
                    fh.write((",".join(df.columns) + "\n").encode())
                    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
                    writers[path] = (pacsv.CSVWriter(fh, table.schema, write_options=options), fh)
                writers[path][0].write_table(table)
                written.add(path)
    finally:
        close_all()
    return sorted(written)


WKB_POINT = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])  # 21 bytes, unpadded


def point_wkb(lon: np.ndarray, lat: np.ndarray):
    """Little-endian WKB points as an Arrow binary array, built with numpy.

    Hand-written because it is the writer's hot spot: ``shapely.points`` then ``to_wkb`` cost about 4 us a
    point, more than generating the row; a WKB point is a fixed 21-byte record that numpy fills at memory speed.
    """
    import pyarrow as pa

    n = len(lon)
    rec = np.empty(n, dtype=WKB_POINT)
    rec["order"], rec["kind"], rec["x"], rec["y"] = 1, 1, lon, lat
    offsets = (np.arange(n + 1, dtype=np.int64) * WKB_POINT.itemsize).astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.view(np.uint8))])


@lru_cache(maxsize=1)
def _crs_projjson() -> dict:
    from pyproj import CRS

    return CRS.from_epsg(4326).to_json_dict()


def geoparquet_table(df: pd.DataFrame):
    """``df`` (FIRMS columns and ``acq_utc``) as an Arrow table with a WKB point ``geometry`` column and the
    GeoParquet 1.1 ``geo`` metadata (EPSG:4326, bbox), as ``geopandas.read_parquet`` and DuckDB read it."""
    import json

    import pyarrow as pa

    lon, lat = df["longitude"].to_numpy(), df["latitude"].to_numpy()
    table = pa.Table.from_pandas(df, preserve_index=False).append_column("geometry", point_wkb(lon, lat))
    bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())] if len(df) else []
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "crs": _crs_projjson(), "bbox": bbox}},
    }
    return table.replace_schema_metadata({**(table.schema.metadata or {}), b"geo": json.dumps(geo).encode()})


def write_parquet(
    chunks: Iterable[tuple[int, int, pd.DataFrame]], out_dir: Path | str, *, compression: str = "zstd"
) -> list[Path]:
    """Write GeoParquet partitions ``year=YYYY/month=MM/part-YYYY-PPP.parquet`` (hive style, by UTC month).

    Columns: ``FIRMS_COLUMNS``, ``acq_utc`` (timestamp, UTC) and ``geometry`` (points, EPSG:4326, WKB), as
    ``dask_geopandas.read_parquet(out_dir)`` or ``geopandas.read_parquet`` read them. A detection's month is
    its UTC month: a night pass early on 1 January (Bangkok) is in December of the year before. Returns the
    files written.
    """
    import pyarrow.parquet as pq

    out = Path(out_dir)
    written = []
    for year, part, frame in chunks:
        ym = frame["acq_utc"].dt.year.to_numpy() * 100 + frame["acq_utc"].dt.month.to_numpy()
        order = np.argsort(ym, kind="stable")
        keys, starts = np.unique(ym[order], return_index=True)
        bounds = np.append(starts, len(order))
        for k, key in enumerate(keys):
            df = frame.iloc[order[bounds[k] : bounds[k + 1]]].reset_index(drop=True)
            folder = out / f"year={key // 100}" / f"month={key % 100:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{year}-{part:03d}.parquet"
            pq.write_table(geoparquet_table(df), path, compression=compression)
            written.append(path)
    return written
