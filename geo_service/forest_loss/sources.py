"""The alert sources and encodings the service reads (issue 14), and the layered source the windows read from.

Every encoding decodes (forest_loss/decode.py) to one form: alert date as days since 2014-12-31 and a confidence
class 2 low / 3 high / 4 highest, so patches from any system are made, merged and stored the same way.

Where each definition comes from is in :data:`ENCODINGS` (``reference``) and the README (*Forest-loss alerts:
ingest and patches*); a definition that could not be confirmed from a published page says so there.

:class:`LayeredSource` stacks the layers of an encoding (one multi-band GeoTIFF, or one file per layer, as the
producers publish them) window by window: a task reads only its window of every layer; the after image of a
change pair is warped onto the before image's grid (rasterio ``WarpedVRT``) inside the windowed read, so two
rasters in any CRS are compared pixel for pixel without reprojecting either whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import Affine

from geo_service.forest_loss.decode import DECODERS, FLOAT_ENCODINGS
from geo_service.forest_loss.windows import GeoTiffSource, TileRejected


@dataclass(frozen=True)
class Encoding:
    """One published encoding: the source it belongs to, its layers in order, its parameters and reference."""

    name: str
    source: str  # forest_alert_ingests.source / clearing_patches.sources (migration 0024)
    layers: tuple[str, ...]
    title: str
    reference: str
    params: tuple[str, ...] = ()  # parameters the user states (recorded with the ingest)
    confirmed: bool = True  # False: the definition could not be confirmed from a published page


ENCODINGS: dict[str, Encoding] = {
    e.name: e
    for e in (
        Encoding(
            "gfw_integrated",
            "gfw_integrated",
            ("integrated_alerts",),
            "GFW integrated deforestation alerts (GLAD-L + GLAD-S2 + RADD)",
            "data-api.globalforestwatch.org/dataset/gfw_integrated_alerts; decoder of GFW's tile cache "
            "(START_DATE 2014-12-31, confidence 2 low / 3 high / 4 highest)",
        ),
        Encoding(
            "glad_l_gfw",
            "glad_l",
            ("date_conf",),
            "GLAD-L (Landsat) as the GFW data API serves it (umd_glad_landsat_alerts, date_conf)",
            "data-api.globalforestwatch.org/dataset/umd_glad_landsat_alerts; GFW tile cache decoder",
        ),
        Encoding(
            "glad_s2_gfw",
            "glad_s2",
            ("date_conf",),
            "GLAD-S2 (Sentinel-2) as the GFW data API serves it (umd_glad_sentinel2_alerts, date_conf)",
            "data-api.globalforestwatch.org/dataset/umd_glad_sentinel2_alerts; GFW tile cache decoder",
        ),
        Encoding(
            "radd_gfw",
            "radd",
            ("date_conf",),
            "RADD (Sentinel-1 radar) as the GFW data API serves it (wur_radd_alerts, date_conf)",
            "data-api.globalforestwatch.org/dataset/wur_radd_alerts; GFW tile cache decoder",
        ),
        Encoding(
            "glad_l_umd",
            "glad_l",
            ("confYY", "alertDateYY"),
            "GLAD-L as UMD publishes it per year: confYY (2 probable, 3 confirmed) + alertDateYY (day of year)",
            "glad.umd.edu/dataset/glad-forest-alerts; UMD's alert tiles (0 no loss, 2 probable, 3 confirmed; "
            "alertDate = day of the year)",
            params=("year",),
        ),
        Encoding(
            "glad_s2_umd",
            "glad_s2",
            ("alert", "alertDate"),
            "GLAD-S2 as UMD publishes it: alert (1 low, 2..4 high) + alertDate (days since 2018-12-31)",
            "UMD tiles gs://earthenginepartners-hansen/S2alert/{alert,alertDate}, read as GFW reads them "
            "(github.com/wri/gfw-datapump src/datapump/sync/sync.py GLADS2AlertsSync: 20000 + 10000 * (alert > 1) "
            "+ alertDate + 1461); coverage: primary humid tropical forest of the Amazon basin only (glad.umd.edu)",
        ),
        Encoding(
            "radd_wur",
            "radd",
            ("Alert", "Date"),
            "RADD as WUR publishes it: Alert (2 low, 3 high) + Date (YYDOY)",
            "Earth Engine catalogue WUR/radd_alerts (bands Alert: 2 low / 3 high confidence; Date: YYDOY)",
        ),
        Encoding(
            "dist_alert",
            "dist_alert",
            ("VEG-DIST-STATUS", "VEG-DIST-DATE"),
            "OPERA / UMD DIST-ALERT (HLS): VEG-DIST-STATUS + VEG-DIST-DATE",
            "OPERA DIST-ALERT-HLS product specification (VEG-DIST-STATUS 0..8, 255 no data; VEG-DIST-DATE days "
            "since 2020-12-31); opera-adt.github.io DIST product layers; glad.umd.edu/dataset/DIST-ALERT",
            params=("min_loss_50",),
        ),
        Encoding(
            "hansen_gfc",
            "hansen_lossyear",
            ("lossyear", "treecover2000"),
            "Hansen/UMD Global Forest Change: lossyear (1..n = 2001..) + treecover2000 (%)",
            "Hansen et al. 2013, Science 342; GFC user notes (lossyear 0 = no loss, 1..n = 2001..; treecover2000 "
            "0..100 %); storage.googleapis.com/earthenginepartners-hansen",
            params=("forest_threshold",),
        ),
        Encoding(
            "change_pair",
            "change_pair",
            ("before", "after"),
            "A user's change pair: NDVI or NBR before and after (dNDVI / dNBR below -threshold)",
            "this service's rule (no published product): the user states the index, threshold and dates",
            params=("index", "threshold", "after_day", "before_date", "after_date"),
        ),
    )
}
assert set(ENCODINGS) == set(DECODERS), "every decoder has an encoding entry"

CONFIDENCE_NAMES = {"low": 2, "high": 3, "highest": 4}


class UnknownEncoding(TileRejected):
    """The stated encoding is not one the service reads (422), refused before any file is opened."""

    code = "unknown_encoding"
    message = "Unknown alert encoding."


def get_encoding(name: str) -> Encoding:
    """The encoding ``name``; :class:`UnknownEncoding` (naming the known ones) otherwise."""
    try:
        return ENCODINGS[name]
    except KeyError:
        raise UnknownEncoding(
            f"Unknown alert encoding {str(name)[:40]!r}. Known: {', '.join(ENCODINGS)}.",
            details=[{"problem": "unknown_encoding", "known": list(ENCODINGS)}],
        ) from None


@dataclass(frozen=True)
class Layer:
    """One layer: a band of a GeoTIFF, read on its own grid or warped onto another (``warp_to``)."""

    path: str
    band: int
    nodata: float | None
    warp_to: tuple[str, tuple[float, ...], int, int] | None = None  # (crs wkt, transform, width, height)

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """A window of this layer (warped onto the target grid when asked: only the window is resampled)."""
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        from rasterio.windows import Window

        from geo_service import uploads

        window = Window(col_off, row_off, width, height)
        with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS), rasterio.open(self.path, driver="GTiff") as ds:
            if self.warp_to is None:
                return ds.read(self.band, window=window)
            crs, t, w, h = self.warp_to
            with WarpedVRT(
                ds,
                crs=crs,
                transform=Affine(*t[:6]),
                width=w,
                height=h,
                resampling=Resampling.bilinear,
                src_nodata=ds.nodata,
                nodata=np.nan,
                dtype="float32",
            ) as vrt:
                return vrt.read(self.band, window=window)


@dataclass(frozen=True)
class LayeredSource:
    """The layers of one encoding on one grid: ``read`` gives a window of band 1 (one layer) or the layers
    stacked (layers, rows, cols); ``nodata`` is one value per layer when there are several."""

    layers: tuple[Layer, ...]
    height: int
    width: int
    transform: Affine
    crs: str
    dtype: str
    name: str
    files: tuple[str, ...] = field(default=())

    @property
    def nodata(self) -> Any:
        """The nodata value (one layer) or the tuple of them."""
        if len(self.layers) == 1:
            return self.layers[0].nodata
        return tuple(layer.nodata for layer in self.layers)

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """One window of every layer (a windowed read of each: never a whole file)."""
        if len(self.layers) == 1:
            return self.layers[0].read(row_off, col_off, height, width)
        return np.stack([layer.read(row_off, col_off, height, width) for layer in self.layers])


def _band_count(path: str) -> int:
    import rasterio

    from geo_service import uploads

    with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS), rasterio.open(path, driver="GTiff") as ds:
        return ds.count


def _band_dtypes(path: str) -> tuple[str, ...]:
    import rasterio

    from geo_service import uploads

    with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS), rasterio.open(path, driver="GTiff") as ds:
        return tuple(ds.dtypes)


def open_layers(encoding: Encoding, paths: list[Path]) -> LayeredSource:
    """Open the headers of the files of one encoding (one file per layer, or one file with a band per layer)
    and line them up on one grid; refuse (TileRejected, 422) a file without CRS, the wrong number of layers, or
    layers on different grids (a change pair's after image is warped onto the before image's grid instead)."""
    n = len(encoding.layers)
    heads = [GeoTiffSource.open(p) for p in paths]  # headers only; refuses no CRS / not a GeoTIFF
    names = ", ".join(encoding.layers)
    if len(heads) == 1 and n > 1:
        bands = _band_count(heads[0].path)
        if bands != n:
            raise TileRejected(
                f"The {encoding.name} encoding has {n} layers ({names}): give {n} files, or one file with {n} bands "
                f"(this one has {bands}).",
                details=[{"problem": "layers", "expected": n, "bands": bands}],
            )
        h = heads[0]
        import rasterio

        from geo_service import uploads

        with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS), rasterio.open(h.path, driver="GTiff") as ds:
            nodatas = ds.nodatavals
        layers = tuple(Layer(h.path, k + 1, nodatas[k]) for k in range(n))
        dtypes = _band_dtypes(h.path)
    elif len(heads) == n:
        first = heads[0]
        layers_list = [Layer(first.path, 1, first.nodata)]
        for h in heads[1:]:
            same_grid = (
                (h.height, h.width) == (first.height, first.width)
                and np.allclose(tuple(h.transform)[:6], tuple(first.transform)[:6], rtol=0, atol=1e-9)
                and _same_crs(h.crs, first.crs)
            )
            if same_grid:
                layers_list.append(Layer(h.path, 1, h.nodata))
            elif encoding.name == "change_pair":
                warp = (first.crs, tuple(first.transform)[:6], first.width, first.height)
                layers_list.append(Layer(h.path, 1, h.nodata, warp_to=warp))
            else:
                raise TileRejected(
                    f"{h.name} is not on the grid of {first.name}: the layers of {encoding.name} ({names}) must "
                    "share CRS, pixel grid and size.",
                    details=[{"problem": "layers_not_aligned"}],
                )
        layers = tuple(layers_list)
        dtypes = tuple(h.dtype for h in heads)
        h = first
    else:
        raise TileRejected(
            f"The {encoding.name} encoding has {n} layer(s) ({names}); {len(heads)} files were given.",
            details=[{"problem": "layers", "expected": n, "files": len(heads)}],
        )
    if encoding.name not in FLOAT_ENCODINGS:
        for d, lname in zip(dtypes, encoding.layers, strict=False):
            if not np.issubdtype(np.dtype(d), np.integer):
                raise TileRejected(
                    f"The {lname} layer holds {d} values; the {encoding.name} encoding is integers.",
                    details=[{"problem": "not_integer", "layer": lname, "dtype": d}],
                )
    dtype = "float32" if encoding.name in FLOAT_ENCODINGS else "int32"
    return LayeredSource(
        layers=layers,
        height=h.height,
        width=h.width,
        transform=h.transform,
        crs=h.crs,
        dtype=dtype,
        name=h.name,
        files=tuple(os.path.basename(p) for p in paths),
    )


def _same_crs(a: str, b: str) -> bool:
    from pyproj import CRS

    return CRS.from_user_input(a) == CRS.from_user_input(b)
