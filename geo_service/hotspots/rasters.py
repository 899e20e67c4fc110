"""Hotspot rasters: check, store as cloud-optimised GeoTIFF, register, zonal statistics, flagged-pixel features.

A raster is recognised from its bytes (``geo_service.uploads``, shared with layer uploads) and opened from
disk with the GTiff driver only and GDAL kept off the network (GDAL would otherwise open a VRT, or anything
else, named .tif), refused when it has no CRS, declares more pixels than the configured cap (checked on the
header, before any pixel is read) or has truncated or unreadable data (every block is read, window by
window). It is then written as a COG (rio-cogeo, in windows), registered with its product, date, grid,
nodata and recorded threshold, and summarised with exact coverage-weighted statistics (exactextract's
answers, computed in one pass for all zones by ``hotspots.zonal``) over the districts, the protected areas in
force on its date and their intersections (district x protected area): valid pixels, mean, min, max,
percentiles, flagged pixels and, for products that encode it, burned area.

What the values mean, which pixels are flagged and whether they are burned area: ``raster_products``.

Versions: a raster is identified by its file (SHA-256) and product. Registering the same file again returns
the same raster (same id, same figures). A different file with the same name, product and date is a new
version of that raster: a new id, ``version`` + 1, and the previous version gets ``superseded_by``; it stays
readable (its URL, figures and the case links made on them), but totals count current versions only.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import scratch, uploads
from geo_service.auth import Principal
from geo_service.errors import Conflict, LayerRejected, NotFound
from geo_service.hashing import sha256_file
from geo_service.hotspots import raster_products as rp
from geo_service.hotspots import zonal
from geo_service.hotspots.raster_products import FIRE_MASK_CLASSES, PRODUCTS, Threshold
from geo_service.layers import queries as layers

__all__ = [
    "FIRE_MASK_CLASSES",
    "PRODUCTS",
    "RasterRejected",
    "RasterReport",
    "burned_area_by_zone",
    "fire_features",
    "raster_stats",
    "register_raster",
    "zonal_stats",
]

DEFAULT_MAX_PIXELS = 400_000_000
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0
PERCENTILES = (10, 25, 50, 75, 90)
PERCENTILE_MAX_PIXELS = 1_000_000


class RasterRejected(LayerRejected):
    """A raster refused as a whole (422); nothing was stored."""

    code = "raster_rejected"
    message = "The raster was refused; nothing was stored."


@dataclass
class RasterReport:
    """What a registration did (registered, new_version, already_registered) and the raster's statistics."""

    raster_id: int | None
    product: str
    acq_date: str
    name: str
    crs: str
    width: int
    height: int
    nodata: float | None
    file_path: str
    file_sha256: str
    status: str = "registered"  # registered | new_version | already_registered
    version: int = 1
    supersedes: int | None = None
    meaning: dict = field(default_factory=dict)
    zones: int = 0
    flagged_pixels: float | None = None
    burned_ha: float | None = None
    stats: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The report as a dict (numpy numbers may remain: serialise with OPT_SERIALIZE_NUMPY)."""
        return asdict(self)


def open_checked(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Open a GeoTIFF for reading after the header checks (GTiff driver only, CRS, size cap).

    Raises
    ------
    RasterRejected
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    def refuse(message: str) -> RasterRejected:
        return RasterRejected(message + " Send a GeoTIFF.", details=[{"problem": "not_geotiff"}])

    uploads.sniff(path, ("gtiff",), refuse)  # from the bytes, before GDAL opens anything
    try:
        with rasterio.Env(**uploads.GDAL_SAFE_OPTIONS):
            ds = rasterio.open(path, driver="GTiff")
    except RasterioIOError:
        raise RasterRejected(
            "The file is not a readable GeoTIFF (other formats, VRT included, are refused).",
            details=[{"problem": "not_geotiff"}],
        ) from None
    try:
        pixels = ds.width * ds.height * ds.count
        if pixels > max_pixels:
            raise RasterRejected(
                f"The raster declares {ds.width} x {ds.height} x {ds.count} pixels, more than the "
                f"{max_pixels:,} accepted.",
                details=[{"problem": "too_large", "width": ds.width, "height": ds.height, "bands": ds.count}],
            )
        if ds.crs is None:
            raise RasterRejected(
                "The raster has no coordinate reference system; add one (e.g. with "
                "gdal_edit.py -a_srs) and upload it again.",
                details=[{"problem": "no_crs"}],
            )
        if ds.transform.is_identity:
            raise RasterRejected(
                "The raster has no georeferencing (no geotransform).", details=[{"problem": "no_transform"}]
            )
        if ds.transform.b or ds.transform.d:  # neither exactextract nor the zonal kernel takes them
            raise RasterRejected(
                "The raster's grid is rotated; warp it to a north-up grid (e.g. gdalwarp) and upload it again.",
                details=[{"problem": "rotated_grid"}],
            )
    except RasterRejected:
        ds.close()
        raise
    return ds


def _check_blocks(ds) -> None:
    """Read every block of band 1 (windows), refusing truncated or corrupt data."""
    from rasterio.errors import RasterioIOError

    for _, window in ds.block_windows(1):
        try:
            ds.read(1, window=window)
        except RasterioIOError:
            raise RasterRejected(
                f"The raster's data are truncated or unreadable (block at row {window.row_off}, "
                f"column {window.col_off}).",
                details=[{"problem": "truncated", "row": window.row_off, "column": window.col_off}],
            ) from None


def _to_cog(src: Path, dst: Path) -> None:
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    profile = cog_profiles.get("deflate")
    cog_translate(
        str(src),
        str(dst),
        profile,
        quiet=True,
        in_memory=False,
        config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": True},
    )


def _store_cog(src: Path, target: Path) -> None:
    """Convert ``src`` to a COG at ``target`` so that a crash at any moment leaves only what the next start-up
    deletes (``scratch``). rio-cogeo writes an intermediate GeoTIFF of its own naming (``tmp*.tif``) next to
    its output, so the conversion runs in this process's scratch folder, not in the store (a kill -9 left
    that file in the store for good); the result becomes a partial file of the store (a rename on the same
    file system, else a copy) and is renamed into place when complete."""
    with scratch.temp_dir("geo_service_cog_") as work:
        made = Path(work) / target.name
        _to_cog(src, made)
        partial = scratch.partial_path(target.parent, target.name)
        shutil.move(made, partial)
        partial.replace(target)


def _file_key(sha: str) -> str:
    return f"hotspot_raster_file|{sha}"


def remove_unregistered(session: Session, store_dir: Path) -> list[Path]:
    """Delete the store's complete COGs (``<sha256>.tif``) that no registered raster points to: what a process
    killed after its conversion and before its commit leaves. A file whose registration is under way in a
    running process is kept: that transaction holds the file's advisory lock until it ends, and the row is
    looked up again once the lock is taken here. Returns what was deleted."""
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        return []
    registered = set(session.execute(text("SELECT DISTINCT file_sha256 FROM hotspot_rasters")).scalars())
    removed = []
    for cog in store_dir.glob("*.tif"):
        sha = cog.stem
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha) or sha in registered:
            continue
        taken = session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": _file_key(sha)}
        ).scalar_one()
        if (
            taken
            and not session.execute(
                text("SELECT EXISTS (SELECT 1 FROM hotspot_rasters WHERE file_sha256 = :s)"), {"s": sha}
            ).scalar_one()
        ):
            cog.unlink(missing_ok=True)
            removed.append(cog)
    return removed


def _zones(session: Session, on: date):
    """Districts, protected areas in force on ``on`` and their intersections, as a GeoDataFrame (EPSG:4326)."""
    import geopandas as gpd

    sql = """
      SELECT 'district' AS zone_type, code AS zone_code, geom FROM current_admin_areas
      WHERE level = 'district'
      UNION ALL
      SELECT 'protected_area', code, geom FROM protected_areas_on(:on)
      UNION ALL
      SELECT 'district_protected_area', a.code || '|' || p.code,
             ST_Multi(ST_CollectionExtract(ST_Intersection(a.geom, p.geom), 3))
      FROM current_admin_areas a JOIN protected_areas_on(:on) p ON ST_Intersects(a.geom, p.geom)
      WHERE a.level = 'district'
        AND NOT ST_IsEmpty(ST_CollectionExtract(ST_Intersection(a.geom, p.geom), 3))
    """
    return gpd.read_postgis(text(sql), session.connection(), geom_col="geom", params={"on": on}, crs=4326)


def pixel_area_m2(ds, lat: np.ndarray) -> np.ndarray:
    """Area of one pixel (m2): constant in a projected CRS, by latitude in a geographic one."""
    a, e = ds.transform.a, ds.transform.e
    if ds.crs.is_geographic:
        return np.abs(a * M_PER_DEG_LON_EQ * np.cos(np.radians(lat)) * e * M_PER_DEG_LAT)
    factor = ds.crs.linear_units_factor[1] if ds.crs.linear_units_factor else 1.0
    return np.full(len(lat), abs(a * e) * factor * factor)


def zonal_stats(path: Path, product: str, zones, threshold: Threshold | None = None) -> list[dict]:
    """Exact coverage-weighted statistics over ``zones`` (GeoDataFrame with zone_type, zone_code): valid pixels,
    mean, min, max, percentiles, flagged pixels by class and area, and burned area where the product encodes it.

    The figures are exactextract's (coverage fractions exact at polygon edges), computed by the one-pass kernel
    ``hotspots.zonal`` (tested against exactextract). Rotated grids were refused by ``open_checked``.

    Parameters
    ----------
    path : Path
        The raster (COG or GeoTIFF).
    product : str
        One of ``PRODUCTS``.
    zones : geopandas.GeoDataFrame
        Any CRS; reprojected to the raster's.
    threshold : Threshold, optional
        The threshold recorded at registration (``raster_products.threshold_for``).

    Returns
    -------
    list of dict
        One per zone that overlaps the raster. ``flagged_*`` are None when nothing can be flagged (a generic
        raster without a threshold); ``burned_*`` are None unless the product encodes burned area.
    """
    import rasterio

    spec = rp.product(product)
    flags = spec.categorical or threshold is not None

    def classify(values: np.ndarray) -> np.ndarray:
        return rp.flag_pixels(product, threshold, values)

    with rasterio.open(path, driver="GTiff") as src:
        local = zones.to_crs(src.crs)
        lat = zones.geometry.representative_point().y.to_numpy()
        px_m2 = pixel_area_m2(src, lat)
        figures = zonal.zonal_stats(src, local.geometry.values, classify=classify if flags else None)
        # percentiles of classes or burn dates say nothing: measured values only
        pct = [None] * len(local) if spec.categorical else _percentiles(src, local)
    out = []
    for i, (zone_type, zone_code, f) in enumerate(zip(local["zone_type"], local["zone_code"], figures)):
        if not f.count:
            continue
        stat = {
            "zone_type": zone_type,
            "zone_code": zone_code,
            "pixels": round(f.count, 3),
            "mean": f.mean,
            "min": f.min,
            "max": f.max,
            "percentiles": pct[i],
            "flagged_pixels": None,
            "flagged_by_class": None,
            "flagged_m2": None,
            "burned_m2": None,
        }
        if flags:
            by_class: dict[str, float] = {}
            flagged = 0.0
            for flag, n in sorted(f.classes.items()):
                if flag:
                    label = rp.flag_label(product, threshold, flag)
                    by_class[label] = round(by_class.get(label, 0.0) + n, 3)
                    flagged += n
            m2 = flagged * float(px_m2[i])
            stat.update(
                flagged_pixels=round(flagged, 3),
                flagged_by_class=by_class,
                flagged_m2=round(m2, 1),
                burned_m2=round(m2, 1) if spec.burned_area else None,
            )
        out.append(_with_units(stat))
    return out


def _percentiles(src, zones, max_pixels: int = PERCENTILE_MAX_PIXELS) -> list[dict | None]:
    """p10-p90 of the valid pixels whose centre lies in each zone, read at most ``max_pixels`` per zone
    (nearest-neighbour decimation from the COG's overviews for larger zones: exactextract's quantiles keep
    every distinct value and took 55 s for 9M float pixels, this 1 s)."""
    import math

    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.errors import WindowError
    from rasterio.features import geometry_mask
    from rasterio.windows import Window, from_bounds

    full = Window(0, 0, src.width, src.height)
    out: list[dict | None] = []
    for geom in zones.geometry:
        try:
            w = from_bounds(*geom.bounds, transform=src.transform)
            win = Window(
                math.floor(w.col_off), math.floor(w.row_off), math.ceil(w.width) + 1, math.ceil(w.height) + 1
            ).intersection(full)
        except WindowError:  # the zone does not overlap the raster
            out.append(None)
            continue
        scale = max(1.0, math.sqrt(win.width * win.height / max_pixels))
        shape = (max(1, int(win.height / scale)), max(1, int(win.width / scale)))
        data = src.read(1, window=win, out_shape=shape, masked=True, resampling=Resampling.nearest)
        transform = src.window_transform(win) * Affine.scale(win.width / shape[1], win.height / shape[0])
        inside = geometry_mask([geom], out_shape=shape, transform=transform, invert=True)
        values = data.data[inside & ~np.ma.getmaskarray(data)].astype("float64")
        values = values[np.isfinite(values)]
        out.append(
            {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES))}
            if values.size
            else None
        )
    return out


def _num(v) -> float | None:
    return None if v is None or np.isnan(v) else float(v)


def _with_units(stat: dict) -> dict:
    """ha and rai beside every m2 figure (None stays None)."""
    for key in ("flagged", "burned"):
        m2 = stat.get(f"{key}_m2")
        stat[f"{key}_ha"] = None if m2 is None else round(m2 / 1e4, 3)
        stat[f"{key}_rai"] = None if m2 is None else round(m2 / 1600, 2)
    return stat


def _threshold(row) -> Threshold | None:
    return (
        Threshold(row["threshold"], row["threshold_op"], row["threshold_label"])
        if row["threshold"] is not None
        else None
    )


def register_raster(
    session: Session,
    path: Path | str,
    product: str,
    acq_date: date,
    *,
    store_dir: Path,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    uploaded_by: str | None = None,
    threshold: float | None = None,
    threshold_op: str | None = None,
    threshold_label: str | None = None,
) -> RasterReport:
    """Check, store (COG) and register a hotspot raster, with its zonal statistics, in the session's transaction.

    Parameters
    ----------
    path : path-like
        A GeoTIFF in any CRS with a definition.
    product : str
        ``fire_mask``, ``burned_doy``, ``frp``, ``dnbr`` or ``generic`` (``raster_products``).
    acq_date : date
        The date the raster describes.
    store_dir : Path
        Where the COGs are kept (``<sha256>.tif``).
    name : str, optional
        The raster's name (default: the file name); with product and date, what makes a series of versions.
    max_pixels : int
        Largest width x height x bands accepted (checked before reading).
    threshold, threshold_op, threshold_label : optional
        Flag pixels where ``value <threshold_op> threshold``, meaning ``threshold_label`` (generic rasters;
        overrides the default of dnbr and frp; refused for fire_mask and burned_doy).

    Returns
    -------
    RasterReport
        ``status``: ``registered`` (new), ``new_version`` (supersedes ``supersedes``) or
        ``already_registered`` (the same file and product: the existing raster, unchanged).

    Raises
    ------
    RasterRejected
        No CRS, too large, truncated, not a GeoTIFF; nothing is stored.
    InvalidInput
        Unknown product or an incomplete or misplaced threshold.
    Conflict
        The same file is already registered for this product with another date or threshold.
    """
    from rasterio.warp import transform_bounds
    from shapely.geometry import box

    spec = rp.product(product)
    rule = rp.threshold_for(product, threshold, threshold_op, threshold_label)
    path = Path(path)
    name = name or path.name
    sha = sha256_file(path)
    # the store's file of this content is this transaction's until it ends (see remove_unregistered)
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": _file_key(sha)})
    # one registration of a file (and below, of a series) at a time: the second sees the first's row
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"hotspot_rasters|{sha}|{product}"}
    )
    same = (
        session.execute(
            text(
                "SELECT id, acq_date, threshold, threshold_op, threshold_label FROM hotspot_rasters "
                "WHERE file_sha256 = :s AND product = :p FOR UPDATE"
            ),
            {"s": sha, "p": product},
        )
        .mappings()
        .first()
    )
    if same is not None:
        return _already_registered(session, same, acq_date, rule)
    with open_checked(path, max_pixels) as ds:
        _check_blocks(ds)
        crs = ds.crs.to_string()
        nodata = ds.nodata
        footprint = box(*transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21))
        grid = dict(
            width=ds.width,
            height=ds.height,
            dtype=ds.dtypes[0],
            transform=list(ds.transform)[:6],
            res_x=ds.res[0],
            res_y=ds.res[1],
        )
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    target = store_dir / f"{sha}.tif"
    if not target.exists():
        _store_cog(path, target)
    series = {"name": name, "p": product, "d": acq_date}
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"hotspot_rasters|{name}|{product}|{acq_date}"},
    )
    previous = (
        session.execute(
            text("""
        SELECT id, version FROM hotspot_rasters
        WHERE name = :name AND product = :p AND acq_date = :d AND superseded_by IS NULL FOR UPDATE"""),
            series,
        )
        .mappings()
        .first()
    )
    raster_id = session.execute(text("SELECT nextval(pg_get_serial_sequence('hotspot_rasters', 'id'))")).scalar_one()
    if previous is not None:  # the foreign key is checked at commit, when the new row exists
        session.execute(
            text("UPDATE hotspot_rasters SET superseded_by = :new WHERE id = :id"),
            {"new": raster_id, "id": previous["id"]},
        )
    version = previous["version"] + 1 if previous else 1
    session.execute(
        text("""
        INSERT INTO hotspot_rasters (id, product, acq_date, name, file_path, file_sha256, crs, width, height, dtype,
                                     nodata, transform, res_x, res_y, uploaded_by, footprint, burned_area, threshold,
                                     threshold_op, threshold_label, version)
        VALUES (:id, :product, :acq_date, :name, :file_path, :sha, :crs, :width, :height, :dtype, :nodata,
                :transform, :res_x, :res_y, :by, ST_GeomFromText(:wkt, 4326), :burned_area, :threshold,
                :threshold_op, :threshold_label, :version)"""),
        {
            "id": raster_id,
            "product": product,
            "acq_date": acq_date,
            "name": name,
            "file_path": str(target),
            "sha": sha,
            "crs": crs,
            "nodata": nodata,
            "by": uploaded_by,
            "wkt": footprint.wkt,
            "burned_area": spec.burned_area,
            "threshold": rule.value if rule else None,
            "threshold_op": rule.op if rule else None,
            "threshold_label": rule.label if rule else None,
            "version": version,
            **grid,
        },
    )
    stats = zonal_stats(target, product, _zones(session, acq_date), rule)
    if stats:
        session.execute(
            text("""
            INSERT INTO raster_zone_stats (raster_id, zone_type, zone_code, pixels, flagged_pixels, flagged_by_class,
                                           flagged_m2, burned_m2, mean, min, max, percentiles)
            VALUES (:raster_id, :zone_type, :zone_code, :pixels, :flagged_pixels, CAST(:by_class AS jsonb),
                    :flagged_m2, :burned_m2, :mean, :min, :max, CAST(:pct AS jsonb))"""),
            [
                {**s, "raster_id": raster_id, "by_class": _json(s["flagged_by_class"]), "pct": _json(s["percentiles"])}
                for s in stats
            ],
        )
    return RasterReport(
        raster_id=raster_id,
        product=product,
        acq_date=acq_date.isoformat(),
        name=name,
        crs=crs,
        width=grid["width"],
        height=grid["height"],
        nodata=nodata,
        file_path=str(target),
        file_sha256=sha,
        status="new_version" if previous else "registered",
        version=version,
        supersedes=previous["id"] if previous else None,
        meaning=rp.describe(product, rule),
        zones=len(stats),
        stats=stats,
        **_district_totals(stats),
    )


def _district_totals(stats: list[dict]) -> dict:
    districts = [s for s in stats if s["zone_type"] == "district"]
    flagged = [s["flagged_pixels"] for s in districts if s["flagged_pixels"] is not None]
    burned = [s["burned_m2"] for s in districts if s["burned_m2"] is not None]
    return {
        "flagged_pixels": round(sum(flagged), 3) if flagged else None,
        "burned_ha": round(sum(burned) / 1e4, 3) if burned else None,
    }


def _already_registered(session: Session, same, acq_date: date, rule: Threshold | None) -> RasterReport:
    """The raster this file is already registered as, if its date and threshold agree; else a Conflict."""
    stored = _threshold(same)
    if same["acq_date"] != acq_date or stored != rule:
        was = f"{same['acq_date'].isoformat()}, " + (stored.describe() if stored else "no threshold")
        now = f"{acq_date.isoformat()}, " + (rule.describe() if rule else "no threshold")
        raise Conflict(
            f"This file is already registered as raster {same['id']} ({was}); it was not registered "
            f"again as {now}. Its figures and the case links made on them stay as they are.",
            code="raster_already_registered",
            details=[{"raster_id": same["id"]}],
        )
    info = raster_stats(session, same["id"])
    file_path = session.execute(
        text("SELECT file_path FROM hotspot_rasters WHERE id = :id"), {"id": same["id"]}
    ).scalar_one()
    return RasterReport(
        raster_id=info["id"],
        product=info["product"],
        acq_date=info["acq_date"].isoformat(),
        name=info["name"],
        crs=info["crs"],
        width=info["width"],
        height=info["height"],
        nodata=info["nodata"],
        file_path=file_path,
        file_sha256=info["file_sha256"],
        status="already_registered",
        version=info["version"],
        meaning=info["meaning"],
        zones=len(info["stats"]),
        stats=info["stats"],
        **_district_totals(info["stats"]),
    )


def _json(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


def raster_stats(session: Session, raster_id: int) -> dict:
    """A registered raster, what its values mean, its versions and its zonal statistics."""
    row = (
        session.execute(
            text("""
        SELECT id, product, acq_date, name, crs, width, height, dtype, nodata, res_x, res_y, file_sha256, uploaded_at,
               threshold, threshold_op, threshold_label, version, superseded_by,
               ST_AsGeoJSON(footprint, 7)::json AS footprint
        FROM hotspot_rasters WHERE id = :id"""),
            {"id": raster_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"No raster has the id {raster_id}.", code="raster_not_found")
    stats = (
        session.execute(
            text("""
        SELECT id, zone_type, zone_code, pixels, mean, min, max, percentiles, flagged_pixels, flagged_by_class,
               flagged_m2, burned_m2
        FROM raster_zone_stats WHERE raster_id = :id ORDER BY zone_type, zone_code"""),
            {"id": raster_id},
        )
        .mappings()
        .all()
    )
    versions = (
        session.execute(
            text("""
        SELECT id, version, file_sha256, uploaded_at, superseded_by IS NULL AS current FROM hotspot_rasters
        WHERE name = :n AND product = :p AND acq_date = :d ORDER BY version"""),
            {"n": row["name"], "p": row["product"], "d": row["acq_date"]},
        )
        .mappings()
        .all()
    )
    info = {k: v for k, v in row.items() if k not in ("threshold", "threshold_op", "threshold_label")}
    return {
        **info,
        "meaning": rp.describe(row["product"], _threshold(row)),
        "versions": [dict(v) for v in versions],
        "stats": [_with_units(dict(s)) for s in stats],
    }


def list_rasters(session: Session) -> list[dict]:
    """Registered rasters (newest first), every version (``superseded_by`` set on the older ones)."""
    rows = (
        session.execute(
            text("""
        SELECT id, product, acq_date, name, crs, width, height, dtype, nodata, res_x, res_y, uploaded_at,
               burned_area, threshold, threshold_op, threshold_label, version, superseded_by
        FROM hotspot_rasters ORDER BY acq_date DESC, id DESC""")
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def raster_files(conn) -> list[tuple[int, str]]:
    """(id, file path) of every registered raster, by id, read on a psycopg connection (the backup reads them
    in the snapshot of its dump)."""
    return [
        (raster_id, path) for raster_id, path in conn.execute("SELECT id, file_path FROM hotspot_rasters ORDER BY id")
    ]


def relocate_raster_files(conn, file_path: str, raster_ids: list[int]) -> int:
    """Point the rasters ``raster_ids`` at ``file_path`` (a restore put their file elsewhere), on a psycopg
    connection in the caller's transaction; returns the rows changed."""
    return conn.execute(
        "UPDATE hotspot_rasters SET file_path = %s WHERE id = ANY(%s)", (file_path, raster_ids)
    ).rowcount


