"""Seeded, nested administrative boundaries over Thailand's outline: provinces > districts > subdistricts.

How a partition is made (every step deterministic for a seed):

1. Subdistrict seeds are drawn inside the outline (Natural Earth 1:10m, layers/country/), denser around the
   big towns of each region, like real tambon (small in the central plain and the north-east, large in the
   western and northern mountains).
2. Subdistricts are the Voronoi cells of those seeds (``shapely.voronoi_polygons``) clipped to the outline:
   no overlaps, no gaps, every cell holds its seed, so the count is exactly as asked.
3. Districts group subdistricts, provinces group districts: centres are picked among the seeds and moved a few
   times to the member seed nearest the mean of their members (k-medoid like; a centre always keeps its own
   seed, so no group is ever empty), then every member goes to its nearest centre.
4. A district is the union of its subdistricts, a province the union of its districts: nesting is exact by
   construction.

Codes have the shape of the real ones (province ``54``, district ``5401``, subdistrict ``540101``; P-codes
``TH54``, ``TH5401``, ``TH540101`` as in OCHA COD-AB), numbered north to south and, inside a parent, from the
centre outwards (``..01`` is the central, "Mueang", unit). Names are plainly simulated
("จังหวัดจำลอง 01" / "Sim Province 01").

Protected areas (optional): Voronoi cells of another seed set, preferring sparsely settled land, slightly
shrunk, until they cover about ``protected_share`` of the country, with kinds, agencies and valid_from dates.

``write_boundaries`` writes GeoPackage (or GeoJSON) files and a ``manifest.toml`` that
``geo-service layers load-bundled --layers-dir OUT_DIR`` loads through the real layer loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon

from geo_service.coords import COUNTRY_FILE
from geo_service.settings import get_settings

if TYPE_CHECKING:
    import geopandas as gpd

NATIONAL = {"provinces": 77, "districts": 928, "subdistricts": 7400}
SMALL = {"provinces": 5, "districts": 40, "subdistricts": 300}  # the scaled-down version for tests
SCALES = {"national": NATIONAL, "small": SMALL}

# Towns around which seeds are denser: (lon, lat, weight, spread in degrees). Bangkok and the central plain,
# the north-east (Isan), the northern valleys and the south; the rest of the seeds are uniform in the outline.
TOWNS = np.array(
    [
        (100.52, 13.75, 3.0, 0.45),  # Bangkok
        (100.10, 15.70, 1.0, 0.50),  # Nakhon Sawan
        (100.90, 13.40, 1.0, 0.40),  # Chonburi
        (99.90, 13.80, 0.8, 0.40),  # Nakhon Pathom / Ratchaburi
        (102.10, 15.00, 1.6, 0.60),  # Nakhon Ratchasima
        (102.83, 16.43, 1.6, 0.60),  # Khon Kaen
        (102.80, 17.40, 1.2, 0.55),  # Udon Thani
        (104.85, 15.25, 1.2, 0.55),  # Ubon Ratchathani
        (103.65, 16.05, 1.2, 0.55),  # Roi Et / Maha Sarakham
        (103.50, 14.90, 1.0, 0.50),  # Surin / Buriram
        (98.98, 18.79, 1.0, 0.40),  # Chiang Mai
        (99.83, 19.91, 0.6, 0.40),  # Chiang Rai
        (100.14, 18.14, 0.4, 0.30),  # Phrae
        (100.26, 16.82, 0.6, 0.40),  # Phitsanulok
        (99.33, 9.14, 0.6, 0.45),  # Surat Thani
        (99.96, 8.43, 0.6, 0.40),  # Nakhon Si Thammarat
        (100.47, 7.01, 0.6, 0.35),  # Hat Yai / Songkhla
        (101.30, 6.50, 0.5, 0.35),  # Pattani / Yala / Narathiwat
    ]
)
UNIFORM_SHARE = 0.45  # share of seeds drawn uniformly over the outline
MOVES = 6  # centre moves (k-medoid steps) when grouping

PROTECTED_KINDS = (
    # kind, share of reserves, Thai prefix, English kind, agency
    ("national_reserved_forest", 0.6, "ป่าสงวนแห่งชาติจำลอง", "Sim National Reserved Forest", "Royal Forest Department"),
    (
        "national_park",
        0.25,
        "อุทยานแห่งชาติจำลอง",
        "Sim National Park",
        "Department of National Parks, Wildlife and Plant Conservation",
    ),
    (
        "wildlife_sanctuary",
        0.15,
        "เขตรักษาพันธุ์สัตว์ป่าจำลอง",
        "Sim Wildlife Sanctuary",
        "Department of National Parks, Wildlife and Plant Conservation",
    ),
)

SOURCE = "geo_service simulation (geo_service/simulation/boundaries.py): SIMULATED boundaries, not official"
ATTRIBUTION = "SIMULATED boundaries (geo_service), over Natural Earth's outline of Thailand (public domain)"


@dataclass
class SimulatedBoundaries:
    """The generated layers (GeoDataFrames in EPSG:4326) and the parameters that made them."""

    provinces: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    protected_areas: gpd.GeoDataFrame | None
    seed: int

    @property
    def version(self) -> str:
        """The layer version recorded when loaded: names the seed and the counts."""
        return f"sim-s{self.seed}-{len(self.provinces)}-{len(self.districts)}-{len(self.subdistricts)}"


@lru_cache(maxsize=4)
def thailand_outline(layers_dir: Path | None = None) -> MultiPolygon:
    """Thailand's outline (Natural Earth 1:10m, lon/lat) from layers/country/, as coords.py reads it, unwidened."""
    layers_dir = layers_dir or get_settings().service.layers_dir or Path(__file__).resolve().parents[2] / "layers"
    path = Path(layers_dir) / COUNTRY_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"Thailand's outline is missing ({path}); set GEO_SERVICE_LAYERS_DIR to the project's layers/ folder."
        )
    geom = shapely.from_geojson(path.read_text(encoding="utf-8")).geoms[0]
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def sample_in_outline(
    rng: np.random.Generator,
    n: int,
    outline: shapely.Geometry,
    *,
    uniform_share: float = UNIFORM_SHARE,
    towns: np.ndarray = TOWNS,
) -> np.ndarray:
    """``n`` points (lon, lat) inside ``outline``: a share uniform, the rest Gaussian around weighted towns.

    Rejection sampling, vectorised: draws in rounds of about twice what is missing until ``n`` are inside.
    """
    shapely.prepare(outline)
    minx, miny, maxx, maxy = outline.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        m = max(2 * (n - len(out)), 64)
        uniform = rng.random(m) < uniform_share
        pick = rng.choice(len(towns), size=m, p=towns[:, 2] / towns[:, 2].sum())
        pts = towns[pick, :2] + rng.standard_normal((m, 2)) * towns[pick, 3:4]
        pts[uniform] = np.column_stack((rng.uniform(minx, maxx, uniform.sum()), rng.uniform(miny, maxy, uniform.sum())))
        inside = shapely.contains_xy(outline, pts[:, 0], pts[:, 1])
        out = np.vstack((out, pts[inside]))
    return out[:n]


