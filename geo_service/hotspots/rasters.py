"""Hotspot rasters: check, store as cloud-optimised GeoTIFF, register, zonal statistics, fire-pixel features.

A raster is recognised from its bytes (``geo_service.uploads``, shared with layer uploads) and opened from
disk with the GTiff driver only and GDAL kept off the network (GDAL would otherwise open a VRT, or anything
else, named .tif), refused when it has no CRS, declares more pixels than the configured cap (checked on the
header, before any pixel is read) or has truncated or unreadable data (every block is read, window by
window). It is then written as a COG (rio-cogeo, in windows), registered with its product, date, grid and
nodata, and summarised with exactextract (coverage-weighted, exact at polygon edges) over the districts,
the protected areas in force on its date and their intersections (district x protected area).

Fire pixels by product:

- ``fire_mask`` (MOD14A1 / VIIRS 375 m): classes 7, 8, 9 = fire of low, nominal, high confidence.
- ``burned_doy`` (MCD64A1): day of burning 1-366; 0 unburned; negative values are special (unmapped, water).
- ``frp``: fire radiative power > 0.
- ``dnbr``: dNBR >= 0.1 (burned, USGS low severity and above).
- ``generic``: value > 0.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import uploads
from geo_service.errors import LayerRejected, NotFound
from geo_service.hashing import sha256_file

PRODUCTS = ("fire_mask", "burned_doy", "frp", "dnbr", "generic")
FIRE_MASK_CLASSES = {7: "low", 8: "nominal", 9: "high"}
DNBR_BURNED = 0.1
DEFAULT_MAX_PIXELS = 400_000_000
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0


class RasterRejected(LayerRejected):
    """A raster refused as a whole (422); nothing was stored."""

    code = "raster_rejected"
    message = "The raster was refused; nothing was stored."


@dataclass
class RasterReport:
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
    zones: int = 0
    fire_pixels: float = 0.0
    burned_ha: float = 0.0
    stats: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def fire_classes(product: str, values: np.ndarray) -> np.ndarray:
    """Fire class per pixel (0 none; fire-mask classes 7/8/9 kept, other products 1) for a block of values."""
    if product == "fire_mask":
        return np.where(np.isin(values, list(FIRE_MASK_CLASSES)), values, 0).astype(np.uint8)
    if product == "burned_doy":
        return ((values >= 1) & (values <= 366)).astype(np.uint8)
    if product == "dnbr":
        return (values >= DNBR_BURNED).astype(np.uint8)
    return (values > 0).astype(np.uint8)


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
        raise RasterRejected("The file is not a readable GeoTIFF (other formats, VRT included, are refused).",
                             details=[{"problem": "not_geotiff"}]) from None
    try:
        pixels = ds.width * ds.height * ds.count
        if pixels > max_pixels:
            raise RasterRejected(
                f"The raster declares {ds.width} x {ds.height} x {ds.count} pixels, more than the "
                f"{max_pixels:,} accepted.", details=[{"problem": "too_large", "width": ds.width,
                                                         "height": ds.height, "bands": ds.count}])
        if ds.crs is None:
            raise RasterRejected("The raster has no coordinate reference system; add one (e.g. with "
                                 "gdal_edit.py -a_srs) and upload it again.", details=[{"problem": "no_crs"}])
        if ds.transform.is_identity:
            raise RasterRejected("The raster has no georeferencing (no geotransform).",
                                 details=[{"problem": "no_transform"}])
    except RasterRejected:
        ds.close()
        raise
    return ds


def _check_blocks(ds, product: str) -> None:
    """Read every block of band 1 (windows), refusing truncated or corrupt data."""
    from rasterio.errors import RasterioIOError

    for _, window in ds.block_windows(1):
        try:
            ds.read(1, window=window)
        except RasterioIOError:
            raise RasterRejected(
                f"The raster's data are truncated or unreadable (block at row {window.row_off}, "
                f"column {window.col_off}).", details=[{"problem": "truncated", "row": window.row_off,
                                                        "column": window.col_off}]) from None


def _to_cog(src: Path, dst: Path) -> None:
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    profile = cog_profiles.get("deflate")
    cog_translate(str(src), str(dst), profile, quiet=True, in_memory=False,
                  config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": True})


def _zones(session: Session, on: date):
    """Districts, protected areas in force on ``on`` and their intersections, as a GeoDataFrame (EPSG:4326)."""
    import geopandas as gpd

    sql = """
      SELECT 'district' AS zone_type, code AS zone_code, geom FROM admin_areas
      WHERE level = 'district' AND is_current
      UNION ALL
      SELECT 'protected_area', code, geom FROM protected_areas
      WHERE (valid_from IS NULL OR valid_from <= :on) AND (valid_to IS NULL OR valid_to > :on)
      UNION ALL
      SELECT 'district_protected_area', a.code || '|' || p.code,
             ST_Multi(ST_CollectionExtract(ST_Intersection(a.geom, p.geom), 3))
      FROM admin_areas a JOIN protected_areas p ON ST_Intersects(a.geom, p.geom)
      WHERE a.level = 'district' AND a.is_current
        AND (p.valid_from IS NULL OR p.valid_from <= :on) AND (p.valid_to IS NULL OR p.valid_to > :on)
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


