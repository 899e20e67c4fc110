"""Exact zonal statistics in one pass over the raster: exactextract's answers, faster than rasterstats.

What it computes, for each zone (a polygon or multipolygon in the raster's CRS), as exactextract does:
``count`` = sum of the coverage fractions of the valid pixels (nodata and NaN excluded), ``sum`` = sum of
coverage x value (``mean`` = sum / count), ``min`` and ``max`` of the valid pixels with coverage > 0, and, with
a ``classify`` function (value -> small class code), the coverage-weighted pixel count of each class.

How:

1. **Coverage from the zone boundaries only.** Each ring is taken to pixel space (column u, row v), oriented
   (exteriors counter-clockwise, holes clockwise) and cut at every pixel edge it crosses. By Green's theorem
   the covered fraction of pixel (r, k) is, over the pieces in row strip r, the sum of dv x (mean u - k) for the
   pieces inside that pixel plus dv for every piece further right in the row (``coverage_cells``). So each
   pixel a boundary passes through gets its exact coverage (exactextract's quantity, computed the same way
   up to rounding), and the pixels between two boundary pixels of a row are wholly in or wholly out: interior
   spans (row, first column, end column). Cost: the boundary length in pixels, not the polygon's area.
2. **One pass over the pixels for all zones.** Zones whose interiors do not meet are put in the same layer
   (districts are one layer, subdistricts another, ...). The raster is read once, in windows of whole rows;
   in each window the layers' interior spans are merged into runs, each run gets the id of its combination
   of zones (one per layer), and one ``np.bincount`` over run id x pixel value (8-bit rasters: the whole
   value histogram; others: count and sum, min/max by ``ufunc.at``) gives every zone's interior figures.
   The boundary pixels (a small fraction) are then added with their coverage weights.

Why hand-written: exactextract (the reference, tested against here) handles zone after zone, decoding
each zone's window again (overlapping zones: every pixel several times) and updating its statistics pixel
by pixel; rasterstats is not exact (pixel-centre rule) and also works zone by zone. Neither offers the
"one decoded window, all zones" pass. Rotated grids are not handled (``UnsupportedGrid``; exactextract
refuses them too): ``rasters.open_checked`` refuses such a raster at upload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

__all__ = [
    "Coverage",
    "UnsupportedGrid",
    "ZoneStats",
    "coverage_cells",
    "layers_of",
    "zonal_stats",
]

SNAP = 1e-12  # coverage within this of 0 or 1 is 0 or 1 (rounding of the sums, far below any real sliver)
WINDOW_PIXELS = 8_000_000  # pixels decoded per window (int64 codes: 64 MB)


class UnsupportedGrid(ValueError):
    """The raster's grid is rotated or sheared: use exactextract instead."""


@dataclass
class ZoneStats:
    """Coverage-weighted figures of one zone (exactextract's ``count``, ``sum``, ``min``, ``max``, ``frac``)."""

    count: float = 0.0
    sum: float = 0.0
    min: float | None = None
    max: float | None = None
    classes: dict[int, float] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        """sum / count, None for a zone with no valid pixel."""
        return self.sum / self.count if self.count > 0 else None


@dataclass
class Coverage:
    """Where zones cover a raster: boundary pixels with their exact coverage and interior spans (coverage 1).

    ``cells``: zone, row, col, coverage (0 < coverage <= 1), sorted by row. ``spans``: zone, row, col0, col1
    (columns col0 .. col1 - 1 wholly inside the zone), sorted by row.
    """

    cell_zone: np.ndarray
    cell_row: np.ndarray
    cell_col: np.ndarray
    cell_cov: np.ndarray
    span_zone: np.ndarray
    span_row: np.ndarray
    span_c0: np.ndarray
    span_c1: np.ndarray