def burned_area_by_zone(
    session: Session,
    zone_type: str = "district",
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    raster_id: int | None = None,
) -> list[dict]:
    """Burned area (m2, ha, rai) per zone: the one reading used by the raster map, the brief and the summary.

    Burned area is the area of the pixels flagged by a product that encodes burned area (``fire_mask``,
    ``burned_doy``, ``dnbr``; ``raster_products``), as stored at registration. Over a period (``date_from`` -
    ``date_to``, the rasters' dates, both included) it is the sum over the current versions of those rasters
    (the view ``raster_burned_area``); for one raster (``raster_id``, current or superseded) its own figures.
    An index raster (``generic``) or an FRP grid never has burned area.

    Returns
    -------
    list of dict
        ``zone_code``, ``burned_m2``, ``burned_ha``, ``burned_rai``, ``rasters`` (ids summed), by zone code.
    """
    params: dict = {"zone": zone_type}
    if raster_id is not None:
        params["id"] = raster_id
        source = """(SELECT z.id AS stat_id, z.raster_id, r.acq_date, z.zone_type, z.zone_code, z.burned_m2
                     FROM raster_zone_stats z JOIN hotspot_rasters r ON r.id = z.raster_id
                     WHERE r.id = :id AND r.burned_area AND z.burned_m2 IS NOT NULL)"""
    else:
        source = "raster_burned_area"
    where = ["b.zone_type = :zone"]
    if date_from is not None:
        params["s"] = date_from
        where.append("b.acq_date >= :s")
    if date_to is not None:
        params["e"] = date_to
        where.append("b.acq_date <= :e")
    rows = session.execute(
        text(f"""
        SELECT b.zone_code, sum(b.burned_m2) AS m2, array_agg(DISTINCT b.raster_id ORDER BY b.raster_id) AS rasters
        FROM {source} b WHERE {" AND ".join(where)} GROUP BY 1 ORDER BY 1"""),
        params,
    ).all()
    return [
        {
            "zone_code": code,
            "burned_m2": round(float(m2), 1),
            "burned_ha": round(float(m2) / 1e4, 3),
            "burned_rai": round(float(m2) / 1600, 2),
            "rasters": list(ids),
        }
        for code, m2, ids in rows
    ]


