"""Area and zone shares of clearing patches in memory (issue 14): the vectorised twin of the store's SQL.

The answers are those of the SQL reference (tests/attribution_oracle.py: PostGIS, GEOS and PROJ in the
server), computed with the same libraries in the process (Shapely 2 / GEOS, pyproj / PROJ) and without a Python loop
over patches:

* area in UTM, zone by zone (:func:`utm_areas`, the rule of the reference's ``utm_area_sql``): one pyproj transformer per
  UTM zone over every patch's coordinates at once, the ring areas summed as GEOS and PostGIS sum them
  (:func:`shoelace`); a patch across a zone line is cut along it and each part measured in its own zone;
* zones: a patch meets a zone when it meets the zone's boundary or lies inside it. Boundaries are cut into short
  chunks (at most :data:`CHUNK_SEGMENTS` segments) in an STRtree; a patch that meets no chunk of a zone is either
  wholly inside it (share 1, no intersection) or outside, which one vertex tells (``intersects_xy`` on the
  prepared zone, as the Gazetteer tests hotspots). Only the patches that meet a boundary are tested with
  ``covers`` and, when not covered, intersected with the zone (the exact overlay, then measured in UTM);
* the zones are the Gazetteer's (``places.Gazetteer``: the current provinces, districts, subdistricts, every
  protected-area version with its validity, the area of interest), read through the layers store's functions.

``tests/test_forest_loss_measure.py`` runs both paths on awkward patches and compares every column.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import shapely

from geo_service.coords import from_wgs84, project_from_wgs84
from geo_service.places import LEVELS, Gazetteer

CHUNK_SEGMENTS = 32  # boundary segments per STRtree entry: tight boxes, few entries
NRF = "national_reserved_forest"
_NO_DAY_FROM = np.datetime64("0001-01-01", "D")
_NO_DAY_TO = np.datetime64("9999-12-31", "D")


def _utm_zone(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor((x + 180.0) / 6.0).astype(np.int64) + 1, 1, 60)


def _hemisphere(geoms: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """32600 (north) or 32700 (south) by the latitude of ``ST_PointOnSurface``; computed only where the
    geometry's box straddles the equator (elsewhere every point of it is on one side)."""
    base = np.where(bounds[:, 1] >= 0, 32600, 32700)
    straddle = np.flatnonzero((bounds[:, 1] < 0) & (bounds[:, 3] >= 0))
    if len(straddle):
        y = shapely.get_y(shapely.point_on_surface(geoms[straddle]))
        base[straddle] = np.where(y >= 0, 32600, 32700)
    return base