def _rings(geoms: Sequence, transform) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of every polygon ring in pixel space: (u0, v0, u1, v1), zone of each, orientation sign."""
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    if b != 0 or d != 0:
        raise UnsupportedGrid("rotated or sheared raster grid")
    parts, zone = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    nested = (shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.GEOMETRYCOLLECTION)
    while np.isin(shapely.get_type_id(parts), nested).any():  # collections of multipolygons
        parts, inner = shapely.get_parts(parts, return_index=True)
        zone = zone[inner]
    poly = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    parts, zone = parts[poly], zone[poly]
    parts_empty = shapely.is_empty(parts)
    parts, zone = parts[~parts_empty], zone[~parts_empty]
    rings, part_of = shapely.get_rings(parts, return_index=True)
    # the first ring of each part is its exterior
    first = np.ones(len(rings), dtype=bool)
    first[1:] = part_of[1:] != part_of[:-1]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    u = (xy[:, 0] - c) / a
    v = (xy[:, 1] - f) / e
    same = ring_of[1:] == ring_of[:-1]  # consecutive vertices of one ring form a segment
    seg_ring = ring_of[:-1][same]
    u0, v0, u1, v1 = u[:-1][same], v[:-1][same], u[1:][same], v[1:][same]
    area = np.bincount(seg_ring, weights=u0 * v1 - u1 * v0, minlength=len(rings))
    want = np.where(first, 1.0, -1.0)  # exterior positive, holes negative (in pixel space)
    sign = np.where(np.sign(area) == want, 1.0, -1.0)
    return np.stack([u0, v0, u1, v1]), zone[part_of[seg_ring]], sign[seg_ring]


def _split(a0: np.ndarray, b0: np.ndarray, a1: np.ndarray, b1: np.ndarray, limit: int):
    """Cut segments (a0, b0) -> (a1, b1) where ``a`` crosses an integer in [0, limit], in travel order (no sort).

    Returns the pieces (a0, b0, a1, b1) and the segment each comes from; the cut coordinate is exactly the
    integer, so no rounding moves a piece across a pixel edge.
    """
    lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)
    first = np.maximum(np.floor(lo) + 1, 0)
    last = np.minimum(np.ceil(hi) - 1, limit)
    m = np.maximum(last - first + 1, 0).astype(np.int64)
    whole = np.flatnonzero(m == 0)  # most segments of a fine boundary on a coarse grid: kept as they are
    cut = np.flatnonzero(m > 0)
    pts = m[cut] + 2  # start, the crossings, end
    seg = np.repeat(cut, pts)
    j = np.arange(pts.sum()) - np.repeat(np.cumsum(pts) - pts, pts)  # 0 .. m + 1 within the segment
    # the j-th crossing in travel order: first + j - 1 going up, last - (j - 1) going down
    k = np.where((a1 >= a0)[seg], first[seg] + j - 1, last[seg] - (j - 1))
    is_start = j == 0
    is_end = j == np.repeat(pts - 1, pts)
    a = np.where(is_start, a0[seg], np.where(is_end, a1[seg], k))
    with np.errstate(invalid="ignore", divide="ignore"):
        b = b0[seg] + (a - a0[seg]) / (a1 - a0)[seg] * (b1 - b0)[seg]
    b = np.where(is_start, b0[seg], np.where(is_end, b1[seg], b))
    nxt = ~is_end[:-1]
    return (
        np.concatenate([a0[whole], a[:-1][nxt]]),
        np.concatenate([b0[whole], b[:-1][nxt]]),
        np.concatenate([a1[whole], a[1:][nxt]]),
        np.concatenate([b1[whole], b[1:][nxt]]),
        np.concatenate([whole, seg[:-1][nxt]]),
    )


def coverage_cells(geoms: Sequence, transform, width: int, height: int) -> Coverage:
    """Exact coverage of the pixels cut by each zone's boundary, and the spans of pixels wholly inside it.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        Polygons or multipolygons in the raster's CRS (other parts are ignored; None or empty: no pixels).
    transform : affine.Affine
        The raster's geotransform (north-up or south-up; no rotation).
    width, height : int
        The raster's size; pixels outside it are not returned.
    """
    seg, seg_zone, seg_sign = _rings(geoms, transform)
    u0, v0, u1, v1 = seg
    keep = (np.maximum(v0, v1) >= 0) & (np.minimum(v0, v1) <= height)  # rows are independent
    u0, v0, u1, v1, seg_zone, seg_sign = u0[keep], v0[keep], u1[keep], v1[keep], seg_zone[keep], seg_sign[keep]
    # cut each segment at the row edges it crosses, then each row piece at the column edges
    va, ua, vb, ub, parent = _split(v0, u0, v1, u1, height)
    ua, va, ub, vb, parent2 = _split(ua, va, ub, vb, width)
    s = parent[parent2]
    real = (ua != ub) | (va != vb)  # zero-length pieces (a crossing at a vertex, a pixel corner) say nothing
    s, ua, va, ub, vb = s[real], ua[real], va[real], ub[real], vb[real]
    um, vm = (ua + ub) / 2, (va + vb) / 2
    row = np.floor(vm).astype(np.int64)
    col = np.floor(um).astype(np.int64)
    inside = (row >= 0) & (row < height)
    s, row, col, um, vb, va = s[inside], row[inside], col[inside], um[inside], vb[inside], va[inside]
    # pieces left or right of the raster only add their dv to the row: one virtual column on each side
    col = np.clip(col, -1, width)
    pdv = (vb - va) * seg_sign[s]
    own = pdv * (um - col)
    zone = seg_zone[s]
    # one entry per (zone, row, col): its own part and its dv
    key_order = np.argsort((zone * (height + 1) + row) * (width + 2) + (col + 1))
    zone, row, col, pdv, own = zone[key_order], row[key_order], col[key_order], pdv[key_order], own[key_order]
    new = np.ones(len(zone), dtype=bool)
    new[1:] = (zone[1:] != zone[:-1]) | (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    start = np.flatnonzero(new)
    zone, row, col = zone[start], row[start], col[start]
    cell_dv = np.add.reduceat(pdv, start) if len(start) else pdv[:0]
    cell_own = np.add.reduceat(own, start) if len(start) else own[:0]
    # dv of the cells to the right in the same (zone, row): suffix sums restarted at each group
    group_start = np.ones(len(zone), dtype=bool)
    group_start[1:] = (zone[1:] != zone[:-1]) | (row[1:] != row[:-1])
    group = np.cumsum(group_start) - 1
    total = np.cumsum(cell_dv)
    last_of_group = np.flatnonzero(np.append(group_start[1:], True)) if len(zone) else np.zeros(0, np.int64)
    group_end_total = total[last_of_group]
    right = group_end_total[group] - total  # sum of dv strictly right of this cell
    cov = np.clip(cell_own + right, 0.0, 1.0)
    cov[cov < SNAP] = 0.0
    cov[cov > 1 - SNAP] = 1.0
    # interior spans: between this cell and the next one of the group, covered when ``right`` rounds to 1
    nxt_col = np.append(col[1:], -1)
    same_group = np.append(~group_start[1:], False)
    span = same_group & (nxt_col > col + 1) & (np.rint(right) >= 1) & (col + 1 < width)
    in_raster = (col >= 0) & (col < width) & (cov > 0)
    span_c1 = np.minimum(nxt_col[span], width)
    cells = np.argsort(row[in_raster], kind="stable")
    spans = np.argsort(row[span], kind="stable")
    return Coverage(
        cell_zone=zone[in_raster][cells],
        cell_row=row[in_raster][cells],
        cell_col=col[in_raster][cells],
        cell_cov=cov[in_raster][cells],
        span_zone=zone[span][spans],
        span_row=row[span][spans],
        span_c0=(col[span] + 1)[spans],
        span_c1=span_c1[spans],
    )


def layers_of(cov: Coverage, n_zones: int, width: int) -> np.ndarray:
    """A layer number per zone such that no two zones of a layer have a pixel wholly inside both (greedy
    colouring of the zones whose interior spans overlap; districts are one layer, their subdistricts
    another, a protected area crossing them a third)."""
    start = cov.span_row * width + cov.span_c0
    end = cov.span_row * width + cov.span_c1
    order = np.argsort(start, kind="stable")
    start, end, zone = start[order], end[order], cov.span_zone[order]
    pairs = []
    k = 1
    while k < len(start):
        meet = start[k:] < end[:-k]  # span i + k starts inside span i (starts are sorted)
        if not meet.any():
            break
        pairs.append(np.stack([zone[:-k][meet], zone[k:][meet]], axis=1))
        k += 1
    conflicts: dict[int, set[int]] = {}
    if pairs:
        for i, j in np.unique(np.concatenate(pairs), axis=0).tolist():
            conflicts.setdefault(i, set()).add(j)
            conflicts.setdefault(j, set()).add(i)
    layer = np.zeros(n_zones, dtype=np.int64)
    for i in range(n_zones):
        taken = {int(layer[j]) for j in conflicts.get(i, ()) if j < i}
        while int(layer[i]) in taken:
            layer[i] += 1
    return layer


def _layer_runs(cov: Coverage, layer: np.ndarray, width: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Interior spans per layer as flat pixel positions (start, end, zone), sorted and checked disjoint."""
    out = []
    for k in range(int(layer.max()) + 1 if len(layer) else 0):
        pick = layer[cov.span_zone] == k
        start = cov.span_row[pick] * width + cov.span_c0[pick]
        end = cov.span_row[pick] * width + cov.span_c1[pick]
        zone = cov.span_zone[pick]
        order = np.argsort(start, kind="stable")
        start, end, zone = start[order], end[order], zone[order]
        if np.any(start[1:] < end[:-1]):  # zones of one layer overlap after all: give each its own layer
            for z in np.unique(zone):
                one = zone == z
                out.append((start[one], end[one], zone[one]))
        else:
            out.append((start, end, zone))
    return out