def fire_features(session: Session, raster_id: int, *, max_pixels: int = 50_000_000) -> dict:
    """Flagged pixels of a registered raster as polygons (adjacent pixels of one class merged), GeoJSON in
    EPSG:4326, each with its class and what it means (burned area or the recorded threshold's meaning).
    A generic raster registered without a threshold has no flagged pixels."""
    import rasterio
    from rasterio.features import shapes
    from rasterio.warp import transform_geom

    row = (
        session.execute(
            text(
                "SELECT product, file_path, acq_date, threshold, threshold_op, threshold_label, "
                "version, superseded_by FROM hotspot_rasters WHERE id = :id"
            ),
            {"id": raster_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"No raster has the id {raster_id}.", code="raster_not_found")
    rule = _threshold(row)
    spec = rp.product(row["product"])
    features = []
    if spec.categorical or rule is not None:
        with rasterio.open(row["file_path"], driver="GTiff") as src:
            if src.width * src.height > max_pixels:
                raise RasterRejected(
                    "The raster is too large to vectorise whole; ask for its zonal statistics.",
                    details=[{"problem": "too_large_to_vectorise"}],
                )
            for _, window in src.block_windows(1):
                block = src.read(1, window=window, masked=True)
                cls = rp.flag_pixels(row["product"], rule, block.filled(0))
                cls[np.ma.getmaskarray(block)] = 0
                if not cls.any():
                    continue
                for geom, value in shapes(cls, mask=cls > 0, transform=src.window_transform(window)):
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": transform_geom(src.crs, "EPSG:4326", geom, precision=7),
                            "properties": {
                                "class": rp.flag_label(row["product"], rule, int(value)),
                                "value": int(value),
                                "burned_area": spec.burned_area,
                            },
                        }
                    )
    return {
        "type": "FeatureCollection",
        "raster_id": raster_id,
        "product": row["product"],
        "meaning": rp.describe(row["product"], rule),
        "version": row["version"],
        "superseded_by": row["superseded_by"],
        "date": row["acq_date"].isoformat(),
        "numberReturned": len(features),
        "features": features,
    }