def _polygons_only(geom: shapely.Geometry) -> MultiPolygon:
    """The polygonal parts of an overlay result (drops stray lines/points on shared edges)."""
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    polys: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon):
            polys.append(part)
        elif isinstance(part, MultiPolygon):
            polys.extend(part.geoms)
    return MultiPolygon(polys)


def voronoi_cells(points: np.ndarray, outline: shapely.Geometry) -> np.ndarray:
    """The Voronoi cell of each point (in input order) clipped to ``outline``, as MultiPolygons."""
    minx, miny, maxx, maxy = outline.bounds
    frame = shapely.box(minx - 1, miny - 1, maxx + 1, maxy + 1)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=frame, ordered=True))
    if len(cells) != len(points):  # only if two points coincide, which the samplers never draw
        raise ValueError("two seed points coincide; choose another seed")
    shapely.prepare(outline)
    clipped = shapely.intersection(cells, outline)
    return np.array([_polygons_only(g) for g in clipped], dtype=object)


def group_points(
    rng: np.random.Generator, points: np.ndarray, k: int, moves: int = MOVES
) -> tuple[np.ndarray, np.ndarray]:
    """Group ``points`` into exactly ``k`` non-empty, compact groups.

    Returns (group of each point, index of each group's centre point). Centres are points themselves; each
    move takes a centre to the member nearest its group's mean, then members go to their nearest centre. A
    centre is at distance 0 from itself, so it stays in its own group and no group is ever empty.
    """
    n = len(points)
    if not 1 <= k <= n:
        raise ValueError(f"cannot make {k} groups of {n} units")
    # Hand-written rather than scipy.cluster.vq.kmeans2: k-means may leave a group empty, and the counts
    # must be exact; this keeps k-means' compactness with medoids that cannot vanish.
    centres = np.sort(rng.choice(n, size=k, replace=False))
    tree = cKDTree(points)
    for step in range(moves + 1):
        group = cKDTree(points[centres]).query(points)[1]
        if step == moves:
            break
        counts = np.bincount(group, minlength=k)
        means = np.column_stack(
            (
                np.bincount(group, points[:, 0], minlength=k) / counts,
                np.bincount(group, points[:, 1], minlength=k) / counts,
            )
        )
        new = centres.copy()
        for g in range(k):  # k groups (at most a few thousand), not one iteration per point
            members = np.flatnonzero(group == g) if counts[g] < 64 else None
            if members is None:
                cand = np.asarray(tree.query(means[g], k=64)[1])
                cand = cand[group[cand] == g]
                new[g] = cand[0] if len(cand) else centres[g]
            else:
                d = ((points[members] - means[g]) ** 2).sum(axis=1)
                new[g] = members[np.argmin(d)]
        centres = new
    return group, centres


