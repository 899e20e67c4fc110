"""Alert decoding, patching and zonal sums over one or many tiles, window by window, on Dask.

    tiles = [GeoTiffSource.open("20N_100E.tif")]   # headers only
    with dask_client(BatchSettings()) as client:  # geo_service.batch.cluster: a LocalCluster or the scheduler
        result = run(tiles, bounds=aoi_bounds_in_tile_crs, window=2048, zones=districts, client=client)
    result.patches.to_frame(); result.zones; result.zone_totals()

- :func:`plan` reads only the tiles' headers (CRS, transform, size, dtype), checks them before any pixel is read,
  lines the tiles up on one grid (same CRS and pixel size, offsets a whole number of pixels) and cuts the area of
  interest into windows; a published 10 x 10 degree tile is read only where it meets the area of interest.
- each window is one task (:func:`process_window`): a rasterio windowed read (never the whole tile), decode,
  label (:mod:`geo_service.forest_loss.patches`), per-patch sums, per (patch, zone) sums, optionally polygons.
  It returns statistics and edge pixels, not pixels, so a 5-billion-pixel run gathers a few MB.
- :func:`run` merges the windows exactly (:func:`~geo_service.forest_loss.patches.merge_windows`): the patches,
  areas and zone sums equal those of one window over the whole grid.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from math import ceil, floor
from typing import Any, Literal, Protocol

import numpy as np
import shapely
from pyproj import CRS
from rasterio.transform import Affine

from geo_service.errors import InvalidInput
from geo_service.forest_loss.decode import DECODERS, FLOAT_ENCODINGS, Alerts
from geo_service.forest_loss.patches import Grid, Patches, WindowPatches, label_grid, merge_windows, patch_window
from geo_service.forest_loss.polygons import polygons_frame, window_shapes
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI

DEFAULT_WINDOW = 2048
DEFAULT_MAX_PIXELS = 6_000_000_000  # the area of interest read, not the tile: Thailand at 10 m is ~5.1e9
OUTSIDE = "(outside)"
OUTSIDE_SNAP = 1e-9  # a pixel's uncovered share below this is rounding (zones of a partition sum to 1)


class TileRejected(InvalidInput):
    """An alert tile refused from its header (422), before any pixel is read."""

    code = "tile_rejected"
    message = "The alert tile was refused; nothing was read."


class Source(Protocol):
    """What a window task reads from: a GeoTIFF tile, an in-memory array or a simulated raster."""

    height: int
    width: int
    transform: Affine
    crs: str
    nodata: float | None
    dtype: str
    name: str

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """The values of one window of band 1."""
        ...


@dataclass(frozen=True)
class GeoTiffSource:
    """A GeoTIFF tile on disk; :meth:`open` reads its header, :meth:`read` one window (inside the task)."""

    path: str
    height: int
    width: int
    transform: Affine
    crs: str
    nodata: float | None
    dtype: str
    name: str

    @classmethod
    def open(cls, path: str | os.PathLike) -> GeoTiffSource:
        """Read the header only (no pixel) and refuse what cannot be an alert tile."""
        import rasterio
        from rasterio.errors import RasterioIOError

        from geo_service import uploads

        try:
            with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS), rasterio.open(path, driver="GTiff") as ds:
                if ds.crs is None:
                    raise TileRejected(
                        f"{os.path.basename(path)} has no coordinate reference system.",
                        details=[{"problem": "no_crs", "file": str(path)}],
                    )
                if ds.transform.is_identity or ds.transform.b or ds.transform.d:
                    raise TileRejected(
                        f"{os.path.basename(path)} has no (or a rotated) georeferencing.",
                        details=[{"problem": "no_transform", "file": str(path)}],
                    )
                return cls(
                    path=str(path),
                    height=ds.height,
                    width=ds.width,
                    transform=ds.transform,
                    crs=ds.crs.to_wkt(),
                    nodata=ds.nodata,
                    dtype=ds.dtypes[0],
                    name=os.path.basename(path),
                )
        except RasterioIOError:
            raise TileRejected(
                f"{os.path.basename(path)} is not a readable GeoTIFF.", details=[{"problem": "not_geotiff"}]
            ) from None

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """One window of band 1 (a rasterio windowed read: only the blocks it touches are decompressed)."""
        import rasterio
        from rasterio.windows import Window

        from geo_service import uploads

        with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS), rasterio.open(self.path, driver="GTiff") as ds:
            return ds.read(1, window=Window(col_off, row_off, width, height))


@dataclass(frozen=True)
class ArraySource:
    """An in-memory raster (tests and small rasters): the whole array travels with every task."""

    values: np.ndarray
    transform: Affine
    crs: str
    nodata: float | None = None
    name: str = "array"

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.values.shape[1])

    @property
    def dtype(self) -> str:
        """numpy dtype name of the values."""
        return str(self.values.dtype)

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """A copy of one window."""
        return self.values[row_off : row_off + height, col_off : col_off + width].copy()


@dataclass(frozen=True)
class WindowTask:
    """One task: a window of one source (its pixel offsets) and where it lies in the grid."""

    source: Any  # a Source
    row_off: int
    col_off: int
    height: int
    width: int
    grid_row: int
    grid_col: int


@dataclass(frozen=True)
class ZoneLayer:
    """One zone type (e.g. district), its codes and geometries in the grid's CRS (WKB: cheap to send to workers).

    Zones of one type are meant as a partition (districts, subdistricts). A pixel's area goes to the zones by its
    exact coverage (a boundary pixel is shared; what no zone covers goes to "(outside)"); where zones of one type
    overlap, each counts the overlap (as exactextract does).
    """

    zone_type: str
    codes: tuple[str, ...]
    wkb: tuple[bytes, ...]


@dataclass(frozen=True)
class WindowOptions:
    """What every task does with its window."""

    encoding: str = "gfw_integrated"
    window_days: int | None = 30
    on_invalid: Literal["raise", "mask"] = "raise"
    zones: tuple[ZoneLayer, ...] = ()
    vectorise: bool = False
    keep_labels: bool = False
    params: tuple[tuple[str, Any], ...] = ()  # the encoding's parameters (year, thresholds, ...), as pairs
    min_confidence: int = 0  # alerts below this class (2 low, 3 high, 4 highest) are dropped before patching


@dataclass
class WindowResult:
    """A task's answer: patches and edge pixels, (patch, zone) sums, optionally polygons and labels."""

    patches: WindowPatches
    zones: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    shapes: dict[int, list] | None = None
    invalid: int = 0
    seconds: float = 0.0  # wall time of the task
    cpu_seconds: float = 0.0  # CPU time of the task's thread (what it costs on a busy machine)