# --- for cases.service, cases.evidence_geojson ---
def existing_zone_stat_ids(session: Session, ids: list[str], viewer: Principal | None = None) -> set[str]:
    """Which of these ids (as text) are zonal statistics of a raster within ``viewer``'s provinces (None, national:
    every one): statistics lie where their zone lies (a district or a protected area, by the layers' rule,
    ``layers.queries.existing_district_codes`` / ``existing_protected_area_codes``; a district's part of a protected
    area, where the district lies)."""
    if not ids:
        return set()
    rows = session.execute(
        text("SELECT id::text, zone_type, zone_code FROM raster_zone_stats WHERE id::text = ANY(:i)"), {"i": ids}
    ).all()
    if viewer is None or viewer.provinces is None:
        return {r[0] for r in rows}

    def district_of(zone_type: str, code: str) -> str | None:
        return (
            code if zone_type == "district" else code.split("|")[0] if zone_type == "district_protected_area" else None
        )

    districts = layers.existing_district_codes(
        session, sorted({d for r in rows if (d := district_of(r[1], r[2])) is not None}), viewer
    )
    reserves = layers.existing_protected_area_codes(
        session, sorted({r[2] for r in rows if r[1] == "protected_area"}), viewer
    )
    return {
        r[0] for r in rows if district_of(r[1], r[2]) in districts or (r[1] == "protected_area" and r[2] in reserves)
    }


