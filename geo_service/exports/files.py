"""File exports partners open in QGIS, ArcGIS, Google Earth or a spreadsheet: GeoPackage, CSV, KML and
zipped Shapefile, written by pyogrio in chunks, each with its metadata (source, licence, period, filters,
generation time)."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import shapely
from sqlalchemy import Engine

CHUNK = 50_000
# GeoPackage 1.2: pyogrio's GDAL writes 1.4 by default, which GDAL 3.6 (Debian 12's QGIS and ogrinfo) opens with
# a "may only be partially supported" warning; the layers written here need nothing newer than 1.2.
GPKG_OPTIONS = {"VERSION": "1.2"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {"gpkg": ("application/geopackage+sqlite3", ".gpkg"), "csv": ("application/zip", ".csv.zip"),
           "kml": ("application/vnd.google-earth.kml+xml", ".kml"), "shp": ("application/zip", ".shp.zip")}


def _frames(engine: Engine, stmt, shown: list[str], crs: int):
    # geopandas, pandas and pyogrio (GDAL) are imported when a file is written, not at start-up.
    import geopandas as gpd
    import pandas as pd

    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(stmt)
        for part in result.partitions(CHUNK):
            df = pd.DataFrame([tuple(r) for r in part], columns=["id", "wkb", *shown])
            geom = shapely.from_wkb(df.pop("wkb").map(bytes).to_numpy())
            for col in df.columns:  # lists (arrays) become text; Shapefile and CSV have no list type
                if df[col].map(lambda v: isinstance(v, list)).any():
                    df[col] = df[col].map(lambda v: ";".join(map(str, v)) if isinstance(v, list) else v)
            yield gpd.GeoDataFrame(df, geometry=geom, crs=crs)


def _safe_cell(value):
    """Spreadsheets run a cell that starts with = + - @ as a formula: make such text inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_file(engine: Engine, stmt, shown: list[str], fmt: str, crs: int, metadata: dict, layer: str,
               workdir: Path) -> Path:
    """Write the export into ``workdir`` and return the file to send."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    meta_text = json.dumps(metadata, ensure_ascii=False, indent=2, default=str)
    if fmt == "gpkg":
        path = workdir / f"{layer}.gpkg"
        wrote = False
        for gdf in _frames(engine, stmt, shown, crs):
            pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", append=wrote,
                                    dataset_options=None if wrote else GPKG_OPTIONS,
                                    layer_metadata={"DESCRIPTION": meta_text} if not wrote else None)
            wrote = True
        if not wrote:
            pyogrio.write_dataframe(gpd.GeoDataFrame({"id": []}, geometry=[], crs=crs), path, layer=layer, driver="GPKG",
                                    dataset_options=GPKG_OPTIONS)
        return path
    if fmt == "kml":
        path = workdir / f"{layer}.kml"
        frames = list(_frames(engine, stmt, shown, crs))
        gdf = pd.concat(frames, ignore_index=True) if frames else gpd.GeoDataFrame({"id": []}, geometry=[], crs=crs)
        gdf = gpd.GeoDataFrame(gdf, crs=crs).to_crs(4326)
        if "name_th" in gdf.columns:
            gdf["Name"] = gdf["name_th"]
        pyogrio.write_dataframe(gdf, path, driver="KML", dataset_metadata={"DESCRIPTION": meta_text})
        return path
    if fmt == "csv":
        csv_path = workdir / f"{layer}.csv"
        first = True
        with open(csv_path, "w", encoding="utf-8-sig", newline="") as out:  # BOM: Excel reads Thai correctly
            for gdf in _frames(engine, stmt, shown, crs):
                pts = gdf.geometry.representative_point()
                df = pd.DataFrame(gdf.drop(columns="geometry"))
                df.insert(1, "lon" if crs == 4326 else "x", pts.x.round(7))
                df.insert(2, "lat" if crs == 4326 else "y", pts.y.round(7))
                df["wkt"] = shapely.to_wkt(gdf.geometry.values, rounding_precision=7)
                df = df.map(_safe_cell)
                df.to_csv(out, index=False, header=first)
                first = False
            if first:
                out.write(",".join(["id", "lon", "lat", *shown, "wkt"]) + "\n")
        return _zip(workdir / f"{layer}.csv.zip", [csv_path], meta_text)
    if fmt == "shp":
        shp_dir = workdir / "shp"
        shp_dir.mkdir()
        path = shp_dir / f"{layer}.shp"
        wrote = False
        for gdf in _frames(engine, stmt, shown, crs):
            gdf.columns = [c[:10] for c in gdf.columns]  # dBase field names: 10 characters
            pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile", encoding="UTF-8", append=wrote)
            wrote = True
        if not wrote:
            pyogrio.write_dataframe(gpd.GeoDataFrame({"id": []}, geometry=[], crs=crs), path,
                                    driver="ESRI Shapefile", encoding="UTF-8")
        if not (shp_dir / f"{layer}.cpg").exists():
            (shp_dir / f"{layer}.cpg").write_text("UTF-8")
        return _zip(workdir / f"{layer}.shp.zip", sorted(shp_dir.iterdir()), meta_text)
    raise ValueError(fmt)


def _zip(target: Path, files: list[Path], meta_text: str) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.name)
        zf.writestr("metadata.json", meta_text)
    return target


def temp_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="geo_service_export_")
