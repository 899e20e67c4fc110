"""Alert rasters generated in exactly each published encoding (tests/test_forest_loss_ingest.py, the bench).

Each writer takes the same picture (alert days as dates, confidence classes 2/3/4, 0 = none) and encodes it the
way the producer publishes it; the tests state their expected patches by hand from that picture.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine, from_origin

EPOCH = date(2014, 12, 31)
UTM47 = "EPSG:32647"
SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
# 10 m pixels in UTM 47N near Phrae town (100.14 E, 18.17 N)
PHRAE_10M = from_origin(620_000.0, 2_010_000.0, 10.0, 10.0)


def gfw_day(d: date) -> int:
    """Days since 2014-12-31."""
    return (d - EPOCH).days


def write(path: Path, layers, transform: Affine, crs: str | None, nodata=None, tiled: bool = False) -> Path:
    """A GeoTIFF with one band per layer (deflate; tiled 256 when asked)."""
    layers = [np.asarray(a) for a in (layers if isinstance(layers, list | tuple) else [layers])]
    dtype = np.result_type(*layers)  # one dtype for all bands (uint8 Alert + uint16 Date -> uint16)
    layers = [a.astype(dtype) for a in layers]
    h, w = layers[0].shape
    profile = dict(
        driver="GTiff",
        height=h,
        width=w,
        count=len(layers),
        dtype=layers[0].dtype,
        transform=transform,
        compress="deflate",
    )
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as ds:
        for k, a in enumerate(layers):
            ds.write(a, k + 1)
    return path


def gfw_integrated(days: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """C * 10000 + days since 2014-12-31 (int32), 0 where conf is 0."""
    return np.where(conf > 0, conf.astype(np.int32) * 10_000 + days, 0).astype(np.int32)


def gfw_tile(
    path: Path,
    blocks,
    shape: tuple[int, int] = (20, 20),
    transform: Affine = PHRAE_10M,
    crs: str | None = UTM47,
) -> Path:
    """A GFW integrated GeoTIFF of ``shape`` pixels (by default 20 x 20, 10 m, near Phrae town): ``blocks`` as
    ((rows, cols), first alert date, confidence class), set in their order (a later block overwrites an earlier one
    where they meet); no alert elsewhere."""
    days = np.zeros(shape, dtype=np.int32)
    conf = np.zeros(shape, dtype=np.uint8)
    for (rows, cols), d, klass in blocks:
        days[rows, cols], conf[rows, cols] = gfw_day(d), klass
    return write(path, gfw_integrated(days, conf), transform, crs)


def glad_l_umd(dates: np.ndarray, conf: np.ndarray, year: int) -> tuple[np.ndarray, np.ndarray]:
    """(confYY uint8, alertDateYY uint16 day of the year) for alerts of one year; ``dates`` as datetime64[D]."""
    doy = (dates - np.datetime64(f"{year}-01-01")).astype(np.int64) + 1
    return np.where(conf > 0, conf, 0).astype(np.uint8), np.where(conf > 0, doy, 0).astype(np.uint16)


def radd_wur(dates: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Alert uint8 2/3, Date uint16 YYDOY)."""
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    return np.where(conf > 0, conf, 0).astype(np.uint8), np.where(conf > 0, (years - 2000) * 1000 + doy, 0).astype(
        np.uint16
    )


def dist_alert(dates: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(VEG-DIST-STATUS uint8 0..8 / 255, VEG-DIST-DATE int16 days since 2020-12-31, -1 none)."""
    d = (dates - np.datetime64("2020-12-31")).astype(np.int64)
    return status.astype(np.uint8), np.where((status > 0) & (status < 255), d, -1).astype(np.int16)


def day_array(shape, dates: dict[tuple[slice, slice], date]) -> np.ndarray:
    """datetime64[D] array (NaT elsewhere) from {(rows, cols): date}."""
    out = np.full(shape, np.datetime64("NaT"), dtype="datetime64[D]")
    for (r, c), d in dates.items():
        out[r, c] = np.datetime64(d)
    return out