def _window_codes(runs, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of one window [lo, hi) (flat positions) as (run lengths, run combination id, combinations x layer
    zone + 1 table)."""
    points = [np.array([lo, hi], dtype=np.int64)]
    picked = []
    for start, end, zone in runs:
        i0, i1 = np.searchsorted(end, lo, "right"), np.searchsorted(start, hi, "left")
        s, e, z = np.clip(start[i0:i1], lo, hi), np.clip(end[i0:i1], lo, hi), zone[i0:i1]
        picked.append((s, e, z))
        points += [s, e]
    bounds = np.unique(np.concatenate(points))
    seg_start = bounds[:-1]
    labels = np.zeros((len(seg_start), len(runs)), dtype=np.int64)
    for k, (s, e, z) in enumerate(picked):
        i = np.searchsorted(s, seg_start, "right") - 1
        ok = i >= 0
        ok[ok] = seg_start[ok] < e[i[ok]]
        labels[ok, k] = z[i[ok]] + 1
    combos, inverse = np.unique(labels, axis=0, return_inverse=True)
    return np.diff(bounds), inverse.reshape(-1), combos


def _classes_dict(weights: np.ndarray) -> dict[int, float]:
    return {int(c): float(w) for c, w in enumerate(weights.tolist()) if w > 0}


def zonal_stats(
    src,
    geoms: Sequence,
    *,
    classify: Callable[[np.ndarray], np.ndarray] | None = None,
    band: int = 1,
    window_pixels: int = WINDOW_PIXELS,
) -> list[ZoneStats]:
    """Exact coverage-weighted statistics of ``geoms`` over band ``band`` of an open rasterio dataset.

    Parameters
    ----------
    src : rasterio.DatasetReader
        The raster (read once, in windows of whole rows).
    geoms : sequence of shapely geometries
        The zones in the raster's CRS; they may overlap each other, lie partly or wholly outside the raster.
    classify : callable, optional
        Values (a numpy array of the band's dtype) -> class codes 0-255 (uint8), e.g. the product's flags;
        the coverage-weighted count of each class is returned in ``ZoneStats.classes``.
    window_pixels : int
        About how many pixels are decoded at a time (memory bound).

    Returns
    -------
    list of ZoneStats
        One per zone, in order; a zone without valid pixels has count 0 and min/max None.

    Raises
    ------
    UnsupportedGrid
        A rotated or sheared grid.
    """
    from rasterio.windows import Window

    width, height = src.width, src.height
    n_zones = len(geoms)
    cov = coverage_cells(geoms, src.transform, width, height)
    layer = layers_of(cov, n_zones, width)
    runs = _layer_runs(cov, layer, width)
    dtype = np.dtype(src.dtypes[band - 1])
    nodata = src.nodatavals[band - 1]
    histogram = dtype == np.uint8  # 8-bit: the value histogram gives everything
    count = np.zeros(n_zones)
    total = np.zeros(n_zones)
    vmin = np.full(n_zones, np.inf)
    vmax = np.full(n_zones, -np.inf)
    classes = np.zeros((n_zones, 256))
    hist = np.zeros((n_zones, 256) if histogram else (0, 256))  # 8-bit: value histogram per zone
    rows_with = np.concatenate([cov.cell_row, cov.span_row])
    if len(rows_with) == 0:
        return [ZoneStats() for _ in range(n_zones)]
    first_row, last_row = int(rows_with.min()), int(rows_with.max()) + 1
    nodata_code = None  # the bin of an 8-bit band's nodata value
    if histogram and nodata is not None and float(nodata).is_integer() and 0 <= nodata <= 255:
        nodata_code = int(nodata)
    block_h = src.block_shapes[band - 1][0]
    step = max(block_h, (window_pixels // max(width, 1)) // block_h * block_h)
    buf = np.empty(min(step, height) * width, dtype=np.int64)  # codes, reused window after window
    for r0 in range(first_row - first_row % block_h, last_row, step):
        r1 = min(r0 + step, last_row)
        data = src.read(band, window=Window(0, r0, width, r1 - r0)).reshape(-1)
        npx = len(data)
        code = buf[:npx]
        lengths, run_combo, combos = _window_codes(runs, r0 * width, r1 * width)
        n_combo = len(combos)
        # the run labels in the narrowest type (1 byte a pixel for up to 256 zone combinations), then widened
        narrow = np.uint8 if n_combo <= 256 else np.uint16 if n_combo <= 65536 else np.int64
        label = np.repeat(run_combo.astype(narrow), lengths)
        if histogram:
            np.left_shift(label, 8, out=code, dtype=np.int64)
            np.bitwise_or(code, data, out=code)
            h = np.bincount(code, minlength=n_combo * 256).reshape(n_combo, 256).astype(np.float64)
            if nodata_code is not None:
                h[:, nodata_code] = 0.0
            for k in range(combos.shape[1]):
                z = combos[:, k]
                np.add.at(hist, z[z > 0] - 1, h[z > 0])
        else:
            valid = _valid(data, nodata)
            np.copyto(code, label, casting="unsafe")
            if valid is not None:
                code[~valid] = n_combo  # a bin for the invalid pixels
            c = np.bincount(code, minlength=n_combo + 1)[:n_combo].astype(np.float64)
            values = data.astype(np.float64)
            if valid is not None:
                values[~valid] = 0.0
            sm = np.bincount(code, weights=values, minlength=n_combo + 1)[:n_combo]
            lo = np.full(n_combo + 1, np.inf)
            hi = np.full(n_combo + 1, -np.inf)
            np.minimum.at(lo, code, values)
            np.maximum.at(hi, code, values)
            cl = None
            if classify is not None:
                cls = classify(data).astype(np.int64)
                cl = np.bincount(code * 256 + cls, minlength=(n_combo + 1) * 256)[: n_combo * 256]
                cl = cl.reshape(n_combo, 256).astype(np.float64)
            for k in range(combos.shape[1]):
                z = combos[:, k]
                m = z > 0
                idx = z[m] - 1
                np.add.at(count, idx, c[m])
                np.add.at(total, idx, sm[m])
                np.minimum.at(vmin, idx, lo[:n_combo][m])
                np.maximum.at(vmax, idx, hi[:n_combo][m])
                if cl is not None:
                    np.add.at(classes, idx, cl[m])
        # boundary pixels of this window, weighted by their coverage
        i0, i1 = np.searchsorted(cov.cell_row, [r0, r1])
        zc, w = cov.cell_zone[i0:i1], cov.cell_cov[i0:i1]
        vals = data[(cov.cell_row[i0:i1] - r0) * width + cov.cell_col[i0:i1]]
        ok = _valid(vals, nodata)
        if ok is not None:
            zc, w, vals = zc[ok], w[ok], vals[ok]
        if histogram:
            np.add.at(hist, (zc, vals.astype(np.int64)), w)
        else:
            fv = vals.astype(np.float64)
            np.add.at(count, zc, w)
            np.add.at(total, zc, w * fv)
            np.minimum.at(vmin, zc, fv)
            np.maximum.at(vmax, zc, fv)
            if classify is not None:
                np.add.at(classes, (zc, classify(vals).astype(np.int64)), w)
    if histogram:
        value = np.arange(256, dtype=np.float64)
        count = hist.sum(axis=1)
        total = hist @ value
        present = hist > 0
        vmin = np.where(present.any(axis=1), np.argmax(present, axis=1), np.inf)
        vmax = np.where(present.any(axis=1), 255 - np.argmax(present[:, ::-1], axis=1), -np.inf)
        if classify is not None:
            codes = classify(np.arange(256, dtype=np.uint8)).astype(np.int64)
            for v in range(256):
                classes[:, codes[v]] += hist[:, v]
    return [
        ZoneStats(
            count=float(count[i]),
            sum=float(total[i]),
            min=float(vmin[i]) if np.isfinite(vmin[i]) else None,
            max=float(vmax[i]) if np.isfinite(vmax[i]) else None,
            classes=_classes_dict(classes[i]) if classify is not None else {},
        )
        for i in range(n_zones)
    ]


def _valid(data: np.ndarray, nodata) -> np.ndarray | None:
    """Valid pixels (not nodata, not NaN), or None when every pixel is valid."""
    bad = None
    if nodata is not None and not np.isnan(nodata):
        if data.dtype.kind == "f":
            bad = data == nodata
        elif float(nodata).is_integer() and np.iinfo(data.dtype).min <= nodata <= np.iinfo(data.dtype).max:
            bad = data == int(nodata)
    if data.dtype.kind == "f":
        nan = np.isnan(data)
        bad = nan if bad is None else bad | nan
    return None if bad is None else ~bad
