"""Patches as polygons: ``rasterio.features.shapes`` on each window's label array, parts of a patch that crosses
window edges dissolved with shapely's ``union_all``.

Shapes are traced in *grid pixel coordinates* (integers: column, row of the whole grid), so the edge two windows
share has exactly the same coordinates on both sides and the union dissolves it without slivers; the grid's
transform is applied once at the end. Pixels that touch only at a corner (8-connected) stay one patch as a
MultiPolygon, since a polygon cannot be pinched to a point.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import shapely
from rasterio.features import shapes
from rasterio.transform import Affine

from geo_service.forest_loss.patches import Grid, Patches


def window_shapes(labels: np.ndarray, row0: int, col0: int) -> dict[int, list]:
    """Polygons of each local label of one window, in grid pixel coordinates: {label: [shapely Polygon, ...]}."""
    if not labels.any():
        return {}
    geoms, values = [], []
    for geom, value in shapes(
        labels.astype(np.int32), mask=labels > 0, connectivity=4, transform=Affine.translation(col0, row0)
    ):
        geoms.append(geom)
        values.append(int(value))
    # one GEOS parse of all the window's shapes (shapely.geometry.shape per shape cost 60 % of the tracing)
    parts = shapely.get_parts(shapely.from_geojson(json.dumps({"type": "GeometryCollection", "geometries": geoms})))
    out: dict[int, list] = defaultdict(list)
    for value, poly in zip(values, parts, strict=True):
        out[value].append(poly)
    return dict(out)


def _dissolve(polys: list):
    """One patch's pieces dissolved: a vertex at every pixel corner makes the shared edges match vertex for vertex
    (coverage union needs that), then the collinear vertices are dropped again (simplify with tolerance 0)."""
    try:
        return shapely.simplify(
            shapely.coverage_union_all(shapely.segmentize(np.array(polys), 1.0)), 0.0, preserve_topology=False
        )
    except shapely.errors.GEOSException:  # not a clean coverage after all: the overlay union
        return shapely.union_all(polys)


def patch_polygons(grid: Grid, patches: Patches, parts: list[dict[int, list]]) -> list:
    """One geometry per patch (index = patch id - 1) in the grid's CRS, from the windows' shapes.

    ``parts[w]`` is :func:`window_shapes` of window ``w``, in the order the windows were merged.
    """
    pieces: list[list] = [[] for _ in range(patches.n)]
    windows = np.zeros(patches.n, dtype=np.int64)  # how many windows hold a piece of each patch
    for ids, shapes_of_window in zip(patches.part_patch, parts, strict=True):
        for label, polys in shapes_of_window.items():
            k = int(ids[label - 1]) - 1
            pieces[k].extend(polys)
            windows[k] += 1
    # the pieces of a patch never overlap (one window's pieces are disjoint 4-connected shapes, windows do not
    # overlap) and share window edges exactly (integer pixel coordinates): a polygon coverage, which GEOS's
    # coverage union dissolves without the overlay union_all runs (7x faster on patches of many diagonal pieces)
    # pieces from one window are maximal 4-connected shapes: they meet only at corners, a MultiPolygon as they are;
    # only a patch spread over several windows has edges to dissolve
    merged = np.array(
        [
            polys[0] if len(polys) == 1 else (shapely.multipolygons(polys) if windows[k] == 1 else _dissolve(polys))
            for k, polys in enumerate(pieces)
        ],
        dtype=object,
    )
    t = grid.transform  # north-up: x = a * col + c, y = e * row + f, applied to every vertex at once
    return list(shapely.transform(merged, lambda xy: np.column_stack([t.a * xy[:, 0] + t.c, t.e * xy[:, 1] + t.f])))


def polygons_frame(grid: Grid, patches: Patches, parts: list[dict[int, list]]):
    """The patches as a GeoDataFrame (grid CRS): patch_id, pixels, area_m2/ha/rai, dates, shares, geometry."""
    import geopandas as gpd

    frame = patches.to_frame()
    return gpd.GeoDataFrame(frame, geometry=patch_polygons(grid, patches, parts), crs=grid.crs)