def shoelace(x: np.ndarray, y: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Unsigned area of rings (closed, ``length`` vertices from ``start``): the shoelace sum of GEOS's
    ``Area::ofRingSigned`` and PostGIS's ``ptarray_signed_area``, term by term in their order (so the same double),
    vectorised over the rings of each length instead of looping over rings (hand-written: no library measures
    rings from coordinate arrays without making a geometry of each)."""
    out = np.zeros(len(start))
    for L in np.unique(length):
        k = np.flatnonzero(length == L)
        if L < 3:
            continue
        at = start[k][:, None] + np.arange(L)
        xs, ys = x[at], y[at]
        x0 = xs[:, 0]
        total = np.zeros(len(k))
        for i in range(1, L - 1):
            total += (xs[:, i] - x0) * (ys[:, i - 1] - ys[:, i + 1])
        out[k] = np.abs(total / 2.0)
    return out


def _area_in(geoms: np.ndarray, epsg: np.ndarray) -> np.ndarray:
    """Area of each geometry in the UTM projection ``epsg`` (one per geometry). A one-ring polygon (the usual
    patch) is measured from its projected coordinates; others through a projected copy (GEOS)."""
    out = np.zeros(len(geoms))
    coords, of = shapely.get_coordinates(geoms, return_index=True)
    rings = shapely.get_num_interior_rings(geoms) + 1  # multipolygons: -1 + 1 = 0, measured below
    simple = (rings == 1) & (shapely.get_type_id(geoms) == 3)
    for code in np.unique(epsg):
        t = from_wgs84(int(code))
        k = np.flatnonzero((epsg == code) & simple)
        if len(k):
            sel = np.isin(of, k)  # the coordinates of these geometries, in order
            px, py = t.transform(coords[sel, 0], coords[sel, 1])
            counts = np.bincount(of[sel], minlength=len(geoms))[k]
            out[k] = shoelace(np.asarray(px), np.asarray(py), np.r_[0, np.cumsum(counts)[:-1]], counts)
        k = np.flatnonzero((epsg == code) & ~simple)
        if len(k):
            out[k] = shapely.area(project_from_wgs84(geoms[k], int(code)))
    return out


def _polygons(geoms: np.ndarray) -> np.ndarray:
    """``ST_CollectionExtract(g, 3)``: the polygons of each geometry, in order, as one multipolygon (empty: none)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    parts, sub = shapely.get_parts(parts, return_index=True)  # the members of a nested multipolygon
    owner = owner[sub]
    poly = shapely.get_type_id(parts) == 3
    out = np.array([shapely.MultiPolygon()] * len(geoms), dtype=object)
    has = np.unique(owner[poly])
    if len(has):
        out[has] = shapely.multipolygons(parts[poly], indices=np.searchsorted(has, owner[poly]))
    return out


def utm_areas(geoms: np.ndarray) -> np.ndarray:
    """Area (m2) of each geometry (EPSG:4326) in UTM, zone by zone: the reference's ``utm_area_sql`` in numpy.

    Empty or missing geometries measure 0."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms))
    ok = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    if not len(ok):
        return out
    g = geoms[ok]
    b = shapely.bounds(g)
    lo, hi = _utm_zone(b[:, 0]), _utm_zone(b[:, 2])
    one = lo == hi
    k = np.flatnonzero(one)
    out[ok[k]] = _area_in(g[k], _hemisphere(g[k], b[k]) + lo[k])
    # across a zone line (rare): each part in its own zone, as the SQL cuts it
    spans = [np.arange(a, z + 1) for a, z in zip(lo[~one], hi[~one], strict=True)]
    for zn in np.unique(np.concatenate([np.empty(0, dtype=np.int64), *spans])).tolist():
        k = np.flatnonzero(~one & (lo <= zn) & (hi >= zn))
        strip = shapely.box(-180.0 + 6 * (zn - 1), -90.0, -180.0 + 6 * zn, 90.0)
        parts = _polygons(shapely.intersection(g[k], strip))
        keep = ~shapely.is_empty(parts)
        parts, k = parts[keep], k[keep]
        if len(k):
            out[ok[k]] += _area_in(parts, _hemisphere(parts, shapely.bounds(parts)) + zn)
    return out


@dataclass
class Zones:
    """Every zone a patch is measured against, in one array each; built once per Gazetteer."""

    kind: np.ndarray  # object: province / district / subdistrict / protected_area / aoi
    code: np.ndarray  # object
    geoms: np.ndarray  # prepared shapely geometries
    bounds: np.ndarray  # (n, 4)
    valid_from: np.ndarray  # datetime64[D] (admin areas: always)
    valid_to: np.ndarray  # datetime64[D], exclusive
    reserve: np.ndarray  # bool: a National Reserved Forest version
    chunks: shapely.STRtree  # the zones' boundaries cut into short lines
    chunk_zone: np.ndarray  # the zone of each chunk


_zones: weakref.WeakKeyDictionary[Gazetteer, Zones] = weakref.WeakKeyDictionary()


def _boundary_chunks(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boundaries of ``geoms`` as lines of at most CHUNK_SEGMENTS segments, and the index of their geometry."""
    lines, owner = shapely.get_parts(shapely.boundary(geoms), return_index=True)
    lines, sub = shapely.get_parts(lines, return_index=True)  # a multilinestring's lines
    owner = owner[sub]
    coords, line = shapely.get_coordinates(lines, return_index=True)
    if not len(coords):
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    start = np.r_[0, np.flatnonzero(np.diff(line)) + 1]  # first vertex of each line
    pos = np.arange(len(coords)) - np.repeat(start, np.diff(np.r_[start, len(coords)]))  # vertex number in its line
    n_seg = np.diff(np.r_[start, len(coords)]) - 1
    # chunk c of a line holds vertices c*S .. c*S+S: the shared vertex closes one chunk and opens the next
    chunk_of = np.minimum(pos // CHUNK_SEGMENTS, np.maximum(n_seg[line] - 1, 0) // CHUNK_SEGMENTS)
    also = (pos % CHUNK_SEGMENTS == 0) & (pos > 0) & (pos < n_seg[line])  # a chunk's last vertex, again
    idx = np.concatenate([np.arange(len(coords)), np.flatnonzero(also)])
    cid = np.concatenate([chunk_of, chunk_of[also] - 1])
    key = line[idx] * (coords.shape[0] + 1) + cid
    order = np.lexsort((idx, key))
    key, idx = key[order], idx[order]
    _, group = np.unique(key, return_inverse=True)
    chunks = shapely.linestrings(coords[idx], indices=group)
    first = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    return chunks, owner[line[idx[first]]]


def zones_of(gaz: Gazetteer) -> Zones:
    """The zones of a Gazetteer, with their boundary chunks indexed (cached with the Gazetteer)."""
    z = _zones.get(gaz)
    if z is not None:
        return z
    kinds, codes, geoms, vf, vt, reserve = [], [], [], [], [], []
    for level in LEVELS:
        areas = getattr(gaz, {"province": "provinces", "district": "districts", "subdistrict": "subdistricts"}[level])
        n = len(areas.codes)
        kinds.append(np.full(n, level, dtype=object))
        codes.append(np.asarray(areas.codes, dtype=object))
        geoms.append(np.asarray(areas.geoms, dtype=object))
        vf.append(np.full(n, _NO_DAY_FROM))
        vt.append(np.full(n, _NO_DAY_TO))
        reserve.append(np.zeros(n, dtype=bool))
    pa = gaz.protected
    n = len(pa.codes)
    kinds.append(np.full(n, "protected_area", dtype=object))
    codes.append(np.asarray(pa.codes, dtype=object))
    geoms.append(np.asarray(pa.geoms, dtype=object))
    vf.append(np.asarray(pa.valid_from, dtype="datetime64[D]"))
    vt.append(np.asarray(pa.valid_to, dtype="datetime64[D]"))
    reserve.append(np.asarray(pa.kinds == NRF, dtype=bool))
    if gaz.aoi is not None:
        kinds.append(np.array(["aoi"], dtype=object))
        codes.append(np.array([""], dtype=object))
        geoms.append(np.array([gaz.aoi], dtype=object))
        vf.append(np.full(1, _NO_DAY_FROM))
        vt.append(np.full(1, _NO_DAY_TO))
        reserve.append(np.zeros(1, dtype=bool))
    all_geoms = np.concatenate(geoms)
    shapely.prepare(all_geoms)
    chunks, owner = _boundary_chunks(all_geoms)
    z = Zones(
        kind=np.concatenate(kinds),
        code=np.concatenate(codes),
        geoms=all_geoms,
        bounds=shapely.bounds(all_geoms).reshape(-1, 4),
        valid_from=np.concatenate(vf),
        valid_to=np.concatenate(vt),
        reserve=np.concatenate(reserve),
        chunks=shapely.STRtree(chunks),
        chunk_zone=owner,
    )
    _zones[gaz] = z
    return z


_subsets: weakref.WeakKeyDictionary[Gazetteer, dict[frozenset[str], Zones]] = weakref.WeakKeyDictionary()


def zones_of_kinds(gaz: Gazetteer, kinds: frozenset[str]) -> Zones:
    """The zones of a Gazetteer of these kinds only (``province``, ``district``, ``subdistrict``,
    ``protected_area``, ``aoi``), with their boundary chunks indexed (cached with the Gazetteer): what a patch is
    measured against again when only those boundaries changed."""
    z = zones_of(gaz)
    if kinds >= set(z.kind.tolist()):
        return z
    cache = _subsets.setdefault(gaz, {})
    if kinds in cache:
        return cache[kinds]
    keep = np.isin(z.kind, list(kinds))
    new_index = np.cumsum(keep) - 1  # a kept zone's place among the kept
    chunk_keep = keep[z.chunk_zone] if len(z.chunk_zone) else np.zeros(0, dtype=bool)
    sub = Zones(
        kind=z.kind[keep],
        code=z.code[keep],
        geoms=z.geoms[keep],
        bounds=z.bounds[keep].reshape(-1, 4),
        valid_from=z.valid_from[keep],
        valid_to=z.valid_to[keep],
        reserve=z.reserve[keep],
        chunks=shapely.STRtree(np.asarray(z.chunks.geometries)[chunk_keep]),
        chunk_zone=new_index[z.chunk_zone[chunk_keep]],
    )
    cache[kinds] = sub
    return sub


@dataclass
class Measured:
    """Per patch: ``area`` (m2) and ``in_aoi``; per (patch, zone) row with an area > 0: ``row_patch`` (index into
    the patches), ``row_zone`` (index into :class:`Zones`), ``row_area`` (m2) and ``row_share``."""

    area: np.ndarray
    in_aoi: np.ndarray
    row_patch: np.ndarray
    row_zone: np.ndarray
    row_area: np.ndarray
    row_share: np.ndarray


def measure(patches: np.ndarray, days: np.ndarray, zones: Zones, area: np.ndarray | None = None) -> Measured:
    """Area, in_aoi and zone shares of patches (EPSG:4326) first seen on ``days`` (datetime64[D]).

    ``area``: the patches' areas (m2) as already measured (stored patches re-attributed: a boundary change cannot
    change them), used as they are; None: measured here in UTM.

    A zone counts for a patch when the patch meets it (``ST_Intersects``) and, for a protected-area version, when
    the version is in force on the patch's day; its row is kept when the area inside is > 0: the patch's own area
    when the zone covers it (``ST_Covers``), else the UTM area of their intersection; share = min(1, area inside /
    patch area)."""
    patches = np.asarray(patches, dtype=object)
    n = len(patches)
    days = np.asarray(days, dtype="datetime64[D]")
    area = utm_areas(patches) if area is None else np.asarray(area, dtype=np.float64)
    # 1. patches meeting a zone's boundary: candidates by box (STRtree), then the exact test on the chunk
    p_hit, c_hit = zones.chunks.query(patches, predicate="intersects")
    nz = len(zones.kind)
    edge_key = np.unique(p_hit.astype(np.int64) * nz + zones.chunk_zone[c_hit])
    # 2. the others lie inside or outside each zone whole, part by part: one vertex of each part tells which (the
    # first coordinate of a one-part patch is its shell's first vertex: no geometry object made per patch)
    coords, of = shapely.get_coordinates(patches, return_index=True)
    n_parts = shapely.get_num_geometries(patches)  # a Polygon: 1
    starts = np.searchsorted(of, np.arange(n))
    one = np.flatnonzero(n_parts == 1)
    many = np.flatnonzero(n_parts > 1)
    parts, idx = shapely.get_parts(patches[many], return_index=True)
    first = shapely.get_point(shapely.get_exterior_ring(parts), 0)
    owner = np.concatenate([one, many[idx]])
    x = np.concatenate([coords[starts[one], 0], shapely.get_x(first)])
    y = np.concatenate([coords[starts[one], 1], shapely.get_y(first)])
    hits = []
    for k in range(len(zones.kind)):
        minx, miny, maxx, maxy = zones.bounds[k]
        cand = np.flatnonzero((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
        if len(cand):
            hits.append(owner[cand[shapely.intersects_xy(zones.geoms[k], x[cand], y[cand])]] * nz + k)
    key, count = np.unique(np.concatenate(hits) if hits else np.empty(0, dtype=np.int64), return_counts=True)
    off_edge = ~np.isin(key, edge_key)  # a patch on a zone's boundary is measured below
    key, count = key[off_edge], count[off_edge]
    whole = count == n_parts[key // nz]
    # a patch with parts inside and parts outside (and on no boundary) is measured as a boundary pair
    edge_key = np.union1d(edge_key, key[~whole])
    e_patch, e_zone = edge_key // nz, edge_key % nz
    in_patch, in_zone = key[whole] // nz, key[whole] % nz
    # in force on the patch's first day (admin areas always are)
    keep = (days[in_patch] >= zones.valid_from[in_zone]) & (days[in_patch] < zones.valid_to[in_zone])
    in_patch, in_zone = in_patch[keep], in_zone[keep]
    keep = (days[e_patch] >= zones.valid_from[e_zone]) & (days[e_patch] < zones.valid_to[e_zone])
    e_patch, e_zone = e_patch[keep], e_zone[keep]
    # 3. boundary pairs: covered (share 1), or the UTM area of the exact intersection
    covered = shapely.covers(zones.geoms[e_zone], patches[e_patch])
    cut = np.flatnonzero(~covered)
    e_area = area[e_patch].copy()
    if len(cut):
        e_area[cut] = utm_areas(shapely.intersection(patches[e_patch[cut]], zones.geoms[e_zone[cut]]))
    aoi = zones.kind == "aoi"
    in_aoi = np.zeros(n, dtype=bool)
    in_aoi[in_patch[aoi[in_zone]]] = True
    in_aoi[e_patch[aoi[e_zone]]] = True  # meeting the area's boundary is meeting the area
    row_patch = np.concatenate([in_patch, e_patch])
    row_zone = np.concatenate([in_zone, e_zone])
    row_area = np.concatenate([area[in_patch], e_area])
    keep = (row_area > 0) & ~aoi[row_zone]
    row_patch, row_zone, row_area = row_patch[keep], row_zone[keep], row_area[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.minimum(1.0, row_area / area[row_patch])
    return Measured(area, in_aoi, row_patch, row_zone, row_area, share)


@dataclass
class Attributed:
    """Per patch: the largest-share code of each level and reserve (None: none); the protected areas of every
    patch in a row, patch after patch, each patch's in code order (``protected_counts`` per patch; 0: none)."""

    province: np.ndarray
    district: np.ndarray
    subdistrict: np.ndarray
    reserve: np.ndarray
    protected_counts: np.ndarray
    protected_codes: np.ndarray


def attribute(m: Measured, zones: Zones, code_rank: dict[str, int]) -> Attributed:
    """The largest-share zone of each level (ties: the first code in ``code_rank``'s order, the database's
    collation), the largest-share National Reserved Forest and every protected area, per patch."""
    n = len(m.area)
    rank = np.array([code_rank[c] for c in zones.code], dtype=np.int64) if len(zones.code) else np.empty(0, int)
    zr = rank[m.row_zone]
    # largest share first, then the code: the first row of each (patch, kind) wins
    order = np.lexsort((zr, -m.row_share, m.row_patch))
    rp, rz = m.row_patch[order], m.row_zone[order]
    out = {}
    for level in (*LEVELS, "reserve"):
        sel = zones.reserve[rz] if level == "reserve" else zones.kind[rz] == level
        p, z = rp[sel], rz[sel]
        first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.empty(0, dtype=bool)
        codes = np.full(n, None, dtype=object)
        codes[p[first]] = zones.code[z[first]]
        out[level] = codes
    sel = zones.kind[m.row_zone] == "protected_area"
    p, z = m.row_patch[sel], m.row_zone[sel]
    o = np.lexsort((rank[z], p))
    return Attributed(
        out["province"],
        out["district"],
        out["subdistrict"],
        out["reserve"],
        np.bincount(p, minlength=n),
        zones.code[z[o]],
    )