def zonal_stats(path: Path, product: str, zones, ds=None) -> list[dict]:
    """exactextract over ``zones`` (GeoDataFrame with zone_type, zone_code): pixels, fire pixels by class,
    burned area, mean and max.

    Parameters
    ----------
    path : Path
        The raster (COG or GeoTIFF).
    product : str
        One of ``PRODUCTS``.
    zones : geopandas.GeoDataFrame
        Any CRS; reprojected to the raster's.

    Returns
    -------
    list of dict
        One per zone that overlaps the raster.
    """
    import rasterio
    from exactextract import exact_extract

    with rasterio.open(path, driver="GTiff") as src:
        local = zones.to_crs(src.crs)
        lat = zones.geometry.representative_point().y.to_numpy()
        px_m2 = pixel_area_m2(src, lat)
        categorical = product in ("fire_mask", "burned_doy")
        ops = ["count", "mean", "max"] + (["unique", "frac"] if categorical else [])
        values = exact_extract(src, local, ops, include_cols=["zone_type", "zone_code"], output="pandas")
    classes = None
    if not categorical:
        classes = _class_raster(path, product)
        try:
            with rasterio.open(classes, driver="GTiff") as csrc:
                cls = exact_extract(csrc, local, ["unique", "frac"], output="pandas")
            values["unique"], values["frac"] = cls["unique"], cls["frac"]
        finally:
            shutil.rmtree(classes.parent, ignore_errors=True)
    out = []
    for i, row in enumerate(values.itertuples(index=False)):  # one row per zone (tens), not per pixel
        if not row.count:
            continue
        by_class: dict[str, float] = {}
        fire = 0.0
        for v, f in zip(np.asarray(row.unique).tolist(), np.asarray(row.frac).tolist()):
            n = f * row.count
            if product == "fire_mask" and int(v) in FIRE_MASK_CLASSES:
                by_class[FIRE_MASK_CLASSES[int(v)]] = round(n, 3)
                fire += n
            elif product == "burned_doy" and 1 <= v <= 366:
                fire += n
            elif not categorical and v == 1:
                fire += n
        if product != "fire_mask":
            by_class = {"burned" if product in ("burned_doy", "dnbr") else "fire": round(fire, 3)}
        burned = fire * float(px_m2[i])
        out.append({"zone_type": row.zone_type, "zone_code": row.zone_code, "pixels": round(float(row.count), 3),
                    "fire_pixels": round(fire, 3), "fire_pixels_by_class": by_class, "burned_m2": round(burned, 1),
                    "burned_ha": round(burned / 1e4, 3), "burned_rai": round(burned / 1600, 2),
                    "mean": None if row.mean is None or np.isnan(row.mean) else float(row.mean),
                    "max": None if row.max is None or np.isnan(row.max) else float(row.max)})
    return out