def zone_stat_features(
    session: Session, ids: list[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """Zonal statistics within ``viewer``'s provinces (``existing_zone_stat_ids``) as GeoJSON geometry (text, 7
    decimals) and attributes, by id (as text). The geometry is the area they were computed over: the part of their
    zone (district, protected area in force on the raster's date, or their intersection) that the raster covers."""
    if viewer is not None and viewer.provinces is not None:
        ids = sorted(existing_zone_stat_ids(session, ids, viewer))
    if not ids:
        return {}
    rows = session.execute(
        text("""
        SELECT z.id::text,
          ST_AsGeoJSON(ST_ForcePolygonCCW(CASE WHEN ST_Intersects(zone.geom, r.footprint)
            THEN ST_Multi(ST_CollectionExtract(ST_Intersection(zone.geom, r.footprint), 3)) ELSE r.footprint END), 7),
          json_build_object('raster_id', r.id, 'raster_name', r.name, 'raster_version', r.version,
                            'superseded_by', r.superseded_by, 'product', r.product, 'acq_date', r.acq_date,
                            'zone_type', z.zone_type, 'zone_code', z.zone_code, 'pixels', z.pixels,
                            'flagged_pixels', z.flagged_pixels, 'burned_m2', z.burned_m2, 'mean', z.mean, 'max', z.max)
        FROM raster_zone_stats z JOIN hotspot_rasters r ON r.id = z.raster_id
        LEFT JOIN LATERAL (
          SELECT a.geom FROM current_admin_areas a WHERE z.zone_type = 'district' AND a.level = 'district'
            AND a.code = z.zone_code
          UNION ALL
          SELECT p.geom FROM protected_areas_on(r.acq_date) p WHERE z.zone_type = 'protected_area'
            AND p.code = z.zone_code
          UNION ALL
          SELECT ST_Multi(ST_CollectionExtract(ST_Intersection(a.geom, p.geom), 3))
          FROM current_admin_areas a JOIN protected_areas_on(r.acq_date) p ON p.code = split_part(z.zone_code, '|', 2)
          WHERE z.zone_type = 'district_protected_area' AND a.level = 'district'
            AND a.code = split_part(z.zone_code, '|', 1)
          LIMIT 1) zone ON true
        WHERE z.id::text = ANY(:i)"""),
        {"i": ids},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


# --- for maps.raster_map and reports.brief ---
def raster_file(session: Session, raster_id: int) -> dict | None:
    """Where a registered raster's file is and how to read it (id, product, acq_date, name, file_path, nodata,
    crs), or None when no raster has this id."""
    row = (
        session.execute(
            text("SELECT id, product, acq_date, name, file_path, nodata, crs FROM hotspot_rasters WHERE id = :id"),
            {"id": raster_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def latest_acq_date(session: Session) -> date | None:
    """The newest acquisition date of the registered rasters (None when there is none)."""
    return session.execute(text("SELECT max(acq_date) FROM hotspot_rasters")).scalar()