def check_sources(sources: Sequence[Any], encoding: str) -> None:
    """Refuse, before reading any pixel, an unknown encoding, a source without CRS, or non-integer values."""
    if encoding not in DECODERS:
        raise TileRejected(
            f"Unknown alert encoding {encoding!r}; known: {', '.join(sorted(DECODERS))}.",
            details=[{"problem": "unknown_encoding", "encoding": encoding}],
        )
    for s in sources:
        if not s.crs:
            raise TileRejected(f"{s.name} has no coordinate reference system.", details=[{"problem": "no_crs"}])
        if encoding not in FLOAT_ENCODINGS and not np.issubdtype(np.dtype(s.dtype), np.integer):
            raise TileRejected(
                f"{s.name} holds {s.dtype} values; the {encoding} encoding is integers.",
                details=[{"problem": "not_integer", "dtype": s.dtype}],
            )


def plan(
    sources: Sequence[Any],
    *,
    bounds: tuple[float, float, float, float] | None = None,
    window: int = DEFAULT_WINDOW,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[Grid, list[WindowTask]]:
    """Line the sources up on one grid, clip it to ``bounds`` (minx, miny, maxx, maxy in the sources' CRS) and
    cut it into ``window`` x ``window`` tasks (a window is split where it straddles two tiles).

    Raises
    ------
    TileRejected
        sources in different CRSs or pixel sizes, not aligned on one grid, overlapping, or an area over
        ``max_pixels``.
    """
    if not sources:
        raise TileRejected("No alert tile was given.", details=[{"problem": "no_tiles"}])
    first = sources[0]
    crs0 = CRS.from_user_input(first.crs)
    a, e = first.transform.a, first.transform.e
    for s in sources[1:]:
        if CRS.from_user_input(s.crs) != crs0:
            raise TileRejected(f"{s.name} is in another CRS than {first.name}.", details=[{"problem": "mixed_crs"}])
        if not (np.isclose(s.transform.a, a, rtol=1e-9) and np.isclose(s.transform.e, e, rtol=1e-9)):
            raise TileRejected(
                f"{s.name} has another pixel size than {first.name}.", details=[{"problem": "mixed_resolution"}]
            )
    x0 = min(s.transform.c for s in sources)
    y0 = max(s.transform.f for s in sources)
    offsets = []
    for s in sources:
        col, row = (s.transform.c - x0) / a, (s.transform.f - y0) / e
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            raise TileRejected(
                f"{s.name} is not aligned on the pixel grid of {first.name}.", details=[{"problem": "misaligned"}]
            )
        offsets.append((round(row), round(col)))
    for k, ((ra, ca), sa) in enumerate(zip(offsets, sources, strict=True)):
        for (rb, cb), sb in zip(offsets[k + 1 :], sources[k + 1 :], strict=True):
            if ra < rb + sb.height and rb < ra + sa.height and ca < cb + sb.width and cb < ca + sa.width:
                raise TileRejected(
                    f"{sa.name} and {sb.name} overlap; give each area once.", details=[{"problem": "overlap"}]
                )
    full_h = max(r + s.height for (r, _), s in zip(offsets, sources, strict=True))
    full_w = max(c + s.width for (_, c), s in zip(offsets, sources, strict=True))
    r0, c0, r1, c1 = 0, 0, full_h, full_w
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        c0, c1 = max(0, floor((minx - x0) / a + 1e-9)), min(full_w, ceil((maxx - x0) / a - 1e-9))
        r0, r1 = max(0, floor((maxy - y0) / e + 1e-9)), min(full_h, ceil((miny - y0) / e - 1e-9))
        if r1 <= r0 or c1 <= c0:
            raise TileRejected(
                "The area of interest does not meet the alert tiles.", details=[{"problem": "outside_tiles"}]
            )
    if (r1 - r0) * (c1 - c0) > max_pixels:
        raise TileRejected(
            f"The area of interest covers {(r1 - r0) * (c1 - c0):,} pixels, more than the {max_pixels:,} accepted.",
            details=[{"problem": "too_large", "pixels": (r1 - r0) * (c1 - c0)}],
        )
    grid = Grid(
        transform=Affine(a, 0.0, x0 + c0 * a, 0.0, e, y0 + r0 * e),
        crs=first.crs,
        height=r1 - r0,
        width=c1 - c0,
    )
    tasks = []
    for wr in range(0, grid.height, window):
        for wc in range(0, grid.width, window):
            wr1, wc1 = min(wr + window, grid.height), min(wc + window, grid.width)
            for (tr, tc), s in zip(offsets, sources, strict=True):
                # the tile's extent in grid coordinates
                gr0, gc0 = tr - r0, tc - c0
                ir0, ic0 = max(wr, gr0), max(wc, gc0)
                ir1, ic1 = min(wr1, gr0 + s.height), min(wc1, gc0 + s.width)
                if ir1 > ir0 and ic1 > ic0:
                    tasks.append(WindowTask(s, ir0 - gr0, ic0 - gc0, ir1 - ir0, ic1 - ic0, ir0, ic0))
    return grid, tasks


def zone_layers(zones, crs: str, type_column: str = "zone_type", code_column: str = "zone_code") -> tuple:
    """Zone layers (one per zone type) from a GeoDataFrame of zones, reprojected to the grid's CRS."""
    if zones is None or len(zones) == 0:
        return ()
    z = zones.to_crs(crs)
    out = []
    for zone_type, group in z.groupby(type_column, sort=True):
        out.append(
            ZoneLayer(
                zone_type=str(zone_type),
                codes=tuple(str(c) for c in group[code_column]),
                wkb=tuple(shapely.to_wkb(group.geometry.values)),
            )
        )
    return tuple(out)


@lru_cache(maxsize=4)
def _decoded(layer: ZoneLayer) -> tuple[np.ndarray, shapely.STRtree]:
    """The layer's geometries decoded from WKB and their STRtree, once per worker process.

    Cached because every window task of a run gets the same layer: decoding 8,357 district and subdistrict
    geometries and building their tree in each task cost more than the window's own work (52 ns/px instead of
    23 on a national run). The layer is frozen and hashable; on a Dask worker every task of a run gets the same
    deserialised options object, so a lookup hashes the layer (microseconds) and matches it by identity. Four
    layers (a run's district and subdistrict layers, and the previous run's) bound the memory a worker keeps.
    """
    geoms = shapely.from_wkb(np.array(layer.wkb, dtype=object))
    return geoms, shapely.STRtree(geoms)


def _alerts_in_spans(flat: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which alert pixels (positions into the sorted flat indices ``flat``) lie in each span [start, end) of flat
    indices: (alert position, span number), one pair per alert pixel and span holding it."""
    i0 = np.searchsorted(flat, start, "left")
    i1 = np.searchsorted(flat, end, "left")
    n = i1 - i0
    span = np.repeat(np.arange(len(n)), n)
    pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(i0, n)
    return pos, span


def _zone_weights(
    layer: ZoneLayer, grid: Grid, task: WindowTask, flat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact coverage of the window's alert pixels (``flat``: sorted flat indices) by the layer's zones.

    Returns (alert position, local zone, coverage fraction, zone numbers): ``zone numbers[local zone]`` is the
    layer's zone number (1-based; 0 = outside every zone), so the window's sums are sized by the few zones it
    meets, not the layer's thousands. A pixel wholly in one zone has one entry of 1; a boundary pixel one entry
    per zone it meets, with its exact coverage (exactextract's), and the part no zone covers goes to zone 0.
    Only the zones meeting the window are taken, in the window's own transform, and only the boundary pixels and
    interior spans of those zones are made (no window-sized zone raster), so the memory is that of the alerts
    and the boundaries crossing the window.
    """
    from geo_service.hotspots.zonal import coverage_cells

    n = len(flat)
    every = np.arange(n)
    geoms, tree = _decoded(layer)
    t = grid.window_transform(task.grid_row, task.grid_col)
    x0, y1 = t @ (0, 0)
    x1, y0 = t @ (task.width, task.height)
    box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    hits = tree.query(box, predicate="intersects")
    zeros = np.zeros(n, dtype=np.int64)
    if hits.size == 0:
        return every, zeros, np.ones(n), np.zeros(1, dtype=np.int64)
    within = tree.query(box, predicate="within")  # zones holding the whole window
    others = np.setdiff1d(hits, within)
    if within.size and not (others.size and (~shapely.touches(geoms[others], box)).any()):
        # districts are larger than a window: most windows lie wholly inside one zone (the others meeting the
        # window only touch its edge), so every pixel is covered wholly, no coverage is computed
        m = len(within)
        return (
            np.tile(every, m),
            np.repeat(np.arange(1, m + 1), n),
            np.ones(n * m),
            np.concatenate([[0], within.astype(np.int64) + 1]),
        )
    cov = coverage_cells(geoms[hits], t, task.width, task.height)
    # interior spans: every alert pixel inside a span is wholly in that zone
    s_pos, s_span = _alerts_in_spans(
        flat, cov.span_row * task.width + cov.span_c0, cov.span_row * task.width + cov.span_c1
    )
    # boundary pixels: their coverage, where the pixel is an alert
    cell_flat = cov.cell_row * task.width + cov.cell_col
    c_pos = np.searchsorted(flat, cell_flat)
    alert = c_pos < n
    alert[alert] = flat[c_pos[alert]] == cell_flat[alert]
    pos = np.concatenate([s_pos, c_pos[alert]])
    zone = np.concatenate([cov.span_zone[s_span], cov.cell_zone[alert]]).astype(np.int64) + 1  # 1 + index in hits
    weight = np.concatenate([np.ones(len(s_pos)), cov.cell_cov[alert]])
    # what no zone covers stays "(outside)"; below OUTSIDE_SNAP it is the rounding of the fractions' sum
    rest = 1.0 - np.bincount(pos, weights=weight, minlength=n)
    out = np.flatnonzero(rest > OUTSIDE_SNAP)
    return (
        np.concatenate([pos, out]),
        np.concatenate([zone, zeros[: len(out)]]),
        np.concatenate([weight, rest[out]]),
        np.concatenate([[0], hits.astype(np.int64) + 1]),
    )


def process_window(task: WindowTask, grid: Grid, options: WindowOptions) -> WindowResult:
    """One task: windowed read, decode, label, sums; (patch, zone) sums; polygons if asked."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    values = task.source.read(task.row_off, task.col_off, task.height, task.width)
    alerts = DECODERS[options.encoding](
        values, nodata=task.source.nodata, on_invalid=options.on_invalid, **dict(options.params)
    )
    del values
    if options.min_confidence and alerts.mask.any():
        low = alerts.confidence < options.min_confidence
        alerts = Alerts(
            days=np.where(low, 0, alerts.days).astype(np.int32),
            confidence=np.where(low, 0, alerts.confidence).astype(np.uint8),
            invalid=alerts.invalid,
        )
    row_area = grid.row_areas(task.grid_row, task.height)
    keep = options.keep_labels or options.vectorise or bool(options.zones)
    wp = patch_window(
        alerts,
        row0=task.grid_row,
        col0=task.grid_col,
        grid_width=grid.width,
        row_area=row_area,
        window_days=options.window_days,
        keep_labels=keep,
    )
    labels = wp.labels
    zones: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    if options.zones and labels is not None and wp.n:
        # exact coverage: a boundary alert pixel's area is shared among the zones by its coverage fraction
        flat = np.flatnonzero(labels)
        lab = labels.ravel()[flat].astype(np.int64) - 1
        area = row_area[flat // task.width]
        for layer in options.zones:
            pos, zi, weight, zone_ids = _zone_weights(layer, grid, task, flat)
            nz = len(zone_ids)  # the zones meeting this window (and "outside"), not all of the layer's
            key = lab[pos] * nz + zi
            pixels = np.bincount(key, weights=weight, minlength=wp.n * nz)
            areas = np.bincount(key, weights=weight * area[pos], minlength=wp.n * nz)
            used = np.flatnonzero(pixels > 0)
            zones[layer.zone_type] = (used // nz + 1, zone_ids[used % nz], pixels[used], areas[used])
    shapes = window_shapes(labels, task.grid_row, task.grid_col) if options.vectorise and labels is not None else None
    if not options.keep_labels:
        wp.labels = None
    return WindowResult(
        patches=wp,
        zones=zones,
        shapes=shapes,
        invalid=alerts.invalid,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.thread_time() - cpu_started,
    )


@dataclass
class RunResult:
    """The merged answer of a run: patches of the whole grid, (patch, zone) areas, polygons if asked."""

    grid: Grid
    patches: Patches
    # pandas DataFrame: patch_id, zone_type, zone_code, pixels (sum of coverage fractions), area_m2, area_ha, area_rai
    zones: Any
    polygons: Any = None  # GeoDataFrame when vectorised
    labels: np.ndarray | None = None  # the grid's patch ids when keep_labels (small grids only)
    windows: int = 0
    pixels: int = 0
    invalid: int = 0
    task_seconds: float = 0.0
    task_cpu_seconds: float = 0.0

    def zone_totals(self):
        """Alert area and patch count per zone (pandas): zone_type, zone_code, patches, pixels (coverage-weighted,
        as exactextract counts), area m2/ha/rai."""
        z = self.zones
        out = (
            z.groupby(["zone_type", "zone_code"], sort=True)
            .agg(patches=("patch_id", "nunique"), pixels=("pixels", "sum"), area_m2=("area_m2", "sum"))
            .reset_index()
        )
        out["area_ha"] = out["area_m2"] / M2_PER_HECTARE
        out["area_rai"] = out["area_m2"] / M2_PER_RAI
        return out


def merge_results(grid: Grid, results: list[WindowResult], options: WindowOptions) -> RunResult:
    """The exact merge of the windows' answers (patches, zone sums, polygons)."""
    import pandas as pd

    parts = [r.patches for r in results]
    patches = merge_windows(grid, parts, options.window_days)
    frames = []
    for layer in options.zones:  # one numpy pass per zone type: (patch, zone) keys summed with bincount
        codes = np.array([OUTSIDE, *layer.codes], dtype=object)
        nz = len(codes)
        got = [
            (ids, r.zones[layer.zone_type])
            for r, ids in zip(results, patches.part_patch, strict=True)
            if layer.zone_type in r.zones
        ]
        if not got:
            continue
        key = np.concatenate([ids[lab - 1].astype(np.int64) * nz + zi for ids, (lab, zi, _, _) in got])
        keys, inverse = np.unique(key, return_inverse=True)
        pixels = np.bincount(inverse, weights=np.concatenate([z[2] for _, z in got]), minlength=keys.size)
        area = np.bincount(inverse, weights=np.concatenate([z[3] for _, z in got]), minlength=keys.size)
        frames.append(
            pd.DataFrame(
                {
                    "patch_id": keys // nz,
                    "zone_type": layer.zone_type,
                    "zone_code": codes[keys % nz],
                    "pixels": pixels,
                    "area_m2": area,
                }
            )
        )
    columns = ["patch_id", "zone_type", "zone_code", "pixels", "area_m2"]
    zones = (
        pd.concat(frames).sort_values(["patch_id", "zone_type"], kind="stable").reset_index(drop=True)
        if frames
        else pd.DataFrame({c: [] for c in columns})
    )
    zones["area_ha"] = zones["area_m2"] / M2_PER_HECTARE
    zones["area_rai"] = zones["area_m2"] / M2_PER_RAI
    polygons = polygons_frame(grid, patches, [r.shapes or {} for r in results]) if options.vectorise else None
    return RunResult(
        grid=grid,
        patches=patches,
        zones=zones,
        polygons=polygons,
        labels=label_grid(parts, patches) if options.keep_labels else None,
        windows=len(results),
        pixels=sum(p.height * p.width for p in parts),
        invalid=sum(r.invalid for r in results),
        task_seconds=sum(r.seconds for r in results),
        task_cpu_seconds=sum(r.cpu_seconds for r in results),
    )


def run(
    sources: Sequence[Any],
    *,
    encoding: str = "gfw_integrated",
    window_days: int | None = 30,
    bounds: tuple[float, float, float, float] | None = None,
    window: int = DEFAULT_WINDOW,
    zones=None,
    vectorise: bool = False,
    keep_labels: bool = False,
    on_invalid: Literal["raise", "mask"] = "raise",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    client=None,
    progress: Callable[[int, int], None] | None = None,
    params: dict[str, Any] | None = None,
    min_confidence: int = 0,
) -> RunResult:
    """Decode, label, sum and merge the alerts of ``sources`` (GeoTiffSource / ArraySource / simulated) window by
    window: on a Dask ``client`` (one ``dask.delayed`` task per window) or, without one, in this process.

    ``zones``: a GeoDataFrame with ``zone_type`` and ``zone_code`` columns (any CRS), e.g. districts and
    subdistricts. ``progress(done, total)`` is called as windows finish. ``params``: the encoding's parameters
    (forest_loss/sources.py); ``min_confidence``: drop alerts below this class before patching.
    """
    check_sources(sources, encoding)
    grid, tasks = plan(sources, bounds=bounds, window=window, max_pixels=max_pixels)
    options = WindowOptions(
        encoding=encoding,
        window_days=window_days,
        on_invalid=on_invalid,
        zones=zone_layers(zones, grid.crs),
        vectorise=vectorise,
        keep_labels=keep_labels,
        params=tuple(sorted((params or {}).items())),
        min_confidence=min_confidence,
    )
    if client is None:
        results = []
        for k, t in enumerate(tasks):
            results.append(process_window(t, grid, options))
            if progress:
                progress(k + 1, len(tasks))
    else:
        results = compute_on(client, tasks, grid, options, progress)
    return merge_results(grid, results, options)


def compute_on(
    client, tasks: list[WindowTask], grid: Grid, options: WindowOptions, progress: Callable[[int, int], None] | None
) -> list[WindowResult]:
    """Run the window tasks as ``dask.delayed`` on a distributed client; results in task order."""
    import dask
    from distributed import as_completed

    # grid and options (with the zones' geometries) enter the graph once, shared by every task
    d_grid, d_options = dask.delayed(grid, pure=True), dask.delayed(options, pure=True)
    delayed = [dask.delayed(process_window, pure=True)(t, d_grid, d_options) for t in tasks]
    futures = client.compute(delayed)
    if progress:
        for k, _ in enumerate(as_completed(futures)):
            progress(k + 1, len(futures))
    return client.gather(futures)