def _class_raster(path: Path, product: str) -> Path:
    """A uint8 fire-class raster on the same grid, written window by window."""
    import rasterio

    folder = Path(tempfile.mkdtemp(prefix="geo_service_classes_"))
    out = folder / "classes.tif"
    with rasterio.open(path, driver="GTiff") as src:
        profile = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 1, "dtype": "uint8",
                   "crs": src.crs, "transform": src.transform, "nodata": 255, "tiled": True,
                   "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
        with rasterio.open(out, "w", **profile) as dst:
            for _, window in src.block_windows(1):
                block = src.read(1, window=window, masked=True)
                cls = fire_classes(product, block.filled(0)).astype(np.uint8)
                cls[np.ma.getmaskarray(block)] = 255
                dst.write(cls, 1, window=window)
    return out


def register_raster(session: Session, path: Path | str, product: str, acq_date: date, *, store_dir: Path,
                    name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                    uploaded_by: str | None = None) -> RasterReport:
    """Check, store (COG) and register a hotspot raster, with its zonal statistics, in the session's transaction.

    Parameters
    ----------
    path : path-like
        A GeoTIFF in any CRS with a definition.
    product : str
        ``fire_mask``, ``burned_doy``, ``frp``, ``dnbr`` or ``generic``.
    acq_date : date
        The date the raster describes.
    store_dir : Path
        Where the COGs are kept (``<sha256>.tif``).
    max_pixels : int
        Largest width x height x bands accepted (checked before reading).

    Returns
    -------
    RasterReport

    Raises
    ------
    RasterRejected
        No CRS, too large, truncated, not a GeoTIFF, unknown product; nothing is stored.
    """
    from rasterio.warp import transform_bounds
    from shapely.geometry import box

    if product not in PRODUCTS:
        raise RasterRejected(f"product must be one of {', '.join(PRODUCTS)}.", details=[{"problem": "product"}])
    path = Path(path)
    name = name or path.name
    sha = sha256_file(path)
    with open_checked(path, max_pixels) as ds:
        _check_blocks(ds, product)
        crs = ds.crs.to_string()
        nodata = ds.nodata
        footprint = box(*transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21))
        grid = dict(width=ds.width, height=ds.height, dtype=ds.dtypes[0], transform=list(ds.transform)[:6],
                    res_x=ds.res[0], res_y=ds.res[1])
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    target = store_dir / f"{sha}.tif"
    if not target.exists():
        partial = store_dir / f".{sha}.partial.tif"
        _to_cog(path, partial)
        partial.replace(target)
    existing = session.execute(text("SELECT id FROM hotspot_rasters WHERE file_sha256 = :s AND product = :p"),
                               {"s": sha, "p": product}).scalar()
    if existing is not None:
        session.execute(text("DELETE FROM hotspot_rasters WHERE id = :id"), {"id": existing})
    raster_id = session.execute(text("""
        INSERT INTO hotspot_rasters (product, acq_date, name, file_path, file_sha256, crs, width, height, dtype,
                                     nodata, transform, res_x, res_y, uploaded_by, footprint)
        VALUES (:product, :acq_date, :name, :file_path, :sha, :crs, :width, :height, :dtype, :nodata, :transform,
                :res_x, :res_y, :by, ST_GeomFromText(:wkt, 4326))
        RETURNING id"""), {"product": product, "acq_date": acq_date, "name": name, "file_path": str(target),
                           "sha": sha, "crs": crs, "nodata": nodata, "by": uploaded_by, "wkt": footprint.wkt,
                           **grid}).scalar_one()
    stats = zonal_stats(target, product, _zones(session, acq_date))
    if stats:
        session.execute(text("""
            INSERT INTO raster_zone_stats (raster_id, zone_type, zone_code, pixels, fire_pixels,
                                           fire_pixels_by_class, burned_m2, mean, max)
            VALUES (:raster_id, :zone_type, :zone_code, :pixels, :fire_pixels, CAST(:by_class AS jsonb),
                    :burned_m2, :mean, :max)"""),
            [{**s, "raster_id": raster_id, "by_class": _json(s["fire_pixels_by_class"])} for s in stats])
    districts = [s for s in stats if s["zone_type"] == "district"]
    return RasterReport(raster_id=raster_id, product=product, acq_date=acq_date.isoformat(), name=name, crs=crs,
                        width=grid["width"], height=grid["height"], nodata=nodata, file_path=str(target),
                        file_sha256=sha, zones=len(stats),
                        fire_pixels=round(sum(s["fire_pixels"] for s in districts), 3),
                        burned_ha=round(sum(s["burned_m2"] for s in districts) / 1e4, 3), stats=stats)