def _order(points: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    """Numbering order: from the centre outwards, or north to south (then west to east) without a centre."""
    if centre is None:
        return np.lexsort((points[:, 0], -np.round(points[:, 1], 6)))
    d = ((points - centre) ** 2).sum(axis=1)
    return np.lexsort((points[:, 0], d))


def _check_counts(provinces: int, districts: int, subdistricts: int) -> None:
    if not 1 <= provinces <= 99:
        raise ValueError(f"provinces must be 1..99 (two-digit codes), not {provinces}")
    if not provinces <= districts <= 99 * provinces:
        raise ValueError(f"districts must be {provinces}..{99 * provinces} for {provinces} provinces, not {districts}")
    if not districts <= subdistricts <= 99 * districts:
        raise ValueError(
            f"subdistricts must be {districts}..{99 * districts} for {districts} districts, not {subdistricts}"
        )


def simulate_boundaries(
    seed: int = 0,
    *,
    provinces: int = NATIONAL["provinces"],
    districts: int = NATIONAL["districts"],
    subdistricts: int = NATIONAL["subdistricts"],
    protected_share: float | None = 0.3,
    layers_dir: Path | None = None,
) -> SimulatedBoundaries:
    """Generate nested provinces, districts and subdistricts over Thailand's outline, deterministic per seed.

    Parameters
    ----------
    seed : the random seed; the same seed and counts give the same layers.
    provinces, districts, subdistricts : exact counts (77 / 928 / 7,400 nationally; ``SMALL`` for tests).
    protected_share : share of the country covered by simulated protected areas (None: none).
    layers_dir : where ``country/thailand_naturalearth_10m.geojson`` is (default: the project's layers/).

    Returns
    -------
    SimulatedBoundaries
        Three GeoDataFrames with ``code``, ``pcode``, ``name_th``, ``name_en``, ``parent_code`` and
        ``area_km2``, and the protected areas (``code``, names, ``kind``, ``version``, ``agency``,
        ``legal_reference``, ``valid_from``) or None.
    """
    import geopandas as gpd  # heavy (GDAL): imported when boundaries are generated

    _check_counts(provinces, districts, subdistricts)
    outline = thailand_outline(layers_dir)
    rng = np.random.default_rng([seed, 0xB0])
    seeds = sample_in_outline(rng, subdistricts, outline)
    cells = voronoi_cells(seeds, outline)

    # districts group subdistrict seeds; provinces group district centres
    sub_district, d_centres = group_points(rng, seeds, districts)
    d_points = seeds[d_centres]
    dist_province, p_centres = group_points(rng, d_points, provinces)
    p_points = d_points[p_centres]

    # codes: provinces north to south, districts and subdistricts from their parent's centre outwards
    p_code = np.empty(provinces, dtype=object)
    for rank, p in enumerate(_order(p_points, None)):
        p_code[p] = f"{rank + 1:02d}"
    d_code = np.empty(districts, dtype=object)
    for p in range(provinces):
        members = np.flatnonzero(dist_province == p)
        if len(members) > 99:
            raise ValueError(f"a province got {len(members)} districts (codes allow 99); use more provinces")
        for rank, d in enumerate(members[_order(d_points[members], p_points[p])]):
            d_code[d] = f"{p_code[p]}{rank + 1:02d}"
    s_code = np.empty(subdistricts, dtype=object)
    for d in range(districts):
        members = np.flatnonzero(sub_district == d)
        if len(members) > 99:
            raise ValueError(f"a district got {len(members)} subdistricts (codes allow 99); use more districts")
        for rank, s in enumerate(members[_order(seeds[members], d_points[d])]):
            s_code[s] = f"{d_code[d]}{rank + 1:02d}"

    # dissolve: district = union of its subdistricts, province = union of its districts
    d_geoms = np.array(
        [_polygons_only(shapely.union_all(cells[sub_district == d])) for d in range(districts)], dtype=object
    )
    p_geoms = np.array(
        [_polygons_only(shapely.union_all(d_geoms[dist_province == p])) for p in range(provinces)], dtype=object
    )

    def frame(codes, geoms, parent, level_th, level_en):
        df = gpd.GeoDataFrame(
            {
                "code": codes,
                "pcode": ["TH" + c for c in codes],
                "name_th": [f"{level_th}จำลอง {c}" for c in codes],
                "name_en": [f"Sim {level_en} {c}" for c in codes],
                "parent_code": parent,
            },
            geometry=list(geoms),
            crs="EPSG:4326",
        )
        df["area_km2"] = np.round(df.geometry.to_crs(32647).area.to_numpy() / 1e6, 3)
        return df.sort_values("code", ignore_index=True)

    prov = frame(list(p_code), p_geoms, [None] * provinces, "จังหวัด", "Province")
    dist = frame(list(d_code), d_geoms, [p_code[p] for p in dist_province], "อำเภอ", "District")
    sub = frame(list(s_code), cells, [d_code[d] for d in sub_district], "ตำบล", "Subdistrict")
    protected = None
    if protected_share:
        protected = simulate_protected_areas(
            rng, outline, seeds, share=protected_share, count=max(subdistricts // 25, 40)
        )
    return SimulatedBoundaries(prov, dist, sub, protected, seed)


def simulate_protected_areas(
    rng: np.random.Generator,
    outline: shapely.Geometry,
    settlements: np.ndarray,
    *,
    share: float = 0.3,
    count: int = 300,
    shrink_deg: float = 0.01,
) -> gpd.GeoDataFrame:
    """Reserves over about ``share`` of the outline, preferring land far from ``settlements`` (seed points).

    Voronoi cells of ``count`` uniform points are taken, sparsest first (with some randomness), each shrunk by
    ``shrink_deg`` so neighbouring reserves do not touch, until their area reaches ``share`` of the outline.
    """
    import geopandas as gpd

    if not 0 < share < 1:
        raise ValueError(f"protected_share must be between 0 and 1, not {share}")
    points = sample_in_outline(rng, count, outline, uniform_share=1.0)
    cells = shapely.buffer(voronoi_cells(points, outline), -shrink_deg, quad_segs=2)
    # how settled the land is: settlements within 0.3 degrees of the reserve's point
    settled = np.array([len(x) for x in cKDTree(settlements).query_ball_point(points, 0.3)], dtype=float)
    order = np.argsort(settled * rng.uniform(0.5, 1.5, count))
    areas = shapely.area(cells)[order]
    take = order[: int(np.searchsorted(np.cumsum(areas), share * outline.area)) + 1]
    take = take[~shapely.is_empty(cells[take])]
    shares = np.array([k[1] for k in PROTECTED_KINDS])
    kinds = rng.choice(len(PROTECTED_KINDS), size=len(take), p=shares / shares.sum())
    start = date(1964, 1, 1)
    valid_from = [start + timedelta(days=int(x)) for x in rng.integers(0, (date(2020, 12, 31) - start).days, len(take))]
    rows = []
    for i, (cell, k, vf) in enumerate(zip(cells[take], kinds, valid_from, strict=True)):
        kind, _, th, en, agency = PROTECTED_KINDS[k]
        code = f"SIM-{''.join(w[0] for w in kind.split('_')).upper()}-{i + 1:04d}"
        rows.append(
            {
                "code": code,
                "name_th": f"{th} {i + 1:04d}",
                "name_en": f"{en} {i + 1:04d}",
                "kind": kind,
                "version": "1",
                "legal_reference": "SIMULATED: not a real ministerial regulation or royal decree",
                "agency": agency,
                "valid_from": vf.isoformat(),
                "note": "simulated for benchmarks and tests",
                "geometry": _polygons_only(cell),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


LAYER_FILES = {
    "province": "provinces",
    "district": "districts",
    "subdistrict": "subdistricts",
    "protected_area": "protected_areas",
}


def write_boundaries(result: SimulatedBoundaries, out_dir: Path | str, *, fmt: str = "gpkg") -> list[Path]:
    """Write the layers (``provinces.gpkg`` ...) and a ``manifest.toml`` for ``geo-service layers load-bundled``.

    ``fmt`` is ``gpkg`` (GeoPackage, exact coordinates) or ``geojson``. Returns the files written; the
    manifest lists provinces, districts, subdistricts and protected areas in load order.
    """
    if fmt not in ("gpkg", "geojson"):
        raise ValueError(f"format must be gpkg or geojson, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layers = {
        "province": result.provinces,
        "district": result.districts,
        "subdistrict": result.subdistricts,
        "protected_area": result.protected_areas,
    }
    written: list[Path] = []
    entries: list[str] = []
    for layer_type, gdf in layers.items():
        if gdf is None:
            continue
        path = out / f"{LAYER_FILES[layer_type]}.{fmt}"
        path.unlink(missing_ok=True)
        gdf.to_file(path, driver="GPKG" if fmt == "gpkg" else "GeoJSON", layer=LAYER_FILES[layer_type])
        written.append(path)
        counts = f"{len(gdf)} features"
        entries.append(
            "\n".join(
                [
                    "[[layer]]",
                    f"name = {json.dumps('sim-' + LAYER_FILES[layer_type].replace('_', '-'))}",
                    f"file = {json.dumps(path.name)}",
                    f"type = {json.dumps(layer_type)}",
                    f"version = {json.dumps(result.version)}",
                    f"title = {json.dumps(f'SIMULATED {LAYER_FILES[layer_type]}, {counts} (seed {result.seed})')}",
                    f"source = {json.dumps(SOURCE)}",
                    'licence = "CC0 1.0 (simulated data, no rights reserved)"',
                    f"attribution = {json.dumps(ATTRIBUTION)}",
                    "illustrative = true",
                    "fields = {}",
                ]
            )
        )
    manifest = out / "manifest.toml"
    manifest.write_text(
        "# SIMULATED layers written by `geo-service simulate boundaries` (geo_service/simulation/boundaries.py).\n"
        "# Load with: geo-service layers load-bundled --layers-dir " + str(out) + "\n\n" + "\n\n".join(entries) + "\n",
        encoding="utf-8",
    )
    written.append(manifest)
    return written
