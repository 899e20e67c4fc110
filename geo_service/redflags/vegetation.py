"""Vegetation gain of reforestation plots from an index raster pair (NDVI or NBR before and after, any CRS each).

The pair is opened by the forest-loss change-pair reader (``forest_loss.sources.open_layers`` with the
``change_pair`` encoding: GeoTIFF headers checked, the after image warped onto the before image's grid inside
each windowed read, bilinear). Per plot: the plot's area is taken into the raster's CRS, the window of its bounds is
read (both layers), and the pixels whose centres lie inside the plot (``rasterio.features.geometry_mask``: the
pixel-centre rule) and hold a valid value in both layers (finite, not nodata, within -1..1) give the mean before,
the mean after, and the mean change (after - before). A plot the pair does not cover (no valid pixel) is not
measured. One windowed read per plot: reforestation plots are few (hundreds), and each read touches only the
blocks under the plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

INDEXES = ("ndvi", "nbr")


@dataclass
class PlotChange:
    """The measured figures of one plot."""

    contract_id: int
    before_mean: float
    after_mean: float
    change: float
    pixels: int


def _valid(values: np.ndarray, nodata) -> np.ndarray:
    ok = np.isfinite(values) & (values >= -1) & (values <= 1)
    if nodata is not None and np.isfinite(nodata):
        ok &= values != nodata
    return ok


def measure(before: Path, after: Path, plots: list[tuple[int, bytes]]) -> list[PlotChange]:
    """Mean index before, after and change inside each plot (id, WKB in EPSG:4326) the pair covers."""
    from pyproj import Transformer
    from rasterio.features import geometry_mask
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    from geo_service.forest_loss.sources import get_encoding, open_layers

    src = open_layers(get_encoding("change_pair"), [before, after])
    to_raster = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
    nodata_before, nodata_after = src.nodata
    out: list[PlotChange] = []
    for contract_id, wkb in plots:
        geom = shapely.transform(shapely.from_wkb(wkb), lambda xy: np.column_stack(to_raster.transform(*xy.T)))
        minx, miny, maxx, maxy = geom.bounds
        cols, rows = (~src.transform) @ (np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy]))
        col, row = max(0, int(np.floor(cols.min()))), max(0, int(np.floor(rows.min())))
        w = min(src.width, int(np.ceil(cols.max()))) - col
        h = min(src.height, int(np.ceil(rows.max()))) - row
        if h <= 0 or w <= 0:  # the plot lies off the raster
            continue
        data = src.read(row, col, h, w).astype(np.float64)
        at = window_transform(Window(col, row, w, h), src.transform)
        inside = geometry_mask([geom], out_shape=(h, w), transform=at, invert=True)
        ok = inside & _valid(data[0], nodata_before) & _valid(data[1], nodata_after)
        n = int(ok.sum())
        if n == 0:
            continue
        b, a = data[0][ok], data[1][ok]
        out.append(PlotChange(contract_id, float(b.mean()), float(a.mean()), float((a - b).mean()), n))
    return out