def _json(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


def raster_stats(session: Session, raster_id: int) -> dict:
    """A registered raster and its zonal statistics."""
    row = session.execute(text("""
        SELECT id, product, acq_date, name, crs, width, height, dtype, nodata, res_x, res_y, file_sha256,
               uploaded_at, ST_AsGeoJSON(footprint, 7)::json AS footprint
        FROM hotspot_rasters WHERE id = :id"""), {"id": raster_id}).mappings().first()
    if row is None:
        raise NotFound(f"No raster has the id {raster_id}.", code="raster_not_found")
    stats = session.execute(text("""
        SELECT zone_type, zone_code, pixels, fire_pixels, fire_pixels_by_class, burned_m2,
               round((burned_m2 / 1e4)::numeric, 3)::float8 AS burned_ha,
               round((burned_m2 / 1600)::numeric, 2)::float8 AS burned_rai, mean, max
        FROM raster_zone_stats WHERE raster_id = :id ORDER BY zone_type, zone_code"""),
        {"id": raster_id}).mappings().all()
    return {**dict(row), "stats": [dict(s) for s in stats]}


def fire_features(session: Session, raster_id: int, *, max_pixels: int = 50_000_000) -> dict:
    """Fire pixels of a registered raster as polygons (adjacent pixels of one class merged), GeoJSON in EPSG:4326."""
    import rasterio
    from rasterio.features import shapes
    from rasterio.warp import transform_geom

    row = session.execute(text("SELECT product, file_path, acq_date FROM hotspot_rasters WHERE id = :id"),
                          {"id": raster_id}).first()
    if row is None:
        raise NotFound(f"No raster has the id {raster_id}.", code="raster_not_found")
    features = []
    with rasterio.open(row.file_path, driver="GTiff") as src:
        if src.width * src.height > max_pixels:
            raise RasterRejected("The raster is too large to vectorise whole; ask for its zonal statistics.",
                                 details=[{"problem": "too_large_to_vectorise"}])
        for _, window in src.block_windows(1):
            block = src.read(1, window=window, masked=True)
            cls = fire_classes(row.product, block.filled(0))
            cls[np.ma.getmaskarray(block)] = 0
            if not cls.any():
                continue
            for geom, value in shapes(cls, mask=cls > 0, transform=src.window_transform(window)):
                label = FIRE_MASK_CLASSES.get(int(value), "fire") if row.product == "fire_mask" else (
                    "burned" if row.product in ("burned_doy", "dnbr") else "fire")
                features.append({"type": "Feature", "geometry": transform_geom(src.crs, "EPSG:4326", geom,
                                                                               precision=7),
                                 "properties": {"class": label, "value": int(value)}})
    return {"type": "FeatureCollection", "raster_id": raster_id, "product": row.product,
            "date": row.acq_date.isoformat(), "numberReturned": len(features), "features": features}
